//! `berth images`, `berth tag`, `berth rmi`, `berth inspect`: the local image store as Docker
//! shows it.

use anyhow::{Result, bail};
use berth_engine::images::remove::Removed;
use berth_store::Image;
use serde_json::json;

use super::context::{Context, human_ago, human_size, parse_rfc3339, print_table, short_id};
use super::filter::{Filters, glob, label_matches, labels_of};
use super::format::{Format, IMAGE_FIELDS, Row, go_time};

/// `berth images`
#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Show full image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: `table`, `json` (one object per line) or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: dangling=true|false, reference=PATTERN, before, since, label=K[=V].
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Show only images of this repository (name[:tag]).
    pub repository: Option<String>,
}

/// `berth tag SOURCE TARGET`
#[derive(clap::Args)]
pub struct TagArgs {
    /// Existing image: name[:tag], name@digest or id.
    pub source: String,
    /// New name[:tag].
    pub target: String,
}

/// `berth rmi IMAGE...`
#[derive(clap::Args)]
pub struct RmiArgs {
    /// Remove the image even if it has several names (when given by id).
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth inspect IMAGE|CONTAINER|VOLUME...`
#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template (one line per object).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only look up objects of this type: container, image or volume.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Images, containers or volumes to inspect.
    #[arg(required = true)]
    pub images: Vec<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn created_secs(img: &Image) -> i64 {
    img.record
        .created
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(img.added_at)
}

/// `created` of an image in nanoseconds, for `before`/`since` (images built within one second
/// still order).
fn created_nanos(img: &Image) -> i128 {
    let frac = img
        .record
        .created
        .as_deref()
        .and_then(|c| c.get(19..)?.strip_prefix('.'))
        .map_or(0, |f| {
            let digits: String = f.chars().take_while(char::is_ascii_digit).take(9).collect();
            format!("{digits:0<9}").parse::<i128>().unwrap_or(0)
        });
    i128::from(created_secs(img)) * 1_000_000_000 + frac
}

/// Run `berth images`.
pub async fn images(args: ImagesArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let format = Format::parse(
        args.format.as_deref(),
        IMAGE_FIELDS,
        "*formatter.imageContext",
    )?;
    let filters = Filters::parse(
        &args.filter,
        &["dangling", "reference", "before", "since", "label"],
    )?;
    filters.check("dangling", |v| ["true", "false", "1", "0"].contains(&v))?;
    let repository = match &args.repository {
        Some(f) => Some(ctx.reference(f)?),
        None => None,
    };
    let mut before = vec![];
    for q in filters.get("before") {
        before.push(created_nanos(&ctx.find_image(q).await?));
    }
    let mut since = vec![];
    for q in filters.get("since") {
        since.push(created_nanos(&ctx.find_image(q).await?));
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let mut rows: Vec<Row> = vec![];
    let mut seen_ids = vec![];
    let shown_id = |id: &berth_oci::Digest| {
        if args.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    let mut all = ctx.store.images().await?;
    // Newest first, as Docker lists them.
    all.sort_by_key(|i| std::cmp::Reverse(created_nanos(i)));
    for img in all {
        let created = created_nanos(&img);
        let dangling = img.names.is_empty();
        if !filters.any("dangling", |v| (v == "true" || v == "1") == dangling)
            || !before.iter().all(|b| created < *b)
            || !since.iter().all(|s| created > *s)
        {
            continue;
        }
        if filters.has("label") {
            let cfg: serde_json::Value =
                serde_json::from_slice(&ctx.store.blobs().read(&img.record.id)?)?;
            let labels = labels_of(&cfg);
            if !filters.any("label", |v| label_matches(&labels, v)) {
                continue;
            }
        }
        let mut names: Vec<(String, String)> = img.names.clone();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (name, tag) in names {
            if let Some(f) = &repository
                && (name != f.name() || (f.tag.is_some() && f.tag.as_deref() != Some(tag.as_str())))
            {
                continue;
            }
            let repo = if name == "<none>" {
                name.clone()
            } else {
                ctx.familiar_name(&name)
            };
            // Docker matches the pattern against name:tag, then against the name alone.
            if !filters.any("reference", |p| {
                name != "<none>" && (glob(p, &format!("{repo}:{tag}")) || glob(p, &repo))
            }) {
                continue;
            }
            let digest = img
                .repo_digests
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "<none>".into());
            if args.quiet {
                if !seen_ids.contains(&img.record.id) {
                    println!("{}", shown_id(&img.record.id));
                    seen_ids.push(img.record.id.clone());
                }
                continue;
            }
            let since = human_ago(now() - created_secs(&img));
            let size = human_size(img.record.size);
            let mut row = vec![repo.clone(), tag.clone()];
            if args.digests {
                row.push(digest.clone());
            }
            row.extend([shown_id(&img.record.id), since.clone(), size.clone()]);
            table.push(row);
            let mut r = Row::new();
            for (k, v) in [
                ("ID", shown_id(&img.record.id)),
                ("Repository", repo),
                ("Tag", tag),
                ("Digest", digest),
                ("CreatedSince", since),
                ("CreatedAt", go_time(created_secs(&img))),
                ("Size", size),
                ("Containers", "N/A".into()),
            ] {
                r.insert(k.into(), serde_json::Value::String(v));
            }
            rows.push(r);
        }
    }
    if args.quiet {
        return Ok(());
    }
    if matches!(format, Format::Default) {
        print_table(&table);
    } else {
        print!("{}", format.render(&rows)?);
    }
    Ok(())
}

/// Run `berth tag` ([`berth_engine::Engine::tag`]).
pub async fn tag(args: TagArgs) -> Result<()> {
    let ctx = Context::open().await?;
    ctx.tag(&args.source, &args.target).await?;
    Ok(())
}

/// Run `berth rmi` ([`berth_engine::Engine::remove_image`]).
pub async fn rmi(args: RmiArgs) -> Result<()> {
    let ctx = Context::open().await?;
    // Like docker: go on after a failure, report each, and fail at the end. The last error is
    // returned (and printed by main), the earlier ones are printed here.
    let mut last = None;
    for q in &args.images {
        match ctx.remove_image(q, args.force, true).await {
            Ok(removed) => {
                for r in removed {
                    match r {
                        Removed::Untagged(name) => println!("Untagged: {name}"),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                if let Some(prev) = last.replace(e) {
                    eprintln!("berth: error: {prev}");
                }
            }
        }
    }
    last.map_or(Ok(()), |e| Err(e.into()))
}

/// Run `berth inspect`: Docker's inspect JSON of images, containers (and, with
/// `--type volume`, volumes), or with `-f` a Go template applied to each object's JSON, one
/// line per object. `--type` restricts the lookup to one kind.
pub async fn inspect(args: InspectArgs) -> Result<()> {
    let kind = args.kind.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = kind
        && !["container", "image", "volume"].contains(&k)
    {
        bail!("{k:?} is not a valid value for --type");
    }
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some(f) => Some(
            super::format::Template::parse_value(f)
                .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?,
        ),
    };
    let ctx = Context::open().await?;
    let mut out = vec![];
    let mut missing = vec![];
    for q in &args.images {
        let found = match kind {
            Some("image") => ctx
                .find_image(q)
                .await
                .map(|img| inspect_json(&ctx, &img))
                .map_err(Into::into),
            Some("container") => ctx
                .store
                .find_container(q)
                .await
                .map(|c| Ok(super::container::inspect_json(&c)))
                .map_err(Into::into),
            Some(_) => match super::volumes::get(&ctx.config.root, q)? {
                Some(v) => Ok(Ok(v.inspect_json())),
                None => Err(anyhow::anyhow!("get {q}: no such volume")),
            },
            None => match ctx.find_image(q).await {
                Ok(img) => Ok(inspect_json(&ctx, &img)),
                Err(e) => match ctx.store.find_container(q).await {
                    Ok(c) => Ok(Ok(super::container::inspect_json(&c))),
                    Err(_) => Err(anyhow::anyhow!(
                        "{}",
                        e.to_string().replace("No such image", "No such object")
                    )),
                },
            },
        };
        match found {
            Ok(v) => out.push(v?),
            Err(e) => missing.push(e.to_string()),
        }
    }
    match &template {
        None => println!("{}", serde_json::to_string_pretty(&out)?),
        Some(t) => {
            let mut text = String::new();
            for v in &out {
                let line = t
                    .execute_value(v)
                    .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
                text.push_str(&line);
                text.push('\n');
            }
            print!("{text}");
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("; "));
    }
    Ok(())
}

fn inspect_json(ctx: &Context, img: &Image) -> Result<serde_json::Value> {
    let cfg: serde_json::Value = serde_json::from_slice(&ctx.store.blobs().read(&img.record.id)?)?;
    let layers = cfg
        .pointer("/rootfs/diff_ids")
        .cloned()
        .unwrap_or(json!([]));
    Ok(json!({
        "Id": img.record.id.to_string(),
        "RepoTags": img.names.iter().map(|(n, t)| ctx.familiar(n, t)).collect::<Vec<_>>(),
        "RepoDigests": img.repo_digests.iter().map(|(n, d)| format!("{}@{d}", ctx.familiar_name(n))).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": cfg.pointer("/history/0/comment").cloned().unwrap_or(json!("")),
        "Created": img.record.created,
        "DockerVersion": "",
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Config": cfg.get("config").cloned().unwrap_or(json!({})),
        "Architecture": img.record.architecture,
        "Variant": img.record.variant,
        "Os": img.record.os,
        "Size": img.record.size,
        "GraphDriver": {"Name": "overlay2", "Data": null},
        "RootFS": {"Type": "layers", "Layers": layers},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {"mediaType": img.record.manifest_media_type, "digest": img.record.manifest.to_string()},
    }))
}
