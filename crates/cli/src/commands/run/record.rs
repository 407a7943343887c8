//! What a container record keeps of its spec (so a monitor or `start` can run it again), and
//! the parts of a spec that need the mounted root filesystem.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use berth_runtime::spec::{ContainerSpec, Mount, MountKind, SeccompProfile};

pub(crate) fn random_hex(bytes: usize) -> String {
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

/// The spec's fields as the container record's `config` keeps them.
pub(super) fn spec_json(spec: &ContainerSpec) -> serde_json::Value {
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
        // The profile as given (with its path, for messages), parsed again by a monitor or
        // `start`, so they apply it without the file.
        "seccomp_profile": spec.seccomp_profile.as_ref().map(|p| serde_json::json!({
            "name": p.name(), "profile": p.json(),
        })),
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
    if let Some(p) = s.get("seccomp_profile").filter(|p| !p.is_null()) {
        let name = p["name"].as_str().unwrap_or("profile");
        let text = serde_json::to_vec(&p["profile"]).unwrap_or_default();
        match SeccompProfile::parse(name, &text) {
            Ok(profile) => spec.seccomp_profile = Some(profile),
            // It parsed when the container was created: only a berth that reads profiles
            // differently gets here. Refuse every system call rather than run unconfined
            // or looser than asked.
            Err(e) => {
                tracing::warn!(id, error = %e, "stored seccomp profile unreadable");
                let deny = br#"{"defaultAction": "SCMP_ACT_KILL_PROCESS"}"#;
                spec.seccomp_profile = SeccompProfile::parse(name, deny).ok();
            }
        }
    }
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
