//! `berth export [-o FILE] CONTAINER`: a container's root filesystem as a tar stream, as
//! `docker export` writes it: the merged view of its image's layers and its own changes
//! (whiteouts applied: a file the container deleted is not there), without its volumes.
//!
//! A running container's overlay is read where its supervisor mounted it; a stopped one's is
//! mounted again in a private mount namespace of the exporting thread, as `cp` does. The tree
//! is archived by `cp`'s packer (from descriptors, symlinks never followed).

use std::io::{self, BufWriter, IsTerminal as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
// `cp`'s descriptor-based packer and its helpers (the engine's).
use berth_engine::containers::cp::{fs, pack};
use berth_store::State;

use super::context::Context;
use super::liveness;

/// `berth export`
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<String>,
    /// The container (name or id).
    pub container: String,
}

/// Where the container's root is.
struct Reach {
    /// Running: its overlay is mounted (at `merged`) by its supervisor.
    running: bool,
    /// The data root.
    root: PathBuf,
    id: String,
    /// Its image's layers, lowest first (to mount it when it is not mounted).
    layers: Vec<PathBuf>,
}

/// overlayfs's `f_type`.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

fn is_overlay(fd: &OwnedFd) -> bool {
    // SAFETY: an all-zero statfs is valid; fstatfs fills it (O_PATH descriptors allowed).
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) }) == 0 && st.f_type as i64 == OVERLAYFS_MAGIC
}

/// Run `berth export`.
pub async fn export(args: ExportArgs) -> Result<()> {
    let output = args.output.clone().filter(|o| o != "-");
    if output.is_none() && io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let ctx = Context::open().await?;
    let c = liveness::find(&ctx, &args.container).await?;
    let reach = Reach {
        running: c.state == State::Running,
        root: ctx.config.root.clone(),
        id: c.id.clone(),
        layers: super::run::record(&c)?.layers,
    };
    let name = c.name.clone();
    // A thread of its own: a stopped container's mount namespace must not outlive the export,
    // nor be shared with a pooled thread.
    std::thread::spawn(move || {
        with_root(reach, &name, |fd| match output {
            None => {
                let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
                pack::pack(fd, None, &mut out)?;
                out.flush()?;
                Ok(())
            }
            Some(path) => write_file(Path::new(&path), fd),
        })
    })
    .join()
    .map_err(|_| anyhow!("the export thread panicked"))??;
    super::events::emit_container(&ctx, "export", &c.id, &[]).await;
    Ok(())
}

/// The archive written to `path` through a temporary file renamed into place.
fn write_file(path: &Path, fd: OwnedFd) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.berth-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        pack::pack(fd, None, &mut out)?;
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot export to {}", path.display()))
}

/// Run `f` with a descriptor of the container's root.
fn with_root<T>(reach: Reach, name: &str, f: impl FnOnce(OwnedFd) -> Result<T>) -> Result<T> {
    let Reach {
        running,
        root,
        id,
        layers,
    } = reach;
    let layout = berth_store::Layout::new(&root);
    if running {
        let fd = fs::Side::Host.open(layout.container_merged(&id).as_os_str(), true)?;
        if is_overlay(&fd) {
            return f(fd);
        }
        // Not mounted (it stopped meanwhile): mounted privately below.
    }
    private_mounts()?;
    let dir = layout.container(&id);
    // A mount left by a lost run would be under ours; this only affects our namespace.
    berth_runtime::rootfs::unmount(&dir)?;
    let mounted = berth_runtime::rootfs::mount(&root, &id, &layers)
        .with_context(|| format!("mounting the file system of container {name}"))?;
    let result = fs::Side::Host
        .open(mounted.merged.as_os_str(), true)
        .map_err(anyhow::Error::from)
        .and_then(f);
    if let Err(e) = berth_runtime::rootfs::unmount(&dir) {
        tracing::debug!(error = %e, "cannot unmount the export's overlay");
    }
    result
}

/// Give this thread a mount namespace of its own whose mounts do not propagate back.
fn private_mounts() -> Result<()> {
    // SAFETY: plain syscalls; CLONE_NEWNS only touches this thread's fs/mount state.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error()).context("unshare(CLONE_NEWNS)");
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error()).context("making / a slave mount");
        }
    }
    Ok(())
}
