//! `berth version` and `berth info`: what berth is and what this host gives it — containers
//! and images counts, storage, cgroups, kernel, data root — as `docker version`/`docker info`
//! answer.

use anyhow::Result;
use berth_store::State;

use super::context::{Context, host_platform};
use super::liveness;

/// `berth version`
#[derive(clap::Args)]
pub struct VersionArgs {
    /// Output format: `json`.
    #[arg(short, long)]
    pub format: Option<String>,
}

fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `v1`, `v2` or `hybrid`, from what is mounted under /sys/fs/cgroup.
fn cgroup_version() -> &'static str {
    let v2_root = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory").is_dir();
    let unified = std::path::Path::new("/sys/fs/cgroup/unified").is_dir();
    match (v2_root, v1, unified) {
        (true, _, _) => "2",
        (false, true, true) => "1 (hybrid: v2 hierarchy at /sys/fs/cgroup/unified)",
        _ => "1",
    }
}

/// Run `berth version`.
pub fn version(args: VersionArgs) -> Result<()> {
    let (os, arch, _) = host_platform();
    let version = env!("CARGO_PKG_VERSION");
    if args.format.as_deref() == Some("json") {
        println!(
            "{}",
            serde_json::json!({"Version": version, "Os": os, "Arch": arch, "KernelVersion": kernel()})
        );
        return Ok(());
    }
    println!("berth:");
    println!(" Version:        {version}");
    println!(" OS/Arch:        {os}/{arch}");
    println!(" Kernel Version: {}", kernel());
    Ok(())
}

/// Run `berth info`.
pub async fn info() -> Result<()> {
    let ctx = Context::open().await?;
    let containers = liveness::all(&ctx).await?;
    let running = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .count();
    let images = ctx.store.images().await?;
    let (os, arch, _) = host_platform();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".into(),
            |kb| super::context::human_size(kb * 1024),
        );
    println!("Client: berth {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", containers.len());
    println!("  Running: {running}");
    println!("  Stopped: {}", containers.len() - running);
    println!(" Images: {}", images.len());
    println!(" Storage Driver: overlay");
    println!(" Cgroup Version: {}", cgroup_version());
    println!(" Runtimes: native runc crun (with --runtime)");
    println!(" Default Runtime: native");
    println!(" Security Options: seccomp (Profile: builtin)");
    println!(" Kernel Version: {}", kernel());
    println!(" Operating System: {}", os_release());
    println!(" OSType: {os}");
    println!(" Architecture: {arch}");
    println!(" CPUs: {cpus}");
    println!(" Total Memory: {mem}");
    println!(" Berth Root Dir: {}", ctx.config.root.display());
    println!(" Default Registry: {}", ctx.config.default_registry);
    Ok(())
}
