//! Container root filesystems: every image layer is unpacked once into a shared layer cache (with
//! overlayfs whiteouts), and each container gets an overlay mount of those layers with its own
//! writable upper directory. Layout below the data root (version 1; every path comes from
//! [`berth_store::Layout`], whose module doc draws the whole tree):
//!
//! ```text
//! <root>/layers/v1/<alg>-<hex>/          one unpacked layer, shared by every container using it
//! <root>/layers/v1/<alg>-<hex>.lock      one unpacker per layer across processes (flock)
//! <root>/containers/v1/<id>/upper|work|merged|empty   a container's overlay
//! ```
//! A layer directory appears only complete: it is unpacked into a temporary sibling and renamed.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_oci::Digest;
use berth_store::Layout;

use crate::unpack::{UnpackOptions, WhiteoutMode, unpack_layer};

/// What can go wrong while preparing a root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A layer could not be unpacked.
    #[error("layer {digest}: {source}")]
    Unpack {
        /// The layer.
        digest: Digest,
        /// Why.
        #[source]
        source: crate::unpack::UnpackError,
    },
    /// The overlay mount failed.
    #[error("mounting the overlay at {path}: {source}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path, source: std::io::Error) -> RootfsError {
    RootfsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The shared cache of unpacked layers.
#[derive(Debug, Clone)]
pub struct LayerCache {
    layout: Layout,
}

impl LayerCache {
    /// Open (creating) the cache under the data root.
    pub fn open(root: &Path) -> Result<LayerCache, RootfsError> {
        let layout = Layout::new(root);
        let dir = layout.layers();
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        Ok(LayerCache { layout })
    }

    /// Where layer `digest` is (or will be) unpacked.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.layout.layer(digest)
    }

    /// The unpacked directory of layer `digest`, unpacking `blob` (its compressed or plain tar)
    /// first if this is the first use.
    pub fn ensure(&self, digest: &Digest, blob: &Path) -> Result<PathBuf, RootfsError> {
        let dest = self.path(digest);
        if dest.is_dir() {
            return Ok(dest);
        }
        let lock_path = self.layout.layer_lock(digest);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io(&lock_path, std::io::Error::last_os_error()));
        }
        if dest.is_dir() {
            return Ok(dest); // another process unpacked it while we waited
        }
        let tmp = self.layout.layer_tmp(digest, std::process::id());
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        let file = File::open(blob).map_err(|e| io(blob, e))?;
        let opts = UnpackOptions::default().with_whiteouts(WhiteoutMode::Overlay);
        let result = unpack_layer(
            std::io::BufReader::with_capacity(1 << 20, file),
            &tmp,
            &opts,
        );
        if let Err(source) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(RootfsError::Unpack {
                digest: digest.clone(),
                source,
            });
        }
        fs::rename(&tmp, &dest).map_err(|e| io(&dest, e))?;
        Ok(dest)
    }

    /// Remove the unpacked copy of layer `digest` (no container may be using it).
    pub fn remove(&self, digest: &Digest) -> Result<(), RootfsError> {
        let p = self.path(digest);
        match fs::remove_dir_all(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&p, e)),
        }
    }
}

/// A container's mounted root filesystem.
#[derive(Debug)]
pub struct Rootfs {
    /// The container's directory (upper, work, merged).
    pub dir: PathBuf,
    /// The merged view: the container's `/`.
    pub merged: PathBuf,
}

/// Mount an overlay of `layers` (bottom first, as in the manifest) for container `id`.
pub fn mount(root: &Path, id: &str, layers: &[PathBuf]) -> Result<Rootfs, RootfsError> {
    let layout = Layout::new(root);
    let dir = layout.container(id);
    let (upper, work, merged, empty) = (
        layout.container_upper(id),
        layout.container_work(id),
        layout.container_merged(id),
        layout.container_empty(id),
    );
    for d in [&upper, &work, &merged, &empty] {
        fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    // overlayfs wants the top-most lower layer first; an image without layers gets an empty one.
    let mut lowers: Vec<String> = layers.iter().rev().map(|p| escape(p)).collect();
    if lowers.is_empty() {
        lowers.push(escape(&empty));
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape(&upper),
        escape(&work)
    );
    // mount(2) takes at most a page of options: with many long layer paths, the new mount
    // API adds the lower layers one by one (`lowerdir+`, Linux 6.8).
    if data.len() >= 4000 {
        let mut top_first: Vec<&Path> = layers.iter().rev().map(PathBuf::as_path).collect();
        if top_first.is_empty() {
            top_first.push(&empty);
        }
        mount_each(&top_first, &upper, &work, &merged)?;
        return Ok(Rootfs { dir, merged });
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths");
    let (src, target, fstype, opts) = (
        CString::new("overlay").unwrap(),
        c(&merged),
        CString::new("overlay").unwrap(),
        CString::new(data).unwrap(),
    );
    // SAFETY: valid C strings for the duration of the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            opts.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(RootfsError::Mount {
            path: merged,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(Rootfs { dir, merged })
}

/// An overlay mounted with the new mount API (`fsopen`, one `fsconfig` per lower layer,
/// `fsmount`, `move_mount`), which has no limit on the number of layers.
fn mount_each(
    lowers: &[&Path],
    upper: &Path,
    work: &Path,
    merged: &Path,
) -> Result<(), RootfsError> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let failed = |what: &str| RootfsError::Mount {
        path: merged.to_path_buf(),
        source: std::io::Error::new(
            std::io::Error::last_os_error().kind(),
            format!("{what}: {}", std::io::Error::last_os_error()),
        ),
    };
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths");
    // SAFETY (whole block): raw mount-API system calls on C strings that outlive each call;
    // the descriptors they return are owned (closed on drop).
    unsafe {
        let fs = libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC);
        if fs < 0 {
            return Err(failed("fsopen overlay"));
        }
        let fs = std::os::fd::OwnedFd::from_raw_fd(fs as i32);
        let set = |key: &std::ffi::CStr, value: &Path| {
            let value = c(value);
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            ) == 0
        };
        for lower in lowers {
            if !set(c"lowerdir+", lower) {
                return Err(failed(&format!("add lower layer {}", lower.display())));
            }
        }
        if !set(c"upperdir", upper) || !set(c"workdir", work) {
            return Err(failed("set the upper and work directories"));
        }
        let null = std::ptr::null::<libc::c_char>();
        if libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            null,
            null,
            0,
        ) != 0
        {
            return Err(failed("create the overlay"));
        }
        let mnt = libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0);
        if mnt < 0 {
            return Err(failed("fsmount"));
        }
        let mnt = std::os::fd::OwnedFd::from_raw_fd(mnt as i32);
        let target = c(merged);
        if libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ) != 0
        {
            return Err(failed("move_mount"));
        }
    }
    Ok(())
}

/// overlayfs option values escape `,` `:` and `\`.
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

/// Unmount a container's root filesystem, keeping its directory (its changes stay in `upper`).
pub fn unmount(rootfs: &Path) -> Result<(), RootfsError> {
    let merged = rootfs.join("merged");
    let c = CString::new(merged.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: a valid C string; MNT_DETACH so a busy mount does not keep us from cleaning up.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOENT) {
            return Err(io(&merged, e));
        }
    }
    Ok(())
}

/// Unmount a container's root filesystem and remove its directory (upper layer included).
pub fn remove(rootfs: &Path) -> Result<(), RootfsError> {
    unmount(rootfs)?;
    match fs::remove_dir_all(rootfs) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(rootfs, e)),
    }
}
