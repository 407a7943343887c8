//! `berth pull NAME[:TAG|@DIGEST]`: fetch an image (the host's platform from a multi-platform
//! index, or `--platform`) into the local store, layers in parallel with progress bars; an
//! interrupted pull resumes without downloading finished layers again.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Result, bail};
use berth_engine::images::progress::Progress;
use berth_oci::{Digest, Reference};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::context::{Context, host_platform, parse_platform};

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

/// Pull `r` into the store ([`berth_engine::Engine::pull`]), drawing its progress on `output`;
/// returns the image id. Shared with `berth run`.
pub async fn pull(
    ctx: &Context,
    r: &Reference,
    platform: &(String, String, Option<String>),
    output: Output,
) -> Result<Digest> {
    let bars = Bars::new(
        output,
        "{prefix}: {msg:<12} [{bar:30}] {bytes}/{total_bytes}",
    );
    let show = |p: Progress| match &p {
        Progress::UsingDefaultTag if output == Output::Stdout => bars.say(&p.status()),
        Progress::PullingFrom { .. } => bars.say(&p.line()),
        Progress::Digest { .. } | Progress::DownloadedNewer { .. } | Progress::UpToDate { .. } => {
            bars.say(&p.status())
        }
        Progress::AlreadyExists { id } => bars.note(id, "Already exists"),
        Progress::Downloading { id, current, total } => {
            bars.position(id, "Downloading", *current, *total)
        }
        Progress::PullComplete { id } => bars.finish(id, "Pull complete"),
        _ => {}
    };
    Ok(ctx.pull(r, platform, &show).await?)
}

/// Progress drawn as Docker's CLI does: a bar per blob being transferred on a terminal, or
/// `ID: STATUS` lines when `output` is not one; nothing at all when quiet. Shared with
/// `berth push`.
pub(crate) struct Bars {
    output: Output,
    multi: MultiProgress,
    /// Lines instead of bars: the output is not a terminal.
    plain: bool,
    template: &'static str,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on `output` styled by `template` (indicatif's).
    pub(crate) fn new(output: Output, template: &'static str) -> Bars {
        let multi = MultiProgress::with_draw_target(match output {
            Output::Quiet => ProgressDrawTarget::hidden(),
            Output::Stdout => ProgressDrawTarget::stdout(),
            Output::Stderr => ProgressDrawTarget::stderr(),
        });
        let plain = output != Output::Quiet && multi.is_hidden();
        Bars {
            output,
            multi,
            plain,
            template,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// A line, unless quiet.
    pub(crate) fn say(&self, s: &str) {
        match self.output {
            Output::Quiet => {}
            Output::Stdout => println!("{s}"),
            Output::Stderr => eprintln!("{s}"),
        }
    }

    /// `ID: MSG` when drawing lines (a bar shows it otherwise).
    pub(crate) fn note(&self, id: &str, msg: &str) {
        if self.plain {
            self.say(&format!("{id}: {msg}"));
        }
    }

    /// Blob `id`'s bar (added on first use, saying `msg`) at `current` of `total`.
    pub(crate) fn position(&self, id: &str, msg: &'static str, current: u64, total: u64) {
        let mut bars = self.bars.lock().unwrap();
        let bar = bars.entry(id.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(self.template)
                    .expect("template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            bar.set_message(msg);
            bar
        });
        bar.set_position(current);
    }

    /// Blob `id`'s bar finished with `msg`.
    pub(crate) fn finish(&self, id: &str, msg: &'static str) {
        if let Some(bar) = self.bars.lock().unwrap().get(id) {
            bar.finish_with_message(msg);
        }
        self.note(id, msg);
    }
}
