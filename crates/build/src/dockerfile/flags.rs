//! Instruction flags (`--name=value`) and the typed values inside them: `RUN --mount`,
//! `--network`, `--security`, `HEALTHCHECK` durations, and the `EXPOSE` and `USER` value
//! syntaxes the builder applies after substitution.
//!
//! This module calls nothing outside the crate.

use std::time::Duration;

/// Substitutes variables in one value (see [`expand`](super::expand())).
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// How a flag takes its value.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `--name=value`, at most once.
    Value,
    /// `--name` or `--name=true|false`, at most once.
    Bool,
    /// `--name=value`, any number of times.
    List,
}

/// The flags given to one instruction, checked against what it accepts.
pub(crate) struct FlagValues {
    given: Vec<(&'static str, String)>,
}

impl FlagValues {
    /// Checks `raw` (`--name[=value]` words) against `allowed` for instruction `keyword`.
    pub(crate) fn parse(
        keyword: &str,
        raw: &[String],
        allowed: &[(&'static str, Kind)],
    ) -> Result<FlagValues, String> {
        let mut given: Vec<(&'static str, String)> = Vec::new();
        for word in raw {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(name, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag --{name} for {keyword}"));
            };
            if kind != Kind::List && given.iter().any(|(n, _)| *n == name) {
                return Err(format!("{keyword} --{name} given twice"));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v))
                    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") =>
                {
                    v.to_ascii_lowercase()
                }
                (Kind::Bool, Some(v)) => {
                    return Err(format!(
                        "{keyword} --{name} expects true or false, not \"{v}\""
                    ));
                }
                (_, None) => return Err(format!("{keyword} --{name} needs a value")),
                (_, Some(v)) => v.to_string(),
            };
            given.push((name, value));
        }
        Ok(FlagValues { given })
    }

    /// A value flag; an empty value counts as not given, as in Docker.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.given
            .iter()
            .find(|(n, v)| *n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn bool(&self, name: &str) -> bool {
        self.given.iter().any(|(n, v)| *n == name && v == "true")
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.given
            .iter()
            .filter(|(n, v)| *n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.given.is_empty()
    }
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `default`: the builder's default network.
    Default,
    /// `none`: no network.
    None,
    /// `host`: the host's network (an entitlement in BuildKit).
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `sandbox`: the default.
    Sandbox,
    /// `insecure`: privileged (an entitlement in BuildKit).
    Insecure,
}

pub(crate) fn parse_network(value: &str) -> Result<Network, String> {
    match value {
        "default" => Ok(Network::Default),
        "none" => Ok(Network::None),
        "host" => Ok(Network::Host),
        other => Err(format!(
            "network mode \"{other}\" not supported, expected none, host or default"
        )),
    }
}

pub(crate) fn parse_security(value: &str) -> Result<Security, String> {
    match value {
        "sandbox" => Ok(Security::Sandbox),
        "insecure" => Ok(Security::Insecure),
        other => Err(format!(
            "security mode \"{other}\" not supported, expected sandbox or insecure"
        )),
    }
}

/// A `RUN --mount` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// `bind` (the default): a directory of the context or of `from`; read-only by default.
    Bind,
    /// `cache`: a persistent cache directory shared between builds.
    Cache,
    /// `tmpfs`: an empty tmpfs.
    Tmpfs,
    /// `secret`: a secret file (default target `/run/secrets/<id>`).
    Secret,
    /// `ssh`: an SSH agent socket (default target `/run/buildkit/ssh_agent.<n>`).
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// `shared` (the default): used concurrently.
    Shared,
    /// `private`: a new copy when in use.
    Private,
    /// `locked`: wait until released.
    Locked,
}

/// One `RUN --mount=type=...,key=value,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// `type=`.
    pub kind: MountType,
    /// `target=` (`dst=`, `destination=`); required but for `secret` and `ssh`.
    pub target: Option<String>,
    /// `source=` (`src=`).
    pub source: Option<String>,
    /// `from=`: a stage or image to bind or seed from.
    pub from: Option<String>,
    /// `id=`: the cache, secret or ssh id (a cache's defaults to its target).
    pub id: Option<String>,
    /// `sharing=` (cache only).
    pub sharing: Sharing,
    /// `ro`/`readonly`, `rw`/`readwrite`; defaults to true for `bind`, `secret`, `ssh`.
    pub readonly: bool,
    /// `mode=` (octal); BuildKit defaults: cache 0755, secret 0400, ssh 0600.
    pub mode: Option<u32>,
    /// `uid=`; default 0.
    pub uid: Option<u32>,
    /// `gid=`; default 0.
    pub gid: Option<u32>,
    /// `required` (secret, ssh): fail if not provided.
    pub required: bool,
    /// `size=` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `env=` (secret): expose the secret as this variable.
    pub env: Option<String>,
    /// The flag's value as written: values may contain variables, so the builder re-parses it
    /// with [`Mount::parse`] and an expander when it contains `$`.
    pub raw: String,
}

/// Splits a CSV record (`a,"b,c",d`).
fn csv_fields(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// `64m`, `1g`, `100`: a size with binary units, as Docker's `RAMInBytes`.
fn parse_size(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let unitless = lower.trim_end_matches("ib").trim_end_matches('b');
    let (number, multiplier) = match unitless.chars().last() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => (
            &unitless[..unitless.len() - 1],
            1u64 << (10 * (1 + "kmgtp".find(c).unwrap_or(0))),
        ),
        _ => (unitless, 1),
    };
    match number.parse::<f64>() {
        Ok(n) if n >= 0.0 => Ok((n * multiplier as f64) as u64),
        _ => Err(format!("invalid size: '{value}'")),
    }
}

impl Mount {
    /// Parses a `--mount` value. Each value is passed through `expand` first when given;
    /// without it (at parse time) numbers that contain `$` are left unset, to be re-parsed.
    pub fn parse(spec: &str, expand: Option<Expander<'_>>) -> Result<Mount, String> {
        let mut m = Mount {
            kind: MountType::Bind,
            target: None,
            source: None,
            from: None,
            id: None,
            sharing: Sharing::Shared,
            readonly: true,
            mode: None,
            uid: None,
            gid: None,
            required: false,
            size: None,
            env: None,
            raw: spec.to_string(),
        };
        let mut readonly: Option<bool> = None;
        let mut sharing = None;
        for field in csv_fields(spec) {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
                None => {
                    match field.to_ascii_lowercase().as_str() {
                        "" => {}
                        "readonly" | "ro" => readonly = Some(true),
                        "readwrite" | "rw" => readonly = Some(false),
                        "required" => m.required = true,
                        _ => {
                            return Err(format!(
                                "invalid field '{field}' must be a key=value pair"
                            ));
                        }
                    }
                    continue;
                }
            };
            let deferred = expand.is_none() && value.contains('$');
            let value = match expand {
                Some(f) => f(&value)?,
                None => value,
            };
            let number = |radix: u32| -> Result<Option<u32>, String> {
                match u32::from_str_radix(&value, radix) {
                    Ok(n) => Ok(Some(n)),
                    Err(_) if deferred => Ok(None),
                    Err(_) => Err(format!("invalid value {value} for {key}")),
                }
            };
            match key.as_str() {
                "type" => {
                    m.kind = match value.to_ascii_lowercase().as_str() {
                        "bind" => MountType::Bind,
                        "cache" => MountType::Cache,
                        "tmpfs" => MountType::Tmpfs,
                        "secret" => MountType::Secret,
                        "ssh" => MountType::Ssh,
                        _ => {
                            return Err(format!(
                                "unsupported mount type \"{value}\", expected bind, cache, tmpfs, secret or ssh"
                            ));
                        }
                    }
                }
                "from" => m.from = Some(value),
                "source" | "src" => m.source = Some(value),
                "target" | "dst" | "destination" => m.target = Some(value),
                "readonly" | "ro" => readonly = Some(parse_bool(&key, &value)?),
                "readwrite" | "rw" => readonly = Some(!parse_bool(&key, &value)?),
                "required" => m.required = parse_bool(&key, &value)?,
                "id" => m.id = Some(value),
                "sharing" => {
                    sharing = Some(match value.to_ascii_lowercase().as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => {
                            return Err(format!(
                                "unsupported sharing value \"{value}\", expected shared, private or locked"
                            ));
                        }
                    })
                }
                "mode" => m.mode = number(8)?,
                "uid" => m.uid = number(10)?,
                "gid" => m.gid = number(10)?,
                "size" if deferred => {}
                "size" => m.size = Some(parse_size(&value)?),
                "env" => m.env = Some(value),
                _ => return Err(format!("unexpected key '{key}' in '{field}'")),
            }
        }
        m.readonly = readonly.unwrap_or(!matches!(m.kind, MountType::Cache | MountType::Tmpfs));
        if let Some(s) = sharing {
            if m.kind != MountType::Cache {
                return Err(format!(
                    "invalid cache sharing set for {} mount",
                    m.kind_name()
                ));
            }
            m.sharing = s;
        }
        if m.required && !matches!(m.kind, MountType::Secret | MountType::Ssh) {
            return Err(format!(
                "unexpected key 'required' for mount type '{}'",
                m.kind_name()
            ));
        }
        if m.size.is_some() && m.kind != MountType::Tmpfs {
            return Err(format!(
                "unexpected key 'size' for mount type '{}'",
                m.kind_name()
            ));
        }
        match m.kind {
            MountType::Secret => {
                if m.from.is_some() {
                    return Err("secret mount should not have a from".into());
                }
                if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
                    return Err("secret mount needs one of id, source, target or env".into());
                }
                if m.source.is_some() && m.id.is_some() {
                    return Err("secret mount cannot have both source and id".into());
                }
            }
            MountType::Ssh => {}
            _ if m.target.is_none() => {
                return Err(format!("{} mount needs a target", m.kind_name()));
            }
            _ => {}
        }
        Ok(m)
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5h`, `300ms`, `10us`, `0`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration \"{text}\"");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(bad());
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        nanos += number * unit;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// A port or port range of `EXPOSE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (`start` for a single port).
    pub end: u16,
    /// The protocol (TCP when not given).
    pub protocol: Protocol,
}

/// A port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`.
    Sctp,
}

/// Parses one expanded `EXPOSE` word: `80`, `80/tcp`, `53/udp`, `8000-8010/tcp`.
pub fn parse_port(spec: &str) -> Result<PortRange, String> {
    let (ports, protocol) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto),
        None => (spec, "tcp"),
    };
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => {
            return Err(format!(
                "invalid protocol \"{other}\" in port \"{spec}\", expected tcp, udp or sctp"
            ));
        }
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid port \"{spec}\": expected port[-port][/protocol]"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if end < start {
        return Err(format!("invalid port range \"{spec}\": end before start"));
    }
    Ok(PortRange {
        start,
        end,
        protocol,
    })
}

/// Splits an expanded `USER` value into user and optional group.
pub fn split_user(value: &str) -> (&str, Option<&str>) {
    match value.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (value, None),
    }
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
