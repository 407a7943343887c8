//! `berth logs`: a container's output from its Docker json-file log.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use berth_store::State;

use super::context::Context;

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
    /// The container (name or id).
    pub container: String,
}

/// `<root>/containers/v1/<id>/<id>-json.log`
pub fn log_path(root: &Path, id: &str) -> PathBuf {
    root.join("containers")
        .join("v1")
        .join(id)
        .join(format!("{id}-json.log"))
}

/// `t` as RFC 3339 with nanoseconds (`2024-01-02T03:04:05.123456789Z`).
pub fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = super::container::rfc3339(Some(d.as_secs() as i64));
    format!("{}.{:09}Z", secs.trim_end_matches('Z'), d.subsec_nanos())
}

/// Print complete json-file lines from `data`; returns how many bytes it consumed.
fn print_lines(data: &[u8], timestamps: bool) -> usize {
    let mut used = 0;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    while let Some(n) = data[used..].iter().position(|&b| b == b'\n') {
        let line = &data[used..used + n];
        used += n + 1;
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let text = v["log"].as_str().unwrap_or_default();
        let shown = if timestamps {
            format!("{} {text}", v["time"].as_str().unwrap_or_default())
        } else {
            text.to_string()
        };
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
    let path = log_path(&ctx.config.root, &c.id);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !args.follow => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut data = Vec::new();
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
    let mut offset = start + print_lines(&data[start..complete], args.timestamps);
    if !args.follow {
        return Ok(());
    }
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
        offset += print_lines(&more, args.timestamps);
        if !running {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
