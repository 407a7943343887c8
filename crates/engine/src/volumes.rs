//! Local volumes on disk, as Docker's `local` driver keeps them, and what containers make of
//! them: creation (named, implicit or anonymous), metadata, listing, the containers that use
//! one, the first-use copy of the image's content, and removal. Calls only the file system
//! and the container records; the volume commands and container creation call it.
//!
//! ```text
//! <root>/volumes/v1/
//!   NAME/
//!     meta.json      {"Name", "CreatedAt", "Labels", "Options"} (written atomically;
//!                    anonymous ones carry Docker's anonymous label)
//!     _data/         what containers mount
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error, Result};
use berth_store::Container;
use serde_json::json;

/// The label Docker puts on anonymous volumes (what `volume prune` without `-a` removes).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The directory holding every volume, or volume `name`'s (built by [`berth_store::Layout`]).
pub fn path(root: &Path, name: Option<&str>) -> PathBuf {
    let layout = berth_store::Layout::new(root);
    match name {
        Some(n) => layout.volume(n),
        None => layout.volumes(),
    }
}

/// The directory containers mount for volume `name`.
pub fn data(root: &Path, name: &str) -> PathBuf {
    berth_store::Layout::new(root).volume_data(name)
}

/// The volume name a mount source stands for (`…/volumes/v1/NAME/_data`), if it is a volume.
pub fn name_of(source: &Path) -> Option<&str> {
    if source.file_name()? != "_data" {
        return None;
    }
    let dir = source.parent()?;
    dir.parent()?
        .ends_with("volumes/v1")
        .then(|| dir.file_name()?.to_str())
        .flatten()
}

/// Whether `name` is a valid volume name (`[A-Za-z0-9][A-Za-z0-9_.-]*`).
pub fn name_ok(name: &str) -> bool {
    name.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// One volume's metadata.
#[derive(Clone, Debug)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// When it was created, as Docker's RFC 3339 time.
    pub created_at: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The directory containers mount.
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Whether berth made it for one container (`-v /path` or an image `VOLUME`).
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Docker's `volume inspect` object.
    pub fn inspect_json(&self) -> serde_json::Value {
        json!({
            "CreatedAt": self.created_at,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": null,
            "Scope": "local",
        })
    }
}

/// Write `meta.json` of volume `v`: a temporary file, synced, renamed over it, and the
/// directory synced, so a crash leaves the old metadata or the new, never half of one.
fn write_meta(root: &Path, v: &Volume) -> Result<()> {
    let layout = berth_store::Layout::new(root);
    let (dir, meta) = (layout.volume(&v.name), layout.volume_meta(&v.name));
    let body = serde_json::to_vec_pretty(&json!({
        "Name": v.name,
        "CreatedAt": v.created_at,
        "Labels": v.labels,
        "Options": null,
    }))?;
    let tmp = dir.join(format!(".meta.json.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &meta)?;
        std::fs::File::open(&dir)?.sync_all()
    };
    write().context(|| format!("cannot write {}", meta.display()))
}

/// Volume `name`, or `None` when it does not exist. A volume directory without metadata (made
/// by an older berth) shows with its directory's time and no labels.
pub fn get(root: &Path, name: &str) -> Result<Option<Volume>> {
    let dir = path(root, Some(name));
    if !name_ok(name) || !data(root, name).is_dir() {
        return Ok(None);
    }
    let meta_path = berth_store::Layout::new(root).volume_meta(name);
    let meta: serde_json::Value = match std::fs::read(&meta_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .context(|| format!("volume {name}: unreadable meta.json"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).context(|| format!("volume {name}")),
    };
    let created_at = match meta["CreatedAt"].as_str() {
        Some(t) => t.to_string(),
        None => crate::util::format_rfc3339(std::fs::metadata(&dir)?.modified()?),
    };
    let labels = meta["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Volume {
        name: name.to_string(),
        created_at,
        labels,
        mountpoint: data(root, name),
    }))
}

/// Create volume `name` (a random one when `None`) with `labels`; an existing volume is
/// returned as it is, as Docker does.
pub fn create(root: &Path, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
    let name = match name {
        Some(n) => n.to_string(),
        None => crate::util::random_hex(32),
    };
    if !name_ok(&name) {
        return Err(Error::InvalidArgument(format!(
            "create {name}: {name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    if let Some(v) = get(root, &name)? {
        // One an older berth made without metadata gets it now.
        if !berth_store::Layout::new(root).volume_meta(&name).exists() {
            write_meta(root, &v)?;
        }
        return Ok(v);
    }
    std::fs::create_dir_all(data(root, &name))
        .context(|| format!("cannot create volume {name}"))?;
    let v = Volume {
        mountpoint: data(root, &name),
        name,
        created_at: crate::util::format_rfc3339(std::time::SystemTime::now()),
        labels,
    };
    write_meta(root, &v)?;
    crate::events::emit(
        root,
        "volume",
        "create",
        &v.name,
        &[("driver", "local".into())],
    );
    Ok(v)
}

/// A fresh anonymous volume (random name, Docker's anonymous label).
pub fn create_anonymous(root: &Path) -> Result<Volume> {
    let labels = BTreeMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]);
    create(root, None, labels)
}

/// Every volume, by name.
pub fn list(root: &Path) -> Result<Vec<Volume>> {
    let mut names: Vec<String> = match std::fs::read_dir(path(root, None)) {
        Ok(d) => d
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(e.into()),
    };
    names.sort();
    let mut out = vec![];
    for n in names {
        if let Some(v) = get(root, &n)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The volumes a container record mounts (none when the record is unreadable).
pub fn used_by(c: &Container) -> Vec<String> {
    crate::model::Record::parse(&c.config)
        .map(|r| r.volumes())
        .unwrap_or_default()
}

/// The ids of the containers (any state) among `containers` that mount volume `name`.
pub fn users(containers: &[Container], name: &str) -> Vec<String> {
    containers
        .iter()
        .filter(|c| used_by(c).iter().any(|n| n == name))
        .map(|c| c.id.clone())
        .collect()
}

/// Remove volume `name` and its data; the bytes of its data.
pub fn remove(root: &Path, name: &str) -> Result<u64> {
    let dir = path(root, Some(name));
    let size = crate::util::disk_usage(&data(root, name));
    std::fs::remove_dir_all(&dir).context(|| format!("cannot remove volume {name}"))?;
    crate::events::emit(
        root,
        "volume",
        "destroy",
        name,
        &[("driver", "local".into())],
    );
    Ok(size)
}

/// The `volume ls` filters (`dangling`, `name`, `label`, `driver`): keys are ANDed, values of
/// one key ORed, as Docker does.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters(BTreeMap<String, Vec<String>>);

impl VolumeFilters {
    /// Parse `KEY=VALUE` filters.
    pub fn parse(list: &[String]) -> Result<VolumeFilters> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in list {
            let Some((k, v)) = f.split_once('=') else {
                return Err(Error::InvalidArgument(
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            match k {
                "dangling" if !["true", "false", "1", "0"].contains(&v) => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid filter 'dangling={v}'"
                    )));
                }
                "dangling" | "name" | "label" | "driver" => {}
                _ => return Err(Error::InvalidArgument(format!("invalid filter '{k}'"))),
            }
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(VolumeFilters(map))
    }

    /// Whether volume `v` (which a container uses when `in_use`) is selected.
    pub fn matches(&self, v: &Volume, in_use: bool) -> bool {
        self.0.iter().all(|(k, values)| {
            values.iter().any(|want| match k.as_str() {
                "dangling" => matches!(want.as_str(), "true" | "1") != in_use,
                "name" => v.name.contains(want.as_str()),
                "driver" => want == "local",
                _ => match want.split_once('=') {
                    Some((lk, lv)) => v.labels.get(lk).is_some_and(|have| have == lv),
                    None => v.labels.contains_key(want.as_str()),
                },
            })
        })
    }
}

impl crate::Engine {
    /// Create volume `name` (a random one when `None`) with `labels`; an existing one is
    /// returned as it is. A bad name is [`Error::InvalidArgument`].
    pub fn volume_create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume> {
        create(self.layout().root(), name, labels)
    }

    /// The volumes `filters` select, by name.
    pub async fn volume_list(&self, filters: &VolumeFilters) -> Result<Vec<Volume>> {
        let containers = self.store.containers().await?;
        Ok(list(self.layout().root())?
            .into_iter()
            .filter(|v| filters.matches(v, !users(&containers, &v.name).is_empty()))
            .collect())
    }

    /// Volume `name`; [`Error::NotFound`] when there is none.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        get(self.layout().root(), name)?.ok_or_else(|| Error::NotFound {
            what: "volume",
            name: name.to_string(),
        })
    }

    /// Remove volume `name`: whether it was there (a missing one is [`Error::NotFound`]
    /// unless `force`). One a container (in any state) mounts is [`Error::Conflict`].
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<bool> {
        match self.volume_inspect(name) {
            Err(Error::NotFound { .. }) if force => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let users = users(&self.store.containers().await?, name);
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        remove(self.layout().root(), name)?;
        Ok(true)
    }
}

/// Fill each volume the spec mounts that is still empty with the image's content at its
/// target (Docker's copy when a container is created); `spec.rootfs` must be mounted. Only
/// volumes under `root` count: a host directory is never written to.
pub fn populate_mounts(root: &Path, spec: &berth_runtime::spec::ContainerSpec) -> Result<()> {
    for m in &spec.mounts {
        if let berth_runtime::spec::MountKind::Bind { source } = &m.kind
            && source.starts_with(path(root, None))
            && name_of(source).is_some()
        {
            populate(&spec.rootfs, &m.target, source)?;
        }
    }
    Ok(())
}

/// Remove the anonymous volumes `names` (a container's) that no container in `others` uses.
pub fn remove_anonymous(root: &Path, names: &[String], others: &[Container]) -> Result<()> {
    for n in names {
        let Some(v) = get(root, n)? else { continue };
        if v.anonymous() && users(others, n).is_empty() {
            remove(root, n)?;
        }
    }
    Ok(())
}

/// Docker's first-use copy: when the volume directory `data` is empty, fill it with what the
/// container's root filesystem `rootfs` holds at `target` (modes, owners and times kept, the
/// directory's own too). A path that is missing, or reached through a symlink, copies nothing.
pub fn populate(rootfs: &Path, target: &str, data: &Path) -> Result<()> {
    if std::fs::read_dir(data)?.next().is_some() {
        return Ok(());
    }
    let Ok(source) =
        berth_runtime::safepath::prepare(rootfs, target, berth_runtime::safepath::Kind::Dir)
    else {
        return Ok(());
    };
    let meta = std::fs::symlink_metadata(&source)?;
    if !meta.is_dir() {
        return Ok(());
    }
    tracing::debug!(target, data = %data.display(), "copying image content into a new volume");
    for entry in std::fs::read_dir(&source)? {
        let entry = entry?;
        copy_tree(&entry.path(), &data.join(entry.file_name()))
            .context(|| format!("cannot copy {target} into its volume"))?;
    }
    set_attributes(data, &meta)?;
    Ok(())
}

/// Copy `from` (not following symlinks) to `to`, recursively.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if ft.is_file() {
        std::fs::copy(from, to)?;
    } else {
        // Devices, fifos and sockets: made again with the same type and number.
        let c = cpath(to)?;
        // SAFETY: mknod with a NUL-terminated path.
        if unsafe { libc::mknod(c.as_ptr(), meta.mode(), meta.rdev()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    set_attributes(to, &meta)
}

fn cpath(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt as _;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// Give `to` the owner, mode and times of `meta` (owner first: chown clears setuid bits).
fn set_attributes(to: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    let c = cpath(to)?;
    // SAFETY: lchown with a NUL-terminated path.
    if unsafe { libc::lchown(c.as_ptr(), meta.uid(), meta.gid()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    // SAFETY: utimensat with a NUL-terminated path and two timespecs.
    if unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let root = Path::new("/var/lib/berth");
        assert_eq!(name_of(&data(root, "web")), Some("web"));
        assert_eq!(name_of(Path::new("/srv/web/_data")), None);
        assert_eq!(name_of(Path::new("/srv/volumes/v1/web")), None);
        assert!(name_ok("a.b-c_1") && !name_ok("-a") && !name_ok("a/b") && !name_ok(""));
    }

    #[test]
    fn create_get_list_remove() {
        let root = tempfile::tempdir().unwrap();
        let labels = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let v = create(root.path(), Some("one"), labels.clone()).unwrap();
        assert_eq!(v.labels, labels);
        // Created again: the same volume, its labels kept.
        let again = create(root.path(), Some("one"), BTreeMap::new()).unwrap();
        assert_eq!((again.labels, again.created_at), (labels, v.created_at));
        let anon = create_anonymous(root.path()).unwrap();
        assert!(anon.anonymous() && anon.name.len() == 64);
        assert_eq!(list(root.path()).unwrap().len(), 2);
        assert!(create(root.path(), Some("a/b"), BTreeMap::new()).is_err());
        std::fs::write(v.mountpoint.join("f"), b"123").unwrap();
        assert_eq!(remove(root.path(), "one").unwrap(), 3);
        assert!(get(root.path(), "one").unwrap().is_none());
    }

    #[test]
    fn populate_copies_once_and_keeps_modes() {
        let rootfs = tempfile::tempdir().unwrap();
        let vol = tempfile::tempdir().unwrap();
        let src = rootfs.path().join("data");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"hi").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o1777)).unwrap();
        populate(rootfs.path(), "/data", vol.path()).unwrap();
        let f = vol.path().join("sub/f");
        assert_eq!(std::fs::read(&f).unwrap(), b"hi");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(
            std::fs::read_link(vol.path().join("l")).unwrap(),
            Path::new("sub/f")
        );
        assert_eq!(
            std::fs::metadata(vol.path()).unwrap().mode() & 0o7777,
            0o1777
        );
        // Not empty any more: never copied over again.
        std::fs::write(src.join("new"), b"x").unwrap();
        populate(rootfs.path(), "/data", vol.path()).unwrap();
        assert!(!vol.path().join("new").exists());
    }
}
