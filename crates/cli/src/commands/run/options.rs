//! `berth run`'s option values: sizes, volumes (and the image's), tmpfs mounts, security
//! options.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use berth_engine::model::{MountPoint, MountType};
use berth_runtime::spec::SeccompProfile;

use crate::commands::volumes;

/// `32m`, `1g`, `512k`, `100b` or `100` (bytes), as Docker's `--memory` takes them.
pub(super) fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (number, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(format!("invalid size {s:?}: use a b, k, m or g suffix")),
    };
    let n: u64 = number.parse().map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// `-v HOST:CTR[:ro|rw]`, `-v NAME:CTR[:ro|rw]` or `-v CTR`; a named volume is created (with
/// its metadata) on first use and kept, `-v CTR` makes a fresh anonymous volume.
pub(super) fn parse_volume(root: &Path, v: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, options) = match parts[..] {
        [target] => ("", target, ""),
        [source, target] => (source, target, ""),
        [source, target, options] => (source, target, options),
        _ => bail!("invalid volume {v:?}: use SOURCE:TARGET[:ro|rw]"),
    };
    let mut readonly = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => bail!("invalid volume {v:?}: unknown option {option:?}"),
        }
    }
    if !target.starts_with('/') {
        bail!("invalid volume {v:?}: the container path must be absolute");
    }
    let mode = if readonly { "ro" } else { "" }.to_string();
    let point = if source.is_empty() {
        volume_point(volumes::create_anonymous(root)?)
    } else if source.starts_with('/') {
        let path = PathBuf::from(source);
        if !path.exists() {
            bail!("invalid volume {v:?}: host path {source} does not exist");
        }
        MountPoint {
            kind: MountType::Bind,
            source: source.to_string(),
            propagation: "rprivate".into(),
            ..MountPoint::default()
        }
    } else if volumes::name_ok(source) {
        volume_point(volumes::create(root, Some(source), Default::default())?)
    } else {
        bail!("invalid volume {v:?}: {source:?} is neither an absolute path nor a volume name");
    };
    Ok(MountPoint {
        destination: target.to_string(),
        rw: !readonly,
        mode,
        ..point
    })
}

/// A mount point for volume `v` (destination to be set).
fn volume_point(v: volumes::Volume) -> MountPoint {
    MountPoint {
        kind: MountType::Volume,
        name: v.name,
        source: v.mountpoint.display().to_string(),
        driver: "local".into(),
        rw: true,
        ..MountPoint::default()
    }
}

/// The mount point of a `--mount`: a volume created (named) or made (anonymous), a bind
/// source checked, a tmpfs with its size and mode as mount options.
pub(super) fn mount_point(root: &Path, m: &berth_engine::model::Mount) -> Result<MountPoint> {
    let rw = !m.read_only;
    let mode = if rw { "" } else { "ro" }.to_string();
    let point = match m.kind {
        MountType::Bind => {
            if !Path::new(&m.source).exists() {
                bail!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                );
            }
            MountPoint {
                kind: MountType::Bind,
                source: m.source.clone(),
                propagation: "rprivate".into(),
                ..MountPoint::default()
            }
        }
        MountType::Volume => {
            let labels = m
                .volume_options
                .as_ref()
                .map(|o| o.labels.clone())
                .unwrap_or_default();
            let v = if m.source.is_empty() {
                volumes::create_anonymous(root)?
            } else {
                volumes::create(root, Some(&m.source), labels)?
            };
            MountPoint {
                no_copy: m.volume_options.as_ref().is_some_and(|o| o.no_copy),
                ..volume_point(v)
            }
        }
        MountType::Tmpfs => {
            let mut options = vec![];
            if let Some(t) = &m.tmpfs_options {
                if t.size_bytes > 0 {
                    options.push(format!("size={}", t.size_bytes));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode));
                }
            }
            MountPoint {
                kind: MountType::Tmpfs,
                tmpfs_options: options.join(","),
                ..MountPoint::default()
            }
        }
    };
    Ok(MountPoint {
        destination: m.target.clone(),
        rw,
        mode,
        ..point
    })
}

/// `--volumes-from CONTAINER[:ro|rw]`: the other container's volume and bind mounts, at the
/// same destinations, read-only with `:ro` (else as they are there).
pub(super) async fn volumes_from(
    ctx: &crate::commands::context::Context,
    from: &str,
) -> Result<Vec<MountPoint>> {
    let (name, mode) = match from.rsplit_once(':') {
        Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
        _ => (from, None),
    };
    let c = ctx.store.find_container(name).await?;
    let record = super::record(&c)?;
    Ok(record
        .mount_points
        .into_iter()
        .filter(|m| m.kind != MountType::Tmpfs)
        .map(|m| match mode {
            Some(mode) => MountPoint {
                rw: mode == "rw",
                mode: if mode == "ro" {
                    "ro".into()
                } else {
                    String::new()
                },
                ..m
            },
            None => m,
        })
        .collect())
}

/// Write the container's id to `--cidfile PATH` (created, never overwritten).
pub(super) fn write_cidfile(path: &str, id: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot write the container id to {path}"))?;
    f.write_all(id.as_bytes())?;
    Ok(())
}

/// The anonymous volumes Docker makes for the image's `Volumes` that no mount covers.
pub(super) fn image_volumes(
    root: &Path,
    config: Option<&serde_json::Value>,
    mounts: &[MountPoint],
) -> Result<Vec<MountPoint>> {
    let norm = |p: &str| p.trim_end_matches('/').to_string();
    let mut out: Vec<MountPoint> = vec![];
    let targets = config
        .and_then(|c| c.get("Volumes"))
        .and_then(|v| v.as_object())
        .into_iter()
        .flat_map(|o| o.keys());
    for target in targets {
        let covered = |m: &MountPoint| norm(&m.destination) == norm(target);
        if !target.starts_with('/') || mounts.iter().chain(&out).any(covered) {
            continue;
        }
        out.push(MountPoint {
            destination: target.clone(),
            ..volume_point(volumes::create_anonymous(root)?)
        });
    }
    Ok(out)
}

/// `--tmpfs /path[:options]`.
pub(super) fn parse_tmpfs(t: &str) -> Result<MountPoint> {
    let (target, options) = t.split_once(':').unwrap_or((t, ""));
    if !target.starts_with('/') {
        bail!("invalid tmpfs {t:?}: the container path must be absolute");
    }
    Ok(MountPoint {
        kind: MountType::Tmpfs,
        destination: target.to_string(),
        rw: true,
        tmpfs_options: options.to_string(),
        ..MountPoint::default()
    })
}

/// What `--security-opt` asks for, on top of Docker's defaults.
pub(super) struct SecurityOptions {
    /// A seccomp filter at all (off with `seccomp=unconfined`).
    pub seccomp: bool,
    /// `seccomp=PROFILE.json`: this profile instead of the default one.
    pub seccomp_profile: Option<SeccompProfile>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// The values as the record keeps them: a profile by content, as the docker CLI sends it.
    pub stored: Vec<String>,
}

/// `--security-opt` values; a profile file is read and checked here, so a bad one fails
/// before anything is set up.
pub(super) fn security_options(opts: &[String]) -> Result<SecurityOptions> {
    let mut o = SecurityOptions {
        seccomp: true,
        seccomp_profile: None,
        no_new_privileges: false,
        stored: vec![],
    };
    for opt in opts {
        // Docker also accepts the old `key:value` spelling.
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => {
                o.seccomp = false;
                o.seccomp_profile = None;
                o.stored.push("seccomp=unconfined".into());
            }
            ("seccomp", "") => bail!("--security-opt seccomp needs a profile or 'unconfined'"),
            ("seccomp", path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("--security-opt seccomp: cannot read {path}"))?;
                o.seccomp = true;
                o.seccomp_profile = Some(SeccompProfile::parse(path, &text)?);
                let text = String::from_utf8(text)
                    .with_context(|| format!("--security-opt seccomp: {path} is not UTF-8"))?;
                o.stored.push(format!("seccomp={text}"));
            }
            ("no-new-privileges", "" | "true") => {
                o.no_new_privileges = true;
                o.stored.push("no-new-privileges=true".into());
            }
            ("no-new-privileges", "false") => {
                o.no_new_privileges = false;
                o.stored.push("no-new-privileges=false".into());
            }
            _ => bail!("unsupported --security-opt {opt:?}"),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, security_options};

    #[test]
    pub(super) fn security_options_parse() {
        let opts = |v: &[&str]| {
            security_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|o| (o.seccomp, o.no_new_privileges))
        };
        assert_eq!(opts(&[]).unwrap(), (true, false));
        assert_eq!(opts(&["seccomp=unconfined"]).unwrap(), (false, false));
        assert_eq!(
            opts(&["seccomp:unconfined", "no-new-privileges"]).unwrap(),
            (false, true)
        );
        assert!(opts(&["seccomp=/tmp/profile.json"]).is_err());
        assert!(opts(&["apparmor=unconfined"]).is_err());
    }

    #[test]
    fn security_options_read_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let arg = format!("seccomp={}", path.display());
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
        let o = security_options(std::slice::from_ref(&arg)).unwrap();
        assert!(o.seccomp);
        let profile = o.seccomp_profile.unwrap();
        assert_eq!(profile.name(), path.to_str().unwrap());
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
        let err = security_options(std::slice::from_ref(&arg)).err().unwrap();
        assert!(format!("{err:#}").contains("SCMP_ACT_NOTIFY"), "{err:#}");
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_LOG"}"#).unwrap();
        let o = security_options(&[arg, "seccomp=unconfined".into()]).unwrap();
        assert!(!o.seccomp && o.seccomp_profile.is_none());
    }

    #[test]
    fn sizes_take_docker_suffixes() {
        assert_eq!(parse_bytes("32m"), Ok(32 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("100b"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("m").is_err());
    }
}
