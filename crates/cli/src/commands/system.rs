//! `berth system df` (disk space used by images, containers, volumes and the build cache, and
//! how much a prune would give back) and `berth system prune [-a] [-f]`.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use berth_oci::Digest;
use berth_store::State;

use super::context::{Context, human_size, print_table};
use super::liveness;
use super::prune::{PruneImagesArgs, disk_usage};

/// `berth system`
#[derive(clap::Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    command: SystemCommand,
}

#[derive(clap::Subcommand)]
enum SystemCommand {
    /// Show disk usage.
    Df,
    /// Remove stopped containers, unused images and the build cache.
    Prune(PruneImagesArgs),
}

/// Run `berth system …`.
pub async fn run(args: SystemArgs) -> Result<()> {
    match args.command {
        SystemCommand::Df => df().await,
        SystemCommand::Prune(a) => super::prune::prune_system(a).await,
    }
}

/// `SIZE (PERCENT%)` of `part` in `whole`.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return human_size(part);
    }
    format!("{} ({}%)", human_size(part), part * 100 / whole)
}

async fn df() -> Result<()> {
    let ctx = Context::open().await?;
    let containers = liveness::all(&ctx).await?;
    let images = ctx.store.images().await?;
    let size = |d: &Digest| ctx.store.blobs().size(d).unwrap_or(0);

    // Images: blobs counted once however many images share them; reclaimable are the blobs
    // only images without containers use.
    let used_ids: HashSet<String> = containers.iter().map(|c| c.image_id.clone()).collect();
    let mut users: HashMap<Digest, bool> = HashMap::new();
    for img in &images {
        let active = used_ids.contains(&img.record.id.to_string());
        for b in &img.record.blobs {
            *users.entry(b.clone()).or_insert(false) |= active;
        }
    }
    let images_size: u64 = users.keys().map(size).sum();
    let images_free: u64 = users
        .iter()
        .filter(|(_, a)| !**a)
        .map(|(d, _)| size(d))
        .sum();
    let images_active = images
        .iter()
        .filter(|i| used_ids.contains(&i.record.id.to_string()))
        .count();

    // Containers: their own changes and logs.
    let layout = ctx.layout();
    let dir = |id: &str| layout.container(id);
    let running = |c: &&berth_store::containers::Container| c.state == State::Running;
    let containers_size: u64 = containers.iter().map(|c| disk_usage(&dir(&c.id))).sum();
    let containers_free: u64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| disk_usage(&dir(&c.id)))
        .sum();

    // Named volumes.
    let volumes: Vec<std::path::PathBuf> = std::fs::read_dir(layout.volumes())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let in_use = |v: &std::path::Path| {
        let data = v.join("_data").to_string_lossy().into_owned();
        containers.iter().any(|c| c.config.contains(&data))
    };
    let volumes_size: u64 = volumes.iter().map(|v| disk_usage(v)).sum();
    let volumes_active = volumes.iter().filter(|v| in_use(v)).count();
    let volumes_free: u64 = volumes
        .iter()
        .filter(|v| !in_use(v))
        .map(|v| disk_usage(v))
        .sum();

    // Build cache: its records, cache mounts and scratch files.
    let cache_records = std::fs::read_dir(layout.build_cache())
        .map(|d| d.count())
        .unwrap_or(0);
    let cache_size = disk_usage(&layout.build());

    let rows = vec![
        vec![
            "TYPE".into(),
            "TOTAL".into(),
            "ACTIVE".into(),
            "SIZE".into(),
            "RECLAIMABLE".into(),
        ],
        vec![
            "Images".into(),
            images.len().to_string(),
            images_active.to_string(),
            human_size(images_size),
            share(images_free, images_size),
        ],
        vec![
            "Containers".into(),
            containers.len().to_string(),
            containers.iter().filter(running).count().to_string(),
            human_size(containers_size),
            share(containers_free, containers_size),
        ],
        vec![
            "Local Volumes".into(),
            volumes.len().to_string(),
            volumes_active.to_string(),
            human_size(volumes_size),
            share(volumes_free, volumes_size),
        ],
        vec![
            "Build Cache".into(),
            cache_records.to_string(),
            "0".into(),
            human_size(cache_size),
            human_size(cache_size),
        ],
    ];
    print_table(&rows);
    Ok(())
}
