//! Copying files between a container (running or stopped) and host paths or tar streams, with
//! `docker cp`'s rules: [`Engine::copy_to_container`] and [`Engine::copy_from_container`].
//!
//! Both directions go through a tar stream, as Docker's do: the source tree is archived from
//! descriptors (`pack.rs`), and the archive is extracted by the runtime's safe unpacker below a
//! directory descriptor. Every container path is resolved by the kernel inside the container's
//! root (`fs.rs`, `openat2(RESOLVE_IN_ROOT)`), so no symlink in the container leads outside it.
//! A running container's root is `/proc/<pid>/root` (its mounts included); a stopped one's
//! overlay is mounted again in a private mount namespace of the copying thread.
//!
//! A container path that does not exist is [`Error::NotFound`] with `what` `"file"` and `name`
//! `"<path> in container <name>"` (Docker words it `Could not find the file <name>`); a missing
//! destination directory is `what` `"destination directory"` (`destination directory <name>
//! does not exist`).

pub mod fs;
pub mod pack;

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use berth_runtime::unpack::{UnpackError, UnpackOptions, WhiteoutMode, unpack_layer};
use berth_store::State;

use crate::Engine;
use crate::containers::liveness;
use crate::error::{Context as _, Error, Result};
use fs::{Side, base, is_type, parent, stat};

/// How a copy treats owners and symlinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Archive mode: keep the source's uid/gid (else files belong to the destination's root,
    /// or to the invoking user on the host).
    pub archive: bool,
    /// Always follow a symbolic link in the source path.
    pub follow_link: bool,
}

/// What [`Engine::copy_to_container`] copies.
pub enum CopySource {
    /// A host path (file, directory, symlink), with `docker cp`'s trailing `/` and `/.` rules.
    Path(OsString),
    /// A tar archive, extracted into the destination directory.
    Tar(Box<dyn Read + Send>),
}

/// Where [`Engine::copy_from_container`] copies to.
pub enum CopyTarget {
    /// A host path, with `docker cp`'s rules.
    Path(OsString),
    /// A tar archive of the source written to this stream (flushed at the end).
    Tar(Box<dyn Write + Send>),
}

/// One end of the copy.
enum Loc {
    Reader(Box<dyn Read + Send>),
    Writer(Box<dyn Write + Send>),
    Host(OsString),
    Container(OsString),
}

/// How the container's root is reached.
enum Reach {
    Running {
        pid: i64,
        identity: Option<String>,
    },
    Stopped {
        root: PathBuf,
        id: String,
        layers: Vec<PathBuf>,
    },
}

impl Engine {
    /// Copy `src` into container `container` (name or id) at `dest`.
    pub async fn copy_to_container(
        &self,
        container: &str,
        src: CopySource,
        dest: &OsStr,
        options: CopyOptions,
    ) -> Result<()> {
        let src = match src {
            CopySource::Path(p) => Loc::Host(p),
            CopySource::Tar(r) => Loc::Reader(r),
        };
        self.copy(container, src, Loc::Container(dest.to_os_string()), options)
            .await
    }

    /// Copy `src` of container `container` (name or id) to `dest`.
    pub async fn copy_from_container(
        &self,
        container: &str,
        src: &OsStr,
        dest: CopyTarget,
        options: CopyOptions,
    ) -> Result<()> {
        let dest = match dest {
            CopyTarget::Path(p) => Loc::Host(p),
            CopyTarget::Tar(w) => Loc::Writer(w),
        };
        self.copy(container, Loc::Container(src.to_os_string()), dest, options)
            .await
    }

    async fn copy(&self, container: &str, src: Loc, dest: Loc, options: CopyOptions) -> Result<()> {
        let c = liveness::find(self, container).await?;
        let reach = match (c.state, c.pid) {
            (State::Running, Some(pid)) => Reach::Running {
                pid,
                identity: c.pid_identity.clone(),
            },
            _ => {
                let record = crate::model::Record::parse(&c.config)
                    .map_err(|e| Error::Internal(format!("container {}: {e}", c.name)))?;
                Reach::Stopped {
                    root: self.config.root.clone(),
                    id: c.id.clone(),
                    layers: record.layers,
                }
            }
        };
        let job = Job {
            name: c.name.clone(),
            archive: options.archive,
            follow: options.follow_link,
        };
        // A thread of its own: a stopped container's mount namespace must not outlive the copy,
        // nor be shared with a pooled thread.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let result = with_root(reach, &job.name, |root| job.copy(root, src, dest));
            let _ = tx.send(result);
        });
        rx.await
            .map_err(|_| Error::Internal("the copy thread panicked".into()))?
    }
}

/// Run `f` with the container's root as a [`Side`].
fn with_root<T>(reach: Reach, name: &str, f: impl FnOnce(Side) -> Result<T>) -> Result<T> {
    match reach {
        Reach::Running { pid, identity } => {
            let path = format!("/proc/{pid}/root");
            let fd = Side::Host
                .open(path.as_ref(), true)
                .context(|| format!("container {name}: {path}"))?;
            // Checked after opening: a pid reused before the open has another identity now.
            if identity.is_some() && berth_store::containers::process_identity(pid) != identity {
                return Err(Error::Conflict(format!(
                    "container {name} stopped during the copy; try again"
                )));
            }
            f(Side::Container(fd))
        }
        Reach::Stopped { root, id, layers } => {
            private_mounts()?;
            let dir = berth_store::Layout::new(&root).container(&id);
            // A mount left by a lost run would be under ours; this only affects our namespace.
            berth_runtime::rootfs::unmount(&dir)?;
            let fs = berth_runtime::rootfs::mount(&root, &id, &layers)
                .context(|| format!("mounting the file system of container {name}"))?;
            let fd = Side::Host
                .open(fs.merged.as_os_str(), true)
                .map_err(|e| Error::io(&fs.merged, e))?;
            let result = f(Side::Container(fd));
            if let Err(e) = berth_runtime::rootfs::unmount(&dir) {
                tracing::debug!(error = %e, "cannot unmount the copy's overlay");
            }
            result
        }
    }
}

/// Give this thread a mount namespace of its own whose mounts do not propagate back, so the
/// overlay mounted for the copy is seen by no other process and dies with the thread.
fn private_mounts() -> Result<()> {
    tracing::debug!("unshare(CLONE_NEWNS) for the copy thread");
    // SAFETY: plain syscalls; CLONE_NEWNS only touches this thread's fs/mount state.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error()).context(|| "unshare(CLONE_NEWNS)".into());
        }
        let flags = libc::MS_REC | libc::MS_SLAVE;
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error()).context(|| "making / a slave mount".into());
        }
    }
    Ok(())
}

/// What is copied, once the container's root is reached.
struct Job {
    name: String,
    archive: bool,
    follow: bool,
}

fn is_dir(fd: &OwnedFd) -> io::Result<bool> {
    Ok(is_type(&stat(fd)?, libc::S_IFDIR))
}

fn show(p: &OsStr) -> std::borrow::Cow<'_, str> {
    p.to_string_lossy()
}

fn not_a_directory(p: &OsStr) -> Error {
    Error::InvalidArgument(format!("{}: not a directory", show(p)))
}

/// A missing destination directory.
fn no_directory(p: &OsStr) -> Error {
    Error::NotFound {
        what: "destination directory",
        name: show(p).into_owned(),
    }
}

/// An unpacking error as one line, its causes after it (unless already quoted); a damaged
/// stream or a kind conflict is the request's fault, an I/O error is not.
fn unpack_error(e: UnpackError) -> Error {
    let mut line = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(&format!(": {text}"));
        }
        cause = c.source();
    }
    match e {
        UnpackError::Io { .. } | UnpackError::OverlayPrivilege { .. } => Error::Internal(line),
        _ => Error::InvalidArgument(line),
    }
}

impl Job {
    fn copy(&self, root: Side, src: Loc, dest: Loc) -> Result<()> {
        let host = Side::Host;
        let (src_side, src) = match src {
            Loc::Reader(r) => {
                let (side, dest) = match dest {
                    Loc::Host(p) => (&host, p),
                    Loc::Container(p) => (&root, p),
                    _ => unreachable!("a tar stream is copied into a path"),
                };
                let into = self.open_dir(side, &dest)?;
                return self.unpack(r, &into);
            }
            Loc::Host(p) => (&host, p),
            Loc::Container(p) => (&root, p),
            Loc::Writer(_) => unreachable!("a tar stream is not a source"),
        };
        let bytes = src.as_bytes();
        let contents = bytes.ends_with(b"/.") || bytes == b".";
        let wants_dir = contents || bytes.ends_with(b"/");
        let fd = src_side
            .open(&src, self.follow || wants_dir)
            .map_err(|e| self.not_found(src_side, &src, e))?;
        let src_is_dir = is_dir(&fd)?;
        if wants_dir && !src_is_dir {
            return Err(not_a_directory(&src));
        }
        // The root of a container (or `/` on the host) has no name: its contents are copied.
        let contents = contents || base(&src).is_empty();
        let (dest_side, dest) = match dest {
            Loc::Writer(mut out) => {
                let top = if contents { ".".into() } else { base(&src) };
                pack::pack(fd, Some(&top), &mut out)?;
                return out.flush().context(|| "cannot write the archive".into());
            }
            Loc::Host(p) => (&host, p),
            Loc::Container(p) => (&root, p),
            Loc::Reader(_) => unreachable!("a tar stream is not a destination"),
        };
        let dest_slash = dest.as_bytes().ends_with(b"/") || dest.as_bytes().ends_with(b"/.");
        let target = dest_side
            .follow_last(&dest)
            .map_err(|e| self.not_found(dest_side, &dest, e))?;
        let (into, top) = match dest_side.open(&target, true) {
            Ok(d) if is_dir(&d)? => {
                let top = (!(contents && src_is_dir)).then(|| base(&src));
                (d, top)
            }
            Ok(_) if dest_slash => return Err(not_a_directory(&dest)),
            Ok(_) if src_is_dir => {
                return Err(Error::InvalidArgument(format!(
                    "cannot overwrite non-directory {} with directory {}",
                    show(&dest),
                    show(&src)
                )));
            }
            Ok(_) => (
                self.open_dir(dest_side, &parent(&target))?,
                Some(base(&target)),
            ),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if dest_slash && !src_is_dir {
                    return Err(no_directory(&dest));
                }
                (
                    self.open_dir(dest_side, &parent(&target))?,
                    Some(base(&target)),
                )
            }
            Err(e) => return Err(self.not_found(dest_side, &dest, e)),
        };
        self.stream(fd, top, &into)
    }

    /// A path that cannot be opened, a missing one as Docker words it.
    fn not_found(&self, side: &Side, path: &OsStr, e: io::Error) -> Error {
        match (side, e.raw_os_error()) {
            (_, Some(libc::ENOTDIR)) => not_a_directory(path),
            (Side::Container(_), Some(libc::ENOENT)) => Error::NotFound {
                what: "file",
                name: format!("{} in container {}", show(path), self.name),
            },
            _ => Error::io(path, e),
        }
    }

    /// An existing directory to extract into.
    fn open_dir(&self, side: &Side, path: &OsStr) -> Result<OwnedFd> {
        let fd = side.open(path, true).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => no_directory(path),
            _ => self.not_found(side, path, e),
        })?;
        if !is_dir(&fd)? {
            return Err(not_a_directory(path));
        }
        Ok(fd)
    }

    /// Archive `src` (as `top`) and extract it into `into`, concurrently through a pipe.
    fn stream(&self, src: OwnedFd, top: Option<OsString>, into: &OwnedFd) -> Result<()> {
        let (reader, writer) = io::pipe()?;
        let producer = std::thread::spawn(move || pack::pack(src, top.as_deref(), writer));
        let unpacked = self.unpack(reader, into);
        let packed = producer
            .join()
            .map_err(|_| Error::Internal("the archiving thread panicked".into()))?;
        match packed {
            // The archive's own error explains a truncated stream; a broken pipe is only the
            // consequence of the extraction failing.
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => unpacked,
        }
    }

    /// Extract a tar stream into directory `into` with `docker cp`'s rules: whiteout names are
    /// plain files, a directory never replaces a file nor the reverse, owners kept with `-a`.
    fn unpack(&self, reader: impl io::Read, into: &OwnedFd) -> Result<()> {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let opts = UnpackOptions::default()
            .with_whiteouts(WhiteoutMode::Keep)
            .with_keep_kinds(true)
            .with_preserve_ownership(self.archive && root);
        unpack_layer(reader, &fs::proc_path(into), &opts).map_err(unpack_error)?;
        Ok(())
    }
}
