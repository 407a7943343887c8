//! `berth events`: the engine's event journal (`<root>/events`), as Docker prints it — one line
//! per event, or `--format '{{json .}}'` — with `--since`, `--until` and `--filter`. Without
//! `--until` it prints past events and stops (berth has no daemon whose stream it could follow).
//! Also the emitters the container commands call until they move into the engine.

use anyhow::Result;
use berth_engine::events::{Event, EventFilter};

/// `berth events`
#[derive(clap::Args)]
pub struct EventsArgs {
    /// Show events created since this time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Show events created until this time.
    #[arg(long)]
    until: Option<String>,
    /// Filter: type, event, container, image, volume, network, label, scope (repeatable).
    #[arg(long = "filter", short = 'f')]
    filters: Vec<String>,
    /// `json` (or `{{json .}}`): one JSON object per line.
    #[arg(long)]
    format: Option<String>,
}

pub use berth_engine::events::{emit, journal};

/// Record a container event with its `name` and `image` attributes (and `extra` ones).
pub async fn emit_container(
    ctx: &super::context::Context,
    action: &str,
    id: &str,
    extra: &[(&str, String)],
) {
    ctx.emit_container(action, id, extra).await
}

/// Docker's line: `TIME TYPE ACTION ID (k=v, …)`.
fn line(e: &Event) -> String {
    let secs = e.time_nano.div_euclid(1_000_000_000);
    let nanos = e.time_nano.rem_euclid(1_000_000_000) as u32;
    let time = berth_oci::time::rfc3339(secs, Some(nanos));
    let attrs: Vec<String> = e
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{time} {} {} {} ({})",
        e.kind,
        e.action,
        e.actor.id,
        attrs.join(", ")
    )
}

/// Run `berth events`.
pub async fn events(args: EventsArgs) -> Result<()> {
    let config = berth_client::config::Config::load()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut filter = EventFilter::default();
    if let Some(s) = &args.since {
        filter.since_nano = Some(super::context::parse_time(s, now)?.saturating_mul(1_000_000_000));
    }
    if let Some(u) = &args.until {
        // Whole seconds: everything within the named second is included.
        let u = super::context::parse_time(u, now)?;
        filter.until_nano = Some(u.saturating_mul(1_000_000_000) + 999_999_999);
    }
    for f in &args.filters {
        filter.add(f)?;
    }
    let json = match args.format.as_deref().map(str::trim) {
        None | Some("") => false,
        Some("json") | Some("{{json .}}") => true,
        Some(other) => anyhow::bail!("unsupported --format {other:?}: use json"),
    };
    let root = config.root.clone();
    let events = tokio::task::spawn_blocking(move || journal(&root).read(&filter)).await??;
    let mut out = String::new();
    for e in &events {
        if json {
            out.push_str(&serde_json::to_string(e)?);
        } else {
            out.push_str(&line(e));
        }
        out.push('\n');
    }
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    Ok(())
}
