//! `berth build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V]... [--target STAGE] CONTEXT|-`:
//! build a Dockerfile into the local store with `berth-build`, pulling `FROM` images that are
//! not local like `berth pull`; progress on stderr, `-q` prints only the image id.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use berth_build::builder::{Builder, Images, Options, Platform};
use berth_oci::Digest;

use super::context::{Context, host_platform, parse_platform};
use super::pull::{Output, pull};

/// `berth build`
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (NAME[:TAG]); repeatable.
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Set a build-time variable (NAME=VALUE, or NAME to take it from the environment).
    #[arg(long)]
    pub build_arg: Vec<String>,
    /// The stage to build (default: the last).
    #[arg(long)]
    pub target: Option<String>,
    /// Run every step, ignoring the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Platform of the image (os/arch[/variant]); the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
    /// Push the image's tags after building.
    #[arg(long)]
    pub push: bool,
    /// Clamp all timestamps to this Unix time (default: $SOURCE_DATE_EPOCH), for reproducible
    /// images.
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// The build context: a directory, or `-` for a tar archive on stdin.
    pub context: String,
}

/// `FROM` images: local ones by name or id, else pulled.
struct Pulling {
    ctx: Arc<Context>,
    quiet: bool,
}

#[async_trait::async_trait]
impl Images for Pulling {
    async fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> std::result::Result<Digest, String> {
        if let Ok(img) = self.ctx.find_image(reference).await
            && img.record.architecture == platform.1
        {
            return Ok(img.record.id);
        }
        let r = self
            .ctx
            .reference(reference)
            .map_err(|e| format!("{e:#}"))?;
        let output = if self.quiet {
            Output::Quiet
        } else {
            Output::Stderr
        };
        pull(&self.ctx, &r, platform, output)
            .await
            .map_err(|e| format!("cannot pull {reference}: {e:#}"))
    }
}

/// Run `berth build`.
pub async fn run(args: BuildArgs) -> Result<()> {
    let ctx = Arc::new(Context::open().await?);
    let mut tags = Vec::new();
    for t in &args.tag {
        let r = ctx
            .reference(t)
            .with_context(|| format!("invalid tag {t:?}"))?;
        if r.digest.is_some() {
            bail!("invalid tag {t:?}: a tag cannot have a digest");
        }
        tags.push((r.name(), r.tag_or_latest().to_string()));
    }
    let mut build_args = BTreeMap::new();
    for a in &args.build_arg {
        match a.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    build_args.insert(a.clone(), v);
                }
            }
        }
    }
    let epoch = match args.timestamp {
        Some(t) => Some(t),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(
                v.parse()
                    .context("SOURCE_DATE_EPOCH must be a number of seconds")?,
            ),
            _ => None,
        },
    };
    let platform = match &args.platform {
        Some(p) => parse_platform(p)?,
        None => host_platform(),
    };
    // `-`: the context is a tarball on stdin, saved first (it is read more than once).
    let stdin_file = if args.context == "-" {
        let dir = ctx.layout().build_tmp();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("stdin-{}.tar", std::process::id()));
        let mut f = std::fs::File::create(&path)?;
        std::io::copy(&mut std::io::stdin().lock(), &mut f)
            .context("cannot read the context from stdin")?;
        Some(path)
    } else {
        None
    };
    let context = stdin_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.context));
    if stdin_file.is_none() && !context.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found",
            args.context
        );
    }
    let options = Options {
        context,
        dockerfile: args.file.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        platform,
        epoch,
        tags: tags.clone(),
    };
    let quiet = args.quiet;
    let progress: berth_build::builder::Progress = Arc::new(move |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    });
    let images = Arc::new(Pulling {
        ctx: ctx.clone(),
        quiet,
    });
    let builder = Builder::new(ctx.store.clone(), ctx.config.root.clone(), images, progress);
    let result = builder.build(&options).await;
    if let Some(f) = stdin_file {
        let _ = std::fs::remove_file(f);
    }
    let id = result?;
    if quiet {
        println!("{id}");
    } else {
        eprintln!("writing image {id} done");
        for (name, tag) in &tags {
            eprintln!("naming to {name}:{tag} done");
        }
    }
    if args.push {
        for (name, tag) in &tags {
            super::push::run(super::push::PushArgs {
                image: format!("{name}:{tag}"),
                quiet,
            })
            .await?;
        }
    }
    Ok(())
}
