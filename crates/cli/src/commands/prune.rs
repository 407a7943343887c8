//! Giving disk space back, as Docker does (after asking, unless `-f`), and saying how much:
//! `berth container prune` (containers not running), `berth image prune [-a]` (dangling
//! images, or every image no container uses), `berth builder prune` (the build cache and the
//! layers only it kept) and `berth system prune [-a]` (all three). Unpacked layers go with the
//! blobs they were unpacked from.

use std::io::{BufRead as _, Write as _};

use anyhow::Result;
use berth_oci::Digest;
use berth_store::State;
use berth_store::containers::process_identity;

use super::container::remove;
use super::context::{Context, human_size};
use super::liveness;

/// `berth container prune`, `berth builder prune`
#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `berth image prune`, `berth system prune`
#[derive(clap::Args)]
pub struct PruneImagesArgs {
    /// Remove every image no container uses, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// What one kind of pruning removed.
pub struct Pruned {
    /// `Deleted Containers:`…
    heading: &'static str,
    /// One line per removed object.
    lines: Vec<String>,
    /// Bytes given back.
    bytes: u64,
}

pub use berth_engine::util::disk_usage;

/// Whether the user answers yes to `question` on stdin.
pub(crate) fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Print what was removed and the total, as Docker does.
fn report(pruned: &[Pruned]) {
    for p in pruned.iter().filter(|p| !p.lines.is_empty()) {
        println!("{}", p.heading);
        for l in &p.lines {
            println!("{l}");
        }
        println!();
    }
    let total: u64 = pruned.iter().map(|p| p.bytes).sum();
    println!("Total reclaimed space: {}", human_size(total));
}

/// Remove the unpacked copies of deleted layer blobs from the layer cache.
pub fn drop_unpacked(ctx: &Context, deleted: &[Digest]) -> Result<()> {
    let cache = berth_runtime::rootfs::LayerCache::open(&ctx.config.root)?;
    for d in deleted {
        cache.remove(d)?;
    }
    Ok(())
}

/// Remove every container that is not running (nor being started by a live monitor).
async fn containers(ctx: &Context) -> Result<Pruned> {
    let (mut lines, mut bytes) = (Vec::new(), 0);
    for c in liveness::all(ctx).await? {
        let starting = c.state == State::Created
            && c.monitor_pid.is_some_and(|pid| {
                c.monitor_identity.is_some() && process_identity(pid) == c.monitor_identity
            });
        if c.state == State::Running || starting {
            continue;
        }
        let dir = ctx.layout().container(&c.id);
        // Unmounted first, so the size is the container's own changes and log.
        berth_runtime::rootfs::unmount(&dir)?;
        let size = disk_usage(&dir);
        remove(ctx, &c).await?;
        bytes += size;
        lines.push(c.id);
    }
    Ok(Pruned {
        heading: "Deleted Containers:",
        lines,
        bytes,
    })
}

/// Remove dangling images (or, with `all`, every image) that no container uses.
async fn images(ctx: &Context, all: bool) -> Result<Pruned> {
    let (mut lines, mut bytes) = (Vec::new(), 0);
    for img in ctx.store.images().await? {
        if !(img.names.is_empty() || all) {
            continue;
        }
        let users = ctx.store.image_in_use(&img.record.id.to_string()).await?;
        if !users.is_empty() {
            continue;
        }
        let sizes: Vec<(Digest, u64)> = img
            .record
            .blobs
            .iter()
            .map(|d| (d.clone(), ctx.store.blobs().size(d).unwrap_or(0)))
            .collect();
        for (n, t) in &img.names {
            lines.push(format!("untagged: {}", ctx.familiar(n, t)));
        }
        for (n, d) in &img.repo_digests {
            lines.push(format!("untagged: {}@{d}", ctx.familiar_name(n)));
        }
        let deleted = ctx.store.remove(&img.record.id).await?;
        let id = img.record.id.to_string();
        let untagged = img.names.iter().map(|(n, t)| ctx.familiar(n, t)).chain(
            img.repo_digests
                .iter()
                .map(|(n, d)| format!("{}@{d}", ctx.familiar_name(n))),
        );
        for name in untagged {
            super::events::emit(&ctx.config.root, "image", "untag", &id, &[("name", name)]);
        }
        super::events::emit(
            &ctx.config.root,
            "image",
            "delete",
            &id,
            &[("name", id.clone())],
        );
        drop_unpacked(ctx, &deleted)?;
        bytes += sizes
            .iter()
            .filter(|(d, _)| deleted.contains(d))
            .map(|(_, s)| s)
            .sum::<u64>();
        lines.push(format!("deleted: {}", img.record.id));
    }
    Ok(Pruned {
        heading: "Deleted Images:",
        lines,
        bytes,
    })
}

/// Forget the build cache and delete the layers only it kept.
async fn build_cache(ctx: &Context) -> Result<Pruned> {
    let (layers, mut bytes) = berth_build::builder::prune_cache(&ctx.config.root);
    let sizes: Vec<u64> = layers
        .iter()
        .map(|d| ctx.store.blobs().size(d).unwrap_or(0))
        .collect();
    let deleted = ctx.store.discard_unreferenced(&layers).await?;
    for (d, size) in layers.iter().zip(sizes) {
        if deleted.contains(d) {
            bytes += size;
        }
    }
    drop_unpacked(ctx, &deleted)?;
    Ok(Pruned {
        heading: "Deleted build cache objects:",
        lines: deleted.iter().map(|d| d.to_string()).collect(),
        bytes,
    })
}

/// Run `berth container prune`.
pub async fn prune(args: PruneArgs) -> Result<()> {
    let question =
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    report(&[containers(&ctx).await?]);
    Ok(())
}

/// Run `berth image prune`.
pub async fn prune_images(args: PruneImagesArgs) -> Result<()> {
    let question = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    report(&[images(&ctx, args.all).await?]);
    Ok(())
}

/// Run `berth builder prune`.
pub async fn prune_build_cache(args: PruneArgs) -> Result<()> {
    let question = "WARNING! This will remove all build cache.\nAre you sure you want to continue?";
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    report(&[build_cache(&ctx).await?]);
    Ok(())
}

/// Run `berth system prune`: stopped containers, then unused images, then the build cache.
pub async fn prune_system(args: PruneImagesArgs) -> Result<()> {
    let images_line = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let question = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - {images_line}\n  - unused build cache\n\nAre you sure you want to continue?"
    );
    if !args.force && !confirm(&question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let c = containers(&ctx).await?;
    let i = images(&ctx, args.all).await?;
    let b = build_cache(&ctx).await?;
    report(&[c, i, b]);
    Ok(())
}
