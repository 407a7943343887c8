//! `berth registry retention|du|tags`: the storage policies of a data root, server running or
//! not — apply (or preview) the `[[retention]]` rules, show usage per repository and namespace
//! against the `[[quota]]` rules, and list a repository's tags with their push and pull times.
//! Tables for people, `--json` for scripts.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use berth_registry::service::{RetentionReport, UsageReport};
use clap::Args;
use serde::Serialize;

use super::{Location, open_registry as open, runtime};
use crate::commands::context::{human_ago, human_size};
use crate::commands::format::tabwrite;

/// `berth registry retention`
#[derive(Args)]
pub struct RetentionArgs {
    /// Show what would be untagged; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

/// `berth registry du`
#[derive(Args)]
pub struct DuArgs {
    /// Only these repositories: a name, a namespace (`team-a`) or a glob (`team-a/*`).
    scope: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

/// `berth registry tags`
#[derive(Args)]
pub struct TagsArgs {
    /// Repository name.
    repository: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn ago(at: Option<i64>) -> String {
    match at {
        Some(t) => human_ago(now().saturating_sub(t)),
        None => "never".into(),
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn print_json<T: Serialize + ?Sized>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn print_table(header: &str, rows: impl IntoIterator<Item = String>) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(&r);
        text.push('\n');
    }
    print!("{}", tabwrite(&text));
}

/// Run `berth registry retention`.
pub fn retention(a: RetentionArgs) -> Result<()> {
    runtime()?.block_on(async {
        let reg = open(&a.at).await?;
        if reg.policies().retention.is_empty() {
            bail!("no [[retention]] rules in the configuration: pass --config FILE with some");
        }
        let report = reg.apply_retention(a.dry_run).await?;
        if a.json {
            return print_json(&report);
        }
        print_retention(&report);
        Ok(())
    })
}

fn print_retention(r: &RetentionReport) {
    if !r.repositories.is_empty() {
        let untag = if r.dry_run { "would untag" } else { "untagged" };
        let rows = r.repositories.iter().flat_map(|repo| {
            let removed = repo.removed.iter().map(move |t| (t, untag));
            let kept = repo.kept.iter().map(|t| (t, "kept"));
            removed.chain(kept).map(move |(t, action)| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    repo.repository,
                    t.tag,
                    short(&t.digest),
                    ago(Some(t.pushed_at)),
                    ago(t.pulled_at),
                    action,
                    t.reason
                )
            })
        });
        print_table(
            "REPOSITORY\tTAG\tDIGEST\tPUSHED\tPULLED\tACTION\tREASON",
            rows,
        );
    }
    let repos = r
        .repositories
        .iter()
        .filter(|x| !x.removed.is_empty())
        .count();
    if r.dry_run {
        println!(
            "Dry run: would untag {} tag(s) in {repos} repositories, keep {}; nothing changed",
            r.removed, r.kept
        );
    } else {
        println!(
            "Untagged {} tag(s) in {repos} repositories, kept {}; garbage collection frees what \
             only they used",
            r.removed, r.kept
        );
    }
}

/// Run `berth registry du`.
pub fn du(a: DuArgs) -> Result<()> {
    runtime()?.block_on(async {
        let reg = open(&a.at).await?;
        let report = reg.usage(a.scope.as_deref()).await?;
        if a.json {
            return print_json(&report);
        }
        print_usage(&report);
        Ok(())
    })
}

fn print_usage(u: &UsageReport) {
    print_table(
        "REPOSITORY\tTAGS\tMANIFESTS\tBLOBS\tSIZE\tUNIQUE\tSHARED\tLAST PULL",
        u.repositories.iter().map(|r| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.name,
                r.tags,
                r.manifests,
                r.blobs,
                human_size(r.bytes),
                human_size(r.unique_bytes),
                human_size(r.shared_bytes),
                ago(r.last_pulled)
            )
        }),
    );
    println!();
    print_table(
        "NAMESPACE\tREPOSITORIES\tMANIFESTS\tBLOBS\tSIZE\tUNIQUE\tSHARED\tQUOTA",
        u.namespaces.iter().map(|n| {
            let quota = match n.quota {
                Some(q) => format!(
                    "{} ({:.0}%)",
                    human_size(q),
                    n.bytes as f64 * 100.0 / q.max(1) as f64
                ),
                None => "-".into(),
            };
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                n.name,
                n.repositories,
                n.manifests,
                n.blobs,
                human_size(n.bytes),
                human_size(n.unique_bytes),
                human_size(n.shared_bytes),
                quota
            )
        }),
    );
    let t = &u.total;
    println!(
        "\nTotal: {} repositories, {} manifests, {} blobs, {} (each digest counted once)",
        t.repositories,
        t.manifests,
        t.blobs,
        human_size(t.bytes)
    );
}

/// Run `berth registry tags`.
pub fn tags(a: TagsArgs) -> Result<()> {
    runtime()?.block_on(async {
        let reg = open(&a.at).await?;
        let tags = reg.tag_details(&a.repository).await?;
        if a.json {
            return print_json(&tags);
        }
        print_table(
            "TAG\tDIGEST\tPUSHED\tPULLED\tIMMUTABLE",
            tags.iter().map(|t| {
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.name,
                    t.digest,
                    ago(Some(t.pushed_at)),
                    ago(t.pulled_at),
                    if t.immutable { "yes" } else { "no" }
                )
            }),
        );
        Ok(())
    })
}
