//! A container's mounts as `create` resolves them into mount points: `-v` binds and volumes
//! (a named volume created on first use, an anonymous one for `-v /path`), `--tmpfs`,
//! `--mount`, `--volumes-from`, and the anonymous volumes Docker makes for the image's
//! `Volumes` that no mount covers.

use std::path::{Path, PathBuf};

use crate::Engine;
use crate::error::{Error, Result};
use crate::model::{MountPoint, MountType, Record};
use crate::volumes;

/// `-v HOST:CTR[:ro|rw]`, `-v NAME:CTR[:ro|rw]` or `-v CTR`; a named volume is created (with
/// its metadata) on first use and kept, `-v CTR` makes a fresh anonymous volume.
pub fn parse_volume(root: &Path, v: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, options) = match parts[..] {
        [target] => ("", target, ""),
        [source, target] => (source, target, ""),
        [source, target, options] => (source, target, options),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid volume {v:?}: use SOURCE:TARGET[:ro|rw]"
            )));
        }
    };
    let mut readonly = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid volume {v:?}: unknown option {option:?}"
                )));
            }
        }
    }
    if !target.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid volume {v:?}: the container path must be absolute"
        )));
    }
    let mode = if readonly { "ro" } else { "" }.to_string();
    let point = if source.is_empty() {
        volume_point(volumes::create_anonymous(root)?)
    } else if source.starts_with('/') {
        let path = PathBuf::from(source);
        if !path.exists() {
            return Err(Error::InvalidArgument(format!(
                "invalid volume {v:?}: host path {source} does not exist"
            )));
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
        return Err(Error::InvalidArgument(format!(
            "invalid volume {v:?}: {source:?} is neither an absolute path nor a volume name"
        )));
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
pub fn mount_point(root: &Path, m: &crate::model::Mount) -> Result<MountPoint> {
    let rw = !m.read_only;
    let mode = if rw { "" } else { "ro" }.to_string();
    let point = match m.kind {
        MountType::Bind => {
            if !Path::new(&m.source).exists() {
                return Err(Error::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
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
pub async fn volumes_from(engine: &Engine, from: &str) -> Result<Vec<MountPoint>> {
    let (name, mode) = match from.rsplit_once(':') {
        Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
        _ => (from, None),
    };
    let c = engine.store.find_container(name).await?;
    let record = Record::parse(&c.config).map_err(Error::Internal)?;
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

/// The anonymous volumes Docker makes for the image's `Volumes` that no mount covers.
pub fn image_volumes(
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
pub fn parse_tmpfs(t: &str) -> Result<MountPoint> {
    let (target, options) = t.split_once(':').unwrap_or((t, ""));
    if !target.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid tmpfs {t:?}: the container path must be absolute"
        )));
    }
    Ok(MountPoint {
        kind: MountType::Tmpfs,
        destination: target.to_string(),
        rw: true,
        tmpfs_options: options.to_string(),
        ..MountPoint::default()
    })
}
