//! `berth run IMAGE [COMMAND...]`: pull the image if it is not local, stack its layers into an
//! overlay root filesystem, run the command in an isolated container in the foreground, record
//! the container, and exit with the container's exit code.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use berth_oci::ParsedManifest;
use berth_runtime::engine::{ExitStatus, NativeRuntime, OciRuntime, Runtime, Stdio};
use berth_runtime::rootfs::{self, LayerCache};
use berth_runtime::spec::{ContainerSpec, Mount, MountKind};
use berth_store::containers::random_name;
use tokio::signal::unix::{SignalKind, signal};

use super::context::{Context, host_platform};
use super::pull::{Output, pull};

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
    /// Bind mount a volume: HOST_PATH:CONTAINER_PATH[:ro|rw] or NAME:CONTAINER_PATH[:ro|rw].
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs: CONTAINER_PATH[:OPTIONS] (`/run:size=64m,exec`).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Network: `none` (a namespace with only lo, the default) or `host`.
    #[arg(long, default_value = "none", value_parser = ["none", "host"])]
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
    /// Security options: `seccomp=unconfined` (no seccomp filter), `no-new-privileges`.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// An external OCI runtime (e.g. runc, crun) instead of berth's own engine.
    #[arg(long)]
    pub runtime: Option<PathBuf>,
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

/// `32m`, `1g`, `512k`, `100b` or `100` (bytes), as Docker's `--memory` takes them.
fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (number, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(format!("invalid size {s:?}: use a b, k, m or g suffix")),
    };
    let n: u64 = number.parse().map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert_eq!(n, bytes as isize, "getrandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `name` is a valid volume name (`[A-Za-z0-9][A-Za-z0-9_.-]*`).
fn volume_name_ok(name: &str) -> bool {
    name.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `-v HOST:CTR[:ro|rw]` or `-v NAME:CTR[:ro|rw]`; a named volume's directory
/// (`<root>/volumes/v1/NAME/_data`) is created on first use and kept.
fn parse_volume(root: &Path, v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, options) = match parts[..] {
        [source, target] => (source, target, ""),
        [source, target, options] => (source, target, options),
        _ => bail!("invalid volume {v:?}: use SOURCE:TARGET[:ro|rw]"),
    };
    let mut readonly = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => bail!("invalid volume {v:?}: unknown option {option:?}"),
        }
    }
    if !target.starts_with('/') {
        bail!("invalid volume {v:?}: the container path must be absolute");
    }
    let source = if source.starts_with('/') {
        let path = PathBuf::from(source);
        if !path.exists() {
            bail!("invalid volume {v:?}: host path {source} does not exist");
        }
        path
    } else if volume_name_ok(source) {
        let data = root.join("volumes/v1").join(source).join("_data");
        std::fs::create_dir_all(&data).with_context(|| format!("cannot create volume {source}"))?;
        data
    } else {
        bail!("invalid volume {v:?}: {source:?} is neither an absolute path nor a volume name");
    };
    Ok(Mount {
        target: target.to_string(),
        kind: MountKind::Bind { source },
        readonly,
    })
}

/// `--tmpfs /path[:options]`.
fn parse_tmpfs(t: &str) -> Result<Mount> {
    let (target, options) = t.split_once(':').unwrap_or((t, ""));
    if !target.starts_with('/') {
        bail!("invalid tmpfs {t:?}: the container path must be absolute");
    }
    Ok(Mount {
        target: target.to_string(),
        kind: MountKind::Tmpfs {
            options: options.to_string(),
        },
        readonly: false,
    })
}

/// What needs the container's mounted root filesystem and directory: the user resolved in
/// the image's `/etc/passwd` and `/etc/group`, and `/etc/hostname`, `/etc/hosts` and
/// `/etc/resolv.conf` written into `dir` and bound over the image's.
pub fn complete_spec(spec: &mut ContainerSpec, dir: &Path, user: &str) -> Result<()> {
    let user = if user.is_empty() { "0" } else { user };
    let resolved = berth_runtime::user::resolve(&spec.rootfs, user)
        .map_err(|e| anyhow::anyhow!("user {user:?}: {e}"))?;
    (spec.uid, spec.gid, spec.groups) = (resolved.uid, resolved.gid, resolved.groups);
    std::fs::create_dir_all(dir)?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
        spec.hostname
    );
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let files: [(&str, Vec<u8>); 3] = [
        ("hostname", format!("{}\n", spec.hostname).into_bytes()),
        ("hosts", hosts.into_bytes()),
        ("resolv.conf", resolv),
    ];
    for (name, contents) in files {
        let target = format!("/etc/{name}");
        // An image whose /etc or file there is a symlink keeps its own (it is never followed).
        if berth_runtime::safepath::prepare(
            &spec.rootfs,
            &target,
            berth_runtime::safepath::Kind::File,
        )
        .is_err()
        {
            continue;
        }
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("cannot write {name}"))?;
        // Bound first, so the user's own -v over them wins.
        spec.mounts.insert(
            0,
            Mount {
                target,
                kind: MountKind::Bind { source: path },
                readonly: false,
            },
        );
    }
    Ok(())
}

/// Run `berth run`.
/// `--security-opt` values as (seccomp, no_new_privileges) on top of Docker's defaults.
fn security_options(opts: &[String]) -> Result<(bool, bool)> {
    let (mut seccomp, mut no_new_privileges) = (true, false);
    for opt in opts {
        // Docker also accepts the old `key:value` spelling.
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => seccomp = false,
            ("seccomp", other) => {
                bail!("--security-opt seccomp={other}: only 'unconfined' is supported")
            }
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => no_new_privileges = false,
            _ => bail!("unsupported --security-opt {opt:?}"),
        }
    }
    Ok((seccomp, no_new_privileges))
}

pub async fn run(args: RunArgs) -> Result<()> {
    let (seccomp, no_new_privileges) = security_options(&args.security_opt)?;
    let ctx = Context::open().await?;
    let image = match ctx.find_image(&args.image).await {
        Ok(img) => img,
        Err(_) => {
            let r = ctx.reference(&args.image)?;
            let shown = r
                .clone()
                .with_default_tag()
                .familiar_name(&ctx.config.default_registry);
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            match &r.digest {
                Some(d) => eprintln!("Unable to find image '{shown}@{d}' locally"),
                None => eprintln!("Unable to find image '{shown}:{tag}' locally"),
            }
            let id = pull(&ctx, &r, &host_platform(), Output::Stderr).await?;
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
    let mut spec = ContainerSpec::new(id.clone(), PathBuf::new(), argv.clone());
    spec.env = strings(c.and_then(|c| c.get("Env")));
    // Docker: the image's, then the env files', then -e's, later ones replacing earlier ones.
    for file in &args.env_file {
        for e in super::envfile::parse_env_file(file)? {
            super::envfile::set_env(&mut spec.env, e);
        }
    }
    for e in &args.env {
        match e.split_once('=') {
            Some(_) => super::envfile::set_env(&mut spec.env, e.clone()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    super::envfile::set_env(&mut spec.env, format!("{e}={v}"));
                }
            }
        }
    }
    let stop_signal = args
        .stop_signal
        .clone()
        .or_else(|| {
            c.and_then(|c| c.get("StopSignal"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty());
    if let Some(s) = &stop_signal {
        super::container::parse_signal(s)?;
    }
    if let Some(w) = args
        .workdir
        .clone()
        .or_else(|| {
            c.and_then(|c| c.get("WorkingDir"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .filter(|w| !w.is_empty())
    {
        spec.cwd = w;
    }
    if let Some(h) = &args.hostname {
        spec.hostname = h.clone();
    }
    let user = args.user.clone().or_else(|| {
        c.and_then(|c| c.get("User"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    let user = user.unwrap_or_default();
    for v in &args.volume {
        spec.mounts.push(parse_volume(&ctx.config.root, v)?);
    }
    for t in &args.tmpfs {
        spec.mounts.push(parse_tmpfs(t)?);
    }
    spec.readonly_rootfs = args.read_only;
    spec.host_network = args.network == "host";
    spec.memory = args.memory;
    spec.cpus = args.cpus;
    spec.pids_limit = args.pids_limit;
    spec.seccomp = seccomp;
    spec.no_new_privileges = no_new_privileges;
    let cap_name = |c: &String| {
        let upper = c.to_ascii_uppercase();
        if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        }
    };
    // Docker: drops first, then adds; ALL stands for every capability.
    for c in args.cap_drop.iter().map(cap_name) {
        if c == "CAP_ALL" {
            spec.capabilities.clear();
        } else {
            spec.capabilities.retain(|have| *have != c);
        }
    }
    for c in args.cap_add.iter().map(cap_name) {
        let added: Vec<String> = if c == "CAP_ALL" {
            (0..64)
                .filter_map(berth_runtime::spec::capability_name)
                .map(str::to_string)
                .collect()
        } else {
            vec![c]
        };
        for c in added {
            if !spec.capabilities.contains(&c) {
                spec.capabilities.push(c);
            }
        }
    }

    spec.terminal = args.tty;
    if args.privileged {
        // Docker: every capability whatever --cap-drop says, and no seccomp filter.
        spec.capabilities = (0..64)
            .filter_map(berth_runtime::spec::capability_name)
            .map(str::to_string)
            .collect();
        spec.seccomp = false;
        spec.privileged = true;
    }
    spec.init = args.init;
    // Everything a detached monitor needs to run the container again, without the CLI.
    let config = serde_json::json!({
        "rm": args.rm,
        "stop_signal": stop_signal,
        "stop_timeout": args.stop_timeout,
        "layers": layers,
        "runtime": args.runtime,
        "spec": spec_json(&spec),
        "user": user,
    })
    .to_string();
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
            other => break other?,
        }
    };

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
    let result = match complete_spec(&mut spec, &fs.dir, &user) {
        Ok(()) => match attach(&args, &spec) {
            Ok((stdio, terminal)) => {
                let status =
                    supervise(&ctx, &record.id, args.runtime.as_deref(), spec, stdio).await;
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

/// The foreground container's stdio: a terminal with `-t`, berth's own stdin only with `-i`.
fn attach(args: &RunArgs, spec: &ContainerSpec) -> Result<(Stdio, Option<super::tty::Terminal>)> {
    if !spec.terminal {
        let stdin = if args.interactive {
            None
        } else {
            Some(std::fs::File::open("/dev/null")?.into())
        };
        return Ok((
            Stdio {
                stdin,
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

/// Start `berth container-monitor ID` in its own session and wait until it has started the
/// container (or given up: the error says why).
pub async fn detach(ctx: &Context, id: &str) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("container-monitor")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the container monitor")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match ctx.store.container(id).await? {
            // Exited without ever starting: set-up or exec failed; the monitor logged why.
            Some(c) if c.state == berth_store::State::Exited && c.started_at.is_none() => {
                let log = std::fs::read_to_string(super::logs::log_path(&ctx.config.root, id))
                    .unwrap_or_default();
                let why = log
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|l| l["log"].as_str().map(str::to_string))
                    .find_map(|l| {
                        l.strip_prefix("berth: error: ")
                            .map(|e| e.trim().to_string())
                    })
                    .unwrap_or_else(|| "it exited before starting".into());
                bail!("cannot start container {}: {why}", &id[..12]);
            }
            Some(c) if c.state != berth_store::State::Created => break,
            None => break, // --rm and already gone
            _ if std::time::Instant::now() > deadline => {
                bail!("container {} did not start", &id[..12])
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    Ok(())
}

/// The engine `--runtime` names (berth's own by default).
pub fn engine(runtime: Option<&Path>, ctx: &Context) -> Box<dyn Runtime> {
    match runtime {
        Some(path) => Box::new(OciRuntime::new(
            path.to_path_buf(),
            ctx.config.root.join("runtime-state"),
            ctx.config.root.join("bundles"),
        )),
        None => Box::new(NativeRuntime::new()),
    }
}

/// Run the container to its end, recording its pid once it has started and forwarding
/// SIGINT and SIGTERM received here to it.
pub async fn supervise(
    ctx: &Context,
    id: &str,
    runtime: Option<&Path>,
    spec: ContainerSpec,
    stdio: Stdio,
) -> Result<ExitStatus> {
    // External runtimes tell the pid too (from their pid file): the record becomes running
    // once the container exists, so `exec` right after `run -d` finds it.
    let engine = engine(runtime, ctx);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let mut run = tokio::task::spawn_blocking(move || {
        engine.run_notify(
            &spec,
            stdio,
            Box::new(move |pid| {
                let _ = tx.send(pid);
            }),
        )
    });
    let (mut waiting, mut pid) = (true, None);
    let forward = |pid: Option<u32>, sig: i32| {
        if let Some(pid) = pid {
            // SAFETY: plain kill(2) of the container's first process.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    };
    let result = loop {
        tokio::select! {
            r = &mut run => break r?,
            p = rx.recv(), if waiting => {
                waiting = false;
                if let Some(p) = p {
                    pid = Some(p);
                    ctx.store.container_started(id, i64::from(p)).await?;
                }
            }
            _ = sigint.recv() => forward(pid, libc::SIGINT),
            _ = sigterm.recv() => forward(pid, libc::SIGTERM),
        }
    };
    // A container that ended at once: its start, if the engine told it, is recorded still
    // (the select above may have seen the end first).
    if let (true, Ok(p)) = (waiting, rx.try_recv()) {
        ctx.store.container_started(id, i64::from(p)).await?;
    }
    Ok(result?)
}

/// Record the exit and unmount the root filesystem (removing the container with `rm`).
pub async fn finish(ctx: &Context, id: &str, dir: &Path, rm: bool, code: i32) -> Result<()> {
    ctx.store.container_exited(id, i64::from(code)).await?;
    if rm {
        rootfs::remove(dir)?;
        ctx.store.remove_container(id).await?;
    } else {
        rootfs::unmount(dir)?;
    }
    Ok(())
}

/// The spec's fields as the container record's `config` keeps them.
fn spec_json(spec: &ContainerSpec) -> serde_json::Value {
    serde_json::json!({
        "args": spec.args,
        "env": spec.env,
        "cwd": spec.cwd,
        "hostname": spec.hostname,
        "uid": spec.uid,
        "gid": spec.gid,
        "capabilities": spec.capabilities,
        "no_new_privileges": spec.no_new_privileges,
        "seccomp": spec.seccomp,
        "memory": spec.memory,
        "cpus": spec.cpus,
        "pids_limit": spec.pids_limit,
        "readonly_rootfs": spec.readonly_rootfs,
        "host_network": spec.host_network,
        "terminal": spec.terminal,
        "privileged": spec.privileged,
        "init": spec.init,
        "mounts": spec.mounts.iter().map(|m| match &m.kind {
            MountKind::Bind { source } => serde_json::json!({
                "target": m.target, "bind": source, "readonly": m.readonly,
            }),
            MountKind::Tmpfs { options } => serde_json::json!({
                "target": m.target, "tmpfs": options, "readonly": m.readonly,
            }),
        }).collect::<Vec<_>>(),
    })
}

/// The spec a container record's `config` describes, on `rootfs`.
pub fn spec_from_config(id: &str, rootfs: PathBuf, config: &serde_json::Value) -> ContainerSpec {
    let s = &config["spec"];
    let mut spec = ContainerSpec::new(id, rootfs, strings(s.get("args")));
    spec.env = strings(s.get("env"));
    if let Some(cwd) = s["cwd"].as_str() {
        spec.cwd = cwd.to_string();
    }
    if let Some(h) = s["hostname"].as_str() {
        spec.hostname = h.to_string();
    }
    spec.uid = s["uid"].as_u64().unwrap_or(0) as u32;
    spec.gid = s["gid"].as_u64().unwrap_or(0) as u32;
    if s.get("capabilities").is_some() {
        spec.capabilities = strings(s.get("capabilities"));
    }
    spec.no_new_privileges = s["no_new_privileges"].as_bool().unwrap_or(false);
    spec.seccomp = s["seccomp"].as_bool().unwrap_or(true);
    spec.memory = s["memory"].as_u64();
    spec.cpus = s["cpus"].as_f64();
    spec.pids_limit = s["pids_limit"].as_i64();
    spec.readonly_rootfs = s["readonly_rootfs"].as_bool().unwrap_or(false);
    spec.host_network = s["host_network"].as_bool().unwrap_or(false);
    spec.terminal = s["terminal"].as_bool().unwrap_or(false);
    spec.privileged = s["privileged"].as_bool().unwrap_or(false);
    spec.init = s["init"].as_bool().unwrap_or(false);
    for m in s["mounts"].as_array().into_iter().flatten() {
        let kind = match (m["bind"].as_str(), m["tmpfs"].as_str()) {
            (Some(source), _) => MountKind::Bind {
                source: source.into(),
            },
            (None, Some(options)) => MountKind::Tmpfs {
                options: options.to_string(),
            },
            (None, None) => continue,
        };
        spec.mounts.push(Mount {
            target: m["target"].as_str().unwrap_or_default().to_string(),
            kind,
            readonly: m["readonly"].as_bool().unwrap_or(false),
        });
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, security_options};

    #[test]
    fn security_options_parse() {
        let opts =
            |v: &[&str]| security_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(opts(&[]).unwrap(), (true, false));
        assert_eq!(opts(&["seccomp=unconfined"]).unwrap(), (false, false));
        assert_eq!(
            opts(&["seccomp:unconfined", "no-new-privileges"]).unwrap(),
            (false, true)
        );
        assert!(opts(&["seccomp=/tmp/profile.json"]).is_err());
        assert!(opts(&["apparmor=unconfined"]).is_err());
    }

    #[test]
    fn sizes_take_docker_suffixes() {
        assert_eq!(parse_bytes("32m"), Ok(32 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("100b"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("m").is_err());
    }
}
