//! `berth exec [-d] [-i] [-t] [-e K=V] [-w DIR] [-u USER] [--privileged] CONTAINER COMMAND...`:
//! run a command in a running container, as Docker does: the container's environment (plus
//! `-e`), working directory, user, capabilities and confinement unless overridden; berth exits
//! with the command's code (126 when it cannot be executed, 127 when it is not found). With
//! `-t` the command gets a terminal made in the container's devpts, as `run -t` does.

use anyhow::{Context as _, Result};
use berth_runtime::engine::Stdio;
use tokio::signal::unix::{SignalKind, signal};

use super::context::Context;
use super::run::ContainerExit;

/// `berth exec`
#[derive(clap::Args)]
pub struct ExecArgs {
    /// Run the command in the background (print nothing).
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open (it is always inherited; with -t, it is forwarded to the terminal).
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal (a pseudo-terminal with this terminal's window size).
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables (KEY=value, or KEY to copy it from here).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container (default: the container's).
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User to run as: name|uid[:group|gid] (default: the container's).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give the command every capability.
    #[arg(long)]
    pub privileged: bool,
    /// The container (name or id).
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The exit code Docker gives a command `exec` cannot start: 127 not found, 126 otherwise.
fn exec_failure_code(error: &berth_runtime::error::Error) -> Option<i32> {
    match error {
        berth_runtime::error::Error::Exec { source, .. } => Some(match source.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => 127,
            _ => 126,
        }),
        _ => None,
    }
}

/// Run `berth exec`.
pub async fn exec(args: ExecArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = ctx.store.find_container(&args.container).await?;
    let mut env = vec![];
    for e in &args.env {
        match e.split_once('=') {
            Some(_) => env.push(e.clone()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    env.push(format!("{e}={v}"));
                }
            }
        }
    }
    let opts = berth_engine::containers::exec::ExecOptions {
        cmd: args.command.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        privileged: args.privileged,
    };
    let prepared = ctx.prepare_exec(&c, &opts).map_err(|e| match e {
        berth_engine::Error::Conflict(_) => {
            anyhow::anyhow!("{}", e.to_string().replacen(&c.name, &args.container, 1))
        }
        e => e.into(),
    })?;
    let (engine, target, process) = (prepared.runtime, prepared.target, prepared.process);
    let action = format!("exec_start: {}", args.command.join(" "));
    ctx.emit_container(&action, &c.id, &[]).await;
    let name = args.container.clone();
    let failed = move |e: berth_runtime::error::Error| -> anyhow::Error {
        if let Some(code) = exec_failure_code(&e) {
            eprintln!("berth: error: {e}");
            return ContainerExit(code).into();
        }
        if matches!(e, berth_runtime::error::Error::NotRunning { .. }) {
            return anyhow::anyhow!("container {name} is not running");
        }
        anyhow::Error::new(e).context(format!("cannot exec in container {}", &c.id[..12]))
    };

    if args.detach {
        let stdio = Stdio {
            stdin: Some(std::fs::File::open("/dev/null")?.into()),
            stdout: Some(std::fs::File::create("/dev/null")?.into()),
            stderr: Some(std::fs::File::create("/dev/null")?.into()),
            ..Stdio::default()
        };
        return tokio::task::spawn_blocking(move || engine.exec_detached(&target, &process, stdio))
            .await?
            .map_err(failed);
    }

    let (stdio, terminal) = if args.tty {
        let (console, terminal) = super::tty::attach(args.interactive)?;
        let stdio = Stdio {
            console: Some(console),
            ..Stdio::default()
        };
        (stdio, Some(terminal))
    } else {
        (Stdio::inherit(), None)
    };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let mut run = tokio::task::spawn_blocking(move || {
        engine.exec(
            &target,
            &process,
            stdio,
            Some(Box::new(move |pid| {
                let _ = tx.send(pid);
            })),
        )
    });
    let (mut waiting, mut pid) = (true, None);
    let forward = |pid: Option<u32>, sig: i32| {
        if let Some(pid) = pid {
            // SAFETY: plain kill(2) of the exec'd process, our own child.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    };
    let result = loop {
        tokio::select! {
            r = &mut run => break r.context("the exec task failed")?,
            p = rx.recv(), if waiting => {
                waiting = false;
                pid = p;
            }
            _ = sigint.recv() => forward(pid, libc::SIGINT),
            _ = sigterm.recv() => forward(pid, libc::SIGTERM),
        }
    };
    if let Some(terminal) = terminal {
        terminal.finish().await;
    }
    let code = result.map_err(failed)?.code();
    if code != 0 {
        return Err(ContainerExit(code).into());
    }
    Ok(())
}
