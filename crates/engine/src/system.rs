//! What the data root holds and what this host gives berth: disk usage by images, containers,
//! volumes and the build cache, with what a prune would give back ([`Engine::disk_usage`],
//! `system df`), and the counts and host facts of `info` ([`Engine::info`]).

use std::collections::{HashMap, HashSet};

use berth_oci::Digest;
use berth_store::State;

use crate::Engine;
use crate::containers::liveness;
use crate::error::Result;
use crate::util::disk_usage;

/// One line of `system df`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageLine {
    /// How many there are.
    pub total: usize,
    /// How many are in use (images a container uses, running containers, volumes mounted).
    pub active: usize,
    /// Bytes on disk.
    pub size: u64,
    /// Bytes a prune would give back.
    pub reclaimable: u64,
}

/// What [`Engine::disk_usage`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Images: blobs counted once however many images share them; reclaimable are the blobs
    /// only images without containers use.
    pub images: UsageLine,
    /// Containers: their own changes and logs; reclaimable those of containers not running.
    pub containers: UsageLine,
    /// Local volumes (their directories); reclaimable those no container mounts.
    pub volumes: UsageLine,
    /// The build cache: its records, cache mounts and scratch files (all reclaimable).
    pub build_cache: UsageLine,
}

/// What [`Engine::info`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Containers in all.
    pub containers: usize,
    /// Running ones (paused included).
    pub running: usize,
    /// Paused ones.
    pub paused: usize,
    /// Neither running nor paused.
    pub stopped: usize,
    /// Images.
    pub images: usize,
    /// `2`, `1` or `1 (hybrid: …)`.
    pub cgroup_version: String,
    /// The kernel release.
    pub kernel: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub operating_system: String,
    /// `linux`.
    pub os: String,
    /// OCI architecture name (`amd64`…).
    pub architecture: String,
    /// CPUs available.
    pub cpus: usize,
    /// Total memory in bytes (`None`: unknown).
    pub memory: Option<u64>,
    /// The data root.
    pub root: std::path::PathBuf,
    /// The default registry.
    pub default_registry: String,
}

/// The host's `PRETTY_NAME` (`unknown` when there is none).
pub fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The kernel release (`unknown` when unreadable).
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `2`, `1` or `1 (hybrid: …)`, from what is mounted under /sys/fs/cgroup.
pub fn cgroup_version() -> &'static str {
    let v2_root = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory").is_dir();
    let unified = std::path::Path::new("/sys/fs/cgroup/unified").is_dir();
    match (v2_root, v1, unified) {
        (true, _, _) => "2",
        (false, true, true) => "1 (hybrid: v2 hierarchy at /sys/fs/cgroup/unified)",
        _ => "1",
    }
}

/// `MemTotal` of /proc/meminfo in bytes.
pub fn memory_total() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    Some(
        kb.trim()
            .trim_end_matches(" kB")
            .trim()
            .parse::<u64>()
            .ok()?
            * 1024,
    )
}

impl Engine {
    /// Disk usage of images, containers, volumes and the build cache (`system df`).
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let containers = liveness::all(self).await?;
        let images = self.store.images().await?;
        let size = |d: &Digest| self.store.blobs().size(d).unwrap_or(0);

        let used_ids: HashSet<String> = containers.iter().map(|c| c.image_id.clone()).collect();
        let mut users: HashMap<Digest, bool> = HashMap::new();
        for img in &images {
            let active = used_ids.contains(&img.record.id.to_string());
            for b in &img.record.blobs {
                *users.entry(b.clone()).or_insert(false) |= active;
            }
        }
        let images_line = UsageLine {
            total: images.len(),
            active: images
                .iter()
                .filter(|i| used_ids.contains(&i.record.id.to_string()))
                .count(),
            size: users.keys().map(size).sum(),
            reclaimable: users
                .iter()
                .filter(|(_, a)| !**a)
                .map(|(d, _)| size(d))
                .sum(),
        };

        let layout = self.layout();
        let mut containers_line = UsageLine {
            total: containers.len(),
            ..UsageLine::default()
        };
        for c in &containers {
            let bytes = disk_usage(&layout.container(&c.id));
            containers_line.size += bytes;
            if c.state == State::Running {
                containers_line.active += 1;
            } else {
                containers_line.reclaimable += bytes;
            }
        }

        // Every directory under the volumes one counts, as the volume's whole directory.
        let dirs: Vec<std::path::PathBuf> = std::fs::read_dir(layout.volumes())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        let mut volumes_line = UsageLine {
            total: dirs.len(),
            ..UsageLine::default()
        };
        for dir in &dirs {
            let bytes = disk_usage(dir);
            volumes_line.size += bytes;
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if crate::volumes::users(&containers, name).is_empty() {
                volumes_line.reclaimable += bytes;
            } else {
                volumes_line.active += 1;
            }
        }

        let cache_size = disk_usage(&layout.build());
        let build_cache = UsageLine {
            total: std::fs::read_dir(layout.build_cache()).map_or(0, |d| d.count()),
            active: 0,
            size: cache_size,
            reclaimable: cache_size,
        };
        Ok(DiskUsage {
            images: images_line,
            containers: containers_line,
            volumes: volumes_line,
            build_cache,
        })
    }

    /// Counts of containers and images, and the host's facts (`info`).
    pub async fn info(&self) -> Result<Info> {
        let containers = liveness::all(self).await?;
        let running = containers
            .iter()
            .filter(|c| c.state == State::Running)
            .count();
        let paused = containers.iter().filter(|c| c.paused).count();
        let (os, architecture, _) = crate::host_platform();
        Ok(Info {
            containers: containers.len(),
            running,
            paused,
            stopped: containers.len() - running,
            images: self.store.images().await?.len(),
            cgroup_version: cgroup_version().into(),
            kernel: kernel(),
            operating_system: os_release(),
            os,
            architecture,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: memory_total(),
            root: self.config.root.clone(),
            default_registry: self.config.default_registry.clone(),
        })
    }
}
