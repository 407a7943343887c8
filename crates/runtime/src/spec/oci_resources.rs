//! The kernel-feature parts of the OCI `config.json` (see [`super::oci_spec`]):
//! `linux.resources`, devices, rlimits, sysctls, the OOM score and `/dev/shm`, written into
//! the spec's JSON form (oci-spec's builders would need every field spelled out).

use serde_json::{Map, Value, json};

use super::resources::{cgroup_parent, device_node, device_rules, throttles};
use super::{CPU_PERIOD_US, ContainerSpec, DEFAULT_SHM_SIZE, host_devices};
use crate::error::{Error, Result};

/// Whether the host's `/sys/fs/cgroup` is a pure cgroup v2 hierarchy (no per-cgroup
/// swappiness or OOM-killer switch there: runc refuses them, Docker drops them).
fn pure_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The container's cgroup, as `linux.cgroupsPath`: `/<parent>/<id>`.
pub(super) fn cgroups_path(spec: &ContainerSpec) -> String {
    format!("/{}/{}", cgroup_parent(spec), spec.id)
}

/// `linux.resources` for `spec` (empty: none).
pub(super) fn resources(spec: &ContainerSpec) -> Result<Map<String, Value>> {
    let invalid = |reason: String| Error::invalid(&spec.id, reason);
    let mut resources = Map::new();
    let mut memory = Map::new();
    if let Some(bytes) = spec.memory {
        memory.insert("limit".into(), bytes.into());
        // Swap is the memory+swap total: without `memory_swap`, equal to the limit, so the
        // container gets no swap (as the native engine has it).
        memory.insert(
            "swap".into(),
            spec.memory_swap.unwrap_or(bytes as i64).into(),
        );
    } else if spec.memory_swap == Some(-1) {
        memory.insert("swap".into(), (-1).into());
    }
    if let Some(bytes) = spec.memory_reservation {
        memory.insert("reservation".into(), bytes.into());
    }
    if !pure_v2() {
        if let Some(swappiness) = spec.memory_swappiness {
            memory.insert("swappiness".into(), swappiness.into());
        }
        if spec.oom_kill_disable {
            memory.insert("disableOOMKiller".into(), true.into());
        }
    }
    if !memory.is_empty() {
        resources.insert("memory".into(), memory.into());
    }
    let mut cpu = Map::new();
    if let Some(cpus) = spec.cpus {
        let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
        cpu.insert("quota".into(), quota.into());
        cpu.insert("period".into(), CPU_PERIOD_US.into());
    }
    if let Some(period) = spec.cpu_period {
        cpu.insert("period".into(), period.into());
    }
    match spec.cpu_quota {
        Some(quota) if quota > 0 => {
            cpu.insert("quota".into(), quota.into());
            if spec.cpu_period.is_none() {
                cpu.insert("period".into(), CPU_PERIOD_US.into());
            }
        }
        Some(-1) => {
            cpu.insert("quota".into(), (-1).into());
        }
        _ => {}
    }
    if let Some(shares) = spec.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), shares.clamp(2, 262_144).into());
    }
    if let Some(cpus) = &spec.cpuset_cpus {
        cpu.insert("cpus".into(), cpus.clone().into());
    }
    if let Some(mems) = &spec.cpuset_mems {
        cpu.insert("mems".into(), mems.clone().into());
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), cpu.into());
    }
    if let Some(n) = spec.pids_limit {
        // 0 or less: no limit, as Docker has it (-1 is "max" to runc and crun).
        resources.insert(
            "pids".into(),
            json!({ "limit": if n > 0 { n } else { -1 } }),
        );
    }
    let mut block_io = Map::new();
    if let Some(weight) = spec.blkio_weight {
        block_io.insert("weight".into(), weight.into());
    }
    for (key, list) in [
        ("throttleReadBpsDevice", &spec.device_read_bps),
        ("throttleWriteBpsDevice", &spec.device_write_bps),
        ("throttleReadIOPSDevice", &spec.device_read_iops),
        ("throttleWriteIOPSDevice", &spec.device_write_iops),
    ] {
        if list.is_empty() {
            continue;
        }
        let devices = throttles(list)
            .map_err(invalid)?
            .into_iter()
            .map(|(major, minor, rate)| json!({ "major": major, "minor": minor, "rate": rate }))
            .collect::<Vec<_>>();
        block_io.insert(key.into(), devices.into());
    }
    if !block_io.is_empty() {
        resources.insert("blockIO".into(), block_io.into());
    }
    // As Docker asks runc: deny everything, then allow the default list and the extras; a
    // privileged container is allowed everything.
    let devices = match device_rules(spec).map_err(invalid)? {
        None => vec![json!({ "allow": true, "access": "rwm" })],
        Some(rules) => std::iter::once(json!({ "allow": false, "access": "rwm" }))
            .chain(rules.iter().map(|r| r.to_oci()))
            .collect(),
    };
    resources.insert("devices".into(), devices.into());
    Ok(resources)
}

/// `linux.devices`: the nodes the runtime makes in `/dev` (every host device when
/// privileged, then each `--device`).
pub(super) fn linux_devices(spec: &ContainerSpec) -> Result<Vec<Value>> {
    let mut devices = Vec::new();
    if spec.privileged {
        for d in host_devices() {
            devices.push(json!({
                "path": format!("/dev/{}", d.path), "type": d.kind.to_string(),
                "major": d.major, "minor": d.minor, "fileMode": d.mode,
                "uid": d.uid, "gid": d.gid,
            }));
        }
    }
    for d in &spec.devices {
        let node = device_node(&d.host).map_err(|e| Error::invalid(&spec.id, e))?;
        devices.retain(|have| have["path"] != d.container.as_str());
        devices.push(json!({
            "path": d.container, "type": node.kind.to_string(),
            "major": node.major, "minor": node.minor, "fileMode": node.mode,
            "uid": node.uid, "gid": node.gid,
        }));
    }
    Ok(devices)
}

/// Add rlimits, the OOM score, sysctls, `/dev/shm` and the hostname rule to `config`, the
/// JSON form of the spec [`super::oci_spec`] built.
pub(super) fn apply(spec: &ContainerSpec, config: &mut Value) {
    if !spec.rlimits.is_empty() {
        config["process"]["rlimits"] = spec
            .rlimits
            .iter()
            .map(|r| {
                json!({ "type": format!("RLIMIT_{}", r.kind.to_uppercase()),
                    "soft": r.soft, "hard": r.hard })
            })
            .collect::<Vec<_>>()
            .into();
    }
    if let Some(score) = spec.oom_score_adj {
        config["process"]["oomScoreAdj"] = score.into();
    }
    if !spec.sysctls.is_empty() {
        config["linux"]["sysctl"] = spec
            .sysctls
            .iter()
            .map(|(k, v)| (k.replace('/', "."), Value::from(v.as_str())))
            .collect::<Map<_, _>>()
            .into();
    }
    if spec.uts_host {
        // runc refuses a hostname without a UTS namespace of the container's own.
        if let Some(config) = config.as_object_mut() {
            config.remove("hostname");
        }
    }
    if let Some(mounts) = config["mounts"].as_array_mut() {
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
            *m = if spec.ipc_host {
                json!({ "destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                    "options": ["rbind", "nosuid", "noexec", "nodev"] })
            } else {
                let size = spec.shm_size.unwrap_or(DEFAULT_SHM_SIZE) / 1024;
                json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                    "options": ["nosuid", "noexec", "nodev", "mode=1777",
                        format!("size={size}k")] })
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{ContainerSpec, DeviceMapping, Rlimit, oci_spec};

    #[test]
    fn oci_config_carries_the_kernel_features() {
        let mut s = ContainerSpec::new("k1", "/", vec!["/bin/true".into()]);
        s.rlimits = vec![Rlimit {
            kind: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }];
        s.sysctls = vec![("net/ipv4/ip_forward".into(), "1".into())];
        s.shm_size = Some(1 << 20);
        s.pid_host = true;
        s.uts_host = true;
        s.oom_score_adj = Some(-10);
        s.memory = Some(1 << 30);
        s.memory_swap = Some(-1);
        s.cpu_shares = Some(100);
        s.cpu_quota = Some(20_000);
        s.cpuset_cpus = Some("0".into());
        s.blkio_weight = Some(200);
        s.cgroup_parent = Some("/custom/".into());
        s.devices = vec![DeviceMapping {
            host: "/dev/null".into(),
            container: "/dev/mynull".into(),
            permissions: "rw".into(),
        }];
        s.device_cgroup_rules = vec!["b 7:* r".into()];
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        let rlimit = &json["process"]["rlimits"][0];
        assert_eq!(
            (rlimit["type"].as_str(), &rlimit["soft"]),
            (Some("RLIMIT_NOFILE"), &1024.into())
        );
        assert_eq!(json["process"]["oomScoreAdj"], -10);
        assert_eq!(json["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        assert!(json["hostname"].is_null());
        let namespaces = json["linux"]["namespaces"].to_string();
        assert!(!namespaces.contains("\"pid\"") && !namespaces.contains("\"uts\""));
        assert!(namespaces.contains("\"ipc\""));
        assert_eq!(json["linux"]["cgroupsPath"], "/custom/k1");
        let shm = json["mounts"].as_array().unwrap().iter();
        let shm = shm
            .clone()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(shm["options"].to_string().contains("size=1024k"));
        let r = &json["linux"]["resources"];
        assert_eq!(r["memory"]["swap"], -1);
        assert_eq!(r["cpu"]["shares"], 100);
        assert_eq!(r["cpu"]["quota"], 20_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["cpus"], "0");
        assert_eq!(r["blockIO"]["weight"], 200);
        let devices = r["devices"].as_array().unwrap();
        assert_eq!(devices[0]["allow"], false);
        assert!(
            devices
                .iter()
                .any(|d| d["type"] == "b" && d["major"] == 7 && d["access"] == "r")
        );
        assert!(
            devices
                .iter()
                .any(|d| d["major"] == 1 && d["minor"] == 3 && d["access"] == "rw")
        );
        let node = &json["linux"]["devices"][0];
        assert_eq!(
            (node["path"].as_str(), &node["minor"]),
            (Some("/dev/mynull"), &3.into())
        );
        s.ipc_host = true;
        s.shm_size = None;
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        let shm = json["mounts"].as_array().unwrap().iter();
        let shm = shm
            .clone()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert_eq!(shm["source"], "/dev/shm");
    }
}
