//! Per-container cgroups for the native engine: the limits [`super::cgroup_limits`] works out
//! (memory, cpu, cpuset, pids, block I/O, devices).
//!
//! Each container gets a directory `<parent>/<id>` (`berth/<id>` unless `cgroup_parent` says
//! otherwise) below the root of the hierarchy of every controller its limits need, plus those
//! `berth stats` and `berth pause` read or write even without a limit (memory, pids, cpuacct,
//! blkio and the v1 freezer, where the host has them) and those `update` may set later (cpu,
//! cpuset): under
//! `/sys/fs/cgroup/<controller>` on v1 and hybrid hosts, under the v2 root `/sys/fs/cgroup` when
//! it is a pure v2 host (its `cgroup.controllers` lists the controller; `cgroup.freeze` and
//! `cpu.stat` are in every v2 directory).
//! The parent creates the directories and writes the limits before the child runs anything,
//! places the child's pid in them while the child waits on a pipe, and removes them when the
//! container has exited ([`Cgroups`] does it on drop, so every error path cleans up too).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::cgroup_limits::{File, Wanted, limits};
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;
use crate::spec::resources::cgroup_parent;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup directories of one container; removed on drop.
#[derive(Debug, Default)]
pub(super) struct Cgroups {
    id: String,
    /// The parent cgroup, relative (`berth`).
    parent: String,
    /// Directories created, in creation order.
    dirs: Vec<PathBuf>,
}

/// Whether `/sys/fs/cgroup` is a v2 hierarchy with `controller` available.
fn v2_has(controller: &str) -> bool {
    !controller.is_empty()
        && std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
            .map(|s| s.split_whitespace().any(|c| c == controller))
            .unwrap_or(false)
}

impl Cgroups {
    /// Create the container's cgroups with `spec`'s limits, and the accounting and freezer ones
    /// the host has (skipped, unlike the limits, when the host lacks their controller).
    pub(super) fn create(spec: &ContainerSpec) -> Result<Cgroups> {
        let parent = cgroup_parent(spec);
        let mut cgroups = Cgroups {
            id: spec.id.clone(),
            parent: parent.clone(),
            dirs: Vec::new(),
        };
        let mut wanted = limits(spec)?;
        // Accounting and freezing only: no files to write, and optional.
        let limited = wanted.len();
        // `cpu` and `cpuset` too, so that `update` can set their limits later.
        for controller in [
            "memory", "pids", "cpuacct", "blkio", "freezer", "cpu", "cpuset",
        ] {
            if !wanted.iter().any(|w| w.v1 == controller) {
                let v2 = if matches!(controller, "memory" | "pids" | "cpu" | "cpuset") {
                    controller
                } else {
                    ""
                };
                wanted.push(Wanted {
                    v1: controller,
                    v2,
                    ..Wanted::default()
                });
            }
        }
        let v2_dir = Path::new(ROOT).join(&parent).join(&spec.id);
        let pure_v2 = Path::new(ROOT).join("cgroup.controllers").exists();
        for (n, w) in wanted.into_iter().enumerate() {
            let optional = n >= limited;
            let controller = w.v1;
            if optional && controller == "freezer" && pure_v2 {
                // v2 freezes any directory (`cgroup.freeze`): no controller to enable.
                cgroups.v2_parent()?;
                if !cgroups.dirs.contains(&v2_dir) {
                    cgroups.mkdir(&v2_dir)?;
                }
                continue;
            }
            let (dir, files) = if v2_has(w.v2) {
                match cgroups.v2_enable(w.v2) {
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
                (v2_dir.clone(), w.v2_files)
            } else {
                // Resolved, as `cpuacct` may be a link to `cpu,cpuacct` that `cpu` shares.
                let base = Path::new(ROOT).join(controller);
                let base = std::fs::canonicalize(&base).unwrap_or(base);
                let dir = base.join(&parent).join(&spec.id);
                if cgroups.dirs.contains(&dir) {
                    // A hierarchy shared with a controller done before: just its files.
                    cgroups.write_files(&dir, w.v1_files)?;
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
                let parent_dir = base.join(&parent);
                std::fs::create_dir_all(&parent_dir).map_err(|e| cgroups.error(&parent_dir, e))?;
                cgroups.mkdir(&dir)?;
                if controller == "cpuset" {
                    cgroups.cpuset_inherit(&base, &dir)?;
                }
                (dir, w.v1_files)
            };
            cgroups.write_files(&dir, files)?;
        }
        debug!(id = %spec.id, dirs = ?cgroups.dirs, "cgroups created");
        Ok(cgroups)
    }

    /// Write `files` (see [`super::cgroup_limits::File`]) in `dir`, in order.
    pub(super) fn write_files(&self, dir: &Path, files: Vec<File>) -> Result<()> {
        for (file, value) in files {
            let (file, optional) = match file.strip_suffix('?') {
                Some(f) => (f, true),
                None => (file, false),
            };
            let mut names = file.split('|');
            let first = dir.join(names.next().unwrap_or(file));
            let path = std::iter::once(first.clone())
                .chain(names.map(|n| dir.join(n)))
                .find(|p| p.exists());
            let path = match path {
                Some(path) => path,
                None if optional => {
                    warn!(id = %self.id, file, "the kernel lacks this cgroup file: not set");
                    continue;
                }
                None => first,
            };
            std::fs::write(&path, &value).map_err(|e| self.error(&path, e))?;
        }
        Ok(())
    }

    /// A v1 cpuset directory starts with no CPUs and memory nodes: give `dir` and every new
    /// directory between it and `base` their parent's.
    fn cpuset_inherit(&self, base: &Path, dir: &Path) -> Result<()> {
        let rel = dir.strip_prefix(base).unwrap_or(dir);
        let mut at = base.to_path_buf();
        for part in rel.components() {
            let parent = at.clone();
            at.push(part);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let path = at.join(file);
                let have = std::fs::read_to_string(&path).map_err(|e| self.error(&path, e))?;
                if have.trim().is_empty() {
                    let from = parent.join(file);
                    let value = std::fs::read_to_string(&from).map_err(|e| self.error(&from, e))?;
                    std::fs::write(&path, value.trim()).map_err(|e| self.error(&path, e))?;
                }
            }
        }
        Ok(())
    }

    /// Enable `controller` for the parent cgroup's children (v2), and so in every cgroup
    /// above it.
    fn v2_enable(&mut self, controller: &str) -> Result<()> {
        self.v2_parent()?;
        let mut dir = PathBuf::from(ROOT);
        let parts = std::iter::once(None).chain(self.parent.split('/').map(Some));
        for part in parts {
            if let Some(part) = part {
                dir.push(part);
            }
            let control = dir.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&control).unwrap_or_default();
            if !enabled.split_whitespace().any(|c| c == controller) {
                std::fs::write(&control, format!("+{controller}"))
                    .map_err(|e| self.error(&control, e))?;
            }
        }
        Ok(())
    }

    /// The parent cgroup (v2, `/sys/fs/cgroup/berth` by default), created if need be.
    fn v2_parent(&self) -> Result<PathBuf> {
        let parent = Path::new(ROOT).join(&self.parent);
        std::fs::create_dir_all(&parent).map_err(|e| self.error(&parent, e))?;
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

    /// A handle that only writes files for container `id` (owns no directory).
    pub(super) fn writer(id: &str) -> Cgroups {
        let mut cgroups = Cgroups::default();
        cgroups.id = id.to_string();
        cgroups
    }

    /// The parent cgroup, relative (`berth`).
    pub(super) fn parent(&self) -> &str {
        &self.parent
    }

    /// Whether there is anything to join.
    pub(super) fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// How many of the container's processes the kernel's OOM killer killed: the `oom_kill`
    /// count of its memory cgroup (v2 `memory.events`, v1 `memory.oom_control`).
    pub(super) fn oom_kills(&self) -> u64 {
        self.dirs
            .iter()
            .flat_map(|d| [d.join("memory.events"), d.join("memory.oom_control")])
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.strip_prefix("oom_kill "))
                    .filter_map(|n| n.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap_or(0)
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
