//! Giving disk space back, as Docker does (after asking, unless `-f`), and saying how much:
//! `berth container prune` (containers not running), `berth image prune [-a]` (dangling
//! images, or every image no container uses), `berth builder prune` (the build cache and the
//! layers only it kept) and `berth system prune [-a]` (all three). The removing is the
//! engine's ([`berth_engine::prune`]); asking and printing are here.

use std::io::{BufRead as _, Write as _};

use anyhow::Result;
use berth_engine::prune::{ImageDeleted, ImagesPruned, PruneFilters, Pruned};

use super::context::{Context, human_size};

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
    /// Filter: `until=TIME`, `label=KEY[=VALUE]` or `label!=KEY[=VALUE]`.
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

/// `berth system prune`
#[derive(clap::Args)]
pub struct SystemPruneArgs {
    /// As `image prune`'s.
    #[command(flatten)]
    pub images: PruneImagesArgs,
    /// Prune anonymous volumes too.
    #[arg(long)]
    pub volumes: bool,
}

/// What one kind of pruning removed, as printed.
struct Section {
    /// `Deleted Containers:`…
    heading: &'static str,
    /// One line per removed object.
    lines: Vec<String>,
    /// Bytes given back.
    bytes: u64,
}

impl Section {
    fn of(heading: &'static str, p: Pruned) -> Section {
        Section {
            heading,
            lines: p.deleted,
            bytes: p.bytes,
        }
    }

    fn images(p: ImagesPruned) -> Section {
        let lines = p
            .deleted
            .into_iter()
            .map(|d| match d {
                ImageDeleted::Untagged(n) => format!("untagged: {n}"),
                ImageDeleted::Deleted(id) => format!("deleted: {id}"),
            })
            .collect();
        Section {
            heading: "Deleted Images:",
            lines,
            bytes: p.bytes,
        }
    }
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

/// Print what was removed and the total, as Docker does.
fn report(sections: &[Section]) {
    for p in sections.iter().filter(|p| !p.lines.is_empty()) {
        println!("{}", p.heading);
        for l in &p.lines {
            println!("{l}");
        }
        println!();
    }
    let total: u64 = sections.iter().map(|p| p.bytes).sum();
    println!("Total reclaimed space: {}", human_size(total));
}

/// Run `berth container prune`.
pub async fn prune(args: PruneArgs) -> Result<()> {
    let question =
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let pruned = ctx.prune_containers(&PruneFilters::default()).await?;
    report(&[Section::of("Deleted Containers:", pruned)]);
    Ok(())
}

/// Run `berth image prune`.
pub async fn prune_images(args: PruneImagesArgs) -> Result<()> {
    let filters = PruneFilters::parse(&args.filters)?;
    let question = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    report(&[Section::images(ctx.prune_images(args.all, &filters).await?)]);
    Ok(())
}

/// Run `berth builder prune`.
pub async fn prune_build_cache(args: PruneArgs) -> Result<()> {
    let question = "WARNING! This will remove all build cache.\nAre you sure you want to continue?";
    if !args.force && !confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let pruned = ctx.prune_build_cache().await?;
    report(&[Section::of("Deleted build cache objects:", pruned)]);
    Ok(())
}

/// Run `berth system prune`: stopped containers, then unused images, then the build cache.
pub async fn prune_system(args: SystemPruneArgs) -> Result<()> {
    let volumes = args.volumes;
    let args = args.images;
    let filters = PruneFilters::parse(&args.filters)?;
    let images_line = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let volumes_line = if volumes {
        "\n  - all anonymous volumes not used by at least one container"
    } else {
        ""
    };
    let question = format!(
        "WARNING! This will remove:\n  - all stopped containers{volumes_line}\n  - {images_line}\n  - unused build cache\n\nAre you sure you want to continue?"
    );
    if !args.force && !confirm(&question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let p = ctx.prune_system(args.all, volumes, &filters).await?;
    let mut sections = vec![Section::of("Deleted Containers:", p.containers)];
    sections.extend(p.volumes.map(|v| Section::of("Deleted Volumes:", v)));
    sections.push(Section::images(p.images));
    sections.push(Section::of("Deleted build cache objects:", p.build_cache));
    report(&sections);
    Ok(())
}
