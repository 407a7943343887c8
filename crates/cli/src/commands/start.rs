//! `berth start [-a] CONTAINER...` and `berth restart [-t N] CONTAINER...`: run an exited (or
//! created) container again, as Docker does: same id, name, configuration and directory (the
//! changes of earlier runs kept), a new `container-monitor`, its log appended to. Starting a
//! running container does nothing.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::time::Duration;

use anyhow::{Result, bail};
use berth_store::{Container, State};
use tokio::signal::unix::{SignalKind, signal};

use super::container::each;
use super::context::Context;
use super::liveness;
use super::logs::log_path;
use super::run::ContainerExit;

/// `berth start`
#[derive(clap::Args)]
pub struct StartArgs {
    /// Attach: stream the container's output and exit with its code.
    #[arg(short, long)]
    pub attach: bool,
    /// Containers to start (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth restart`
#[derive(clap::Args)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's
    /// `--stop-timeout`, else 10).
    #[arg(short, long, allow_negative_numbers = true)]
    pub time: Option<i64>,
    /// Containers to restart (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Start `c` (not running) under a new monitor; returns once it runs (or failed to start).
async fn start_one(ctx: &Context, c: &Container) -> Result<()> {
    Ok(ctx.start_container(c).await?)
}

/// Print the json-file lines of `data` that are complete; how many bytes they took.
fn print_lines(data: &[u8]) -> usize {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut used = 0;
    while let Some(n) = data[used..].iter().position(|&b| b == b'\n') {
        let line = &data[used..used + n];
        used += n + 1;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
            let text = v["log"].as_str().unwrap_or_default().as_bytes();
            let _ = if v["stream"] == "stderr" {
                err.write_all(text)
            } else {
                out.write_all(text)
            };
        }
    }
    let _ = out.flush();
    used
}

/// Stream `c`'s log from `offset` until it exits, forwarding SIGINT and SIGTERM to it; its
/// exit code.
async fn attach(ctx: &Context, c: &Container, mut offset: u64) -> Result<i64> {
    let path = log_path(&ctx.config.root, &c.id);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    loop {
        let now = match ctx.store.container(&c.id).await? {
            Some(now) => liveness::reconcile(ctx, now).await?,
            None => None,
        };
        // Read after looking at the state, so the last lines of an exited one are in.
        if let Ok(mut file) = std::fs::File::open(&path) {
            file.seek(SeekFrom::Start(offset))?;
            let mut more = Vec::new();
            file.read_to_end(&mut more)?;
            offset += print_lines(&more) as u64;
        }
        let pid = match now {
            Some(now) if now.state != State::Exited => now.pid.filter(|p| *p > 0),
            // Gone (--rm): its code went with it.
            None => return Ok(0),
            Some(now) => return Ok(now.exit_code.unwrap_or(0)),
        };
        let forward = |sig: i32| {
            if let Some(pid) = pid {
                // SAFETY: plain kill(2) of the container's first process.
                unsafe { libc::kill(pid as libc::pid_t, sig) };
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = sigint.recv() => forward(libc::SIGINT),
            _ = sigterm.recv() => forward(libc::SIGTERM),
        }
    }
}

/// Run `berth start`.
pub async fn start(args: StartArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    if args.attach {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = liveness::find(ctx, &args.containers[0]).await?;
        let offset = std::fs::metadata(log_path(&ctx.config.root, &c.id)).map_or(0, |m| m.len());
        if c.state != State::Running {
            start_one(ctx, &c).await?;
        }
        let code = attach(ctx, &c, offset).await?;
        if code != 0 {
            return Err(ContainerExit(code as i32).into());
        }
        return Ok(());
    }
    each(&args.containers, |q| async move {
        // One waiting for its monitor to restart it is left to it.
        ctx.start(&q).await?;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth restart`.
pub async fn restart(args: RestartArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let time = args.time;
    each(&args.containers, |q| async move {
        ctx.restart(&q, time).await?;
        println!("{q}");
        Ok(())
    })
    .await
}
