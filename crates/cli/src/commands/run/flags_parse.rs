//! The values of `berth run`/`create` flags, parsed as the docker CLI and its engine parse
//! them: sizes, durations, ulimits, hosts, mounts, devices, ports, log options, detach keys.
//! Each parser returns docker's message for a bad value; [`invalid`] adds the flag.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use berth_engine::model::{DeviceMapping, ThrottleDevice, Ulimit, WeightDevice};

/// Docker's `invalid argument "VALUE" for "FLAG" flag: MESSAGE`.
pub fn invalid(flag: &str, value: &str, msg: impl std::fmt::Display) -> String {
    format!("invalid argument {value:?} for \"{flag}\" flag: {msg}")
}

/// A size as docker's `units.RAMInBytes` (`base` 1024: `64m` is 64 MiB) or
/// `units.FromHumanSize` (`base` 1000): a number (a fraction allowed), an optional space, an
/// optional k/m/g/t/p unit, an optional `i`, an optional `b` (`64m`, `64mb`, `1.5GiB`, `100`).
pub fn size(s: &str, base: f64) -> Result<i64, String> {
    let err = || format!("invalid size: '{s}'");
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.'));
    let (number, rest) = s.split_at(end.unwrap_or(s.len()));
    let (int, frac) = number.split_once('.').unwrap_or((number, "0"));
    if int.is_empty() || frac.is_empty() || frac.contains('.') {
        return Err(err());
    }
    let mut rest = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
    let mut power = 0;
    if let Some(p) = rest
        .peek()
        .and_then(|c| "kmgtp".find(c.to_ascii_lowercase()))
    {
        power = p as i32 + 1;
        rest.next();
    }
    rest.next_if(|c| c.eq_ignore_ascii_case(&'i'));
    rest.next_if(|c| c.eq_ignore_ascii_case(&'b'));
    if rest.next().is_some() {
        return Err(err());
    }
    let bytes = number.parse::<f64>().map_err(|_| err())? * base.powi(power);
    if bytes >= i64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as i64)
}

/// A Go duration (`time.ParseDuration`): `30s`, `1m30s`, `1.5h`, `500ms`, `-2s`, `0`; in ns.
pub fn duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'));
        let (number, tail) = rest.split_at(end.unwrap_or(rest.len()));
        let end = tail.find(|c: char| c.is_ascii_digit() || c == '.');
        let (unit, tail) = tail.split_at(end.unwrap_or(tail.len()));
        rest = tail;
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(bad());
        }
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        total += int * scale;
        if !frac.is_empty() {
            let frac = &frac[..frac.len().min(18)];
            let digits: u128 = frac.parse().map_err(|_| bad())?;
            total += digits * scale / 10u128.pow(frac.len() as u32);
        }
        if total > i64::MAX as u128 {
            return Err(bad());
        }
    }
    let ns = total as i64;
    Ok(if negative { -ns } else { ns })
}

/// Go's `strconv.ParseInt` with its message.
fn int(s: &str) -> Result<i64, String> {
    s.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
}

/// Go's `strconv.ParseBool`.
pub fn bool_value(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The resources `--ulimit` may name (Docker's names for `RLIMIT_*`).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit NAME=SOFT[:HARD]` (a soft limit alone is also the hard one; -1: unlimited).
pub fn ulimit(s: &str) -> Result<Ulimit, String> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMITS.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = match limits.split(':').collect::<Vec<_>>()[..] {
        [soft] => (int(soft)?, int(soft)?),
        [soft, hard] => (int(soft)?, int(hard)?),
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ));
        }
    };
    if hard != -1 && soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--add-host NAME:IP` or `NAME=IP`, the address possibly in brackets (`[::1]`), or
/// `host-gateway`; as the engine takes it: `NAME:IP`.
pub fn extra_host(s: &str) -> Result<String, String> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .filter(|(name, _)| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| format!("bad format for add-host: {s:?}"))?;
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(inner) if ip.len() > 2 => inner,
        _ => ip,
    };
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: {ip:?}"));
    }
    Ok(format!("{name}:{ip}"))
}

/// `--dns IP`.
pub fn ip_address(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("IP address is not correctly formatted: {s}"))
}

/// `--dns-search DOMAIN` (`.`: none).
pub fn dns_search(s: &str) -> Result<String, String> {
    let s = s.trim_matches(' ');
    if s == "." {
        return Ok(s.to_string());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() < 255
        && name.bytes().any(|b| b.is_ascii_alphabetic())
        && name.split('.').all(label_ok)
    {
        Ok(name.to_string())
    } else {
        Err(format!("{s} is not a valid domain"))
    }
}

/// `--sysctl KEY=VALUE`: the namespaced sysctls Docker allows.
pub fn sysctl(s: &str) -> Result<(String, String), String> {
    const ALLOWED: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    match s.split_once('=') {
        Some((k, v))
            if ALLOWED.contains(&k) || ["net.", "fs.mqueue."].iter().any(|p| k.starts_with(p)) =>
        {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("sysctl '{s}' is not allowed")),
    }
}

/// `KEY=VALUE` or `KEY` (empty value): labels, annotations, log and storage options.
pub fn key_value(s: &str) -> (String, String) {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    (k.to_string(), v.to_string())
}

/// `-l KEY[=VALUE]`: a name without whitespace.
pub fn label(s: &str) -> Result<(String, String), String> {
    let s = s.trim_start();
    let (k, v) = key_value(s);
    if k.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    if k.contains(char::is_whitespace) {
        return Err(format!("label '{k}' contains whitespaces"));
    }
    Ok((k, v))
}

/// `--label-file FILE`: a label a line, `#` comments and blank lines skipped.
pub fn label_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let text =
        String::from_utf8(text).map_err(|_| format!("invalid utf8 bytes in {}", path.display()))?;
    let mut out = vec![];
    for line in text.lines().map(str::trim_start) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('=') {
            return Err(format!("no variable name on line '{line}'"));
        }
        let (k, _) = key_value(line);
        if k.contains(char::is_whitespace) {
            return Err(format!("variable '{k}' contains whitespaces"));
        }
        out.push(key_value(line));
    }
    Ok(out)
}

/// Whether `s` is a device permission set: one to three of `r`, `w`, `m`, each once.
fn device_mode(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 3
        && s.bytes().all(|b| b"rwm".contains(&b))
        && s.bytes()
            .enumerate()
            .all(|(i, b)| !s.as_bytes()[..i].contains(&b))
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` (permissions `rwm` by default).
pub fn device(s: &str) -> Result<DeviceMapping, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "{s}: CDI devices and relative paths are not supported by berth: use an absolute path"
        ));
    }
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts[..] {
        [host] => (host, host, "rwm"),
        [host, p] if device_mode(p) => (host, host, p),
        [host, ctr] => (host, ctr, "rwm"),
        [host, ctr, p] if device_mode(p) => (host, ctr, p),
        [_, _, p] => return Err(format!("bad mode specified: {p}")),
        _ => return Err(format!("bad format for path: {s}")),
    };
    if !ctr.starts_with('/') {
        return Err(format!("{ctr} is not an absolute path"));
    }
    Ok(DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: ctr.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR PERMISSIONS'`: `c 1:3 rwm`, `b 8:* r`, `a *:* m`.
pub fn device_cgroup_rule(s: &str) -> Result<String, String> {
    let bad = || format!("invalid device cgroup format '{s}'");
    let number = |n: &str| n == "*" || !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    match s.split(' ').collect::<Vec<_>>()[..] {
        [kind, numbers, perms]
            if ["a", "b", "c"].contains(&kind)
                && numbers
                    .split_once(':')
                    .is_some_and(|(a, b)| number(a) && number(b))
                && device_mode(perms) =>
        {
            Ok(s.to_string())
        }
        _ => Err(bad()),
    }
}

/// `PATH:VALUE` with PATH under /dev.
fn device_value(s: &str) -> Result<(&str, &str), String> {
    let (path, value) = s
        .split_once(':')
        .filter(|(_, v)| !v.contains(':'))
        .ok_or_else(|| format!("bad format: {s}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {s}"));
    }
    Ok((path, value))
}

/// `--blkio-weight-device /dev/sda:200` (10 to 1000, or 0).
pub fn weight_device(s: &str) -> Result<WeightDevice, String> {
    let (path, weight) = device_value(s)?;
    match weight.parse::<u16>() {
        Ok(w) if w == 0 || (10..=1000).contains(&w) => Ok(WeightDevice {
            path: path.to_string(),
            weight: w,
        }),
        _ => Err(format!("invalid weight for device: {s}")),
    }
}

/// `--device-read-bps /dev/sda:1mb` (bytes per second; b, k, m, g units).
pub fn bps_device(s: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_value(s)?;
    let rate = size(rate, 1024.0).map_err(|_| {
        format!(
            "invalid rate for device: {s}. The correct format is <device-path>:<number>[<unit>]. \
             Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )
    })?;
    Ok(ThrottleDevice {
        path: path.to_string(),
        rate: rate as u64,
    })
}

/// `--device-read-iops /dev/sda:1000` (operations per second).
pub fn iops_device(s: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_value(s)?;
    let rate = rate.parse::<u64>().map_err(|_| {
        format!(
            "invalid rate for device: {s}. The correct format is <device-path>:<number>. \
             Number must be a positive integer"
        )
    })?;
    Ok(ThrottleDevice {
        path: path.to_string(),
        rate,
    })
}

/// `--cpuset-cpus`/`--cpuset-mems`: `0-3,5`.
pub fn cpuset(s: &str, what: &str) -> Result<String, String> {
    let n = |v: &str| v.parse::<u32>().ok();
    let ok = s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => n(a).zip(n(b)).is_some_and(|(a, b)| a <= b),
        None => n(part).is_some(),
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("invalid value {s} for cpuset {what}"))
    }
}

/// `--log-opt`s for `driver` (json-file or local), checked as those drivers check them.
pub fn log_opts(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in opts {
        match (driver, key.as_str()) {
            (_, "max-size") => {
                if size(value, 1000.0).map_err(|e| format!("max-size: {e}"))? <= 0 {
                    return Err("max-size must be a positive number".into());
                }
            }
            (_, "max-file") => match value.parse::<i64>() {
                Ok(n) if n >= 1 => {}
                Ok(_) => return Err("max-file cannot be less than 1".into()),
                Err(_) => return Err(format!("max-file: {}", int(value).unwrap_err())),
            },
            (_, "compress") => {
                bool_value(value).ok_or_else(|| format!("invalid value for compress: {value}"))?;
            }
            ("json-file", "labels" | "labels-regex" | "env" | "env-regex" | "tag") => {}
            ("json-file", _) => {
                return Err(format!("unknown log opt '{key}' for json-file log driver"));
            }
            _ => return Err(format!("unknown log opt '{key}' for log driver {driver}")),
        }
    }
    Ok(())
}

/// Docker's key names for the control characters 0 to 31 (`ctrl-@` is 0, `ctrl-a` 1…).
const CONTROL: &[&str] = &[
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// `--detach-keys`: `ctrl-p,ctrl-q`, single characters, `DEL`.
pub fn detach_keys(s: &str) -> Result<Vec<u8>, String> {
    s.split(',')
        .map(|key| match CONTROL.iter().position(|c| *c == key) {
            Some(code) => Ok(code as u8),
            None if key == "DEL" => Ok(127),
            None if key.len() == 1 => Ok(key.as_bytes()[0]),
            None => Err(format!("Unknown character: '{key}'")),
        })
        .collect()
}
