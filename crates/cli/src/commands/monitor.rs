//! `berth container-monitor ID` (hidden): what `berth run -d` leaves running in its own
//! session. It runs the container its record describes, writes its output to the Docker
//! json-file log, records its pid, start, exit and finish, and removes it with `--rm`.
//! `berth start` runs one again for a container that has exited: same record, same directory
//! (its changes kept), its log appended to. With a `--restart` policy it runs the container
//! again in the same directory when it exits, until the policy says no or the user stops it.

use std::io::{BufRead as _, BufReader};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, Result};
use berth_engine::containers::logfile::LogFile;
use berth_runtime::engine::Stdio;
use berth_runtime::rootfs;

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

/// Copy `from` into the log, one json line per line of output.
fn copy(from: OwnedFd, stream: &'static str, log: Log) {
    let mut reader = BufReader::new(std::fs::File::from(from));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = log_line(&buf, stream);
                if let Some(log) = log.lock().unwrap().as_mut() {
                    let _ = log.write_line(&line);
                }
            }
        }
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
) -> i32 {
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
            let log = log.clone();
            let reader = std::thread::spawn(move || {
                if let Ok(Some(master)) = super::tty::receive_master(&ours) {
                    copy(master, "stdout", log);
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
                let log = log.clone();
                std::thread::spawn(move || copy(fd, stream, log))
            });
            let stdio = Stdio {
                stdin: Some(std::fs::File::open("/dev/null")?.into()),
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
    let (mut first, mut backoff) = (c.started_at.is_none(), Backoff::default());
    loop {
        let began = Instant::now();
        let code = run_once(&ctx, &c, &record, &dir, first, &log).await;
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
            return finish(&ctx, &c.id, &dir, rm, code).await;
        }
        rootfs::unmount(&dir)?;
        ctx.store.container_restarting(&c.id, true).await?;
        tokio::time::sleep(backoff.next(began.elapsed())).await;
        if !ctx.store.container_restart_begin(&c.id).await? {
            return finish(&ctx, &c.id, &dir, rm, code).await;
        }
    }
}
