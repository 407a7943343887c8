//! `berth cp [-a] [-L] CONTAINER:SRC DEST|-` and `berth cp [-a] [-L] SRC|- CONTAINER:DEST`:
//! files between a container (running or stopped) and the host, with `docker cp`'s rules.
//!
//! Both directions go through a tar stream, as Docker's do: the source tree is archived from
//! descriptors (`pack.rs`), and the archive is extracted by the runtime's safe unpacker below a
//! directory descriptor. Every container path is resolved by the kernel inside the container's
//! root (`fs.rs`, `openat2(RESOLVE_IN_ROOT)`), so no symlink in the container leads outside it.
//! A running container's root is `/proc/<pid>/root` (its mounts included); a stopped one's
//! overlay is mounted again in a private mount namespace of the copying thread.

mod fs;
mod pack;

use std::ffi::{OsStr, OsString};
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use berth_runtime::unpack::{UnpackOptions, WhiteoutMode, unpack_layer};
use berth_store::State;

use super::context::Context;
use super::liveness;
use fs::{Side, base, is_type, parent, stat};

/// `berth cp`
#[derive(clap::Args)]
pub struct CpArgs {
    /// Archive mode: keep the source's uid/gid (else files belong to the destination's root,
    /// or to the invoking user on the host).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow a symbolic link in SRC.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC, a host path, or `-` for a tar archive on stdin.
    pub src: String,
    /// CONTAINER:DEST, a host path, or `-` to write a tar archive to stdout.
    pub dest: String,
}

/// One end of the copy as written on the command line.
enum Loc {
    Stdio,
    Host(OsString),
    Container(String, OsString),
}

/// Docker's rule: an absolute path, a name starting with `.`, or one without `:` is local.
fn parse(arg: &str) -> Loc {
    if arg == "-" {
        return Loc::Stdio;
    }
    match arg.split_once(':') {
        Some((c, path)) if !arg.starts_with('/') && !c.starts_with('.') && !c.is_empty() => {
            Loc::Container(c.to_string(), path.into())
        }
        _ => Loc::Host(arg.into()),
    }
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

/// Run `berth cp`.
pub async fn cp(args: CpArgs) -> Result<()> {
    let (src, dest) = (parse(&args.src), parse(&args.dest));
    let name = match (&src, &dest) {
        (Loc::Container(..), Loc::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Loc::Container(c, _), _) | (_, Loc::Container(c, _)) => c.clone(),
        _ => bail!("must specify at least one container source"),
    };
    let ctx = Context::open().await?;
    let c = liveness::find(&ctx, &name).await?;
    let reach = match (c.state, c.pid) {
        (State::Running, Some(pid)) => Reach::Running {
            pid,
            identity: c.pid_identity.clone(),
        },
        _ => {
            let layers = super::run::record(&c)?.layers;
            Reach::Stopped {
                root: ctx.config.root.clone(),
                id: c.id.clone(),
                layers,
            }
        }
    };
    let job = Job {
        name: c.name.clone(),
        archive: args.archive,
        follow: args.follow_link,
    };
    // A thread of its own: a stopped container's mount namespace must not outlive the copy,
    // nor be shared with a pooled thread.
    std::thread::spawn(move || with_root(reach, &job.name, |root| job.copy(root, src, dest)))
        .join()
        .map_err(|_| anyhow!("the copy thread panicked"))?
}

/// Run `f` with the container's root as a [`Side`].
fn with_root<T>(reach: Reach, name: &str, f: impl FnOnce(Side) -> Result<T>) -> Result<T> {
    match reach {
        Reach::Running { pid, identity } => {
            let path = format!("/proc/{pid}/root");
            let fd = Side::Host
                .open(path.as_ref(), true)
                .with_context(|| format!("container {name}: {path}"))?;
            // Checked after opening: a pid reused before the open has another identity now.
            if identity.is_some() && berth_store::containers::process_identity(pid) != identity {
                bail!("container {name} stopped during the copy; try again");
            }
            f(Side::Container(fd))
        }
        Reach::Stopped { root, id, layers } => {
            private_mounts()?;
            let dir = berth_store::Layout::new(&root).container(&id);
            // A mount left by a lost run would be under ours; this only affects our namespace.
            berth_runtime::rootfs::unmount(&dir)?;
            let fs = berth_runtime::rootfs::mount(&root, &id, &layers)
                .with_context(|| format!("mounting the file system of container {name}"))?;
            let fd = Side::Host.open(fs.merged.as_os_str(), true)?;
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
            return Err(io::Error::last_os_error()).context("unshare(CLONE_NEWNS)");
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
            return Err(io::Error::last_os_error()).context("making / a slave mount");
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

impl Job {
    fn copy(&self, root: Side, src: Loc, dest: Loc) -> Result<()> {
        let host = Side::Host;
        let (src_side, src) = match src {
            Loc::Stdio => (&host, None),
            Loc::Host(p) => (&host, Some(p)),
            Loc::Container(_, p) => (&root, Some(p)),
        };
        let (dest_side, dest) = match dest {
            Loc::Stdio => (&host, None),
            Loc::Host(p) => (&host, Some(p)),
            Loc::Container(_, p) => (&root, Some(p)),
        };
        let Some(src) = src else {
            let dest = dest.expect("one side is a container");
            let into = self.open_dir(dest_side, &dest)?;
            return self.unpack(io::stdin().lock(), &into);
        };
        let bytes = src.as_bytes();
        let contents = bytes.ends_with(b"/.") || bytes == b".";
        let wants_dir = contents || bytes.ends_with(b"/");
        let fd = src_side
            .open(&src, self.follow || wants_dir)
            .map_err(|e| self.not_found(src_side, &src, e))?;
        let src_is_dir = is_dir(&fd)?;
        if wants_dir && !src_is_dir {
            bail!("{}: not a directory", show(&src));
        }
        // The root of a container (or `/` on the host) has no name: its contents are copied.
        let contents = contents || base(&src).is_empty();
        let Some(dest) = dest else {
            let top = if contents { ".".into() } else { base(&src) };
            let mut out = io::stdout().lock();
            pack::pack(fd, Some(&top), &mut out)?;
            return Ok(out.flush()?);
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
            Ok(_) if dest_slash => bail!("{}: not a directory", show(&dest)),
            Ok(_) if src_is_dir => bail!(
                "cannot overwrite non-directory {} with directory {}",
                show(&dest),
                show(&src)
            ),
            Ok(_) => (
                self.open_dir(dest_side, &parent(&target))?,
                Some(base(&target)),
            ),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if dest_slash && !src_is_dir {
                    bail!("destination directory {} does not exist", show(&dest));
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
    fn not_found(&self, side: &Side, path: &OsStr, e: io::Error) -> anyhow::Error {
        match (side, e.raw_os_error()) {
            (_, Some(libc::ENOTDIR)) => anyhow!("{}: not a directory", show(path)),
            (Side::Container(_), Some(libc::ENOENT)) => anyhow!(
                "Could not find the file {} in container {}",
                show(path),
                self.name
            ),
            _ => anyhow::Error::new(e).context(show(path).into_owned()),
        }
    }

    /// An existing directory to extract into.
    fn open_dir(&self, side: &Side, path: &OsStr) -> Result<OwnedFd> {
        let fd = side.open(path, true).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => anyhow!("destination directory {} does not exist", show(path)),
            _ => self.not_found(side, path, e),
        })?;
        if !is_dir(&fd)? {
            bail!("{}: not a directory", show(path));
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
            .map_err(|_| anyhow!("the archiving thread panicked"))?;
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
        unpack_layer(reader, &fs::proc_path(into), &opts)?;
        Ok(())
    }
}
