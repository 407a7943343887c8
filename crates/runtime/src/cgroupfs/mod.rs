//! A running container's cgroups seen from the host, for the commands that look inside or
//! control a container without its engine (`top`, `stats`, `pause`, `unpause`): which
//! processes it has, what they use ([`stats`]) and freezing them.
//!
//! Both engines put a container's cgroups at `berth/<id>` below the root of each hierarchy (the
//! native engine in `engine::cgroups`, runc through the OCI `cgroupsPath`), so they are found
//! by id alone: `/sys/fs/cgroup/<controllers>/berth/<id>` for each v1 hierarchy, and
//! `/sys/fs/cgroup/berth/<id>` (pure v2) or `/sys/fs/cgroup/unified/berth/<id>` (hybrid) for
//! v2. A container run with a `cgroup_parent` of its own (`--cgroup-parent`) is under that
//! parent instead, and not found here. Only the filesystem is used: this module calls nothing else of the crate.

pub mod stats;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::error::{Error, Result};

const ROOT: &str = "/sys/fs/cgroup";

/// How long a freeze may take before it is given up (tasks in uninterruptible sleep).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// The cgroup directories of one container that exist now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerCgroups {
    id: String,
    /// `(controllers of the hierarchy, directory)` for each v1 hierarchy.
    v1: Vec<(Vec<String>, PathBuf)>,
    /// The v2 directory.
    v2: Option<PathBuf>,
}

impl ContainerCgroups {
    /// The cgroups of container `id` under `/sys/fs/cgroup`; empty when it has none.
    pub fn find(id: &str) -> ContainerCgroups {
        Self::find_in(Path::new(ROOT), id)
    }

    /// The cgroups of container `id` under `/sys/fs/cgroup`, below the parent cgroup
    /// `parent` (relative, `berth` by default: a container's `--cgroup-parent`).
    pub fn find_under(parent: &str, id: &str) -> ContainerCgroups {
        Self::find_in_parent(Path::new(ROOT), parent, id)
    }

    /// The cgroups of container `id` below the cgroup mounts under `root`.
    pub fn find_in(root: &Path, id: &str) -> ContainerCgroups {
        Self::find_in_parent(root, "berth", id)
    }

    /// The cgroups of container `id` below `parent` in the cgroup mounts under `root`.
    pub fn find_in_parent(root: &Path, parent: &str, id: &str) -> ContainerCgroups {
        let mut found = ContainerCgroups {
            id: id.to_string(),
            ..ContainerCgroups::default()
        };
        let parent = parent.trim_matches('/');
        let own = |base: &Path| base.join(parent).join(id);
        if root.join("cgroup.controllers").exists() {
            found.v2 = Some(own(root)).filter(|d| d.is_dir());
            return found;
        }
        let Ok(entries) = std::fs::read_dir(root) else {
            return found;
        };
        for entry in entries.flatten() {
            // Links (`cpu` → `cpu,cpuacct`) name a hierarchy listed on its own.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let base = entry.path();
            let dir = own(&base);
            if !dir.is_dir() {
                continue;
            }
            if base.join("cgroup.controllers").exists() {
                found.v2 = Some(dir);
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                found
                    .v1
                    .push((name.split(',').map(String::from).collect(), dir));
            }
        }
        found.v1.sort();
        found
    }

    /// Whether the container has no cgroup at all.
    pub fn is_empty(&self) -> bool {
        self.v1.is_empty() && self.v2.is_none()
    }

    /// The v1 directory of `controller`, if it has one.
    pub fn v1(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(cs, _)| cs.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }

    /// The v2 directory, if it has one.
    pub fn v2(&self) -> Option<&Path> {
        self.v2.as_deref()
    }

    /// The host pids of the container's processes (`cgroup.procs` of its first cgroup that
    /// holds any), ascending; empty when it has no cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dirs = ["freezer", "pids", "memory"]
            .iter()
            .filter_map(|c| self.v1(c))
            .chain(self.v1.iter().map(|(_, d)| d.as_path()))
            .chain(self.v2());
        for dir in dirs {
            let path = dir.join("cgroup.procs");
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.error(&path, e)),
            };
            let mut pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if !pids.is_empty() {
                pids.sort_unstable();
                pids.dedup();
                return Ok(pids);
            }
        }
        Ok(Vec::new())
    }

    /// Freeze every process of the container (v1 `freezer.state`, else v2 `cgroup.freeze`) and
    /// wait until the kernel reports it frozen. `Error::NoCgroup` without a freezer; a freeze
    /// that does not complete in time is undone and reported.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaw the container's processes (a container that is not frozen stays as it is).
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// Whether the container's processes are frozen (false without a freezer).
    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Some((file, true)) => read_trimmed(&file).as_deref() == Some("FROZEN"),
            Some((file, false)) => {
                let events = file.with_file_name("cgroup.events");
                std::fs::read_to_string(events)
                    .is_ok_and(|e| e.lines().any(|l| l.trim() == "frozen 1"))
            }
            None => false,
        }
    }

    /// The freezer's control file and whether it is v1.
    fn freezer(&self) -> Option<(PathBuf, bool)> {
        if let Some(dir) = self.v1("freezer") {
            return Some((dir.join("freezer.state"), true));
        }
        self.v2()
            .map(|d| d.join("cgroup.freeze"))
            .filter(|f| f.exists())
            .map(|f| (f, false))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let Some((file, v1)) = self.freezer() else {
            return Err(Error::NoCgroup {
                id: self.id.clone(),
                controller: "freezer".into(),
            });
        };
        let value = match (v1, frozen) {
            (true, true) => "FROZEN",
            (true, false) => "THAWED",
            (false, true) => "1",
            (false, false) => "0",
        };
        debug!(id = %self.id, file = %file.display(), value, "cgroup freezer");
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        loop {
            // v1 freezes in steps (FREEZING) and wants the request repeated.
            std::fs::write(&file, value).map_err(|e| self.error(&file, e))?;
            if self.is_frozen() == frozen {
                return Ok(());
            }
            if Instant::now() > deadline {
                if frozen {
                    let _ = self.set_frozen(false);
                }
                return Err(self.error(
                    &file,
                    std::io::Error::new(ErrorKind::TimedOut, "the freezer did not settle"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn error(&self, path: &Path, source: std::io::Error) -> Error {
        Error::Cgroup {
            id: self.id.clone(),
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A file's contents without surrounding white space; `None` when unreadable.
fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_and_v2_directories_by_id() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in [
            "memory/berth/c1",
            "cpu,cpuacct/berth/c1",
            "unified/berth/c1",
            "pids/x",
        ] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("unified/cgroup.controllers"), "").unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", r.join("cpuacct")).unwrap();
        std::fs::write(r.join("memory/berth/c1/cgroup.procs"), "").unwrap();
        std::fs::write(r.join("cpu,cpuacct/berth/c1/cgroup.procs"), "12\n7\n").unwrap();
        let found = ContainerCgroups::find_in(r, "c1");
        assert_eq!(found.v1.len(), 2, "{found:?}");
        assert_eq!(
            found.v1("cpuacct"),
            Some(r.join("cpu,cpuacct/berth/c1").as_path())
        );
        assert_eq!(found.v1("pids"), None);
        assert_eq!(found.v2(), Some(r.join("unified/berth/c1").as_path()));
        // The first cgroup holding processes.
        assert_eq!(found.pids().unwrap(), vec![7, 12]);
        // No freezer: pause is refused, nothing is frozen.
        assert!(matches!(found.freeze(), Err(Error::NoCgroup { .. })));
        assert!(!found.is_frozen());
        assert!(ContainerCgroups::find_in(r, "c2").is_empty());
    }

    #[test]
    fn pure_v2_hosts_have_one_directory() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("cgroup.controllers"), "memory pids").unwrap();
        std::fs::create_dir_all(r.join("berth/c1")).unwrap();
        let found = ContainerCgroups::find_in(r, "c1");
        assert_eq!(found.v2(), Some(r.join("berth/c1").as_path()));
        assert!(found.v1.is_empty());
        // A v2 freeze writes cgroup.freeze and waits for cgroup.events (here: a plain file).
        std::fs::write(r.join("berth/c1/cgroup.freeze"), "0").unwrap();
        std::fs::write(r.join("berth/c1/cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert!(!found.is_frozen());
        std::fs::write(r.join("berth/c1/cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        found.freeze().unwrap();
        assert_eq!(
            read_trimmed(&r.join("berth/c1/cgroup.freeze")).unwrap(),
            "1"
        );
    }
}
