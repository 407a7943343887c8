//! `berth registry gc|scrub`: online garbage collection and integrity checks on a data root,
//! server running or not (both processes share the database and the blob store safely; see
//! docs/gc.md). A summary (and each item) for people, `--json` for scripts.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use berth_registry::config::{LogFormat, parse_duration};
use berth_registry::error::human_bytes;
use berth_registry::service::{GcOptions, GcReport, HEAD_REFRESH, ScrubReport};
use clap::Args;

use super::{Location, open_registry as open, runtime};

/// `berth registry gc`
#[derive(Args)]
pub struct GcArgs {
    /// Show what would be removed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep everything uploaded, linked, mounted or pushed within this long
    /// [default: `[gc] grace`, 1h].
    #[arg(long, value_name = "DURATION")]
    grace: Option<String>,
    /// Also remove untagged manifests that no tag, kept index or kept subject keeps
    /// [default: `[gc] untagged`].
    #[arg(long)]
    untagged: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Print only the summary line.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    at: Location,
}

/// `berth registry scrub`
#[derive(Args)]
pub struct ScrubArgs {
    /// Quarantine corrupt blobs and unlink bad ones from every repository (clients then push
    /// them again); the manifests that need them are listed.
    #[arg(long)]
    repair: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

/// Run `berth registry gc`.
pub fn gc(a: GcArgs) -> Result<()> {
    // The report is the output; logs only when RUST_LOG asks for them.
    crate::commands::init_logging(LogFormat::Text, "error");
    runtime()?.block_on(async {
        let reg = open(&a.at).await?;
        let mut opts = GcOptions::from_config(reg.config())?;
        opts.dry_run = a.dry_run;
        opts.untagged |= a.untagged;
        if let Some(g) = &a.grace {
            opts.grace = parse_duration(g).map_err(anyhow::Error::msg)?;
            let configured = GcOptions::from_config(reg.config())?.grace;
            if opts.grace < configured && opts.grace < 2 * HEAD_REFRESH {
                eprintln!(
                    "warning: --grace {g} is shorter than [gc] grace ({}s) and than {} min: a push \
                     that skips uploading a blob the registry has may fail unless the server \
                     runs with this grace too (docs/gc.md)",
                    configured.as_secs(),
                    2 * HEAD_REFRESH.as_secs() / 60
                );
            }
        }
        let report = reg.gc(&opts).await?;
        let mut out = std::io::stdout().lock();
        if a.json {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        } else {
            print_gc(&mut out, &report, a.quiet)?;
        }
        Ok(())
    })
}

fn print_gc(out: &mut impl Write, r: &GcReport, quiet: bool) -> Result<()> {
    if !quiet {
        if let Some(ret) = &r.retention {
            for repo in &ret.repositories {
                for t in &repo.removed {
                    writeln!(out, "untag     {}:{}  {}", repo.repository, t.tag, t.digest)?;
                }
            }
        }
        for m in &r.manifests {
            writeln!(
                out,
                "manifest  {}@{}  {}",
                m.repo,
                m.digest,
                human_bytes(m.size)
            )?;
        }
        for l in &r.links {
            writeln!(out, "unlink    {} {}", l.repo, l.digest)?;
        }
        for b in &r.blobs {
            writeln!(out, "blob      {}  {}", b.digest, human_bytes(b.size))?;
        }
        for u in &r.uploads {
            let what = match &u.repo {
                Some(repo) => format!("expired session of {repo}"),
                None => "no session".to_string(),
            };
            writeln!(out, "upload    {}  {}  ({what})", u.id, human_bytes(u.size))?;
        }
        for o in &r.orphans {
            writeln!(out, "orphan    {}  {}", o.path, human_bytes(o.size))?;
        }
    }
    let s = &r.summary;
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let untagged = r
        .retention
        .as_ref()
        .filter(|ret| ret.removed > 0)
        .map(|ret| format!("untagged {} tags; ", ret.removed))
        .unwrap_or_default();
    writeln!(
        out,
        "{untagged}{verb} {} manifests, {} blob links, {} blobs ({}), {} uploads ({}), {} orphan \
         files ({}): {} {} in {:.2} s",
        s.manifests,
        s.links,
        s.blobs,
        human_bytes(s.blob_bytes),
        s.uploads,
        human_bytes(s.upload_bytes),
        s.orphans,
        human_bytes(s.orphan_bytes),
        human_bytes(s.bytes),
        if r.dry_run { "to free" } else { "freed" },
        r.seconds
    )?;
    Ok(())
}

/// Run `berth registry scrub`: exits 1 (an error) when anything is wrong.
pub fn scrub(a: ScrubArgs) -> Result<()> {
    crate::commands::init_logging(LogFormat::Text, "error");
    runtime()?.block_on(async {
        let reg = open(&a.at).await?;
        let bar = if std::io::stderr().is_terminal() && !a.json {
            let (n, bytes) = reg.scrub_totals().await?;
            let bar = indicatif::ProgressBar::new(bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} scrub {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{n} blobs"));
            bar.enable_steady_tick(Duration::from_millis(200));
            Some(bar)
        } else {
            None
        };
        let progress = |n: u64| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        };
        let report = reg.scrub(a.repair, &progress).await?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let mut out = std::io::stdout().lock();
        if a.json {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        } else {
            print_scrub(&mut out, &report)?;
        }
        out.flush()?;
        if !report.ok() {
            let corrupt = report.problems.iter().filter(|p| p.kind == "corrupt").count();
            let missing = report.problems.len() - corrupt;
            bail!(
                "scrub found {corrupt} corrupt and {missing} missing blobs{}",
                if a.repair {
                    " (repaired: push them again)"
                } else {
                    " (run with --repair to quarantine and unlink them)"
                }
            );
        }
        Ok(())
    })
}

fn print_scrub(out: &mut impl Write, r: &ScrubReport) -> Result<()> {
    for p in &r.problems {
        let detail = match (&p.actual, p.kind) {
            (Some(a), _) => format!("content is {a}"),
            (None, "corrupt") => "unreadable".to_string(),
            (None, _) => "not stored".to_string(),
        };
        writeln!(out, "{:<8} {}  {detail}", p.kind, p.digest)?;
        if let Some(q) = &p.quarantined {
            writeln!(out, "         quarantined to {q}")?;
        }
        if r.repaired {
            writeln!(out, "         unlinked from {} repositories", p.unlinked)?;
        }
        for m in &p.needed_by {
            writeln!(out, "         needed by {}@{}", m.repo, m.digest)?;
        }
    }
    let verdict = if r.ok() {
        "all good".to_string()
    } else {
        format!("{} bad", r.problems.len())
    };
    writeln!(
        out,
        "checked {} blobs ({}): {verdict}",
        r.blobs,
        human_bytes(r.bytes)
    )?;
    Ok(())
}
