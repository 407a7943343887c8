//! What a container record keeps of its spec (so a monitor or `start` can run it again), and
//! the parts of a spec that need the mounted root filesystem.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use berth_runtime::spec::{ContainerSpec, Mount, MountKind};

/// What needs the container's mounted root filesystem and directory: the user resolved in
/// the image's `/etc/passwd` and `/etc/group`, the process's environment (`HOME` is that
/// user's), and `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` written into `dir` and
/// bound over the image's.
pub fn complete_spec(
    spec: &mut ContainerSpec,
    dir: &Path,
    record: &berth_engine::model::Record,
) -> Result<()> {
    let (config, host) = (&record.config, &record.host_config);
    let user = if config.user.is_empty() {
        "0"
    } else {
        &config.user
    };
    let resolved = berth_runtime::user::resolve(&spec.rootfs, user)
        .map_err(|e| anyhow::anyhow!("user {user:?}: {e}"))?;
    (spec.uid, spec.gid, spec.groups) = (resolved.uid, resolved.gid, resolved.groups);
    for g in &host.group_add {
        let gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                berth_runtime::user::resolve(&spec.rootfs, &format!("0:{g}"))
                    .map_err(|e| anyhow::anyhow!("--group-add {g:?}: {e}"))?
                    .gid
            }
        };
        if !spec.groups.contains(&gid) {
            spec.groups.push(gid);
        }
    }
    // Only the process gets these, as with Docker (Config.Env keeps the image's and -e's).
    spec.env = berth_runtime::spec::container_env(
        &spec.env,
        &spec.hostname,
        spec.terminal,
        &resolved.home,
    );
    std::fs::create_dir_all(dir)?;
    let mut hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
        spec.hostname
    );
    // `--add-host NAME:IP`, as Docker appends them.
    for h in &host.extra_hosts {
        if let Some((name, ip)) = h
            .rsplit_once(':')
            .filter(|(n, _)| !n.contains(':'))
            .or_else(|| h.split_once(':'))
        {
            hosts.push_str(&format!(
                "{}\t{name}\n",
                ip.trim_start_matches('[').trim_end_matches(']')
            ));
        }
    }
    let resolv = resolv_conf(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        &host.dns,
        &host.dns_search,
        &host.dns_options,
    )
    .into_bytes();
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

/// The container's resolv.conf: the host's, with `--dns`, `--dns-search` and `--dns-option`
/// replacing its nameservers, search domains and options when given (as Docker does).
pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let key = line.split_whitespace().next().unwrap_or_default();
        let replaced = match key {
            "nameserver" => !dns.is_empty(),
            "search" | "domain" => !search.is_empty(),
            "options" => !options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
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
