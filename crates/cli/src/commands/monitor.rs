//! `berth container-monitor ID` (hidden): what `berth run -d` leaves running in its own
//! session. It runs the container its record describes, writes its output to the Docker
//! json-file log, records its pid, start, exit and finish, and removes it with `--rm`.
//! `berth start` runs one again for a container that has exited: same record, same directory
//! (its changes kept), its log appended to. With a `--restart` policy it runs the container
//! again in the same directory when it exits, until the policy says no or the user stops it.
//! While it lives, `berth attach` clients connect to its `attach.sock` (see [`super::attach`]):
//! they receive the container's output as it comes, and with `-i` send its stdin, which is then
//! a pipe (or the terminal with `-t`) the monitor keeps open.

use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, Result};
use berth_engine::containers::logfile::LogFile;
use berth_runtime::engine::Stdio;
use berth_runtime::rootfs;

use super::attach::{Hub, STDERR, STDOUT};
use super::context::Context;
use super::logs::{log_path, timestamp};
use super::run::{Backoff, complete_spec, finish, supervise};

/// `berth container-monitor`
#[derive(clap::Args)]
pub struct MonitorArgs {
    /// The container's full id.
    pub id: String,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The container's log, shared by the stream readers.
type Log = Arc<Mutex<Option<LogFile>>>;

/// One json-file log line for `text` on `stream`.
fn log_line(text: &[u8], stream: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({
        "log": String::from_utf8_lossy(text),
        "stream": stream,
        "time": timestamp(std::time::SystemTime::now()),
    }))
    .expect("json");
    line.push(b'\n');
    line
}

/// Copy `from` to the attached clients as it comes, and into the log, one json line per line
/// of output (the last one even without its newline).
fn copy(from: OwnedFd, stream: &'static str, log: Log, hub: Arc<Hub>) {
    let id = if stream == "stderr" { STDERR } else { STDOUT };
    let mut reader = std::fs::File::from(from);
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending = Vec::new();
    let write = |text: &[u8]| {
        let line = log_line(text, stream);
        if let Some(log) = log.lock().unwrap().as_mut() {
            let _ = log.write_line(&line);
        }
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // EIO: a terminal whose slave is closed everywhere
        };
        hub.output(id, &buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(i) = pending[start..].iter().position(|b| *b == b'\n') {
            write(&pending[start..=start + i]);
            start += i + 1;
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        write(&pending);
    }
}

/// Run the container once (its root filesystem mounted afresh, its output logged by new
/// readers); its exit code (127 when it could not run: the log says why).
async fn run_once(
    ctx: &Context,
    c: &berth_store::Container,
    record: &berth_engine::model::Record,
    dir: &Path,
    first: bool,
    log: &Log,
    hub: &Arc<Hub>,
) -> i32 {
    let open_stdin = record.config.open_stdin;
    let layers = &record.layers;
    let runtime = super::run::runtime_path(record);
    let result = async {
        // A run whose supervisor was lost may have left its overlay mounted: never stack one.
        rootfs::unmount(dir)?;
        let fs = rootfs::mount(&ctx.config.root, &c.id, layers)?;
        let mut spec = super::run::spec_of(record, &c.id, fs.merged)?;
        complete_spec(&mut spec, dir, record)?;
        // Docker fills new volumes when the container is created: on its first start only.
        if first {
            super::volumes::populate_mounts(&ctx.config.root, &spec)?;
        }
        let (stdio, readers) = if spec.terminal {
            // `-t`: one stream, the terminal's, logged as stdout (as Docker does).
            let (ours, theirs) = super::tty::console_pair()?;
            let (log, hub) = (log.clone(), hub.clone());
            let reader = std::thread::spawn(move || {
                if let Ok(Some(master)) = super::tty::receive_master(&ours) {
                    // Clients' input goes to the terminal with `-i`.
                    hub.set_terminal(&master, open_stdin);
                    copy(master, "stdout", log, hub);
                }
            });
            let console = berth_runtime::engine::Console {
                socket: theirs,
                rows: 0,
                cols: 0,
            };
            let stdio = Stdio {
                console: Some(console),
                ..Stdio::default()
            };
            (stdio, vec![reader])
        } else {
            let (out_read, out_write) = pipe()?;
            let (err_read, err_write) = pipe()?;
            let readers = [(out_read, "stdout"), (err_read, "stderr")].map(|(fd, stream)| {
                let (log, hub) = (log.clone(), hub.clone());
                std::thread::spawn(move || copy(fd, stream, log, hub))
            });
            // `-i`: a pipe the monitor keeps open (the container sees no end of its input
            // while it lives), which attached clients write to; else `/dev/null`.
            let stdin: OwnedFd = if open_stdin {
                let (stdin_read, stdin_write) = pipe()?;
                hub.set_stdin(Some(stdin_write.into()));
                stdin_read
            } else {
                std::fs::File::open("/dev/null")?.into()
            };
            let stdio = Stdio {
                stdin: Some(stdin),
                stdout: Some(out_write),
                stderr: Some(err_write),
                console: None,
            };
            (stdio, readers.into())
        };
        let status = supervise(ctx, &c.id, runtime.as_deref(), spec, stdio, true).await;
        tokio::task::spawn_blocking(move || {
            for r in readers {
                let _ = r.join();
            }
        })
        .await?;
        status
    }
    .await;
    // Attached clients are let go with the run's last output; they read its exit code.
    hub.end_run();
    match &result {
        Ok(status) => status.code(),
        Err(e) => {
            let line = log_line(format!("berth: error: {e:#}\n").as_bytes(), "stderr");
            if let Some(log) = log.lock().unwrap().as_mut() {
                let _ = log.write_line(&line);
            }
            127
        }
    }
}

/// Run `berth container-monitor`: the container, then again as its `--restart` policy says
/// (unless the user stopped it), waiting Docker's backoff between runs.
pub async fn run(args: MonitorArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = ctx
        .store
        .container(&args.id)
        .await?
        .with_context(|| format!("no such container: {}", args.id))?;
    let record = super::run::record(&c)?;
    let rm = record.host_config.auto_remove;
    let policy = record.host_config.restart_policy.clone();
    let dir = ctx.layout().container(&c.id);
    std::fs::create_dir_all(&dir)?;
    // Named as the run's supervisor first: were this process killed, readers would see it.
    ctx.store
        .container_monitor(&c.id, i64::from(std::process::id()))
        .await?;
    // The log driver's file (none: nothing is kept, as Docker's `none` driver).
    let log: Log = Arc::new(Mutex::new(LogFile::open(
        &log_path(&ctx.config.root, &c.id),
        &record.host_config.log_config,
    )?));
    // Listening before the container starts: `attach` right after `run -d` finds it.
    let hub = Arc::new(Hub::listen(
        &super::attach::socket_path(&ctx, &c.id),
        record.config.tty,
    ));
    let (mut first, mut backoff) = (c.started_at.is_none(), Backoff::default());
    loop {
        let began = Instant::now();
        let code = run_once(&ctx, &c, &record, &dir, first, &log, &hub).await;
        first = false;
        ctx.store.container_exited(&c.id, i64::from(code)).await?;
        let Some(now) = ctx.store.container(&c.id).await? else {
            return Ok(()); // removed meanwhile
        };
        // The policy as the record says now (`berth update --restart` may have changed it).
        let policy = super::run::record(&now)
            .map(|r| r.host_config.restart_policy)
            .unwrap_or(policy.clone());
        if now.stopped_by_user || !policy.restarts(code, now.restart_count) {
            hub.close();
            return finish(&ctx, &c.id, &dir, rm, code).await;
        }
        rootfs::unmount(&dir)?;
        ctx.store.container_restarting(&c.id, true).await?;
        tokio::time::sleep(backoff.next(began.elapsed())).await;
        if !ctx.store.container_restart_begin(&c.id).await? {
            hub.close();
            return finish(&ctx, &c.id, &dir, rm, code).await;
        }
    }
}
