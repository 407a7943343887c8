//! Per-container cgroups for the native engine: memory, cpu and pids limits.
//!
//! Each container gets a directory `berth/<id>` at the root of the hierarchy of every controller
//! its limits need, plus those `berth stats` and `berth pause` read or write even without a
//! limit (memory, pids, cpuacct, blkio and the v1 freezer, where the host has them): under
//! `/sys/fs/cgroup/<controller>` on v1 and hybrid hosts, under the v2 root `/sys/fs/cgroup` when
//! it is a pure v2 host (its `cgroup.controllers` lists the controller; `cgroup.freeze` and
//! `cpu.stat` are in every v2 directory).
//! The parent creates the directories and writes the limits before the child runs anything,
//! places the child's pid in them while the child waits on a pipe, and removes them when the
//! container has exited ([`Cgroups`] does it on drop, so every error path cleans up too).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::error::{Error, Result};
use crate::spec::{CPU_PERIOD_US, ContainerSpec};

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup directories of one container; removed on drop.
#[derive(Debug, Default)]
pub(super) struct Cgroups {
    id: String,
    /// Directories created, in creation order.
    dirs: Vec<PathBuf>,
}

/// A controller and the files to write in it: `(controller, v1 files, v2 files)`, each file
/// `(name, value)`; a name ending in `?` is skipped when the kernel lacks it.
type Wanted = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<(&'static str, String)>,
);

/// Whether `/sys/fs/cgroup` is a v2 hierarchy with `controller` available.
fn v2_has(controller: &str) -> bool {
    std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
        .map(|s| s.split_whitespace().any(|c| c == controller))
        .unwrap_or(false)
}

impl Cgroups {
    /// Create the container's cgroups with `spec`'s limits, and the accounting and freezer ones
    /// the host has (skipped, unlike the limits, when the host lacks their controller).
    pub(super) fn create(spec: &ContainerSpec) -> Result<Cgroups> {
        let mut cgroups = Cgroups {
            id: spec.id.clone(),
            dirs: Vec::new(),
        };
        let pids = spec.pids_limit.map(|n| {
            if n > 0 {
                n.to_string()
            } else {
                "max".to_string()
            }
        });
        let quota = spec
            .cpus
            .map(|cpus| (cpus * CPU_PERIOD_US as f64).round() as u64);
        let mut wanted: Vec<Wanted> = Vec::new();
        if let Some(bytes) = spec.memory {
            wanted.push((
                "memory",
                vec![
                    ("memory.limit_in_bytes", bytes.to_string()),
                    // Optional (needs swap accounting); written after the limit it may not undercut.
                    ("memory.memsw.limit_in_bytes?", bytes.to_string()),
                ],
                vec![
                    ("memory.max", bytes.to_string()),
                    ("memory.swap.max?", "0".to_string()),
                ],
            ));
        }
        if let Some(max) = pids {
            wanted.push((
                "pids",
                vec![("pids.max", max.clone())],
                vec![("pids.max", max)],
            ));
        }
        if let Some(quota) = quota {
            wanted.push((
                "cpu",
                vec![
                    ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", quota.to_string()),
                ],
                vec![("cpu.max", format!("{quota} {CPU_PERIOD_US}"))],
            ));
        }
        // Accounting and freezing only: no files to write, and optional.
        let limited = wanted.len();
        for controller in ["memory", "pids", "cpuacct", "blkio", "freezer"] {
            if !wanted.iter().any(|w| w.0 == controller) {
                wanted.push((controller, Vec::new(), Vec::new()));
            }
        }
        let v2_dir = Path::new(ROOT).join("berth").join(&spec.id);
        let pure_v2 = Path::new(ROOT).join("cgroup.controllers").exists();
        for (n, (controller, v1_files, v2_files)) in wanted.into_iter().enumerate() {
            let optional = n >= limited;
            if optional && controller == "freezer" && pure_v2 {
                // v2 freezes any directory (`cgroup.freeze`): no controller to enable.
                cgroups.v2_parent()?;
                if !cgroups.dirs.contains(&v2_dir) {
                    cgroups.mkdir(&v2_dir)?;
                }
                continue;
            }
            let (dir, files) = if v2_has(controller) {
                match cgroups.v2_enable(controller) {
                    Ok(()) => {}
                    Err(e) if optional => {
                        debug!(id = %spec.id, error = %e, "no {controller} accounting");
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                if !cgroups.dirs.contains(&v2_dir) {
                    cgroups.mkdir(&v2_dir)?;
                }
                (v2_dir.clone(), v2_files)
            } else {
                // Resolved, as `cpuacct` may be a link to `cpu,cpuacct` that `cpu` shares.
                let base = Path::new(ROOT).join(controller);
                let base = std::fs::canonicalize(&base).unwrap_or(base);
                if cgroups.dirs.contains(&base.join("berth").join(&spec.id)) {
                    continue;
                }
                if optional && (pure_v2 || !base.join("cgroup.procs").exists()) {
                    continue;
                }
                if !base.join("cgroup.procs").exists() {
                    return Err(cgroups.error(
                        &base,
                        std::io::Error::new(
                            ErrorKind::NotFound,
                            format!("no {controller} cgroup controller"),
                        ),
                    ));
                }
                let parent = base.join("berth");
                if let Err(e) = std::fs::create_dir(&parent)
                    && e.kind() != ErrorKind::AlreadyExists
                {
                    return Err(cgroups.error(&parent, e));
                }
                let dir = parent.join(&spec.id);
                cgroups.mkdir(&dir)?;
                (dir, v1_files)
            };
            for (file, value) in files {
                let (file, optional) = match file.strip_suffix('?') {
                    Some(f) => (f, true),
                    None => (file, false),
                };
                let path = dir.join(file);
                if optional && !path.exists() {
                    continue;
                }
                std::fs::write(&path, &value).map_err(|e| cgroups.error(&path, e))?;
            }
        }
        debug!(id = %spec.id, dirs = ?cgroups.dirs, "cgroups created");
        Ok(cgroups)
    }

    /// Enable `controller` for `/sys/fs/cgroup/berth`'s children (v2).
    fn v2_enable(&mut self, controller: &str) -> Result<()> {
        let parent = self.v2_parent()?;
        for dir in [Path::new(ROOT), parent.as_path()] {
            let control = dir.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&control).unwrap_or_default();
            if !enabled.split_whitespace().any(|c| c == controller) {
                std::fs::write(&control, format!("+{controller}"))
                    .map_err(|e| self.error(&control, e))?;
            }
        }
        Ok(())
    }

    /// `/sys/fs/cgroup/berth` (v2), created if need be.
    fn v2_parent(&self) -> Result<PathBuf> {
        let parent = Path::new(ROOT).join("berth");
        if let Err(e) = std::fs::create_dir(&parent)
            && e.kind() != ErrorKind::AlreadyExists
        {
            return Err(self.error(&parent, e));
        }
        Ok(parent)
    }

    fn mkdir(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir(dir).map_err(|e| self.error(dir, e))?;
        self.dirs.push(dir.to_path_buf());
        Ok(())
    }

    fn error(&self, path: &Path, source: std::io::Error) -> Error {
        Error::Cgroup {
            id: self.id.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether there is anything to join.
    pub(super) fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Move process `pid` into every cgroup of the container.
    pub(super) fn add(&self, pid: libc::pid_t) -> Result<()> {
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            std::fs::write(&procs, pid.to_string()).map_err(|e| self.error(&procs, e))?;
        }
        Ok(())
    }
}

impl Drop for Cgroups {
    /// Remove the directories, retrying for a while as the container's last tasks drain (EBUSY).
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.dirs.iter().rev() {
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) if Instant::now() < deadline => {
                        debug!(dir = %dir.display(), error = %e, "cgroup busy; retrying");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove cgroup");
                        break;
                    }
                }
            }
        }
    }
}
