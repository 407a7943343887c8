//! Devices: the host's, for `--privileged` containers; `--device` mappings and device cgroup
//! rules (`--device-cgroup-rule`, Docker's default allow list).

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use super::ContainerSpec;

/// One of the host's device nodes, as a privileged container gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Path under `/dev` (`null`, `net/tun`).
    pub path: String,
    /// `c` (character) or `b` (block).
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The host's character and block devices under `/dev` (recursively), as runc lists them for
/// `--privileged`: the `pts`, `shm`, `mqueue` and `fd` trees, `console` and `ptmx` are left
/// out (the container has its own), symlinks are not followed. Unreadable entries are skipped.
pub fn host_devices() -> Vec<HostDevice> {
    const SKIPPED: &[&str] = &["pts", "shm", "mqueue", "fd", "console", "ptmx", ".udev"];
    let mut found = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(Path::new("/dev").join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && SKIPPED.contains(&name.as_str()) {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_char_device() || kind.is_block_device() {
                let rdev = meta.rdev();
                found.push(HostDevice {
                    path,
                    kind: if kind.is_block_device() { 'b' } else { 'c' },
                    mode: meta.mode() & 0o7777,
                    major: libc::major(rdev),
                    minor: libc::minor(rdev),
                    uid: meta.uid(),
                    gid: meta.gid(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// One `--device HOST:CONTAINER:PERMISSIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    /// The host's device node (absolute; a character or block device), whose type,
    /// major:minor, mode and owner the container's node copies.
    pub host: PathBuf,
    /// Where the node is made in the container (absolute, no `..`); Docker's default is the
    /// host path.
    pub container: String,
    /// What the device cgroup allows on it: a non-empty subset of `rwm` (Docker's default is
    /// `rwm`).
    pub permissions: String,
}

/// One device cgroup rule (`--device-cgroup-rule`, or a `--device`'s allowance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// `a` (all), `b` (block) or `c` (character).
    pub kind: char,
    /// Major number; `None` is `*` (any).
    pub major: Option<u32>,
    /// Minor number; `None` is `*` (any).
    pub minor: Option<u32>,
    /// A non-empty subset of `rwm`.
    pub access: String,
}

impl DeviceRule {
    /// Parse Docker's `TYPE MAJOR:MINOR ACCESS` (`c 1:3 mr`, `b *:* m`, `a *:* rwm`); `None`
    /// when malformed.
    pub fn parse(rule: &str) -> Option<DeviceRule> {
        let mut parts = rule.split_whitespace();
        let (kind, numbers, access) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !matches!(kind, "a" | "b" | "c") || !is_access(access) {
            return None;
        }
        let (major, minor) = numbers.split_once(':')?;
        let number = |n: &str| match n {
            "*" => Some(None),
            n => n.parse::<u32>().ok().map(Some),
        };
        Some(DeviceRule {
            kind: kind.chars().next()?,
            major: number(major)?,
            minor: number(minor)?,
            access: access.to_string(),
        })
    }

    /// As cgroup v1's `devices.allow` takes it: `c 1:3 mr`.
    pub fn to_v1(&self) -> String {
        let n = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }

    /// As an allowing OCI `linux.resources.devices` entry.
    pub fn to_oci(&self) -> serde_json::Value {
        let mut rule = serde_json::json!({ "allow": true, "type": self.kind.to_string(),
            "access": self.access });
        if let Some(major) = self.major {
            rule["major"] = major.into();
        }
        if let Some(minor) = self.minor {
            rule["minor"] = minor.into();
        }
        rule
    }
}

pub(super) fn is_access(access: &str) -> bool {
    !access.is_empty()
        && access.len() <= 3
        && access.chars().all(|c| "rwm".contains(c))
        && access
            .chars()
            .enumerate()
            .all(|(i, c)| !access[..i].contains(c))
}

/// The devices every non-privileged container may use (Docker's and runc's default list):
/// mknod of any node, `null`, `zero`, `full`, `random`, `urandom`, `tty`, `console`, the
/// `ptmx` and pseudo-terminals, and `net/tun`.
pub(crate) fn default_device_rules() -> Vec<DeviceRule> {
    let rule = |kind, major, minor, access: &str| DeviceRule {
        kind,
        major,
        minor,
        access: access.to_string(),
    };
    vec![
        rule('c', None, None, "m"),
        rule('b', None, None, "m"),
        rule('c', Some(1), Some(3), "rwm"),
        rule('c', Some(1), Some(5), "rwm"),
        rule('c', Some(1), Some(7), "rwm"),
        rule('c', Some(1), Some(8), "rwm"),
        rule('c', Some(1), Some(9), "rwm"),
        rule('c', Some(5), Some(0), "rwm"),
        rule('c', Some(5), Some(1), "rwm"),
        rule('c', Some(5), Some(2), "rwm"),
        rule('c', Some(136), None, "rwm"),
        rule('c', Some(10), Some(200), "rwm"),
    ]
}

/// A host device node as `--device` copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeInfo {
    /// `b` or `c`.
    pub kind: char,
    pub major: u32,
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `path`'s device node (followed through symlinks), or why it is not one.
pub(crate) fn device_node(path: &Path) -> Result<NodeInfo, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("device {}: {e}", path.display()))?;
    let kind = match meta.file_type() {
        t if t.is_block_device() => 'b',
        t if t.is_char_device() => 'c',
        _ => return Err(format!("{} is not a device node", path.display())),
    };
    Ok(NodeInfo {
        kind,
        major: libc::major(meta.rdev()),
        minor: libc::minor(meta.rdev()),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// The device cgroup allowances of container `spec`: Docker's defaults, each `--device`'s
/// and each `--device-cgroup-rule`. `None` for a privileged container (everything allowed).
pub(crate) fn device_rules(spec: &ContainerSpec) -> Result<Option<Vec<DeviceRule>>, String> {
    if spec.privileged {
        return Ok(None);
    }
    let mut rules = default_device_rules();
    for d in &spec.devices {
        let node = device_node(&d.host)?;
        rules.push(DeviceRule {
            kind: node.kind,
            major: Some(node.major),
            minor: Some(node.minor),
            access: d.permissions.clone(),
        });
    }
    for r in &spec.device_cgroup_rules {
        rules.push(DeviceRule::parse(r).ok_or_else(|| format!("bad device cgroup rule {r:?}"))?);
    }
    Ok(Some(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_parse_docker_syntax() {
        let r = DeviceRule::parse("c 1:3 mr").unwrap();
        assert_eq!((r.kind, r.major, r.minor), ('c', Some(1), Some(3)));
        assert_eq!(r.to_v1(), "c 1:3 mr");
        assert_eq!(DeviceRule::parse("a *:* rwm").unwrap().to_v1(), "a *:* rwm");
        assert_eq!(DeviceRule::parse("b 8:* m").unwrap().to_oci()["major"], 8);
        for bad in [
            "",
            "c 1:3",
            "x 1:3 r",
            "c 1 r",
            "c 1:3 rx",
            "c 1:3 rr",
            "c a:3 r",
            "c 1:3 r x",
        ] {
            assert!(DeviceRule::parse(bad).is_none(), "{bad:?}");
        }
    }
}
