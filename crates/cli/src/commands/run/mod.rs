//! `berth run IMAGE [COMMAND...]`: pull the image if it is not local, stack its layers into an
//! overlay root filesystem, run the command in an isolated container in the foreground, record
//! the container, and exit with the container's exit code.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use berth_engine::model::{
    ContainerConfig, HostConfig, NetworkMode, RECORD_VERSION, Record, RestartPolicyName,
};
use berth_oci::ParsedManifest;
use berth_runtime::engine::Stdio;
use berth_runtime::rootfs::{self, LayerCache};
use berth_runtime::spec::ContainerSpec;
use berth_store::containers::random_name;

use super::context::{Context, host_platform};
use super::pull::{Output, pull};
use super::volumes::populate_mounts;

pub(crate) mod flags;
mod options;
mod record;
mod supervise;

pub use flags::{ContainerFlags, RunOnlyFlags};
use options::{image_volumes, parse_bytes, parse_tmpfs, parse_volume, security_options};
pub(crate) use record::random_hex;
pub use record::{complete_spec, record, runtime_path, spec_of, strings};
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
    let cfg: serde_json::Value =
        serde_json::from_slice(&ctx.store.blobs().read(&image.record.id)?)?;
    let c = cfg.get("config");
    let entrypoint = match &args.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => strings(c.and_then(|c| c.get("Entrypoint"))),
    };
    let cmd = if !args.command.is_empty() {
        args.command.clone()
    } else if args.entrypoint.is_some() {
        vec![]
    } else {
        strings(c.and_then(|c| c.get("Cmd")))
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        bail!("no command specified");
    }

    // Layers, unpacked once and shared.
    let manifest = ctx.store.blobs().read(&image.record.manifest)?;
    let parsed = ParsedManifest::parse(&manifest, &image.record.manifest_media_type)?;
    let cache = LayerCache::open(&ctx.config.root)?;
    let mut layers = vec![];
    for l in &parsed.blobs[1..] {
        let (cache, digest, blob) = (
            cache.clone(),
            l.digest.clone(),
            ctx.store.blobs().path(&l.digest),
        );
        layers.push(tokio::task::spawn_blocking(move || cache.ensure(&digest, &blob)).await??);
    }

    let id = random_hex(32);
    // Docker's Config: the image's defaults merged with what was asked.
    let mut config = ContainerConfig {
        hostname: args
            .hostname
            .clone()
            .unwrap_or_else(|| id[..12].to_string()),
        image: args.image.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        env: strings(c.and_then(|c| c.get("Env"))),
        labels: super::filter::labels_of(&cfg),
        ..ContainerConfig::default()
    };
    if let Some(e) = args.entrypoint.as_ref() {
        config.entrypoint = if e.is_empty() {
            vec![]
        } else {
            vec![e.clone()]
        };
        config.cmd = args.command.clone();
    } else {
        config.entrypoint = strings(c.and_then(|c| c.get("Entrypoint")));
        config.cmd = argv[config.entrypoint.len()..].to_vec();
    }
    // Docker: the image's, then the env files', then -e's, later ones replacing earlier ones.
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
    config.stop_signal = args
        .stop_signal
        .clone()
        .or_else(|| {
            c.and_then(|c| c.get("StopSignal"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty());
    if let Some(s) = &config.stop_signal {
        super::container::parse_signal(s)?;
    }
    config.stop_timeout = args.stop_timeout;
    config.working_dir = args
        .workdir
        .clone()
        .or_else(|| {
            c.and_then(|c| c.get("WorkingDir"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    config.user = args
        .user
        .clone()
        .or_else(|| {
            c.and_then(|c| c.get("User"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    if let Some(v) = c.and_then(|c| c.get("Volumes")).and_then(|v| v.as_object()) {
        config.volumes = v.keys().map(|k| (k.clone(), Default::default())).collect();
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
    host.resources.memory = args.memory.map_or(0, |m| m as i64);
    host.resources.nano_cpus = args.cpus.map_or(0, |c| (c * 1e9).round() as i64);
    host.resources.pids_limit = args.pids_limit;
    if let Some(h) = c
        .and_then(|c| c.get("Healthcheck"))
        .filter(|h| !h.is_null())
    {
        config.healthcheck = serde_json::from_value(h.clone()).ok();
    }
    if let Some(p) = c
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(|v| v.as_object())
    {
        config.exposed_ports = p.keys().map(|k| (k.clone(), Default::default())).collect();
    }
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
    if !matches!(
        host.network_mode,
        NetworkMode::None | NetworkMode::Host | NetworkMode::Default
    ) {
        bail!(
            "--network {}: berth has no container networks yet (use none or host)",
            host.network_mode
        );
    }
    let mut mount_points = vec![];
    for v in &args.volume {
        mount_points.push(parse_volume(&ctx.config.root, v)?);
    }
    for t in &args.tmpfs {
        let point = parse_tmpfs(t)?;
        host.tmpfs
            .insert(point.destination.clone(), point.tmpfs_options.clone());
        mount_points.push(point);
    }
    for m in &host.mounts {
        mount_points.push(options::mount_point(&ctx.config.root, m)?);
    }
    for from in &host.volumes_from {
        mount_points.extend(options::volumes_from(&ctx, from).await?);
    }
    let from_image = image_volumes(&ctx.config.root, c, &mount_points)?;
    mount_points.extend(from_image);
    let stored = Record {
        version: RECORD_VERSION,
        config,
        host_config: host,
        mount_points,
        layers,
    };
    // Checked now (cpus, seccomp profile, namespaces), so that nothing is recorded that
    // cannot start.
    let mut spec = spec_of(&stored, &id, PathBuf::new())?;
    let config = stored.to_json();
    let layers = stored.layers.clone();
    let mut name = args
        .name
        .clone()
        .unwrap_or_else(|| random_name(u64::from_str_radix(&id[..15], 16).unwrap()));
    let record = loop {
        match ctx
            .store
            .create_container(
                &id,
                &name,
                &args.image,
                &image.record.id.to_string(),
                &argv,
                &config,
            )
            .await
        {
            Err(berth_store::Error::NameInUse(_)) if args.name.is_none() => {
                name = random_name(u64::from_str_radix(&random_hex(7), 16).unwrap());
            }
            Err(e) => {
                // The anonymous volumes made for it would be nobody's.
                let names = stored.volumes();
                super::volumes::remove_anonymous(&ctx.config.root, &names, &[])?;
                return Err(e.into());
            }
            Ok(record) => break record,
        }
    };
    super::events::emit_container(&ctx, "create", &record.id, &[]).await;
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
