//! `berth push NAME[:TAG]`: upload a local image. Blobs the registry already has are skipped
//! (HEAD), blobs another repository of the same registry holds are mounted, the rest are
//! streamed in parallel (chunked for large blobs) with progress bars; then the manifest.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use berth_oci::{Descriptor, ParsedManifest, Reference};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::context::{Context, short_id};

/// `berth push`
#[derive(clap::Args)]
pub struct PushArgs {
    /// Image to push: name[:tag] of a local image.
    pub image: String,
    /// Print only the pushed digest's reference.
    #[arg(short, long)]
    pub quiet: bool,
}

const PARALLEL: usize = 3;

/// Run `berth push`.
pub async fn run(args: PushArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let r = ctx.reference(&args.image)?;
    if r.digest.is_some() {
        bail!("cannot push a digest reference: push by name[:tag]");
    }
    let tag = r.tag_or_latest().to_string();
    let img = ctx.store.by_name(&r.name(), &tag).await?.with_context(|| {
        format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name(&ctx.config.default_registry)
        )
    })?;
    let say = |s: String| {
        if !args.quiet {
            println!("{s}");
        }
    };
    say(format!("The push refers to repository [{}]", r.name()));
    let manifest = ctx.store.blobs().read(&img.record.manifest)?;
    let parsed = ParsedManifest::parse(&manifest, &img.record.manifest_media_type)?;
    let client = ctx.client()?;
    // Other repositories of the same registry that hold this image: mount sources.
    let sources: Vec<String> = img
        .names
        .iter()
        .map(|(n, _)| n.clone())
        .chain(img.repo_digests.iter().map(|(n, _)| n.clone()))
        .filter_map(|n| ctx.reference(&n).ok())
        .filter(|o| o.registry == r.registry && o.repository != r.repository)
        .map(|o| o.repository)
        .collect();
    let bars = MultiProgress::with_draw_target(if args.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stdout()
    });
    let plain = !args.quiet && bars.is_hidden();
    let mut blobs: Vec<Descriptor> = parsed.blobs[1..].to_vec();
    blobs.push(parsed.blobs[0].clone());
    let results: Vec<Result<()>> = futures_util::stream::iter(blobs.into_iter().map(|d| {
        let (client, ctx, r, bars, sources) =
            (client.clone(), &ctx, r.clone(), bars.clone(), &sources);
        async move { push_blob(&client, ctx, &r, &d, sources, &bars, plain).await }
    }))
    .buffer_unordered(PARALLEL)
    .collect()
    .await;
    for res in results {
        res?;
    }
    let digest = client
        .put_manifest(
            &r.registry,
            &r.repository,
            &tag,
            &img.record.manifest_media_type,
            manifest.clone().into(),
        )
        .await?;
    ctx.store
        .add_image(&img.record, None, Some((&r.name(), &digest)))
        .await?;
    let familiar = r.familiar_name(&ctx.config.default_registry);
    let pushed = format!("{familiar}:{tag}");
    super::events::emit(
        &ctx.config.root,
        "image",
        "push",
        &pushed,
        &[("name", familiar)],
    );
    if args.quiet {
        println!("{}@{digest}", r.name());
    } else {
        println!("{tag}: digest: {digest} size: {}", manifest.len());
    }
    Ok(())
}

async fn push_blob(
    client: &berth_client::registry::Client,
    ctx: &Context,
    r: &Reference,
    d: &Descriptor,
    sources: &[String],
    bars: &MultiProgress,
    plain: bool,
) -> Result<()> {
    let id = short_id(&d.digest);
    let note = |msg: &str| {
        if plain {
            println!("{id}: {msg}");
        }
    };
    if client
        .blob_exists(&r.registry, &r.repository, &d.digest)
        .await?
    {
        note("Layer already exists");
        return Ok(());
    }
    for from in sources {
        if client
            .mount_blob(&r.registry, &r.repository, &d.digest, from)
            .await?
        {
            note(&format!("Mounted from {from}"));
            return Ok(());
        }
    }
    let path = ctx.store.blobs().path(&d.digest);
    let bar = bars.add(ProgressBar::new(d.size.max(0) as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix}: {msg:<10} [{bar:30}] {bytes}/{total_bytes}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(id.clone());
    bar.set_message("Pushing");
    let progress_bar = bar.clone();
    let progress: berth_client::registry::ProgressFn =
        Arc::new(move |n| progress_bar.set_position(n));
    client
        .push_blob(&r.registry, &r.repository, &d.digest, &path, progress)
        .await?;
    bar.finish_with_message("Pushed");
    note("Pushed");
    Ok(())
}
