//! The pieces of a profile's JSON: lists of strings, errno values, actions, entries and their
//! `includes`/`excludes`; each error says which field is wrong.

use serde_json::Value;

use super::{Entry, Filter, OPS, SeccompAction, SeccompArg, parse_kernel};

/// Field `key` of `v` as a list of strings (empty when missing or null).
pub(super) fn strings(v: &Value, key: &str) -> std::result::Result<Vec<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{key}: not a list of strings")),
        Some(_) => Err(format!("{key}: not a list of strings")),
    }
}

/// Field `key` of `v` as an errno value, if given.
pub(super) fn opt_u16(v: &Value, key: &str) -> std::result::Result<Option<u16>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{key}: {n} is not a number from 0 to 65535")),
    }
}

/// An action name, with the entry's (or profile's) `errnoRet`.
pub(super) fn action(v: &Value, errno: Option<u16>) -> std::result::Result<SeccompAction, String> {
    let name = v.as_str().ok_or("missing or not a string")?;
    let action = match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u16)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u16)),
        "SCMP_ACT_NOTIFY" => return Err("unsupported action SCMP_ACT_NOTIFY".into()),
        other => return Err(format!("unknown action {other:?}")),
    };
    if errno.is_some() && !matches!(action, SeccompAction::Errno(_) | SeccompAction::Trace(_)) {
        return Err(format!(
            "errnoRet is only for SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}"
        ));
    }
    Ok(action)
}

/// One `syscalls` entry.
pub(super) fn entry(e: &Value) -> std::result::Result<Entry, String> {
    if !e.is_object() {
        return Err("not an object".into());
    }
    let mut names = strings(e, "names")?;
    match e.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) if !names.is_empty() => {
            return Err("both 'name' and 'names' are given; use one".into());
        }
        Some(Value::String(n)) => names.push(n.clone()),
        Some(_) => return Err("name: not a string".into()),
    }
    let action =
        action(&e["action"], opt_u16(e, "errnoRet")?).map_err(|r| format!("action: {r}"))?;
    let mut args = Vec::new();
    for a in e
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = a["index"]
            .as_u64()
            .filter(|&i| i < 6)
            .ok_or_else(|| format!("argument index {} must be 0 to 5", a["index"]))?;
        let number = |key: &str| match &a[key] {
            Value::Null => Ok(0),
            v => v
                .as_u64()
                .ok_or_else(|| format!("argument {index}: {key} {v} is not a u64")),
        };
        let op_name = a["op"].as_str().unwrap_or_default();
        let op = OPS
            .iter()
            .find(|(n, _)| *n == op_name)
            .map(|&(_, op)| op)
            .ok_or_else(|| format!("argument {index}: unsupported operator {:?}", a["op"]))?;
        args.push(SeccompArg {
            index: index as u8,
            value: number("value")?,
            value_two: number("valueTwo")?,
            op,
        });
    }
    Ok(Entry {
        names,
        action,
        args,
        includes: filter(e, "includes")?,
        excludes: filter(e, "excludes")?,
    })
}

/// An entry's `includes` or `excludes`.
pub(super) fn filter(e: &Value, key: &str) -> std::result::Result<Filter, String> {
    let Some(f) = e.get(key).filter(|f| !f.is_null()) else {
        return Ok(Filter::default());
    };
    let min_kernel = match &f["minKernel"] {
        Value::Null => None,
        Value::String(s) => Some(
            parse_kernel(s).ok_or_else(|| format!("{key}.minKernel {s:?} is not like \"5.8\""))?,
        ),
        v => return Err(format!("{key}.minKernel {v} is not a string")),
    };
    Ok(Filter {
        caps: strings(f, "caps").map_err(|r| format!("{key}.{r}"))?,
        arches: strings(f, "arches").map_err(|r| format!("{key}.{r}"))?,
        min_kernel,
    })
}
