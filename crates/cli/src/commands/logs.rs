//! `berth logs`: a container's output from its Docker json-file log.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use berth_store::State;

use super::context::{Context, parse_time};

/// `berth logs`
#[derive(clap::Args)]
pub struct LogsArgs {
    /// Follow the output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Show only the last N lines (`all`: every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Prefix each line with its time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show the extra attributes of each line (`--log-opt labels=…,env=…`), as `k=v,k=v`
    /// before the line; berth records none yet, so the set is empty.
    #[arg(long)]
    pub details: bool,
    /// Only lines since this time: RFC 3339 (`2024-01-02T03:04:05Z`), Unix seconds, or a
    /// duration before now (`10m`, `1h30m`, `42s`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines before this time (same forms as `--since`).
    #[arg(long)]
    pub until: Option<String>,
    /// The container (name or id).
    pub container: String,
}

/// `<root>/containers/v1/<id>/<id>-json.log`
pub fn log_path(root: &Path, id: &str) -> PathBuf {
    berth_store::Layout::new(root).container_log(id)
}

/// `t` as RFC 3339 with nanoseconds (`2024-01-02T03:04:05.123456789Z`).
pub fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    berth_oci::time::rfc3339(d.as_secs() as i64, Some(d.subsec_nanos()))
}

/// The window of times `--since`/`--until` keep (inclusive, exclusive).
#[derive(Clone, Copy)]
struct Window {
    since: Option<i64>,
    until: Option<i64>,
}

impl Window {
    fn keeps(&self, time: &str) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = super::context::parse_rfc3339(time) else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// How each line is shown.
#[derive(Clone, Copy)]
struct Shape {
    timestamps: bool,
    details: bool,
}

/// Docker's attribute set of a line (`--details`): `k=v` pairs, keys sorted, both
/// URL-query-escaped, joined by `,`; empty when the line has none.
fn details_of(v: &serde_json::Value) -> String {
    let Some(attrs) = v["attrs"].as_object() else {
        return String::new();
    };
    let mut pairs: Vec<(&String, &str)> = attrs
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One json-file entry as Docker's `logs` prints it: `[TIME ][DETAILS ]LINE` (with
/// `--details` and no attributes, a lone space before the line, as Docker does).
fn shown_line(v: &serde_json::Value, shape: Shape) -> String {
    let text = v["log"].as_str().unwrap_or_default();
    let mut shown = String::new();
    if shape.timestamps {
        shown.push_str(v["time"].as_str().unwrap_or_default());
        shown.push(' ');
    }
    if shape.details {
        shown.push_str(&details_of(v));
        shown.push(' ');
    }
    shown.push_str(text);
    shown
}

/// Print complete json-file lines from `data` within `window`; returns how many bytes it
/// consumed.
fn print_lines(data: &[u8], shape: Shape, window: Window) -> usize {
    let mut used = 0;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    while let Some(n) = data[used..].iter().position(|&b| b == b'\n') {
        let line = &data[used..used + n];
        used += n + 1;
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if !window.keeps(v["time"].as_str().unwrap_or_default()) {
            continue;
        }
        let shown = shown_line(&v, shape);
        let _ = if v["stream"] == "stderr" {
            err.write_all(shown.as_bytes())
        } else {
            out.write_all(shown.as_bytes())
        };
    }
    let _ = out.flush();
    used
}

/// Run `berth logs`.
pub async fn logs(args: LogsArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = ctx.store.find_container(&args.container).await?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => match n.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => bail!("invalid --tail {n:?}: a number or \"all\""),
        },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let window = Window {
        since: args
            .since
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
    };
    let record = berth_engine::model::Record::parse(&c.config).map_err(anyhow::Error::msg)?;
    if record.host_config.log_config.kind == berth_engine::model::LogDriver::None {
        anyhow::bail!("configured logging driver does not support reading");
    }
    let path = log_path(&ctx.config.root, &c.id);
    // Rotated files first (`--log-opt max-size/max-file`), oldest first.
    let mut data = Vec::new();
    for rotated in berth_engine::containers::logfile::files(&path)
        .iter()
        .filter(|f| **f != path)
    {
        data.extend(std::fs::read(rotated)?);
    }
    let prefix = data.len();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !args.follow => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    file.read_to_end(&mut data)?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut start = 0;
    if let Some(n) = tail {
        let lines: Vec<usize> = std::iter::once(0)
            .chain(
                data[..complete]
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        // lines[k] is the start of line k; the last entry is the end.
        let count = lines.len() - 1;
        start = lines[count.saturating_sub(n)];
    }
    let shape = Shape {
        timestamps: args.timestamps,
        details: args.details,
    };
    let printed = start + print_lines(&data[start..complete], shape, window);
    if !args.follow {
        return Ok(());
    }
    // Followed in the current file.
    let mut offset = printed.saturating_sub(prefix);
    loop {
        // Reconciled: a container whose supervisor died is never marked exited otherwise,
        // and following it would never end.
        let running = match ctx.store.container(&c.id).await? {
            Some(c) => matches!(
                super::liveness::reconcile(&ctx, c).await?,
                Some(c) if c.state != State::Exited
            ),
            None => false,
        };
        file.seek(SeekFrom::Start(offset as u64))?;
        let mut more = Vec::new();
        file.read_to_end(&mut more)?;
        offset += print_lines(&more, shape, window);
        if !running {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Shape, shown_line};
    use crate::commands::context::parse_time;

    #[test]
    fn details_as_docker_prints_them() {
        let shape = |timestamps, details| Shape {
            timestamps,
            details,
        };
        let v = serde_json::json!({"log": "hi\n", "stream": "stdout", "time": "T"});
        assert_eq!(shown_line(&v, shape(false, true)), " hi\n");
        assert_eq!(shown_line(&v, shape(true, true)), "T  hi\n");
        assert_eq!(shown_line(&v, shape(true, false)), "T hi\n");
        let v = serde_json::json!({"log": "x\n", "attrs": {"b": "2 3", "a": "1/"}});
        assert_eq!(shown_line(&v, shape(false, true)), "a=1%2F,b=2+3 x\n");
    }

    #[test]
    fn times_take_docker_forms() {
        let now = 1_700_000_000;
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000
        );
        assert_eq!(parse_time("1699999999", now).unwrap(), 1_699_999_999);
        assert_eq!(parse_time("1699999999.5", now).unwrap(), 1_699_999_999);
        assert_eq!(parse_time("10m", now).unwrap(), now - 600);
        assert_eq!(parse_time("1h30m5s", now).unwrap(), now - 5405);
        assert!(parse_time("soon", now).is_err());
        assert!(parse_time("10", now).is_ok());
        assert!(parse_time("5x", now).is_err());
    }
}
