//! What a container record keeps of its spec (so a monitor or `start` can run it again), and
//! the parts of a spec that need the mounted root filesystem.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use berth_runtime::spec::{ContainerSpec, Mount, MountKind};

pub(crate) use berth_engine::util::random_hex;

pub fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What needs the container's mounted root filesystem and directory: the user resolved in
/// the image's `/etc/passwd` and `/etc/group`, the process's environment (`HOME` is that
/// user's), and `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` written into `dir` and
/// bound over the image's.
pub fn complete_spec(spec: &mut ContainerSpec, dir: &Path, user: &str) -> Result<()> {
    let user = if user.is_empty() { "0" } else { user };
    let resolved = berth_runtime::user::resolve(&spec.rootfs, user)
        .map_err(|e| anyhow::anyhow!("user {user:?}: {e}"))?;
    (spec.uid, spec.gid, spec.groups) = (resolved.uid, resolved.gid, resolved.groups);
    // Only the process gets these, as with Docker (Config.Env keeps the image's and -e's).
    spec.env = berth_runtime::spec::container_env(
        &spec.env,
        &spec.hostname,
        spec.terminal,
        &resolved.home,
    );
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

/// The typed record of container `c` (first-release records converted).
pub fn record(c: &berth_store::Container) -> Result<berth_engine::model::Record> {
    berth_engine::model::Record::parse(&c.config)
        .map_err(|e| anyhow::anyhow!("container {}: {e}", c.name))
}

/// The external OCI runtime a record names (`None`: berth's own engine).
pub fn runtime_path(r: &berth_engine::model::Record) -> Option<PathBuf> {
    let rt = r.host_config.runtime.as_str();
    (!rt.is_empty() && rt != "berth").then(|| PathBuf::from(rt))
}

/// The runtime spec of record `r` for container `id` on `rootfs`.
pub fn spec_of(
    r: &berth_engine::model::Record,
    id: &str,
    rootfs: PathBuf,
) -> Result<ContainerSpec> {
    r.spec(id, rootfs)
        .map_err(|e| anyhow::anyhow!("container {}: {e}", &id[..id.len().min(12)]))
}
