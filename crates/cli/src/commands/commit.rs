//! `berth commit [-a AUTHOR] [-m MSG] [-c CHANGE]... CONTAINER [REPOSITORY[:TAG]]` and
//! `berth diff CONTAINER`: a container's changes (its overlay's upper directory) as a new
//! image layer on top of its image, with the container's command, environment, working
//! directory and user as the new image's config; or listed as A/C/D lines.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use berth_build::builder::{ImageState, layer_from_upper};
use berth_oci::Digest;
use serde_json::{Value, json};

use super::context::{Context, format_rfc3339};
use super::run::{record, spec_of, strings};

/// `berth commit`
#[derive(clap::Args)]
pub struct CommitArgs {
    /// Author of the new image.
    #[arg(short, long)]
    pub author: Option<String>,
    /// Commit message (the history entry's comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// The container.
    pub container: String,
    /// Name for the image: REPOSITORY[:TAG].
    pub reference: Option<String>,
}

/// `berth diff`
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The container.
    pub container: String,
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

/// The container's upper directory and the mount points its spec adds.
fn upper_and_mounts(
    ctx: &Context,
    c: &berth_store::containers::Container,
) -> Result<(PathBuf, Vec<String>)> {
    let upper = ctx.layout().container_upper(&c.id);
    if !upper.is_dir() {
        bail!("container {} has no file system left", c.name);
    }
    let spec = spec_of(&record(c)?, &c.id, PathBuf::new())?;
    let mut mounts: Vec<String> = MOUNT_POINTS.iter().map(|s| s.to_string()).collect();
    mounts.extend(spec.mounts.iter().map(|m| m.target.clone()));
    Ok((upper, mounts))
}

/// Run `berth commit`.
pub async fn commit(args: CommitArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = ctx.store.find_container(&args.container).await?;
    let name = match &args.reference {
        Some(r) => {
            let r = ctx.reference(r)?;
            if r.digest.is_some() {
                bail!("refusing to create a tag with a digest reference: {r}");
            }
            vec![(r.name(), r.tag_or_latest().to_string())]
        }
        None => vec![],
    };
    let image_id: Digest = c.image_id.parse().context("the container's image id")?;
    let mut state = ImageState::load(&ctx.store, &image_id)
        .await
        .with_context(|| format!("the image of container {}", c.name))?;
    let (upper, mounts) = upper_and_mounts(&ctx, &c)?;
    let tmp = ctx
        .layout()
        .build_tmp()
        .join(format!("commit-{}", &c.id[..12]));
    let layer = layer_from_upper(&ctx.store, &upper, None, &tmp, &mounts).await?;
    let created = format_rfc3339(std::time::SystemTime::now());

    // The container's process as the image's config, as Docker commits it.
    let record = record(&c)?;
    let spec = spec_of(&record, &c.id, PathBuf::new())?;
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
    for change in &args.change {
        super::archive::import::apply_change(cfg, change)
            .with_context(|| format!("--change {change:?}"))?;
    }
    if let Some(a) = &args.author {
        state.config["author"] = json!(a);
    }
    let created_by = c.command.join(" ");
    match layer {
        Some(l) => state.push_layer(l, &created, &created_by),
        None => state.history(&created, &created_by, true),
    }
    if let Some(m) = &args.message
        && let Some(last) = state.config["history"]
            .as_array_mut()
            .and_then(|h| h.last_mut())
    {
        last["comment"] = json!(m);
    }
    let id = state.commit(&ctx.store, &created, &name).await?;
    println!("{id}");
    Ok(())
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

/// Run `berth diff`.
pub async fn diff(args: DiffArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = ctx.store.find_container(&args.container).await?;
    let image_id: Digest = c.image_id.parse().context("the container's image id")?;
    let state = ImageState::load(&ctx.store, &image_id).await?;
    let cache = berth_runtime::rootfs::LayerCache::open(&ctx.config.root)?;
    let layers: Vec<PathBuf> = state.layers.iter().map(|l| cache.path(&l.digest)).collect();
    let (upper, mounts) = upper_and_mounts(&ctx, &c)?;
    let mut lines = Vec::new();
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
                lines.push(format!("D {shown}"));
                continue;
            }
            let kind = if in_image(&layers, &path) { 'C' } else { 'A' };
            lines.push(format!("{kind} {shown}"));
            if meta.is_dir() {
                todo.push(path);
            }
        }
    }
    // Directories added only to hold mount points (`/etc` of an image without one).
    let shown: Vec<String> = lines.iter().map(|l| l[2..].to_string()).collect();
    lines.retain(|l| {
        let path = &l[2..];
        let holds_mount = mounts.iter().any(|m| m.starts_with(&format!("{path}/")));
        let prefix = format!("{path}/");
        !(l.starts_with('A') && holds_mount && !shown.iter().any(|p| p.starts_with(&prefix)))
    });
    lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
