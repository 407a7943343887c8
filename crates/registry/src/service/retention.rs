//! Retention: untag what the `[[retention]]` rules do not keep. Garbage collection then frees
//! whatever the removed tags alone kept alive; retention itself deletes no manifest or blob.
//!
//! Each repository follows the first rule whose glob matches it. A rule keeps a tag when any
//! of its criteria does: among the `keep_last` most recently pushed, matching a `keep_tags`
//! regex, pulled within `keep_pulled_within`, or pushed within `delete_older_than`. Every other
//! tag is untagged; a rule with no criterion untags nothing. Tags protected by an
//! `[[immutable_tags]]` rule are always kept. A tag is only removed if it still points where
//! it did when it was judged (same digest, same push time): one re-pushed meanwhile stays.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Registry;
use super::policy::{Policies, RetentionPolicy};
use crate::auth::model::AuditEvent;
use crate::error::Result;
use crate::metadata::TagTimes;

/// What retention did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Tags removed (or that would be).
    pub removed: usize,
    /// Tags kept in the repositories a rule applies to.
    pub kept: usize,
    /// Per repository a rule applies to.
    pub repositories: Vec<RepositoryRetention>,
}

/// Retention in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryRetention {
    /// The repository.
    pub repository: String,
    /// The glob of the rule applied.
    pub rule: String,
    /// Tags removed (or that would be), with why.
    pub removed: Vec<TagDecision>,
    /// Tags kept, with the criterion that kept each.
    pub kept: Vec<TagDecision>,
}

/// One tag and what retention decided for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDecision {
    /// The tag.
    pub tag: String,
    /// The manifest it points at.
    pub digest: String,
    /// When it was last pushed (Unix seconds).
    pub pushed_at: i64,
    /// When it was last pulled (Unix seconds), if ever.
    pub pulled_at: Option<i64>,
    /// Why: `keep_last`, `keep_tags`, `pulled`, `recent`, `immutable` or `changed` when kept;
    /// `unkept` when removed.
    pub reason: &'static str,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Why `rule` keeps the tag at position `rank` (0: most recently pushed), if it does.
fn keeps(
    rules: &Policies,
    rule: &RetentionPolicy,
    repo: &str,
    rank: usize,
    t: &TagTimes,
    now: i64,
) -> Option<&'static str> {
    let within = |at: i64, d: std::time::Duration| now.saturating_sub(at) < d.as_secs() as i64;
    if rules.immutable_rule(repo, &t.name).is_some() {
        Some("immutable")
    } else if rule.keep_last.is_some_and(|n| rank < n as usize) {
        Some("keep_last")
    } else if rule.keep_tags.iter().any(|r| r.is_match(&t.name)) {
        Some("keep_tags")
    } else if let (Some(d), Some(at)) = (rule.keep_pulled_within, t.pulled_at)
        && within(at, d)
    {
        Some("pulled")
    } else if rule
        .delete_older_than
        .is_some_and(|d| within(t.pushed_at, d))
    {
        Some("recent")
    } else {
        None
    }
}

fn decision(t: &TagTimes, reason: &'static str) -> TagDecision {
    TagDecision {
        tag: t.name.clone(),
        digest: t.digest.to_string(),
        pushed_at: t.pushed_at,
        pulled_at: t.pulled_at,
        reason,
    }
}

impl Registry {
    /// Apply the `[[retention]]` rules in force: untag, in every repository a rule applies to,
    /// the tags it does not keep. With `dry_run`, change nothing and report what would be
    /// untagged. Pending pull times are written first, so recent pulls count. Garbage
    /// collection calls this before each run.
    #[tracing::instrument(skip(self))]
    pub async fn apply_retention(&self, dry_run: bool) -> Result<RetentionReport> {
        self.flush_pulls().await?;
        let rules = self.policies();
        let mut report = RetentionReport {
            dry_run,
            ..Default::default()
        };
        if rules.retention.is_empty() {
            return Ok(report);
        }
        let now = now();
        let mut last: Option<String> = None;
        loop {
            let page = self.meta.repositories(Some(500), last.as_deref()).await?;
            last = page.items.last().cloned();
            for repo in &page.items {
                let Some(rule) = rules.retention_for(repo).filter(|r| r.has_criteria()) else {
                    continue;
                };
                let r = self
                    .retain_repository(&rules, rule, repo, now, dry_run)
                    .await?;
                report.removed += r.removed.len();
                report.kept += r.kept.len();
                if !r.removed.is_empty() || !r.kept.is_empty() {
                    report.repositories.push(r);
                }
            }
            if !page.more {
                break;
            }
        }
        if !dry_run {
            self.meta.prune_pulls().await?;
        }
        tracing::info!(
            dry_run,
            removed = report.removed,
            kept = report.kept,
            "retention applied"
        );
        Ok(report)
    }

    async fn retain_repository(
        &self,
        rules: &Policies,
        rule: &RetentionPolicy,
        repo: &str,
        now: i64,
        dry_run: bool,
    ) -> Result<RepositoryRetention> {
        let tags = self.meta.tag_times(repo).await?;
        let mut out = RepositoryRetention {
            repository: repo.to_string(),
            rule: rule.repositories.clone(),
            removed: Vec::new(),
            kept: Vec::new(),
        };
        for (rank, t) in tags.iter().enumerate() {
            if let Some(reason) = keeps(rules, rule, repo, rank, t, now) {
                out.kept.push(decision(t, reason));
                continue;
            }
            if dry_run {
                out.removed.push(decision(t, "unkept"));
                continue;
            }
            if self
                .meta
                .delete_tag_if_unchanged(repo, &t.name, &t.digest, t.pushed_at)
                .await?
            {
                tracing::info!(repo, tag = %t.name, digest = %t.digest, rule = %rule.repositories, "retention untagged");
                self.auth
                    .audit_log()
                    .record(AuditEvent {
                        action: "tag.delete".into(),
                        success: true,
                        actor: Some("berth:retention".into()),
                        repo: Some(repo.to_string()),
                        target: Some(t.name.clone()),
                        detail: Some(format!(
                            "retention rule {:?}: was {}",
                            rule.repositories, t.digest
                        )),
                        ..Default::default()
                    })
                    .await;
                out.removed.push(decision(t, "unkept"));
            } else {
                out.kept.push(decision(t, "changed"));
            }
        }
        Ok(out)
    }
}
