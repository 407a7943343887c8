//! `berth pull NAME[:TAG|@DIGEST]`: fetch an image (the host's platform from a multi-platform
//! index, or `--platform`) into the local store, layers in parallel with progress bars; an
//! interrupted pull resumes without downloading finished layers again.

use anyhow::{Context as _, Result, bail};
use berth_client::registry::Client;
use berth_oci::manifest::ManifestKind;
use berth_oci::{Descriptor, Digest, ParsedManifest, Reference};
use berth_store::NewImage;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::context::{Context, host_platform, parse_platform, short_id};

/// `berth pull`
#[derive(clap::Args)]
pub struct PullArgs {
    /// Image to pull, e.g. hello-world, busybox:1.36, localhost:5000/app@sha256:…
    pub image: String,
    /// Platform to select from a multi-platform image (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the image name when done.
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull every tag of the repository.
    #[arg(short, long)]
    pub all_tags: bool,
}

/// Layers downloaded at once.
const PARALLEL: usize = 3;

/// Run `berth pull`.
pub async fn run(args: PullArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let r = ctx.reference(&args.image)?;
    let platform = match &args.platform {
        Some(p) => parse_platform(p)?,
        None => host_platform(),
    };
    if args.all_tags {
        if r.tag.is_some() || r.digest.is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
        let tags = ctx.client()?.list_tags(&r.registry, &r.repository).await?;
        for tag in tags {
            let mut one = r.clone();
            one.tag = Some(tag);
            pull(
                &ctx,
                &one,
                &platform,
                if args.quiet {
                    Output::Quiet
                } else {
                    Output::Stdout
                },
            )
            .await?;
            println!("{one}");
        }
        return Ok(());
    }
    pull(
        &ctx,
        &r,
        &platform,
        if args.quiet {
            Output::Quiet
        } else {
            Output::Stdout
        },
    )
    .await?;
    println!("{}", r.clone().with_default_tag());
    Ok(())
}

/// Where a pull reports progress.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Nowhere.
    Quiet,
    /// Standard output (`berth pull`).
    Stdout,
    /// Standard error (`berth run`, whose stdout is the container's).
    Stderr,
}

/// Pull `r` into the store; returns the image id. Shared with `berth run`.
pub async fn pull(
    ctx: &Context,
    r: &Reference,
    platform: &(String, String, Option<String>),
    output: Output,
) -> Result<Digest> {
    let quiet = output == Output::Quiet;
    let say = |s: String| match output {
        Output::Quiet => {}
        Output::Stdout => println!("{s}"),
        Output::Stderr => eprintln!("{s}"),
    };
    if r.tag.is_none() && r.digest.is_none() && output == Output::Stdout {
        say("Using default tag: latest".into());
    }
    let r = r.clone().with_default_tag();
    let familiar = r.familiar_name(&ctx.config.default_registry);
    let client = ctx.client()?;
    let top = client.get_manifest(&r).await?;
    let shown_ref = r.tag.clone().unwrap_or_else(|| r.reference());
    say(format!("{shown_ref}: Pulling from {}", r.repository));
    let parsed = ParsedManifest::parse(&top.bytes, &top.media_type)?;
    let mut blobs_for_image = vec![top.digest.clone()];
    ctx.store.blobs().put(&top.digest, &top.bytes)?;
    let (manifest, manifest_digest, manifest_type) = match parsed.kind {
        ManifestKind::Image => (parsed, top.digest.clone(), top.media_type.clone()),
        ManifestKind::Index => {
            let child = choose_platform(&parsed.manifests, platform).with_context(|| {
                format!(
                    "no matching manifest for {} in the manifest list entries",
                    show_platform(platform)
                )
            })?;
            let m = client
                .get_manifest_by_digest(&r.registry, &r.repository, &child.digest)
                .await?;
            ctx.store.blobs().put(&m.digest, &m.bytes)?;
            blobs_for_image.push(m.digest.clone());
            let p = ParsedManifest::parse(&m.bytes, &m.media_type)?;
            if p.kind != ManifestKind::Image {
                bail!("{} is a nested index, which berth does not pull", m.digest);
            }
            (p, m.digest, m.media_type)
        }
    };
    let config = manifest
        .blobs
        .first()
        .context("manifest has no config")?
        .clone();
    let layers: Vec<Descriptor> = manifest.blobs[1..].to_vec();

    let bars = MultiProgress::with_draw_target(match output {
        Output::Quiet => ProgressDrawTarget::hidden(),
        Output::Stdout => ProgressDrawTarget::stdout(),
        Output::Stderr => ProgressDrawTarget::stderr(),
    });
    let plain = if quiet || !bars.is_hidden() {
        None
    } else {
        Some(output)
    };
    let downloads: Vec<Descriptor> = std::iter::once(config.clone())
        .chain(layers.iter().cloned())
        .collect();
    let mut fetched = 0usize;
    let results: Vec<Result<bool>> =
        futures_util::stream::iter(downloads.iter().cloned().map(|d| {
            let (client, ctx, r, bars) = (client.clone(), ctx, r.clone(), bars.clone());
            async move { fetch_blob(&client, ctx, &r, &d, &bars, plain).await }
        }))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for res in results {
        fetched += res? as usize;
    }
    blobs_for_image.extend(downloads.iter().map(|d| d.digest.clone()));

    let cfg_bytes = ctx.store.blobs().read(&config.digest)?;
    let cfg: serde_json::Value =
        serde_json::from_slice(&cfg_bytes).context("image config is not JSON")?;
    let field = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let image = NewImage {
        id: config.digest.clone(),
        manifest: manifest_digest,
        manifest_media_type: manifest_type,
        os: field("os").unwrap_or_else(|| "linux".into()),
        architecture: field("architecture").unwrap_or_else(|| platform.1.clone()),
        variant: field("variant"),
        created: field("created"),
        size: downloads.iter().map(|d| d.size.max(0) as u64).sum(),
        blobs: blobs_for_image,
    };
    let existed = ctx.store.image(&image.id).await?.is_some();
    let name = r.name();
    let tagged = r.tag.as_deref().map(|t| (name.as_str(), t));
    ctx.store
        .add_image(&image, tagged, Some((name.as_str(), &top.digest)))
        .await?;
    say(format!("Digest: {}", top.digest));
    let shown = match &r.digest {
        Some(d) => format!("{familiar}@{d}"),
        None => format!("{familiar}:{}", r.tag_or_latest()),
    };
    super::events::emit(
        &ctx.config.root,
        "image",
        "pull",
        &shown,
        &[("name", familiar.clone())],
    );
    if existed && fetched == 0 {
        say(format!("Status: Image is up to date for {shown}"));
    } else {
        say(format!("Status: Downloaded newer image for {shown}"));
    }
    Ok(image.id)
}

fn show_platform(p: &(String, String, Option<String>)) -> String {
    match &p.2 {
        Some(v) => format!("{}/{}/{v}", p.0, p.1),
        None => format!("{}/{}", p.0, p.1),
    }
}

/// The index entry for `platform` (a variant, when asked for, must match).
fn choose_platform<'a>(
    entries: &'a [Descriptor],
    platform: &(String, String, Option<String>),
) -> Option<&'a Descriptor> {
    let field = |d: &Descriptor, k: &str| {
        d.platform
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    entries
        .iter()
        .filter(|d| d.artifact_type.is_none())
        .filter(|d| {
            field(d, "os").as_deref() == Some(&platform.0)
                && field(d, "architecture").as_deref() == Some(&platform.1)
        })
        .find(|d| platform.2.is_none() || field(d, "variant") == platform.2)
}

/// Stream one blob into the store, resuming a partial download.
async fn download(
    client: &Client,
    ctx: &Context,
    r: &Reference,
    d: &Descriptor,
    bar: &ProgressBar,
) -> Result<()> {
    let blobs = ctx.store.blobs().clone();
    let digest = d.digest.clone();
    let mut ingest = tokio::task::spawn_blocking(move || blobs.ingest(&digest)).await??;
    let stream = client
        .get_blob(&r.registry, &r.repository, &d.digest, ingest.offset())
        .await?;
    if stream.offset != ingest.offset() {
        ingest.restart()?;
    }
    bar.set_position(ingest.offset());
    // A writer thread hashes and writes while the network delivers the next chunks.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(32);
    let writer =
        tokio::task::spawn_blocking(move || -> berth_store::Result<berth_store::Ingest> {
            while let Some(chunk) = rx.blocking_recv() {
                ingest.write(&chunk)?;
            }
            Ok(ingest)
        });
    let mut body = stream.stream;
    let mut broke = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => {
                let len = c.len() as u64;
                if tx.send(c).await.is_err() {
                    break; // the writer failed; its error follows
                }
                bar.inc(len);
            }
            Err(e) => {
                broke = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let done = writer.await??;
    if let Some(e) = broke {
        return Err(anyhow::Error::from(e)).with_context(|| {
            format!(
                "download of {} broke off; run the pull again to resume",
                d.digest
            )
        });
    }
    if done.offset() != d.size as u64 {
        bail!(
            "{}: the registry sent {} bytes, the manifest says {}",
            d.digest,
            done.offset(),
            d.size
        );
    }
    tokio::task::spawn_blocking(move || done.commit()).await??;
    Ok(())
}

/// Download one blob into the store (resuming a partial one); false when it was already there.
async fn fetch_blob(
    client: &Client,
    ctx: &Context,
    r: &Reference,
    d: &Descriptor,
    bars: &MultiProgress,
    plain: Option<Output>,
) -> Result<bool> {
    let id = short_id(&d.digest);
    let note = |msg: &str| match plain {
        Some(Output::Stdout) => println!("{id}: {msg}"),
        Some(Output::Stderr) => eprintln!("{id}: {msg}"),
        _ => {}
    };
    if ctx.store.blobs().size(&d.digest).is_some() {
        note("Already exists");
        return Ok(false);
    }
    let bar = bars.add(ProgressBar::new(d.size.max(0) as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix}: {msg:<12} [{bar:30}] {bytes}/{total_bytes}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(id.clone());
    bar.set_message("Downloading");
    if let Err(e) = download(client, ctx, r, d, &bar).await {
        // A partial download left by someone else may be wrong: it was discarded when it failed
        // to verify, so one fresh attempt from zero settles it.
        let stale = matches!(
            e.downcast_ref::<berth_store::Error>(),
            Some(berth_store::Error::DigestMismatch { .. })
        );
        if !stale {
            return Err(e);
        }
        bar.set_position(0);
        download(client, ctx, r, d, &bar).await?;
    }
    bar.finish_with_message("Pull complete");
    note("Pull complete");
    Ok(true)
}
