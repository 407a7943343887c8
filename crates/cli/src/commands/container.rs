//! `berth rm`, `stop`, `kill` and `wait` (`ps` lives in `ps.rs`): the container records as
//! Docker shows them and the signals that end them. Records are reconciled with their
//! processes first (`liveness`).

use anyhow::{Result, bail};
use berth_store::{Container, State};
use serde_json::json;

use super::context::{Context, human_ago};
use super::liveness;

pub use super::ps::{PsArgs, ps};

/// `berth rm`
#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove a running container too.
    #[arg(short, long)]
    pub force: bool,
    /// Remove the anonymous volumes of the container too (named volumes are kept).
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers to remove (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "Exited (0) 5 seconds ago", "Up 3 minutes (Paused)", "Created", "Restarting (1) 2 seconds
/// ago", as Docker words them.
pub fn status(c: &Container) -> String {
    if c.restarting && c.state != State::Running {
        return format!(
            "Restarting ({}) {}",
            c.exit_code.unwrap_or(0),
            human_ago(now() - c.finished_at.unwrap_or(c.created_at))
        );
    }
    match c.state {
        State::Created => "Created".into(),
        State::Running => {
            let up = human_ago(now() - c.started_at.unwrap_or(c.created_at));
            let paused = if c.paused { " (Paused)" } else { "" };
            format!("Up {}{paused}", up.trim_end_matches(" ago"))
        }
        State::Exited => format!(
            "Exited ({}) {}",
            c.exit_code.unwrap_or(0),
            human_ago(now() - c.finished_at.unwrap_or(c.created_at))
        ),
    }
}

/// Docker's state name: `paused` for a paused running container, `restarting` for one waiting
/// to be restarted, else the stored state.
pub fn state_name(c: &Container) -> &'static str {
    if c.paused && c.state == State::Running {
        "paused"
    } else if c.restarting && c.state != State::Running {
        "restarting"
    } else {
        c.state.as_str()
    }
}

/// Unix seconds as Docker's RFC 3339 time; unset (or 0) as Docker's zero time.
pub fn rfc3339(secs: Option<i64>) -> String {
    match secs.filter(|t| *t > 0) {
        Some(t) => super::context::format_rfc3339(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
        ),
        None => "0001-01-01T00:00:00Z".into(),
    }
}

/// The record's runtime configuration (`{}` when unreadable).
pub fn config(c: &Container) -> serde_json::Value {
    serde_json::from_str(&c.config).unwrap_or_else(|_| json!({}))
}

/// Docker's container inspect JSON (the fields berth knows). A running record whose supervisor
/// is gone shows as exited (255), as the next command that reconciles it will record.
pub fn inspect_json(c: &Container) -> serde_json::Value {
    let lost;
    let c = if c.is_alive() {
        c
    } else {
        lost = Container {
            state: State::Exited,
            pid: None,
            exit_code: Some(255),
            ..c.clone()
        };
        &lost
    };
    let config = config(c);
    let spec = &config["spec"];
    json!({
        "Id": c.id,
        "Created": rfc3339(Some(c.created_at)),
        "Path": c.command.first().cloned().unwrap_or_default(),
        "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": state_name(c),
            "Running": c.state == State::Running,
            "Paused": c.paused,
            "Restarting": c.restarting && c.state != State::Running,
            "Pid": c.pid.unwrap_or(0),
            "ExitCode": c.exit_code.unwrap_or(0),
            "StartedAt": rfc3339(c.started_at),
            "FinishedAt": rfc3339(c.finished_at),
        },
        "Image": c.image_id,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Config": {
            "Image": c.image,
            "Cmd": c.command,
            "Env": spec["env"],
            "StopSignal": config["stop_signal"],
            "StopTimeout": config["stop_timeout"],
        },
        "Mounts": super::volumes::mounts_json(spec),
        "HostConfig": {
            "AutoRemove": config["rm"].as_bool().unwrap_or(false),
            "Privileged": spec["privileged"].as_bool().unwrap_or(false),
            "Init": spec["init"].as_bool().unwrap_or(false),
            "Runtime": config["runtime"].as_str().unwrap_or("berth"),
            "RestartPolicy": super::run::RestartPolicy::from_config(&config).to_json(),
        },
    })
}

/// Remove container `c` (not running): its directory (mounts, changes, log) and its record.
pub async fn remove(ctx: &Context, c: &Container) -> Result<()> {
    let dir = ctx.layout().container(&c.id);
    berth_runtime::rootfs::remove(&dir)?;
    ctx.store.remove_container(&c.id).await?;
    Ok(())
}

/// Run `berth rm`.
pub async fn rm(args: RmArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let (force, with_volumes) = (args.force, args.volumes);
    each(&args.containers, |q| async move {
        let mut c = liveness::find(ctx, &q).await?;
        if c.state == State::Running || c.restarting {
            if !force {
                bail!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                );
            }
            // Not to be restarted by its monitor, which is let decide first if it is about to.
            ctx.store.container_stopped_by_user(&c.id, true).await?;
            c = settled(ctx, &c).await?;
        }
        if c.state == State::Running {
            // Killed, then left to its supervisor to record the exit and release cgroups and
            // mounts before everything of it goes.
            signal(&c, libc::SIGKILL)?;
            super::pause::thaw_for_signal(ctx, &c).await?;
            wait_exit(ctx, &c.id, None).await?;
            liveness::wait_gone(
                c.monitor_pid,
                c.monitor_identity.as_deref(),
                std::time::Duration::from_secs(10),
            )
            .await;
            c = match ctx.store.container(&c.id).await? {
                Some(c) => c,
                None => {
                    // Removed by its supervisor (--rm); only its directory may be left.
                    let dir = ctx.layout().container(&c.id);
                    berth_runtime::rootfs::remove(&dir)?;
                    println!("{q}");
                    return Ok(());
                }
            };
        }
        remove(ctx, &c).await?;
        let attrs = [("name", c.name.clone()), ("image", c.image.clone())];
        super::events::emit(&ctx.config.root, "container", "destroy", &c.id, &attrs);
        if with_volumes {
            let others = ctx.store.containers().await?;
            let names = super::volumes::used_by(&c);
            super::volumes::remove_anonymous(&ctx.config.root, &names, &others)?;
        }
        println!("{q}");
        Ok(())
    })
    .await
}

/// `berth stop`
#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's
    /// `--stop-timeout`, else 10; -1: wait indefinitely).
    #[arg(short, long, allow_negative_numbers = true)]
    pub time: Option<i64>,
    /// Containers to stop (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`
#[derive(clap::Args)]
pub struct KillArgs {
    /// The signal to send (name, with or without SIG, or number).
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers to signal (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth wait`
#[derive(clap::Args)]
pub struct WaitArgs {
    /// Containers to wait for (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// A signal number from `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..65).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "WINCH" => libc::SIGWINCH,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "SEGV" => libc::SIGSEGV,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "CHLD" => libc::SIGCHLD,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("invalid signal {s:?}"),
    })
}

/// Send `sig` to a running container's first process.
fn signal(c: &Container, sig: i32) -> Result<()> {
    match c.pid.filter(|p| *p > 0) {
        // SAFETY: plain kill(2).
        Some(pid) if c.state == State::Running => {
            if unsafe { libc::kill(pid as libc::pid_t, sig) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(e.into());
                }
            }
            Ok(())
        }
        _ => bail!("container {} is not running", c.name),
    }
}

/// Wait until the container has exited (or `deadline` passes); its exit code, if it did. A
/// container whose supervisor dies meanwhile is reconciled, and so has exited (255).
pub async fn wait_exit(
    ctx: &Context,
    id: &str,
    deadline: Option<std::time::Instant>,
) -> Result<Option<i64>> {
    loop {
        let c = match ctx.store.container(id).await? {
            Some(c) => liveness::reconcile(ctx, c).await?,
            None => None,
        };
        match c {
            None => return Ok(Some(0)),
            Some(c) if c.state == State::Exited => return Ok(Some(c.exit_code.unwrap_or(0))),
            _ => {}
        }
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Run `f` for each container query, printing errors but the last, which is returned.
pub async fn each<F, Fut>(queries: &[String], f: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut last = None;
    for q in queries {
        if let Err(e) = f(q.clone()).await
            && let Some(prev) = last.replace(e)
        {
            eprintln!("berth: error: {prev}");
        }
    }
    last.map_or(Ok(()), Err)
}

/// The signal that stops `c`: its `--stop-signal` or its image's `StopSignal`, else SIGTERM.
pub fn stop_signal(c: &Container) -> Result<i32> {
    match &config(c)["stop_signal"] {
        serde_json::Value::String(s) if !s.is_empty() => parse_signal(s),
        serde_json::Value::Number(n) => parse_signal(&n.to_string()),
        _ => Ok(libc::SIGTERM),
    }
}

/// `c` once its monitor is no longer waiting to restart it (it restarted it, or gave up: it
/// was stopped by the user), or its monitor has gone.
async fn settled(ctx: &Context, c: &Container) -> Result<Container> {
    let mut c = c.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(70);
    while c.restarting && c.state != State::Running && std::time::Instant::now() < deadline {
        let monitor = c
            .monitor_pid
            .and_then(berth_store::containers::process_identity);
        if monitor.is_none() || monitor != c.monitor_identity {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        match ctx.store.container(&c.id).await? {
            Some(now) => c = now,
            None => break,
        }
    }
    Ok(c)
}

/// Stop a running `c` as Docker does: its stop signal, then SIGKILL after `time` seconds
/// (default: its `--stop-timeout`, else 10; negative: never), and wait for the exit. It is
/// marked stopped by the user first, so that its `--restart` policy does not run it again.
pub async fn stop_one(ctx: &Context, c: &Container, time: Option<i64>) -> Result<()> {
    ctx.store.container_stopped_by_user(&c.id, true).await?;
    let c = &settled(ctx, c).await?;
    if c.state != State::Running {
        return Ok(());
    }
    let time = time
        .or_else(|| config(c)["stop_timeout"].as_i64())
        .unwrap_or(10);
    // A frozen container could not act on its stop signal: thawed first.
    super::pause::thaw_for_signal(ctx, c).await?;
    let sig = stop_signal(c)?;
    signal(c, sig)?;
    super::events::emit_container(ctx, "kill", &c.id, &[("signal", sig.to_string())]).await;
    let deadline = u64::try_from(time)
        .ok()
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t));
    if wait_exit(ctx, &c.id, deadline).await?.is_none() {
        signal(c, libc::SIGKILL)?;
        super::events::emit_container(ctx, "kill", &c.id, &[("signal", libc::SIGKILL.to_string())])
            .await;
        wait_exit(ctx, &c.id, None).await?;
    }
    super::events::emit_container(ctx, "stop", &c.id, &[]).await;
    Ok(())
}

/// Run `berth stop`.
pub async fn stop(args: StopArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let time = args.time;
    each(&args.containers, |q| async move {
        let c = liveness::find(ctx, &q).await?;
        stop_one(ctx, &c, time).await?;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth kill`.
pub async fn kill(args: KillArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let sig = parse_signal(&args.signal)?;
    each(&args.containers, |q| async move {
        let c = liveness::find(ctx, &q).await?;
        // Ended by the user, as with `stop`: not restarted (a signal it may survive, such as
        // SIGHUP, leaves its `--restart` policy be).
        if sig == libc::SIGKILL || sig == stop_signal(&c)? {
            ctx.store.container_stopped_by_user(&c.id, true).await?;
        }
        signal(&c, sig)?;
        super::events::emit_container(ctx, "kill", &c.id, &[("signal", sig.to_string())]).await;
        // As Docker does: SIGKILL ends a paused container (thawed so that it can die); other
        // signals wait, pending, for `unpause`.
        if sig == libc::SIGKILL {
            super::pause::thaw_for_signal(ctx, &c).await?;
        }
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth wait`.
pub async fn wait(args: WaitArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        let c = liveness::find(ctx, &q).await?;
        let code = wait_exit(ctx, &c.id, None).await?.unwrap_or(0);
        println!("{code}");
        Ok(())
    })
    .await
}
