//! [`ContainerFlags::apply`]: the flags into Docker's `Config` and `HostConfig`.

use berth_engine::model::{
    ContainerConfig, HealthConfig, HostConfig, LogConfig, LogDriver, NamespaceMode,
};

use super::{ContainerFlags, invalid, parse, ports};

/// Each of `values` parsed by `f`, a failure as docker reports a bad flag value.
pub(super) fn each<T>(
    flag: &str,
    values: &[String],
    f: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    values
        .iter()
        .map(|v| f(v).map_err(|e| invalid(flag, v, e)))
        .collect()
}

/// A namespace mode among `allowed` (Docker's per-flag sets; `container:X` when allowed);
/// `None` when the flag is not given.
fn namespace(
    flag: &str,
    value: &Option<String>,
    allowed: &[&str],
) -> Result<Option<NamespaceMode>, String> {
    let Some(v) = value else {
        return Ok(None);
    };
    let container = v.strip_prefix("container:").is_some_and(|c| !c.is_empty());
    let ok = v.is_empty()
        || allowed.contains(&v.as_str())
        || container && allowed.contains(&"container:");
    let what = match flag {
        "--cgroupns" => "CGROUP".to_string(),
        f => f.trim_start_matches('-').to_uppercase(),
    };
    match v.parse::<NamespaceMode>() {
        Ok(mode) if ok => Ok(Some(mode)),
        _ => Err(format!("{flag}: invalid {what} mode")),
    }
}

impl ContainerFlags {
    /// Parse and check every flag into the container's `Config` and `HostConfig`, with Docker's
    /// semantics and messages. Call it after `berth run`'s own flags (and the image's labels
    /// and health check) are in `config`/`host`: it adds to and overrides them.
    pub fn apply(&self, config: &mut ContainerConfig, host: &mut HostConfig) -> Result<(), String> {
        for file in &self.label_file {
            config.labels.extend(parse::label_file(file)?);
        }
        config
            .labels
            .extend(each("-l, --label", &self.label, parse::label)?);
        for a in &self.annotation {
            match parse::key_value(a) {
                (k, _) if k.is_empty() => return Err(invalid("--annotation", a, "empty key")),
                (k, v) => host.annotations.insert(k, v),
            };
        }
        if let Some(d) = &self.domainname {
            config.domainname = d.clone();
        }
        if let Some(path) = &self.cidfile {
            if path.exists() {
                return Err(format!(
                    "container ID file found, make sure the other container isn't running or \
                     delete {}",
                    path.display()
                ));
            }
            host.container_id_file = path.display().to_string();
        }
        host.mounts
            .extend(each("--mount", &self.mount, ports::mount)?);
        for v in &self.volumes_from {
            match v.split(':').collect::<Vec<_>>()[..] {
                [c] | [c, "ro" | "rw"] if !c.is_empty() => {}
                [_, mode] => return Err(format!("invalid mode: {mode}")),
                _ => return Err(format!("invalid volumes-from {v:?}: use CONTAINER[:ro|rw]")),
            }
        }
        host.volumes_from.extend(self.volumes_from.iter().cloned());
        match self.volume_driver.as_deref() {
            None | Some("" | "local") => {}
            Some(d) => return Err(format!("volume driver {d} is not supported by berth")),
        }
        for p in each("-p, --publish", &self.publish, ports::publish)?.concat() {
            config.exposed_ports.insert(p.0.clone(), Default::default());
            host.port_bindings.entry(p.0).or_default().push(p.1);
        }
        for port in each("--expose", &self.expose, ports::expose)?.concat() {
            config.exposed_ports.insert(port, Default::default());
        }
        host.publish_all_ports |= self.publish_all;
        host.extra_hosts
            .extend(each("--add-host", &self.add_host, parse::extra_host)?);
        host.dns
            .extend(each("--dns", &self.dns, parse::ip_address)?);
        host.dns_options.extend(self.dns_option.iter().cloned());
        host.dns_search
            .extend(each("--dns-search", &self.dns_search, parse::dns_search)?);
        for l in &self.link {
            if l.is_empty() || l.split(':').count() > 2 || l.split(':').any(str::is_empty) {
                return Err(invalid("--link", l, format!("bad format for links: {l}")));
            }
            host.links.push(l.clone());
        }
        let modes = [
            (
                &mut host.pid_mode,
                "--pid",
                &self.pid,
                &["host", "container:"][..],
            ),
            (
                &mut host.ipc_mode,
                "--ipc",
                &self.ipc,
                &["private", "shareable", "none", "host", "container:"],
            ),
            (&mut host.uts_mode, "--uts", &self.uts, &["host"]),
            (
                &mut host.cgroupns_mode,
                "--cgroupns",
                &self.cgroupns,
                &["host", "private"],
            ),
        ];
        for (field, flag, value, allowed) in modes {
            if let Some(mode) = namespace(flag, value, allowed)? {
                *field = mode;
            }
        }
        match self.userns.as_deref() {
            None => {}
            Some("") => host.userns_mode = String::new(),
            Some("host") => host.userns_mode = "host".into(),
            Some(_) => return Err("--userns: invalid USER mode".into()),
        }
        if let Some(g) = self.group_add.iter().find(|g| g.is_empty()) {
            return Err(invalid("--group-add", g, "empty group"));
        }
        host.group_add.extend(self.group_add.iter().cloned());
        host.sysctls
            .extend(each("--sysctl", &self.sysctl, parse::sysctl)?);
        let r = &mut host.resources;
        r.devices
            .extend(each("--device", &self.device, parse::device)?);
        r.device_cgroup_rules.extend(each(
            "--device-cgroup-rule",
            &self.device_cgroup_rule,
            parse::device_cgroup_rule,
        )?);
        r.cpu_shares = self.cpu_shares.unwrap_or(r.cpu_shares);
        r.cpu_period = self.cpu_period.unwrap_or(r.cpu_period);
        r.cpu_quota = self.cpu_quota.unwrap_or(r.cpu_quota);
        if let Some(c) = &self.cpuset_cpus {
            r.cpuset_cpus = parse::cpuset(c, "cpus")?;
        }
        if let Some(m) = &self.cpuset_mems {
            r.cpuset_mems = parse::cpuset(m, "mems")?;
        }
        let bytes = |flag, v: &Option<String>| match v {
            Some(s) => parse::size(s, 1024.0)
                .map(Some)
                .map_err(|e| invalid(flag, s, e)),
            None => Ok(None),
        };
        if let Some(b) = bytes("--memory-reservation", &self.memory_reservation)? {
            r.memory_reservation = b;
        }
        r.memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => -1,
            _ => bytes("--memory-swap", &self.memory_swap)?.unwrap_or(r.memory_swap),
        };
        r.memory_swappiness = match self.memory_swappiness {
            None | Some(-1) => r.memory_swappiness,
            Some(n @ 0..=100) => Some(n),
            Some(n) => {
                return Err(format!(
                    "invalid value: {n}, valid memory swappiness range is 0-100"
                ));
            }
        };
        if let Some(b) = bytes("--shm-size", &self.shm_size)? {
            host.shm_size = b;
        }
        let r = &mut host.resources;
        for u in each("--ulimit", &self.ulimit, parse::ulimit)? {
            r.ulimits.retain(|old| old.name != u.name);
            r.ulimits.push(u);
        }
        match self.blkio_weight {
            Some(w) if w != 0 && !(10..=1000).contains(&w) => {
                return Err("Range of blkio weight is from 10 to 1000".into());
            }
            Some(w) => r.blkio_weight = w,
            None => {}
        }
        r.blkio_weight_device.extend(each(
            "--blkio-weight-device",
            &self.blkio_weight_device,
            parse::weight_device,
        )?);
        let (bps, iops) = (parse::bps_device, parse::iops_device);
        r.blkio_device_read_bps
            .extend(each("--device-read-bps", &self.device_read_bps, bps)?);
        r.blkio_device_write_bps
            .extend(each("--device-write-bps", &self.device_write_bps, bps)?);
        r.blkio_device_read_iops
            .extend(each("--device-read-iops", &self.device_read_iops, iops)?);
        r.blkio_device_write_iops.extend(each(
            "--device-write-iops",
            &self.device_write_iops,
            iops,
        )?);
        if self.oom_kill_disable {
            r.oom_kill_disable = Some(true);
        }
        if let Some(c) = &self.cgroup_parent {
            r.cgroup_parent = c.clone();
        }
        if let Some(adj) = self.oom_score_adj {
            if !(-1000..=1000).contains(&adj) {
                return Err(format!(
                    "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
                ));
            }
            host.oom_score_adj = adj;
        }
        // berth's overlay storage has no options (Docker's overlay2 has only `size`).
        if let Some(o) = self.storage_opt.first() {
            return Err(match parse::key_value(o) {
                _ if !o.contains('=') => "invalid storage option".into(),
                (k, _) => format!("--storage-opt {k} is not supported by berth's overlay storage"),
            });
        }
        self.apply_log(&mut host.log_config)?;
        self.apply_health(config)
    }

    /// `--log-driver`, `--log-opt`.
    fn apply_log(&self, log: &mut LogConfig) -> Result<(), String> {
        let driver = self.log_driver.as_deref().unwrap_or("");
        log.kind = match driver {
            "" => log.kind,
            "json-file" => LogDriver::JsonFile,
            "local" => LogDriver::Local,
            "none" => LogDriver::None,
            d => return Err(format!("log driver {d} is not supported by berth")),
        };
        let name = match log.kind {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
            LogDriver::None if self.log_opt.is_empty() => return Ok(()),
            LogDriver::None => return Err("invalid logging opts for driver none".into()),
        };
        let opts = self.log_opt.iter().map(|o| parse::key_value(o)).collect();
        parse::log_opts(name, &opts)?;
        log.config.extend(opts);
        Ok(())
    }

    /// The health flags, over the image's check (what `config.healthcheck` holds): as Docker
    /// merges them, an unset value keeps the image's.
    fn apply_health(&self, config: &mut ContainerConfig) -> Result<(), String> {
        let time = |flag: &str, v: &Option<String>| -> Result<i64, String> {
            let Some(s) = v else { return Ok(0) };
            let ns = parse::duration(s).map_err(|e| invalid(flag, s, e))?;
            if ns < 0 {
                return Err(format!("{flag} cannot be negative"));
            }
            if ns != 0 && ns < 1_000_000 {
                return Err(format!("{flag} cannot be less than 1ms"));
            }
            Ok(ns)
        };
        let wanted = HealthConfig {
            test: match &self.health_cmd {
                Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.clone()],
                _ => vec![],
            },
            interval: time("--health-interval", &self.health_interval)?,
            timeout: time("--health-timeout", &self.health_timeout)?,
            retries: match self.health_retries.unwrap_or(0) {
                n if n < 0 => return Err("--health-retries cannot be negative".into()),
                n => n,
            },
            start_period: time("--health-start-period", &self.health_start_period)?,
            start_interval: time("--health-start-interval", &self.health_start_interval)?,
        };
        let asked = wanted != HealthConfig::default();
        if self.no_healthcheck {
            if asked {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            config.healthcheck = Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            });
        } else if asked {
            let image = config.healthcheck.take().unwrap_or_default();
            let pick = |a: i64, b: i64| if a != 0 { a } else { b };
            config.healthcheck = Some(HealthConfig {
                test: if wanted.test.is_empty() {
                    image.test
                } else {
                    wanted.test
                },
                interval: pick(wanted.interval, image.interval),
                timeout: pick(wanted.timeout, image.timeout),
                retries: pick(wanted.retries, image.retries),
                start_period: pick(wanted.start_period, image.start_period),
                start_interval: pick(wanted.start_interval, image.start_interval),
            });
        }
        Ok(())
    }
}
