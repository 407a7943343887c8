//! `berth images`, `berth tag`, `berth rmi`, `berth inspect`: the local image store as Docker
//! shows it.

use anyhow::{Result, bail};
use berth_store::Image;
use serde_json::json;

use super::context::{Context, human_ago, human_size, parse_rfc3339, print_table, short_id};

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
    /// Output format: `json` (one object per line) or `table`.
    #[arg(long)]
    pub format: Option<String>,
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

/// `berth inspect IMAGE|CONTAINER...`
#[derive(clap::Args)]
pub struct InspectArgs {
    /// Images or containers to inspect.
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

/// Run `berth images`.
pub async fn images(args: ImagesArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let filter = match &args.repository {
        Some(f) => Some(ctx.reference(f)?),
        None => None,
    };
    let mut rows = vec![];
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    rows.push(header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut seen_ids = vec![];
    let shown_id = |id: &berth_oci::Digest| {
        if args.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    for img in ctx.store.images().await? {
        let mut names: Vec<(String, String)> = img.names.clone();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (name, tag) in names {
            if let Some(f) = &filter
                && (name != f.name() || (f.tag.is_some() && f.tag.as_deref() != Some(tag.as_str())))
            {
                continue;
            }
            let repo = if name == "<none>" {
                name.clone()
            } else {
                ctx.familiar_name(&name)
            };
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
            if args.format.as_deref() == Some("json") {
                let line = json!({
                    "Repository": repo, "Tag": tag, "Digest": digest, "ID": shown_id(&img.record.id),
                    "CreatedAt": img.record.created, "CreatedSince": human_ago(now() - created_secs(&img)),
                    "Size": human_size(img.record.size), "Containers": "N/A",
                });
                println!("{line}");
                continue;
            }
            let mut row = vec![repo, tag];
            if args.digests {
                row.push(digest);
            }
            row.extend([
                shown_id(&img.record.id),
                human_ago(now() - created_secs(&img)),
                human_size(img.record.size),
            ]);
            rows.push(row);
        }
    }
    if !args.quiet && args.format.as_deref() != Some("json") {
        if let Some(f) = args.format.as_deref().filter(|f| *f != "table") {
            bail!("unsupported --format {f:?}: use json or table");
        }
        print_table(&rows);
    }
    Ok(())
}

/// Run `berth tag`.
pub async fn tag(args: TagArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let img = ctx.find_image(&args.source).await?;
    let target = ctx.reference(&args.target)?;
    if target.digest.is_some() {
        bail!(
            "refusing to create a tag with a digest reference: {}",
            args.target
        );
    }
    ctx.store
        .tag(&img.record.id, &target.name(), target.tag_or_latest())
        .await?;
    Ok(())
}

/// Run `berth rmi`.
pub async fn rmi(args: RmiArgs) -> Result<()> {
    let ctx = Context::open().await?;
    // Like docker: go on after a failure, report each, and fail at the end. The last error is
    // returned (and printed by main), the earlier ones are printed here.
    let mut last = None;
    for q in &args.images {
        if let Err(e) = rmi_one(&ctx, q, args.force).await
            && let Some(prev) = last.replace(e)
        {
            eprintln!("berth: error: {prev}");
        }
    }
    last.map_or(Ok(()), Err)
}

async fn rmi_one(ctx: &Context, q: &str, force: bool) -> Result<()> {
    let img = ctx.find_image(q).await?;
    let by_name = ctx.reference(q).ok().filter(|r| {
        r.digest.is_none()
            && img
                .names
                .iter()
                .any(|(n, t)| *n == r.name() && t == r.tag_or_latest())
    });
    let mut remaining = img.names.len();
    let users = ctx.store.image_in_use(&img.record.id.to_string()).await?;
    let deletes = by_name.is_none() || remaining <= 1;
    if deletes
        && !force
        && let Some(c) = users.first()
    {
        bail!(
            "conflict: unable to remove {q} (must force) - container {} is using its referenced image {}",
            &c[..12],
            short_id(&img.record.id)
        );
    }
    if let Some(r) = by_name {
        ctx.store.untag(&r.name(), r.tag_or_latest()).await?;
        println!("Untagged: {}", ctx.familiar(&r.name(), r.tag_or_latest()));
        remaining -= 1;
        if remaining > 0 {
            return Ok(());
        }
    } else if remaining > 1 && !force {
        bail!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&img.record.id)
        );
    } else {
        for (n, t) in &img.names {
            println!("Untagged: {}", ctx.familiar(n, t));
        }
    }
    for (n, d) in &img.repo_digests {
        println!("Untagged: {}@{d}", ctx.familiar_name(n));
    }
    let deleted = ctx.store.remove(&img.record.id).await?;
    // The unpacked layers too, unless a container (kept with -f) still stands on them.
    if users.is_empty() {
        super::prune::drop_unpacked(ctx, &deleted)?;
    }
    println!("Deleted: {}", img.record.id);
    Ok(())
}

/// Run `berth inspect`: Docker's image inspect JSON.
pub async fn inspect(args: InspectArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let mut out = vec![];
    let mut missing = vec![];
    for q in &args.images {
        match ctx.find_image(q).await {
            Ok(img) => out.push(inspect_json(&ctx, &img)?),
            Err(e) => match ctx.store.find_container(q).await {
                Ok(c) => out.push(super::container::inspect_json(&c)),
                Err(_) => missing.push(e.to_string().replace("No such image", "No such object")),
            },
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
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
