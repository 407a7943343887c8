//! `berth ps` and `berth rm`: the container records as Docker shows them.

use anyhow::{Result, bail};
use berth_store::{Container, State};
use serde_json::json;

use super::context::{Context, human_ago, print_table};

/// `berth ps`
#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only show container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `json` (one object per line) or `table`.
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth rm`
#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove a running container too.
    #[arg(short, long)]
    pub force: bool,
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

/// "Exited (0) 5 seconds ago", "Up 3 minutes", "Created", as Docker words them.
pub fn status(c: &Container) -> String {
    match c.state {
        State::Created => "Created".into(),
        State::Running => {
            let up = human_ago(now() - c.started_at.unwrap_or(c.created_at));
            format!("Up {}", up.trim_end_matches(" ago"))
        }
        State::Exited => format!(
            "Exited ({}) {}",
            c.exit_code.unwrap_or(0),
            human_ago(now() - c.finished_at.unwrap_or(c.created_at))
        ),
    }
}

/// The command as `ps` shows it: quoted, cut to 20 characters like Docker.
fn command(c: &Container) -> String {
    let full = c.command.join(" ");
    let cut: String = if full.chars().count() > 20 {
        full.chars().take(19).collect::<String>() + "…"
    } else {
        full
    };
    format!("\"{cut}\"")
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

/// Docker's container inspect JSON (the fields berth knows).
pub fn inspect_json(c: &Container) -> serde_json::Value {
    json!({
        "Id": c.id,
        "Created": rfc3339(Some(c.created_at)),
        "Path": c.command.first().cloned().unwrap_or_default(),
        "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": c.state.as_str(),
            "Running": c.state == State::Running,
            "Pid": c.pid.unwrap_or(0),
            "ExitCode": c.exit_code.unwrap_or(0),
            "StartedAt": rfc3339(c.started_at),
            "FinishedAt": rfc3339(c.finished_at),
        },
        "Image": c.image_id,
        "Name": format!("/{}", c.name),
        "Config": { "Image": c.image, "Cmd": c.command },
    })
}

/// Run `berth ps`.
pub async fn ps(args: PsArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let list: Vec<Container> = ctx
        .store
        .containers()
        .await?
        .into_iter()
        .filter(|c| args.all || c.state == State::Running)
        .collect();
    if args.quiet {
        for c in &list {
            println!("{}", &c.id[..12]);
        }
        return Ok(());
    }
    match args.format.as_deref() {
        Some("json") => {
            for c in &list {
                let line = json!({
                    "ID": &c.id[..12], "Image": c.image, "Command": command(c),
                    "CreatedAt": c.created_at, "RunningFor": human_ago(now() - c.created_at),
                    "Status": status(c), "State": c.state.as_str(), "Names": c.name, "Ports": "",
                });
                println!("{line}");
            }
            return Ok(());
        }
        None | Some("table") => {}
        Some(f) => bail!("unsupported --format {f:?}: use json or table"),
    }
    let mut rows = vec![
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in &list {
        rows.push(vec![
            c.id[..12].to_string(),
            c.image.clone(),
            command(c),
            human_ago(now() - c.created_at),
            status(c),
            String::new(),
            c.name.clone(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

/// Run `berth rm`.
pub async fn rm(args: RmArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let mut last = None;
    for q in &args.containers {
        let result = async {
            let c = ctx.store.find_container(q).await?;
            if c.state == State::Running && !args.force {
                bail!("cannot remove container {q}: container is running: stop the container before removing or force remove");
            }
            let dir = ctx.config.root.join("containers").join("v1").join(&c.id);
            berth_runtime::rootfs::remove(&dir)?;
            ctx.store.remove_container(&c.id).await?;
            println!("{q}");
            Ok(())
        }
        .await;
        if let Err(e) = result
            && let Some(prev) = last.replace(e)
        {
            eprintln!("berth: error: {prev}");
        }
    }
    last.map_or(Ok(()), Err)
}

/// `berth stop`
#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(short, long, default_value_t = 10)]
    pub time: u64,
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

/// Wait until the container has exited (or `deadline` passes); its exit code, if it did.
async fn wait_exit(
    ctx: &Context,
    id: &str,
    deadline: Option<std::time::Instant>,
) -> Result<Option<i64>> {
    loop {
        match ctx.store.container(id).await? {
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
async fn each<F, Fut>(queries: &[String], f: F) -> Result<()>
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
        let c = ctx.store.find_container(&q).await?;
        if c.state == State::Running {
            signal(&c, libc::SIGTERM)?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(time);
            if wait_exit(ctx, &c.id, Some(deadline)).await?.is_none() {
                signal(&c, libc::SIGKILL)?;
                wait_exit(ctx, &c.id, None).await?;
            }
        }
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
        let c = ctx.store.find_container(&q).await?;
        signal(&c, sig)?;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth wait`.
pub async fn wait(args: WaitArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        let c = ctx.store.find_container(&q).await?;
        let code = wait_exit(ctx, &c.id, None).await?.unwrap_or(0);
        println!("{code}");
        Ok(())
    })
    .await
}
