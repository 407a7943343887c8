//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: a container's published ports, as
//! `docker port` lists them, from the record's `HostConfig.PortBindings`. Like Docker, a
//! stopped container publishes nothing.

use std::cmp::Ordering;

use anyhow::{Result, bail};
use berth_store::State;

use super::context::Context;
use super::liveness;

/// `berth port`
#[derive(clap::Args)]
pub struct PortArgs {
    /// The container (name or id).
    pub container: String,
    /// Only this private port (`80`, `80/tcp`, `53/udp`).
    pub port: Option<String>,
}

/// `HostIp:HostPort` as Go's `net.JoinHostPort` writes it (`[::]:8080` for IPv6).
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The host addresses a binding is published on: an empty `HostIp` is every IPv4 and IPv6
/// address, shown as Docker 28 shows such a binding (`0.0.0.0` and `[::]`).
fn frontends(bindings: &[berth_engine::model::PortBinding]) -> Vec<String> {
    let mut out = vec![];
    for b in bindings {
        if b.host_ip.is_empty() {
            out.push(join_host_port("0.0.0.0", &b.host_port));
            out.push(join_host_port("::", &b.host_port));
        } else {
            out.push(join_host_port(&b.host_ip, &b.host_port));
        }
    }
    out
}

/// Docker's `sortorder.NaturalLess`: runs of digits compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let o = ta.len().cmp(&tb.len()).then(ta.cmp(tb));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (&a[na..], &b[nb..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

/// The lines `berth port` prints for `bindings` (`"80/tcp"` → host bindings), sorted as
/// Docker sorts them: `80/tcp -> 0.0.0.0:8080` each, or with `port`, only that private port's
/// `0.0.0.0:8080`; `None` when `port` is not published.
pub fn lines(
    bindings: &std::collections::BTreeMap<String, Vec<berth_engine::model::PortBinding>>,
    port: Option<&str>,
) -> Result<Option<Vec<String>>> {
    let mut out = vec![];
    match port {
        Some(p) => {
            let (number, proto) = p.split_once('/').unwrap_or((p, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if number.parse::<u16>().is_err() {
                bail!("Error: invalid port ({number})");
            }
            let key = format!("{number}/{}", proto.to_lowercase());
            match bindings.get(&key) {
                Some(b) if !b.is_empty() => out.extend(frontends(b)),
                _ => return Ok(None),
            }
        }
        None => {
            for (from, b) in bindings {
                out.extend(frontends(b).into_iter().map(|f| format!("{from} -> {f}")));
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(Some(out))
}

/// Run `berth port`.
pub async fn port(args: PortArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = liveness::find(&ctx, &args.container).await?;
    let record = super::run::record(&c)?;
    // Published only while it runs, as Docker's `NetworkSettings.Ports`.
    let empty = Default::default();
    let bindings = if c.state == State::Running {
        &record.host_config.port_bindings
    } else {
        &empty
    };
    let Some(lines) = lines(bindings, args.port.as_deref())? else {
        bail!(
            "Error: No public port '{}' published for {}",
            args.port.unwrap_or_default(),
            args.container
        );
    };
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::model::PortBinding;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn lines_as_docker_port_prints_them() {
        let map = std::collections::BTreeMap::from([
            ("80/tcp".to_string(), vec![b("", "8080")]),
            ("9/udp".to_string(), vec![b("127.0.0.1", "90")]),
            ("443/tcp".to_string(), vec![b("::1", "8443")]),
        ]);
        assert_eq!(
            lines(&map, None).unwrap().unwrap(),
            [
                "9/udp -> 127.0.0.1:90",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> [::1]:8443",
            ]
        );
        assert_eq!(
            lines(&map, Some("80")).unwrap().unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            lines(&map, Some("9/udp")).unwrap().unwrap(),
            ["127.0.0.1:90"]
        );
        assert!(lines(&map, Some("81/tcp")).unwrap().is_none());
        assert!(lines(&map, Some("9")).unwrap().is_none());
        assert!(lines(&map, Some("x")).is_err());
    }
}
