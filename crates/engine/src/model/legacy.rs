//! The first release's container record (hand-written JSON: `rm`, `restart`, `stop_signal`,
//! `stop_timeout`, `layers`, `runtime`, `user` and a `spec` of runtime fields) read as a
//! [`Record`]. Nothing writes it any more; records are converted when read and written back
//! in the new format by the engine's record migration.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::{
    ContainerConfig, HostConfig, MountPoint, MountType, NetworkMode, RECORD_VERSION, Record,
    RestartPolicy,
};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The volume a bind source under the data root stands for (`…/volumes/v1/NAME/_data`).
pub(crate) fn volume_name(source: &Path) -> Option<&str> {
    if source.file_name()? != "_data" {
        return None;
    }
    let dir = source.parent()?;
    dir.parent()?
        .ends_with("volumes/v1")
        .then(|| dir.file_name()?.to_str())
        .flatten()
}

/// Convert a first-release record.
pub(crate) fn convert(old: &Value) -> Record {
    let s = &old["spec"];
    let config = ContainerConfig {
        hostname: s["hostname"].as_str().unwrap_or_default().to_string(),
        user: old["user"].as_str().unwrap_or_default().to_string(),
        tty: s["terminal"].as_bool().unwrap_or(false),
        env: strings(&s["env"]),
        cmd: strings(&s["args"]),
        working_dir: s["cwd"].as_str().unwrap_or_default().to_string(),
        stop_signal: old["stop_signal"].as_str().map(str::to_string),
        stop_timeout: old["stop_timeout"].as_i64(),
        ..ContainerConfig::default()
    };
    let mut host = HostConfig {
        auto_remove: old["rm"].as_bool().unwrap_or(false),
        restart_policy: serde_json::from_value::<RestartPolicy>(old["restart"].clone())
            .unwrap_or_default(),
        runtime: old["runtime"].as_str().unwrap_or("berth").to_string(),
        privileged: s["privileged"].as_bool().unwrap_or(false),
        init: Some(s["init"].as_bool().unwrap_or(false)),
        readonly_rootfs: s["readonly_rootfs"].as_bool().unwrap_or(false),
        network_mode: if s["host_network"].as_bool() == Some(true) {
            NetworkMode::Host
        } else {
            NetworkMode::None
        },
        ..HostConfig::default()
    };
    let r = &mut host.resources;
    r.memory = s["memory"].as_i64().unwrap_or(0);
    r.nano_cpus = s["cpus"].as_f64().map_or(0, |c| (c * 1e9).round() as i64);
    r.pids_limit = s["pids_limit"].as_i64();
    if !host.privileged && s.get("capabilities").is_some() {
        let have: BTreeSet<String> = strings(&s["capabilities"]).into_iter().collect();
        let defaults: BTreeSet<String> = berth_runtime::spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect();
        host.cap_add = have.difference(&defaults).cloned().collect();
        host.cap_drop = defaults.difference(&have).cloned().collect();
    }
    if s["no_new_privileges"].as_bool() == Some(true) {
        host.security_opt.push("no-new-privileges".into());
    }
    if s["seccomp"].as_bool() == Some(false) {
        host.security_opt.push("seccomp=unconfined".into());
    } else if let Some(p) = s.get("seccomp_profile").filter(|p| !p.is_null()) {
        host.security_opt.push(format!("seccomp={}", p["profile"]));
    }
    let mut mount_points = vec![];
    for m in s["mounts"].as_array().into_iter().flatten() {
        let destination = m["target"].as_str().unwrap_or_default().to_string();
        let rw = !m["readonly"].as_bool().unwrap_or(false);
        let mode = if rw { "" } else { "ro" }.to_string();
        let point = match (m["bind"].as_str(), m["tmpfs"].as_str()) {
            (Some(source), _) => match volume_name(Path::new(source)) {
                Some(name) => MountPoint {
                    kind: MountType::Volume,
                    name: name.to_string(),
                    source: source.to_string(),
                    driver: "local".into(),
                    ..MountPoint::default()
                },
                None => MountPoint {
                    kind: MountType::Bind,
                    source: source.to_string(),
                    propagation: "rprivate".into(),
                    ..MountPoint::default()
                },
            },
            (None, Some(options)) => {
                host.tmpfs.insert(destination.clone(), options.to_string());
                MountPoint {
                    kind: MountType::Tmpfs,
                    tmpfs_options: options.to_string(),
                    ..MountPoint::default()
                }
            }
            (None, None) => continue,
        };
        mount_points.push(MountPoint {
            destination,
            rw,
            mode,
            ..point
        });
    }
    Record {
        version: RECORD_VERSION,
        config,
        host_config: host,
        mount_points,
        layers: old["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(Into::into))
            .collect(),
    }
}
