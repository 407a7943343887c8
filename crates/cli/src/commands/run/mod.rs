//! `berth run IMAGE [COMMAND...]`: pull the image if it is not local, stack its layers into an
//! overlay root filesystem, run the command in an isolated container in the foreground, record
//! the container, and exit with the container's exit code.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use berth_engine::containers::create::CreateRequest;
use berth_engine::model::{ContainerConfig, HostConfig, RestartPolicyName};
use berth_runtime::engine::Stdio;
use berth_runtime::rootfs;
use berth_runtime::spec::ContainerSpec;

use super::context::{Context, host_platform};
use super::pull::{Output, pull};
use super::volumes::populate_mounts;

pub(crate) mod flags;
mod options;
mod record;
mod supervise;

pub use flags::{ContainerFlags, RunOnlyFlags};
use options::{parse_bytes, security_options};
pub use record::{complete_spec, record, runtime_path, spec_of};
pub use supervise::{Backoff, detach, finish, supervise};

/// `berth run`
#[derive(clap::Args)]
pub struct RunArgs {
    /// Run the container in the background and print its id.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open and connect it to the container (without it, the container's stdin
    /// is empty).
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal (a pseudo-terminal with this terminal's window size).
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Restart policy: `no`, `always`, `unless-stopped`, `on-failure[:N]` (at most N
    /// restarts). Detached containers only, while their monitor lives: berth has no daemon,
    /// so foreground runs are not restarted and nothing restarts after a reboot.
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Name the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=value, or KEY to copy it from here).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=value lines; `#` comments); before `-e`.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// The signal `stop` sends (default: the image's `StopSignal`, else SIGTERM).
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits for the container before SIGKILL (default 10).
    #[arg(long, allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Give the container every capability, no seccomp filter and the host's devices.
    #[arg(long)]
    pub privileged: bool,
    /// Run an init as the container's first process, to forward signals and reap zombies.
    #[arg(long)]
    pub init: bool,
    /// Override the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User to run as: name|uid[:group|gid], names from the image's /etc/passwd and /etc/group.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Bind mount a volume: HOST_PATH:CONTAINER_PATH[:ro|rw], NAME:CONTAINER_PATH[:ro|rw], or
    /// CONTAINER_PATH (a new anonymous volume).
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs: CONTAINER_PATH[:OPTIONS] (`/run:size=64m,exec`).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Network: `none` (a namespace with only lo, the default) or `host`; `bridge`, a
    /// network's name and `container:NAME` are accepted and refused at start until berth has
    /// networks.
    #[arg(long, default_value = "none")]
    pub network: String,
    /// Container hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit: bytes, or a number with a b, k, m or g suffix (`32m`).
    #[arg(short, long, value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// Number of CPUs the container may use (`0.5`: half of one).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Maximum number of processes in the container (-1: unlimited).
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Add a Linux capability to Docker's default set (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability from the set (`CHOWN` or `CAP_CHOWN`; `ALL`).
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Security options: `seccomp=unconfined` (no seccomp filter), `seccomp=PROFILE.json`
    /// (a Docker seccomp profile instead of the default one), `no-new-privileges`.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// An external OCI runtime (e.g. runc, crun) instead of berth's own engine.
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// The flags `run` shares with `create`.
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// The flags only `run` has.
    #[command(flatten)]
    pub run_flags: RunOnlyFlags,
    /// The image.
    pub image: String,
    /// The command and its arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The container's exit code, carried to `main` so berth exits with it (and prints nothing).
#[derive(Debug)]
pub struct ContainerExit(pub i32);

impl std::fmt::Display for ContainerExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "container exited with {}", self.0)
    }
}

impl std::error::Error for ContainerExit {}

/// Run `berth run`.
pub async fn run(args: RunArgs) -> Result<()> {
    run_or_create(args, false).await
}

/// Run `berth create`: the container is made (image pulled, volumes created, record written)
/// as by `run`, its id printed, and it is left in the created state for `start`.
pub async fn create(args: RunArgs) -> Result<()> {
    run_or_create(args, true).await
}

async fn run_or_create(args: RunArgs, create_only: bool) -> Result<()> {
    let security = security_options(&args.security_opt)?;
    let restart =
        berth_engine::model::RestartPolicy::parse(&args.restart).map_err(anyhow::Error::msg)?;
    if args.rm && restart.name != RestartPolicyName::No {
        bail!("Conflicting options: --restart and --rm");
    }
    let ctx = Context::open().await?;
    let policy = args.flags.pull_policy().map_err(anyhow::Error::msg)?;
    let platform = args
        .flags
        .platform()
        .map_err(anyhow::Error::msg)?
        .unwrap_or_else(host_platform);
    let output = if args.flags.quiet {
        Output::Quiet
    } else {
        Output::Stderr
    };
    let local = match policy {
        flags::PullPolicy::Always => None,
        _ => ctx.find_image(&args.image).await.ok(),
    };
    let image = match local {
        Some(img) => img,
        None if policy == flags::PullPolicy::Never => {
            bail!("No such image: {} (--pull never)", args.image)
        }
        None => {
            let r = ctx.reference(&args.image)?;
            if policy != flags::PullPolicy::Always && !args.flags.quiet {
                let shown = r
                    .clone()
                    .with_default_tag()
                    .familiar_name(&ctx.config.default_registry);
                let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
                match &r.digest {
                    Some(d) => eprintln!("Unable to find image '{shown}@{d}' locally"),
                    None => eprintln!("Unable to find image '{shown}:{tag}' locally"),
                }
            }
            let id = pull(&ctx, &r, &platform, output).await?;
            ctx.store
                .image(&id)
                .await?
                .context("the pulled image is not in the store")?
        }
    };
    // Docker's Config and HostConfig as asked; the engine merges the image's in.
    let mut config = ContainerConfig {
        hostname: args.hostname.clone().unwrap_or_default(),
        image: args.image.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        cmd: args.command.clone(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        user: args.user.clone().unwrap_or_default(),
        stop_signal: args.stop_signal.clone().filter(|s| !s.is_empty()),
        stop_timeout: args.stop_timeout,
        ..ContainerConfig::default()
    };
    // The env files', then -e's, later ones replacing earlier ones (over the image's).
    for file in &args.env_file {
        for e in super::envfile::parse_env_file(file)? {
            super::envfile::set_env(&mut config.env, e);
        }
    }
    for e in &args.env {
        match e.split_once('=') {
            Some(_) => super::envfile::set_env(&mut config.env, e.clone()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    super::envfile::set_env(&mut config.env, format!("{e}={v}"));
                }
            }
        }
    }
    let mut host = HostConfig {
        binds: args.volume.clone(),
        network_mode: args.network.parse().map_err(anyhow::Error::msg)?,
        restart_policy: restart,
        auto_remove: args.rm,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        readonly_rootfs: args.read_only,
        security_opt: security.stored,
        runtime: args
            .runtime
            .as_ref()
            .map_or("berth".to_string(), |r| r.display().to_string()),
        init: Some(args.init),
        ..HostConfig::default()
    };
    for t in &args.tmpfs {
        let (target, options) = t.split_once(':').unwrap_or((t, ""));
        host.tmpfs.insert(target.to_string(), options.to_string());
    }
    host.resources.memory = args.memory.map_or(0, |m| m as i64);
    host.resources.nano_cpus = args.cpus.map_or(0, |c| (c * 1e9).round() as i64);
    host.resources.pids_limit = args.pids_limit;
    args.flags
        .apply(&mut config, &mut host)
        .map_err(anyhow::Error::msg)?;
    flags::check(&host).map_err(anyhow::Error::msg)?;
    args.flags
        .endpoint(&host.network_mode)
        .map_err(anyhow::Error::msg)?;
    args.run_flags.detach_keys().map_err(anyhow::Error::msg)?;
    let streams = args
        .flags
        .attach(args.interactive, args.detach)
        .map_err(anyhow::Error::msg)?;
    (
        config.attach_stdin,
        config.attach_stdout,
        config.attach_stderr,
    ) = (streams.stdin, streams.stdout, streams.stderr);
    let request = CreateRequest {
        name: args.name.clone(),
        config,
        entrypoint: args.entrypoint.as_ref().map(|e| match e.is_empty() {
            true => vec![],
            false => vec![e.clone()],
        }),
        host_config: host,
    };
    let created = ctx.create(&image, request).await?;
    let stored = created.record;
    let mut spec = spec_of(&stored, &created.id, PathBuf::new())?;
    let layers = stored.layers.clone();
    let record = ctx
        .store
        .container(&created.id)
        .await?
        .context("the container is not recorded")?;
    if !stored.host_config.container_id_file.is_empty() {
        options::write_cidfile(&stored.host_config.container_id_file, &record.id)?;
    }

    if create_only {
        println!("{}", record.id);
        return Ok(());
    }
    if args.detach {
        detach(&ctx, &record.id).await?;
        println!("{}", record.id);
        return Ok(());
    }
    // This process supervises the run: a record it leaves "running" when killed is reconciled.
    ctx.store
        .container_monitor(&record.id, i64::from(std::process::id()))
        .await?;

    let fs = rootfs::mount(&ctx.config.root, &record.id, &layers)?;
    spec.rootfs = fs.merged.clone();
    let ready = complete_spec(&mut spec, &fs.dir, &stored)
        .and_then(|()| Ok(populate_mounts(&ctx.config.root, &spec)?));
    let result = match ready {
        Ok(()) => match attach(&args, &spec, &stored.config) {
            Ok((stdio, terminal)) => {
                let status = supervise(
                    &ctx,
                    &record.id,
                    args.runtime.as_deref(),
                    spec,
                    stdio,
                    args.run_flags.sig_proxy(),
                )
                .await;
                if let Some(terminal) = terminal {
                    terminal.finish().await;
                }
                status
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let code = match &result {
        Ok(status) => status.code(),
        Err(_) => 127,
    };
    finish(&ctx, &record.id, &fs.dir, args.rm, code).await?;
    result.with_context(|| format!("cannot run container {}", &record.id[..12]))?;
    if code != 0 {
        return Err(ContainerExit(code).into());
    }
    Ok(())
}

/// The foreground container's stdio: a terminal with `-t`; else berth's own streams where
/// attached (`-a`; stdin only with `-i`), `/dev/null` elsewhere.
fn attach(
    args: &RunArgs,
    spec: &ContainerSpec,
    config: &berth_engine::model::ContainerConfig,
) -> Result<(Stdio, Option<super::tty::Terminal>)> {
    if !spec.terminal {
        let null = |attached: bool| -> Result<Option<std::os::fd::OwnedFd>> {
            Ok(match attached {
                true => None,
                false => Some(
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open("/dev/null")?
                        .into(),
                ),
            })
        };
        return Ok((
            Stdio {
                stdin: null(config.attach_stdin)?,
                stdout: null(config.attach_stdout)?,
                stderr: null(config.attach_stderr)?,
                ..Stdio::default()
            },
            None,
        ));
    }
    let (console, terminal) = super::tty::attach(args.interactive)?;
    let stdio = Stdio {
        console: Some(console),
        ..Stdio::default()
    };
    Ok((stdio, Some(terminal)))
}
