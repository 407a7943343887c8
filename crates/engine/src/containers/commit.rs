//! `commit` and `diff`: a container's changes (its overlay's upper directory) as a new image
//! layer on top of its image, with the container's command, environment, working directory and
//! user as the new image's config ([`Engine::commit`]); or listed as changes
//! ([`Engine::diff`]).

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use berth_build::builder::{ImageState, layer_from_upper};
use berth_oci::Digest;
use berth_store::{Container, State};
use serde_json::{Value, json};

use crate::Engine;
use crate::error::{Context as _, Error, Result};
use crate::images::archive::apply_change;
use crate::model::Record;
use crate::util::format_rfc3339;

/// What [`Engine::commit`] records besides the container's changes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name for the image: `REPOSITORY[:TAG]`.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to the config (see [`apply_change`]).
    pub changes: Vec<String>,
    /// Author of the new image.
    pub author: Option<String>,
    /// The history entry's comment.
    pub message: Option<String>,
    /// Freeze a running container while its changes are read.
    pub pause: bool,
}

/// What a [`Change`] did to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Changed (`C`): the image has the path too. Docker's API kind 0.
    Modified,
    /// Added (`A`). Docker's API kind 1.
    Added,
    /// Deleted (`D`): a whiteout hides the image's path. Docker's API kind 2.
    Deleted,
}

impl ChangeKind {
    /// The letter `docker diff` shows.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path of a container's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The absolute path in the container.
    pub path: String,
}

/// The paths every container's mounts may leave as empty stubs in its upper directory.
const MOUNT_POINTS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn record(c: &Container) -> Result<Record> {
    Record::parse(&c.config).map_err(|e| Error::Internal(format!("container {}: {e}", c.name)))
}

fn spec_of(r: &Record, id: &str) -> Result<berth_runtime::spec::ContainerSpec> {
    r.spec(id, PathBuf::new())
        .map_err(|e| Error::Internal(format!("container {}: {e}", &id[..id.len().min(12)])))
}

/// The container's upper directory and the mount points its spec adds.
fn upper_and_mounts(engine: &Engine, c: &Container) -> Result<(PathBuf, Vec<String>)> {
    let upper = engine.layout().container_upper(&c.id);
    if !upper.is_dir() {
        return Err(Error::Conflict(format!(
            "container {} has no file system left",
            c.name
        )));
    }
    let spec = spec_of(&record(c)?, &c.id)?;
    let mut mounts: Vec<String> = MOUNT_POINTS.iter().map(|s| s.to_string()).collect();
    mounts.extend(spec.mounts.iter().map(|m| m.target.clone()));
    Ok((upper, mounts))
}

/// The image of container `c`.
async fn image_of(engine: &Engine, c: &Container) -> Result<ImageState> {
    let image_id: Digest = c
        .image_id
        .parse()
        .context(|| "the container's image id".into())?;
    ImageState::load(&engine.store, &image_id)
        .await
        .context(|| format!("the image of container {}", c.name))
}

impl Engine {
    /// Make an image of container `container` (name or id): its image plus a layer of its
    /// changes, its process as the config; returns the new image's id.
    pub async fn commit(&self, container: &str, options: &CommitOptions) -> Result<Digest> {
        let c = self.store.find_container(container).await?;
        let name = match &options.reference {
            Some(r) => {
                let r = self.reference(r)?;
                if r.digest.is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "refusing to create a tag with a digest reference: {r}"
                    )));
                }
                vec![(r.name(), r.tag_or_latest().to_string())]
            }
            None => vec![],
        };
        let pause = options.pause && c.state == State::Running && !c.paused && c.is_alive();
        if pause {
            self.pause(&c.id).await?;
        }
        let result = self.commit_container(&c, &name, options).await;
        if pause && let Err(e) = self.unpause(&c.id).await {
            tracing::warn!(id = %c.id, error = %e, "cannot unpause after the commit");
        }
        result
    }

    async fn commit_container(
        &self,
        c: &Container,
        name: &[(String, String)],
        options: &CommitOptions,
    ) -> Result<Digest> {
        let mut state = image_of(self, c).await?;
        let (upper, mounts) = upper_and_mounts(self, c)?;
        let tmp = self
            .layout()
            .build_tmp()
            .join(format!("commit-{}", &c.id[..12]));
        let layer = layer_from_upper(&self.store, &upper, None, &tmp, &mounts)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let created = format_rfc3339(std::time::SystemTime::now());

        // The container's process as the image's config, as Docker commits it.
        let record = record(c)?;
        let spec = spec_of(&record, &c.id)?;
        let entrypoint = strings(state.config["config"].get("Entrypoint"));
        let cfg = state.container_config();
        if spec.args.starts_with(&entrypoint) {
            cfg.insert("Cmd".into(), json!(spec.args[entrypoint.len()..]));
        } else {
            cfg.insert("Entrypoint".into(), Value::Null);
            cfg.insert("Cmd".into(), json!(spec.args));
        }
        cfg.insert("Env".into(), json!(spec.env));
        if spec.cwd != "/" {
            cfg.insert("WorkingDir".into(), json!(spec.cwd));
        }
        if let Some(user) = Some(&record.config.user).filter(|u| !u.is_empty()) {
            cfg.insert("User".into(), json!(user));
        }
        for change in &options.changes {
            apply_change(cfg, change).map_err(|e| {
                crate::images::archive::within(e, format_args!("--change {change:?}"))
            })?;
        }
        if let Some(a) = &options.author {
            state.config["author"] = json!(a);
        }
        let created_by = c.command.join(" ");
        match layer {
            Some(l) => state.push_layer(l, &created, &created_by),
            None => state.history(&created, &created_by, true),
        }
        if let Some(m) = &options.message
            && let Some(last) = state.config["history"]
                .as_array_mut()
                .and_then(|h| h.last_mut())
        {
            last["comment"] = json!(m);
        }
        state
            .commit(&self.store, &created, name)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// The changes of container `container` (name or id) to its image's file system, sorted by
    /// path; the stubs its mounts leave are not changes.
    pub async fn diff(&self, container: &str) -> Result<Vec<Change>> {
        let c = self.store.find_container(container).await?;
        let state = image_of(self, &c).await?;
        let cache = berth_runtime::rootfs::LayerCache::open(&self.config.root)?;
        let layers: Vec<PathBuf> = state.layers.iter().map(|l| cache.path(&l.digest)).collect();
        let (upper, mounts) = upper_and_mounts(self, &c)?;
        let mut changes = Vec::new();
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(upper.join(&rel)) else {
                continue;
            };
            for e in entries.flatten() {
                let path = rel.join(e.file_name());
                let shown = format!("/{}", path.display());
                let Ok(meta) = e.metadata() else { continue };
                let is_stub = mounts.contains(&shown)
                    && !in_image(&layers, &path)
                    && ((meta.is_dir()
                        && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_none()))
                        || (meta.is_file() && meta.len() == 0));
                if is_stub {
                    continue;
                }
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    changes.push(Change {
                        kind: ChangeKind::Deleted,
                        path: shown,
                    });
                    continue;
                }
                let kind = if in_image(&layers, &path) {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                changes.push(Change { kind, path: shown });
                if meta.is_dir() {
                    todo.push(path);
                }
            }
        }
        // Directories added only to hold mount points (`/etc` of an image without one).
        let shown: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        changes.retain(|c| {
            let path = &c.path;
            let holds_mount = mounts.iter().any(|m| m.starts_with(&format!("{path}/")));
            let prefix = format!("{path}/");
            !(c.kind == ChangeKind::Added
                && holds_mount
                && !shown.iter().any(|p| p.starts_with(&prefix)))
        });
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }
}

/// Whether `rel` exists in any of the image's unpacked layers (top first), a whiteout hiding it.
fn in_image(layers: &[PathBuf], rel: &Path) -> bool {
    for dir in layers.iter().rev() {
        if let Ok(m) = std::fs::symlink_metadata(dir.join(rel)) {
            return !(m.file_type().is_char_device() && m.rdev() == 0);
        }
    }
    false
}
