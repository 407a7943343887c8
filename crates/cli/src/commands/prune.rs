//! `berth container prune [-f]`: remove every container that is not running, as Docker does
//! (after asking), and say how much disk space that gave back.

use std::io::{BufRead as _, Write as _};
use std::path::Path;

use anyhow::Result;
use berth_store::State;
use berth_store::containers::process_identity;

use super::container::remove;
use super::context::{Context, human_size};
use super::liveness;

/// `berth container prune`
#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Bytes of the regular files under `path` (its symlinks and mounts not followed).
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

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

/// Run `berth container prune`.
pub async fn prune(args: PruneArgs) -> Result<()> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let (mut deleted, mut reclaimed) = (Vec::new(), 0);
    for c in liveness::all(&ctx).await? {
        // Running, or being started by a live monitor.
        let starting = c.state == State::Created
            && c.monitor_pid.is_some_and(|pid| {
                c.monitor_identity.is_some() && process_identity(pid) == c.monitor_identity
            });
        if c.state == State::Running || starting {
            continue;
        }
        let dir = ctx.config.root.join("containers").join("v1").join(&c.id);
        // Unmounted first, so the size is the container's own changes and log.
        berth_runtime::rootfs::unmount(&dir)?;
        let size = disk_usage(&dir);
        remove(&ctx, &c).await?;
        reclaimed += size;
        deleted.push(c.id);
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}
