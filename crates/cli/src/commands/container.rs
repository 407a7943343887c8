//! `berth rm`, `stop`, `kill` and `wait` (`ps` lives in `ps.rs`): the container records as
//! Docker shows them and the signals that end them. Records are reconciled with their
//! processes first (`liveness`).

use anyhow::Result;
use berth_store::{Container, State};
use serde_json::json;

use super::context::{Context, human_ago};
use super::liveness;

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
            let health = match c.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)".to_string(),
                Some(s) => format!(" ({s})"),
                None => String::new(),
            };
            format!("Up {}{paused}{health}", up.trim_end_matches(" ago"))
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
    let record = super::run::record(c).unwrap_or_default();
    let network = match record.host_config.network_mode.to_string().as_str() {
        "default" => "none".to_string(),
        other => other.to_string(),
    };
    let mut out = json!({
        "Id": c.id,
        "Created": rfc3339(Some(c.created_at)),
        "Path": c.command.first().cloned().unwrap_or_default(),
        "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": state_name(c),
            "Running": c.state == State::Running,
            "Paused": c.paused,
            "Restarting": c.restarting && c.state != State::Running,
            "OOMKilled": c.oom_killed,
            "Dead": false,
            "Pid": c.pid.unwrap_or(0),
            "ExitCode": c.exit_code.unwrap_or(0),
            "Error": "",
            "StartedAt": rfc3339(c.started_at),
            "FinishedAt": rfc3339(c.finished_at),
        },
        "Image": c.image_id,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "Config": record.config,
        "HostConfig": record.host_config,
        "Mounts": record.mount_points,
        "NetworkSettings": {
            "Ports": {},
            "Networks": { network: {} },
        },
    });
    // As Docker: no `Health` without a health check.
    if let Some(h) = &c.health {
        out["State"]["Health"] = json!({
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": serde_json::from_str::<serde_json::Value>(&h.log).unwrap_or_else(|_| json!([])),
        });
    }
    out
}

/// Run `berth rm`.
pub async fn rm(args: RmArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let (force, with_volumes) = (args.force, args.volumes);
    each(&args.containers, |q| async move {
        ctx.remove(&q, force, with_volumes).await?;
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
    /// What to wait for: `not-running` (the default: returns at once for a stopped
    /// container), `next-exit` (the next exit, even of a container stopped now) or `removed`
    /// (until the container is removed; prints its last exit code).
    #[arg(long, default_value = "not-running")]
    pub condition: String,
    /// Containers to wait for (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub use berth_engine::containers::lifecycle::parse_signal;

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

/// Run `berth stop`.
pub async fn stop(args: StopArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    let time = args.time;
    each(&args.containers, |q| async move {
        ctx.stop(&q, time).await?;
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
        ctx.kill(&q, sig).await?;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth wait`.
pub async fn wait(args: WaitArgs) -> Result<()> {
    // Before anything is looked up: an exit after this moment is a "next" one.
    let since = now_nanos();
    let condition = match args.condition.as_str() {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => anyhow::bail!("invalid condition: {other:?}"),
    };
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        let code = match condition {
            Condition::NotRunning => ctx.wait(&q).await?,
            Condition::NextExit => next_exit(ctx, &q, since).await?,
            Condition::Removed => removed(ctx, &q).await?,
        };
        println!("{code}");
        Ok(())
    })
    .await
}

/// `wait --condition`.
#[derive(Clone, Copy)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(50);

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The first `die` event of container `id` in the journal at or after `since` (Unix
/// nanoseconds): its exit code.
fn died_since(ctx: &Context, id: &str, since: i64) -> Option<i64> {
    let mut filter = berth_engine::events::EventFilter {
        since_nano: Some(since),
        ..Default::default()
    };
    filter
        .filters
        .insert("type".into(), vec!["container".into()]);
    filter.filters.insert("event".into(), vec!["die".into()]);
    filter.filters.insert("container".into(), vec![id.into()]);
    let events = berth_engine::events::journal(&ctx.config.root)
        .read(&filter)
        .ok()?;
    events.iter().find(|e| e.actor.id == id).map(|e| {
        e.actor
            .attributes
            .get("exitCode")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
}

/// `--condition next-exit`: the next exit of container `query` after `since`, even if it is
/// stopped now. An exit is seen in the event journal (its `die` event, so a start and exit
/// faster than the polling is never missed), or in the record: a running container seen
/// exited, or a later `finished_at`. A container removed meanwhile ends the wait too.
async fn next_exit(ctx: &Context, query: &str, since: i64) -> Result<i64> {
    let first = liveness::find(ctx, query).await?;
    let id = first.id.clone();
    let mut seen_running = first.state == State::Running;
    let mut last_code = first.exit_code.unwrap_or(0);
    loop {
        if let Some(code) = died_since(ctx, &id, since) {
            return Ok(code);
        }
        let c = match ctx.store.container(&id).await? {
            Some(c) => liveness::reconcile(ctx, c).await?,
            None => None,
        };
        let Some(c) = c else {
            // Removed: its die event may have been written just before.
            return Ok(died_since(ctx, &id, since).unwrap_or(last_code));
        };
        last_code = c.exit_code.unwrap_or(last_code);
        let later_finish = c
            .finished_at
            .is_some_and(|f| first.finished_at.is_none_or(|f0| f > f0));
        if c.state != State::Running && (seen_running || later_finish) {
            return Ok(died_since(ctx, &id, since).unwrap_or(c.exit_code.unwrap_or(0)));
        }
        seen_running |= c.state == State::Running;
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// `--condition removed`: until container `query` is gone; its last exit code.
async fn removed(ctx: &Context, query: &str) -> Result<i64> {
    let first = liveness::find(ctx, query).await?;
    let mut code = first.exit_code.unwrap_or(0);
    loop {
        match ctx.store.container(&first.id).await? {
            Some(c) => {
                if let Some(c) = liveness::reconcile(ctx, c).await?
                    && c.state != State::Running
                {
                    code = c.exit_code.unwrap_or(code);
                }
            }
            None => return Ok(code),
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}
