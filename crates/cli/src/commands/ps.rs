//! `berth ps`: the container records as Docker lists them, newest first, with `--filter`,
//! `-n`/`-l`, `-s`, `--no-trunc` and `--format`. Records are reconciled with their processes
//! first (`liveness`); image labels and sizes come from the image store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use anyhow::Result;
use berth_store::{Container, State};
use serde_json::Value;

use super::container::{state_name, status};
use super::context::{Context, human_ago, human_size, print_table};
use super::filter::{Filters, label_matches, labels_of};
use super::format::{Format, PS_FIELDS, Row, ellipsis, go_time};
use super::liveness;

/// `berth ps`
#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only show container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter (KEY=VALUE): id, name, label, exited, status, ancestor, before, since, volume,
    /// network, publish, expose, health, is-task, isolation.
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Show the last N created containers, in any state.
    #[arg(short = 'n', long, allow_negative_numbers = true, default_value_t = -1)]
    pub last: i64,
    /// Show the latest created container, in any state.
    #[arg(short, long)]
    pub latest: bool,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show the size of each container's writable layer (and of its image).
    #[arg(short, long)]
    pub size: bool,
    /// Output format: `table`, `json` (one object per line) or a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

/// Docker's `ps` filters (`isolation` only matches the empty Linux default).
const FILTERS: &[&str] = &[
    "id",
    "name",
    "status",
    "exited",
    "ancestor",
    "label",
    "before",
    "since",
    "volume",
    "network",
    "publish",
    "expose",
    "health",
    "is-task",
    "isolation",
];
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// The health state `ps --filter health=` sees: `starting`, `healthy`, `unhealthy`, or
/// `none` for a container without a health check.
pub fn health_of(c: &Container) -> &str {
    c.health.as_ref().map_or("none", |h| h.status.as_str())
}

/// The networks a container is on, by name, as `ps --filter network=` matches them: its
/// `NetworkMode` (berth's default is `none` until networking exists); none for a container
/// sharing another's namespace.
fn networks_of(record: &berth_engine::model::Record) -> Vec<String> {
    use berth_engine::model::NetworkMode;
    match &record.host_config.network_mode {
        NetworkMode::Default => vec!["none".into()],
        NetworkMode::Container(_) => vec![],
        mode => vec![mode.to_string()],
    }
}

/// A `publish=`/`expose=` value as the private ports it names (`80`, `80/udp`,
/// `8000-8080/tcp`: `PORT/proto` keys as in `PortBindings`), Docker's checks and errors.
fn port_filter(key: &str, value: &str) -> Result<Vec<String>> {
    if value.contains(':') {
        anyhow::bail!("filter for '{key}' should not contain ':': {value}");
    }
    let (range, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    let bad = || anyhow::anyhow!("error while looking up for {key} {value}: invalid port range");
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = range.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    Ok((start..=end)
        .map(|p| format!("{p}/{}", proto.to_lowercase()))
        .collect())
}

/// The `rootfs.diff_ids` of an image config.
fn diff_ids(ctx: &Context, img: &berth_store::Image) -> Vec<String> {
    ctx.store
        .blobs()
        .read(&img.record.id)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|cfg| {
            cfg["rootfs"]["diff_ids"].as_array().map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}
const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Run `berth ps`.
pub async fn ps(args: PsArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let format = Format::parse(
        args.format.as_deref(),
        PS_FIELDS,
        "*formatter.ContainerContext",
    )?;
    let filters = Filters::parse(&args.filter, FILTERS)?;
    filters.check("status", |v| STATES.contains(&v))?;
    filters.check("exited", |v| v.parse::<i64>().is_ok())?;
    filters.check("health", |v| HEALTH.contains(&v))?;
    filters.check("is-task", |v| v == "true" || v == "false")?;
    let mut published: HashSet<String> = HashSet::new();
    for v in filters.get("publish") {
        published.extend(port_filter("publish", v)?);
    }
    let mut exposed: HashSet<String> = HashSet::new();
    for v in filters.get("expose") {
        exposed.extend(port_filter("expose", v)?);
    }
    // `name=`: a regular expression on `/NAME`, as Docker matches it.
    let names = filters
        .get("name")
        .iter()
        .map(|v| {
            regex::Regex::new(v).map_err(|e| anyhow::anyhow!("invalid filter 'name={v}': {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let all_list = liveness::all(&ctx).await?;
    // Newest first: `before` keeps what comes after its container, `since` what comes before.
    let position = |q: &str| -> Result<usize> {
        all_list
            .iter()
            .position(|c| c.name == q || c.id.starts_with(q))
            .ok_or_else(|| anyhow::anyhow!("No such container: {q}"))
    };
    let before = filters
        .get("before")
        .iter()
        .map(|q| position(q))
        .collect::<Result<Vec<_>>>()?;
    let since = filters
        .get("since")
        .iter()
        .map(|q| position(q))
        .collect::<Result<Vec<_>>>()?;
    let images: HashMap<String, berth_store::Image> = ctx
        .store
        .images()
        .await?
        .into_iter()
        .map(|i| (i.record.id.to_string(), i))
        .collect();
    // `ancestor=`: an image by id, name or name:tag, and the images built on it (whose layers
    // start with all of its own). Like Docker, an image that is not there matches nothing.
    let mut ancestors = HashSet::new();
    if filters.has("ancestor") {
        let mut bases = vec![];
        for q in filters.get("ancestor") {
            if let Ok(img) = ctx.find_image(q).await {
                ancestors.insert(img.record.id.to_string());
                bases.push(diff_ids(&ctx, &img));
            }
        }
        for (id, img) in &images {
            let layers = diff_ids(&ctx, img);
            if bases
                .iter()
                .any(|b| !b.is_empty() && layers.len() > b.len() && layers.starts_with(b))
            {
                ancestors.insert(id.clone());
            }
        }
    }
    let mut labels_cache: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut labels = |image_id: &str| -> BTreeMap<String, String> {
        labels_cache
            .entry(image_id.to_string())
            .or_insert_with(|| {
                let Some(img) = images.get(image_id) else {
                    return BTreeMap::new();
                };
                ctx.store
                    .blobs()
                    .read(&img.record.id)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .map(|cfg| labels_of(&cfg))
                    .unwrap_or_default()
            })
            .clone()
    };
    let limit = if args.latest { 1 } else { args.last };
    // Docker lists stopped containers too when asked for the last ones, for states, or
    // relative to another container.
    let all = args.all
        || limit > 0
        || filters.has("status")
        || filters.has("before")
        || filters.has("since");
    let mut list: Vec<(Container, BTreeMap<String, String>)> = vec![];
    for (i, c) in all_list.iter().enumerate() {
        let state = state_name(c);
        let keep = (all || c.state == State::Running)
            && before.iter().all(|&p| i > p)
            && since.iter().all(|&p| i < p)
            && filters.any("id", |v| c.id.starts_with(v))
            && (!filters.has("name") || names.iter().any(|r| r.is_match(&format!("/{}", c.name))))
            && filters.any("status", |v| v == state)
            && filters.any("exited", |v| {
                c.state == State::Exited
                    && c.started_at.is_some()
                    && c.exit_code.unwrap_or(0).to_string() == v
            })
            && (!filters.has("ancestor") || ancestors.contains(&c.image_id))
            && filters.any("health", |v| v == health_of(c))
            // Not a swarm task: berth has no swarm.
            && filters.any("is-task", |v| v == "false")
            && filters.any("isolation", str::is_empty)
            && (!filters.has("network")
                && !filters.has("publish")
                && !filters.has("expose")
                || {
                    let record = super::run::record(c).unwrap_or_default();
                    let networks = networks_of(&record);
                    let bound = &record.host_config.port_bindings;
                    filters.any("network", |v| networks.iter().any(|n| n == v))
                        && (published.is_empty()
                            || published.iter().any(|p| bound.contains_key(p)))
                        && (exposed.is_empty()
                            || exposed.iter().any(|p| {
                                record.config.exposed_ports.contains_key(p)
                                    || bound.contains_key(p)
                            }))
                })
            && (!filters.has("volume") || {
                // A volume's name, or a mount's destination, as Docker matches them.
                let record = super::run::record(c).unwrap_or_default();
                let names = record.volumes();
                let dests: Vec<String> = record
                    .mount_points
                    .iter()
                    .map(|m| m.destination.clone())
                    .collect();
                filters.any("volume", |v| {
                    names.iter().any(|n| n == v) || dests.iter().any(|d| d == v)
                })
            });
        if !keep {
            continue;
        }
        let l = labels(&c.image_id);
        if filters.any("label", |v| label_matches(&l, v)) {
            list.push((c.clone(), l));
        }
        if limit > 0 && list.len() as i64 >= limit {
            break;
        }
    }
    let id = |c: &Container| {
        if args.no_trunc {
            c.id.clone()
        } else {
            c.id[..12].to_string()
        }
    };
    if args.quiet {
        for (c, _) in &list {
            println!("{}", id(c));
        }
        return Ok(());
    }
    // The image as recorded, unless that name now names another image (or none): then its
    // id, as Docker shows it.
    let mut shown_images: HashMap<String, String> = HashMap::new();
    // What each name recorded resolves to now, looked up once per name.
    let mut resolved: HashMap<String, Option<String>> = HashMap::new();
    for (c, _) in &list {
        if shown_images.contains_key(&c.id) {
            continue;
        }
        if !resolved.contains_key(&c.image) {
            let id = ctx
                .find_image(&c.image)
                .await
                .ok()
                .map(|i| i.record.id.to_string());
            resolved.insert(c.image.clone(), id);
        }
        let current = resolved[&c.image].clone();
        let shown = if current.as_deref() == Some(c.image_id.as_str()) || c.image_id.is_empty() {
            c.image.clone()
        } else if args.no_trunc {
            c.image_id.clone()
        } else {
            let hex = c
                .image_id
                .split_once(':')
                .map_or(c.image_id.as_str(), |(_, h)| h);
            hex[..hex.len().min(12)].to_string()
        };
        shown_images.insert(c.id.clone(), shown);
    }
    let with_size = args.size || format.uses("Size");
    let rows: Vec<Row> = list
        .iter()
        .map(|(c, l)| {
            let size = if with_size {
                let rw = dir_size(&ctx.layout().container_upper(&c.id));
                let image = images.get(&c.image_id).map_or(0, |i| i.record.size);
                format!("{} (virtual {})", human_size(rw), human_size(rw + image))
            } else {
                String::new()
            };
            let record = super::run::record(c).unwrap_or_default();
            let mut row = Row::new();
            for (k, v) in [
                ("ID", id(c)),
                ("Image", shown_images[&c.id].clone()),
                ("Command", command(c, !args.no_trunc)),
                ("CreatedAt", go_time(c.created_at)),
                ("RunningFor", human_ago(now() - c.created_at)),
                ("Ports", String::new()),
                ("State", state_name(c).to_string()),
                ("Status", status(c)),
                ("Size", size),
                ("Names", c.name.clone()),
                (
                    "Labels",
                    l.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                ("Mounts", mounts(&record, !args.no_trunc)),
                (
                    "Networks",
                    match record.host_config.network_mode {
                        berth_engine::model::NetworkMode::Default => "none".to_string(),
                        ref mode => mode.to_string(),
                    },
                ),
            ] {
                row.insert(k.into(), Value::String(v));
            }
            row
        })
        .collect();
    if !matches!(format, Format::Default) {
        print!("{}", format.render(&rows)?);
        return Ok(());
    }
    let mut header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec();
    let mut keys = vec![
        "ID",
        "Image",
        "Command",
        "RunningFor",
        "Status",
        "Ports",
        "Names",
    ];
    if args.size {
        header.push("SIZE".into());
        keys.push("Size");
    }
    let mut table = vec![header];
    for r in &rows {
        table.push(
            keys.iter()
                .map(|k| r[*k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    print_table(&table);
    Ok(())
}

/// The command as `ps` shows it: quoted, cut to 20 characters like Docker unless `--no-trunc`.
fn command(c: &Container, trunc: bool) -> String {
    let full = c.command.join(" ");
    let shown = if trunc { ellipsis(&full, 20) } else { full };
    format!("\"{shown}\"")
}

/// Docker's `Mounts` column: each volume's name, else the bind source, cut to 15 characters.
fn mounts(record: &berth_engine::model::Record, trunc: bool) -> String {
    record
        .mount_points
        .iter()
        .filter(|m| !m.source.is_empty())
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Bytes in the files under `dir` (each hard-linked inode once), as Docker sizes a
/// container's writable layer; 0 when it is gone.
fn dir_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() < 2 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}
