//! Runs a parsed Dockerfile into an image in the local store.
//!
//! [`Builder::build`] parses the Dockerfile, works out which stages the target needs (its
//! `FROM` chain, `COPY --from` and `RUN --mount from=` references), builds them in order and
//! commits the target stage's image with its tags. Each stage is an [`ImageState`] (config +
//! layers) that instructions change: metadata instructions edit the config and add an
//! `empty_layer` history entry; `RUN`, `COPY`, `ADD` and `WORKDIR` add a layer.
//!
//! Cache: every step has a key chained from its parent's (the base image id, then each
//! instruction with the values it was expanded with and, for `COPY`/`ADD`, the digest of the
//! copied files). The state after a layer step is kept under `<root>/build/cache/v1/<key>`,
//! so a rebuild with nothing changed reads a few small files and a changed file rebuilds from
//! the step that copies it.
//!
//! Layering: calls the Dockerfile parser, the build context and layer writer of this crate, the
//! image store (`berth-store`) and the runtime (`berth-runtime`) for `RUN`; base images come
//! through the [`Images`] seam (the CLI pulls them).

mod archive;
mod cache;
mod commit;
mod config;
mod copy;
mod image;
mod run;
mod stage;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_oci::Digest;
use berth_store::Store;

pub use cache::prune as prune_cache;
pub use commit::{layer_from_upper, store_layer};
pub use image::{ImageState, Layer};

use crate::context::Context;
use crate::dockerfile::{self, Dockerfile, Instruction};
use crate::error::{Error, Result};

/// A platform: (os, architecture, variant).
pub type Platform = (String, String, Option<String>);

/// Where `FROM` images come from: the CLI resolves a reference to a local image, pulling it
/// when it is missing.
#[async_trait::async_trait]
pub trait Images: Send + Sync {
    /// The id of the local image `reference` (as written after substitution) for `platform`.
    async fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> std::result::Result<Digest, String>;
}

/// What to build and how.
pub struct Options {
    /// The build context: a directory, or a tar file of one.
    pub context: PathBuf,
    /// The Dockerfile (default: `Dockerfile` in the context; for a tar context, a path in
    /// it).
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg NAME=VALUE` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// `--no-cache`: run every step.
    pub no_cache: bool,
    /// The platform of the image.
    pub platform: Platform,
    /// `SOURCE_DATE_EPOCH`: timestamps of the config, history and files are clamped to it.
    pub epoch: Option<i64>,
    /// Tags (repository, tag) for the image.
    pub tags: Vec<(String, String)>,
}

/// Progress lines (`[2/5] RUN …`, `CACHED`, a RUN's output) go to this sink.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Builds images into a store.
pub struct Builder {
    store: Store,
    root: PathBuf,
    images: Arc<dyn Images>,
    progress: Progress,
}

/// A built stage: its image and the cache key of its last step.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) state: ImageState,
    pub(crate) key: String,
}

impl Builder {
    /// A builder over `store` (whose data root is `root`).
    pub fn new(store: Store, root: PathBuf, images: Arc<dyn Images>, progress: Progress) -> Self {
        Builder {
            store,
            root,
            images,
            progress,
        }
    }

    /// Build `options` and return the image id.
    pub async fn build(&self, options: &Options) -> Result<Digest> {
        // The context: a directory, or a tarball (`berth build -` saves stdin to a file).
        let (context, dockerfile_path) = {
            let (dir, file, scratch) = (
                options.context.clone(),
                options.dockerfile.clone(),
                berth_store::Layout::new(&self.root).build_tmp(),
            );
            tokio::task::spawn_blocking(move || -> Result<(Context, PathBuf)> {
                if dir.is_dir() {
                    let df = file.unwrap_or_else(|| dir.join("Dockerfile"));
                    Ok((Context::open(&dir, Some(&df))?, df))
                } else {
                    let tar = std::fs::File::open(&dir).map_err(|source| Error::Io {
                        path: dir.clone(),
                        source,
                    })?;
                    let name = file
                        .as_ref()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "Dockerfile".into());
                    let ctx =
                        Context::from_tar(std::io::BufReader::new(tar), &scratch, Some(&name))?;
                    let df = ctx.root().join(&name);
                    Ok((ctx, df))
                }
            })
            .await
            .map_err(|e| Error::Options {
                message: e.to_string(),
            })??
        };
        let text = std::fs::read_to_string(&dockerfile_path).map_err(|source| Error::Io {
            path: dockerfile_path.clone(),
            source,
        })?;
        let file_name = dockerfile_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let df = dockerfile::parse(&text, &file_name)?;
        let target = match &options.target {
            Some(t) => {
                df.stage(t)
                    .ok_or_else(|| Error::Options {
                        message: format!("target stage \"{t}\" could not be found"),
                    })?
                    .0
            }
            None => df.stages.len() - 1,
        };
        let needed = needed_stages(&df, target);
        let created = created(options.epoch);
        let mut built: Vec<Option<Built>> = vec![None; df.stages.len()];
        // Waves of stages whose dependencies are built run concurrently (their RUNs in
        // parallel threads).
        let mut todo = needed;
        while !todo.is_empty() {
            let (ready, rest): (Vec<usize>, Vec<usize>) = todo
                .iter()
                .partition(|&&i| stage_deps(&df, i).iter().all(|&d| built[d].is_some()));
            let done = &built;
            let results = futures_util::future::try_join_all(ready.iter().map(|&index| {
                let stage = stage::StageBuild::new(self, options, &df, &file_name, &context, index);
                stage.run(done)
            }))
            .await?;
            for (index, result) in ready.into_iter().zip(results) {
                built[index] = Some(result);
            }
            todo = rest;
        }
        let unused = unused_build_args(&df, &options.build_args);
        if !unused.is_empty() {
            (self.progress)(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        let mut state = built[target].take().expect("the target was built").state;
        (self.progress)("exporting to image");
        state.commit(&self.store, &created, &options.tags).await
    }
}

/// RFC 3339 time of `epoch` seconds (or now).
pub(crate) fn created(epoch: Option<i64>) -> String {
    let secs = epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    berth_oci::time::rfc3339(secs, None)
}

/// The stage `reference` names (a stage name or index), if it is one of `df`'s before `before`.
pub(crate) fn stage_ref(df: &Dockerfile, reference: &str, before: usize) -> Option<usize> {
    df.stage(reference).map(|(i, _)| i).filter(|&i| i < before)
}

/// The stages stage `i` reads from (its `FROM`, `COPY --from`, `RUN --mount from=`).
fn stage_deps(df: &Dockerfile, i: usize) -> Vec<usize> {
    let stage = &df.stages[i];
    let mut refs: Vec<&str> = vec![stage.from.image.as_str()];
    for step in &stage.instructions {
        match &step.instruction {
            Instruction::Copy(c) => refs.extend(c.from.as_deref()),
            Instruction::Run(r) => refs.extend(r.mounts.iter().filter_map(|m| m.from.as_deref())),
            _ => {}
        }
    }
    refs.into_iter()
        .filter_map(|r| stage_ref(df, r, i))
        .collect()
}

/// `--build-arg` names no `ARG` of the Dockerfile declares (Docker warns about them), leaving
/// out the predefined proxy and platform ones.
fn unused_build_args(df: &Dockerfile, build_args: &BTreeMap<String, String>) -> Vec<String> {
    const PREDEFINED: &[&str] = &[
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
        "SOURCE_DATE_EPOCH",
    ];
    let mut declared: Vec<&str> = df.global_args.iter().map(|g| g.arg.name.as_str()).collect();
    for stage in &df.stages {
        for step in &stage.instructions {
            if let Instruction::Arg(decls) = &step.instruction {
                declared.extend(decls.iter().map(|d| d.name.as_str()));
            }
        }
    }
    build_args
        .keys()
        .filter(|k| !declared.contains(&k.as_str()))
        .filter(|k| !PREDEFINED.contains(&k.to_ascii_uppercase().as_str()))
        .filter(|k| !k.starts_with("BUILDKIT_"))
        .cloned()
        .collect()
}

/// The stages `target` needs, in build order (dependencies first).
fn needed_stages(df: &Dockerfile, target: usize) -> Vec<usize> {
    let mut needed = vec![false; df.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !needed[i] {
            needed[i] = true;
            todo.extend(stage_deps(df, i));
        }
    }
    (0..df.stages.len()).filter(|&i| needed[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_formats_epochs() {
        assert_eq!(created(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(created(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(created(Some(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn only_needed_stages_are_built() {
        let df = dockerfile::parse(
            "FROM scratch AS a\nFROM scratch AS b\nCOPY --from=a /x /x\nFROM scratch AS c\nFROM b AS d\n",
            "Dockerfile",
        )
        .unwrap();
        assert_eq!(needed_stages(&df, 3), vec![0, 1, 3]);
        assert_eq!(needed_stages(&df, 2), vec![2]);
    }

    #[test]
    fn undeclared_build_args_are_reported() {
        let df = dockerfile::parse(
            "ARG G\nFROM scratch\nARG A=1\nFROM scratch\nARG B\n",
            "Dockerfile",
        )
        .unwrap();
        let args: BTreeMap<String, String> = ["G", "A", "B", "NOPE", "http_proxy", "TARGETARCH"]
            .into_iter()
            .map(|k| (k.to_string(), "v".to_string()))
            .collect();
        assert_eq!(unused_build_args(&df, &args), ["NOPE"]);
    }
}
