//! The OCI runtime-spec `config.json` for a [`ContainerSpec`], for external runtimes (runc,
//! crun): the same defaults as berth's own engine (capabilities, masked and read-only paths,
//! seccomp, limits), and the bundle directory around it.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder, get_default_mounts,
};

use super::*;
use crate::error::{Error, Result};

/// The OCI runtime spec (`config.json`) that makes runc or crun run `spec` as berth's own engine
/// would: the same namespaces (mount, pid, uts, ipc, net, cgroup, less those shared with the
/// host), mounts, masked and read-only paths, user, capabilities, rlimits, sysctls, OOM score,
/// devices and cgroup resources (see `oci_resources`). `root.path` is the absolute rootfs, so
/// the bundle directory needs nothing but the `config.json`.
pub fn oci_spec(spec: &ContainerSpec) -> Result<Spec> {
    spec.validate()?;
    let oci_err = |source| Error::OciSpec {
        id: spec.id.clone(),
        source,
    };
    let caps = spec
        .capabilities
        .iter()
        .map(|name| {
            // oci-spec parses capability names through serde only.
            serde_json::from_value::<Capability>(serde_json::Value::String(name.to_uppercase()))
                .map_err(|e| Error::invalid(&spec.id, format!("capability {name}: {e}")))
        })
        .collect::<Result<std::collections::HashSet<_>>>()?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(oci_err)?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.groups.clone())
        .build()
        .map_err(oci_err)?;
    let process = ProcessBuilder::default()
        // The runtime then makes the terminal and sends its master to `--console-socket`.
        .terminal(spec.terminal)
        .user(user)
        .args(spec.args.clone())
        .env(spec.full_env())
        .cwd(&spec.cwd)
        .capabilities(capabilities)
        .no_new_privileges(spec.no_new_privileges)
        .build()
        .map_err(oci_err)?;
    let namespaces = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .filter(|typ| match typ {
        LinuxNamespaceType::Network => !spec.host_network,
        LinuxNamespaceType::Pid => !spec.pid_host,
        LinuxNamespaceType::Ipc => !spec.ipc_host,
        LinuxNamespaceType::Uts => !spec.uts_host,
        LinuxNamespaceType::Cgroup => !spec.cgroupns_host,
        _ => true,
    })
    .map(|typ| {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        ns
    })
    .collect::<Vec<_>>();
    let to_strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (masked, readonly) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (to_strings(MASKED_PATHS), to_strings(READONLY_PATHS))
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked)
        .readonly_paths(readonly)
        // Where the native engine puts its cgroups, so both are found and cleaned up alike.
        .cgroups_path(PathBuf::from(oci_resources::cgroups_path(spec)))
        .build()
        .map_err(oci_err)?;
    let resources = oci_resources::resources(spec)?;
    let resources = serde_json::from_value(serde_json::Value::Object(resources))
        .map_err(|e| Error::invalid(&spec.id, format!("resources: {e}")))?;
    linux.set_resources(Some(resources));
    let devices = oci_resources::linux_devices(spec)?;
    if !devices.is_empty() {
        let devices: oci_spec::runtime::Linux =
            serde_json::from_value(serde_json::json!({ "devices": devices }))
                .map_err(|e| Error::invalid(&spec.id, format!("devices: {e}")))?;
        linux.set_devices(devices.devices().clone());
    }
    if spec.seccomp && !spec.privileged {
        let seccomp =
            match &spec.seccomp_profile {
                Some(profile) => serde_json::from_value(profile.oci_json(&spec.capabilities))
                    .map_err(|e| Error::SeccompProfile {
                        profile: profile.name().to_string(),
                        reason: format!("as an OCI linux.seccomp: {e}"),
                    })?,
                None => oci_seccomp(&spec.id)?,
            };
        linux.set_seccomp(Some(seccomp));
    }
    let root = RootBuilder::default()
        .path(&spec.rootfs)
        .readonly(spec.readonly_rootfs)
        .build()
        .map_err(oci_err)?;
    let built = SpecBuilder::default()
        .version("1.0.2")
        .root(root)
        .hostname(&spec.hostname)
        .mounts(oci_mounts(spec)?)
        .process(process)
        .linux(linux)
        .build()
        .map_err(oci_err)?;
    let json_err = |e: serde_json::Error| Error::invalid(&spec.id, format!("OCI config: {e}"));
    let mut config = serde_json::to_value(&built).map_err(json_err)?;
    oci_resources::apply(spec, &mut config);
    serde_json::from_value(config).map_err(json_err)
}

/// runc's default mounts (`/sys` read-write when privileged), then the spec's own.
fn oci_mounts(spec: &ContainerSpec) -> Result<Vec<oci_spec::runtime::Mount>> {
    let mut mounts = get_default_mounts();
    if spec.privileged {
        for m in mounts
            .iter_mut()
            .filter(|m| m.typ().as_deref() == Some("sysfs"))
        {
            let options = m.options().clone().unwrap_or_default();
            m.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
        }
    }
    for m in &spec.mounts {
        let (typ, source, mut options) = match &m.kind {
            MountKind::Bind { source } => (
                "bind",
                source.to_string_lossy().into_owned(),
                vec!["rbind".to_string()],
            ),
            MountKind::Tmpfs { options } => (
                "tmpfs",
                "tmpfs".to_string(),
                options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
        };
        if m.readonly {
            options.push("ro".into());
        }
        let value = serde_json::json!({
            "destination": m.target,
            "type": typ,
            "source": source,
            "options": options,
        });
        mounts.push(
            serde_json::from_value(value)
                .map_err(|e| Error::invalid(&spec.id, format!("mount {}: {e}", m.target)))?,
        );
    }
    Ok(mounts)
}

/// [`SECCOMP_BLOCKED`] as an OCI `linux.seccomp`: allow by default, EPERM for the list.
/// Built through serde (oci-spec's builders would need every field spelled out).
fn oci_seccomp(id: &str) -> Result<oci_spec::runtime::LinuxSeccomp> {
    let native_arch = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    };
    let value = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        // Only the native ABI: libseccomp then refuses the others (x32, i386) itself.
        "architectures": [native_arch],
        "syscalls": [{
            "names": SECCOMP_BLOCKED,
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
        }],
    });
    serde_json::from_value(value).map_err(|e| Error::invalid(id, format!("seccomp profile: {e}")))
}

/// Write `spec`'s `config.json` into `bundle` (created if missing) and return its path.
pub fn write_bundle(spec: &ContainerSpec, bundle: &Path) -> Result<PathBuf> {
    let oci = oci_spec(spec)?;
    std::fs::create_dir_all(bundle).map_err(|e| Error::io(bundle, e))?;
    let config = bundle.join("config.json");
    oci.save(&config).map_err(|source| Error::OciSpec {
        id: spec.id.clone(),
        source,
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str) -> ContainerSpec {
        ContainerSpec::new(id, "/", vec!["/bin/true".into()])
    }

    #[test]
    fn oci_spec_carries_mounts_read_only_root_and_host_network() {
        let mut s = spec("c2");
        s.readonly_rootfs = true;
        s.host_network = true;
        s.groups = vec![10, 20];
        s.mounts = vec![
            Mount {
                target: "/data".into(),
                kind: MountKind::Bind { source: "/".into() },
                readonly: true,
            },
            Mount {
                target: "/scratch".into(),
                kind: MountKind::Tmpfs {
                    options: "size=1m".into(),
                },
                readonly: false,
            },
        ];
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert_eq!(json["process"]["user"]["additionalGids"][1], 20);
        let mounts = json["mounts"].as_array().unwrap();
        let data = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
        assert_eq!(data["options"], serde_json::json!(["rbind", "ro"]));
        let scratch = mounts
            .iter()
            .find(|m| m["destination"] == "/scratch")
            .unwrap();
        assert_eq!(scratch["type"], "tmpfs");
    }

    #[test]
    fn oci_spec_carries_the_limits() {
        let mut s = spec("c3");
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert!(json["linux"]["resources"]["memory"].is_null());
        assert_eq!(json["linux"]["cgroupsPath"], "/berth/c3");
        s.memory = Some(32 << 20);
        s.cpus = Some(0.5);
        s.pids_limit = Some(10);
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        let resources = &json["linux"]["resources"];
        assert_eq!(resources["memory"]["limit"], 32 << 20);
        assert_eq!(resources["memory"]["swap"], 32 << 20);
        assert_eq!(resources["cpu"]["quota"], 50_000);
        assert_eq!(resources["cpu"]["period"], 100_000);
        assert_eq!(resources["pids"]["limit"], 10);
        s.pids_limit = Some(0);
        s.privileged = true;
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], -1);
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);
    }

    #[test]
    fn oci_spec_carries_the_container() {
        let mut s = spec("c1");
        s.env = vec!["A=1".into()];
        s.uid = 7;
        let oci = oci_spec(&s).unwrap();
        let json = serde_json::to_value(&oci).unwrap();
        assert_eq!(json["process"]["args"][0], "/bin/true");
        assert_eq!(json["process"]["user"]["uid"], 7);
        assert_eq!(json["process"]["env"][1], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(json["root"]["path"], "/");
        assert_eq!(json["root"]["readonly"], false);
        assert_eq!(json["hostname"], "c1");
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 6);
        let bounding = json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(bounding.len(), DEFAULT_CAPABILITIES.len());
        let seccomp = &json["linux"]["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(seccomp["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(seccomp["syscalls"][0]["errnoRet"], 1);
        assert_eq!(
            seccomp["syscalls"][0]["names"].as_array().unwrap().len(),
            SECCOMP_BLOCKED.len()
        );
        s.seccomp_profile = Some(
            SeccompProfile::parse(
                "p.json",
                br#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
            )
            .unwrap(),
        );
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        let seccomp = &json["linux"]["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_KILL_PROCESS");
        assert_eq!(seccomp["syscalls"][0]["names"][0], "read");
        s.seccomp = false;
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert!(json["linux"]["seccomp"].is_null());
    }

    #[test]
    fn oci_spec_of_a_privileged_container() {
        let mut spec = ContainerSpec::new("o9", "/tmp", vec!["true".into()]);
        spec.privileged = true;
        let oci = oci_spec(&spec).unwrap();
        let linux = oci.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().is_none_or(|p| p.is_empty()));
        assert!(linux.readonly_paths().as_ref().is_none_or(|p| p.is_empty()));
        assert!(linux.seccomp().is_none());
        let allowed = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .clone()
            .unwrap();
        assert!(allowed[0].allow());
        let sys = oci.mounts().as_ref().unwrap().iter();
        let sys = sys
            .clone()
            .find(|m| m.typ().as_deref() == Some("sysfs"))
            .unwrap();
        assert!(
            !sys.options()
                .clone()
                .unwrap_or_default()
                .contains(&"ro".to_string())
        );
    }
}
