//! Dockerfile-like `--change` lines (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`,
//! `STOPSIGNAL`, `USER`, `VOLUME`, `WORKDIR`) applied to an image config, for `import` and
//! `commit`. A line that is not one of these is [`crate::Error::InvalidArgument`].

use serde_json::{Map, Value, json};

use super::bad;
use crate::error::Result;

/// Apply one Dockerfile-style instruction to an image's `config`.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = match change.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (change, ""),
    };
    let list = |rest: &str| -> Value {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) if rest.starts_with('[') => json!(v),
            _ => json!(words(rest)),
        }
    };
    let object = |config: &mut Map<String, Value>, key: &str| -> Map<String, Value> {
        match config.remove(key) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" | "ENTRYPOINT" => {
            let key = if instr.eq_ignore_ascii_case("CMD") {
                "Cmd"
            } else {
                "Entrypoint"
            };
            let v = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) if rest.starts_with('[') => json!(v),
                _ => json!(["/bin/sh", "-c", rest]),
            };
            config.insert(key.into(), v);
        }
        "ENV" => {
            let mut env: Vec<String> = config
                .remove("Env")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            for (k, v) in pairs(rest)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
            config.insert("Env".into(), json!(env));
        }
        "LABEL" => {
            let mut labels = object(config, "Labels");
            for (k, v) in pairs(rest)? {
                labels.insert(k, json!(v));
            }
            config.insert("Labels".into(), Value::Object(labels));
        }
        "EXPOSE" => {
            let mut ports = object(config, "ExposedPorts");
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, json!({}));
            }
            config.insert("ExposedPorts".into(), Value::Object(ports));
        }
        "VOLUME" => {
            let mut volumes = object(config, "Volumes");
            for v in list(rest).as_array().into_iter().flatten() {
                volumes.insert(v.as_str().unwrap_or_default().to_string(), json!({}));
            }
            config.insert("Volumes".into(), Value::Object(volumes));
        }
        "USER" => _ = config.insert("User".into(), json!(rest)),
        "WORKDIR" => _ = config.insert("WorkingDir".into(), json!(rest)),
        "STOPSIGNAL" => _ = config.insert("StopSignal".into(), json!(rest)),
        other => {
            return Err(bad(format!(
                "unsupported instruction {other:?}: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"
            )));
        }
    }
    if rest.is_empty() {
        return Err(bad(format!("{instr} needs an argument")));
    }
    Ok(())
}

/// Split on whitespace outside quotes; quotes are removed, a backslash escapes the next char.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                started = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                started = true;
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (c, _) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// `k=v k2="v 2"` or the old `k v` form.
fn pairs(rest: &str) -> Result<Vec<(String, String)>> {
    let ws = words(rest);
    match ws.first() {
        Some(first) if !first.contains('=') => {
            let value = rest.trim_start()[first.len()..].trim();
            Ok(vec![(first.clone(), value.to_string())])
        }
        _ => ws
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(bad(format!("expected key=value, got {w:?}"))),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_edit_the_config_like_docker() {
        let mut c = Map::new();
        apply_change(&mut c, r#"CMD ["/bin/sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "entrypoint /init --quiet").unwrap();
        apply_change(&mut c, "ENV PATH=/bin:/usr/bin A=\"b c\"").unwrap();
        apply_change(&mut c, "ENV PATH /sbin").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "LABEL a=1 b=\"two words\"").unwrap();
        apply_change(&mut c, r#"VOLUME ["/data"]"#).unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        let c = Value::Object(c);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init --quiet"]));
        assert_eq!(c["Env"], json!(["A=b c", "PATH=/sbin"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "1", "b": "two words"}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["WorkingDir"], "/srv");
        let mut c = Map::new();
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
