//! The operational rules of issue 10 — retention, quotas, immutable tags — compiled from the
//! configuration ([`Policies`]) and held behind a lock that swaps them whole, so a reload
//! (SIGHUP, or the admin API) changes them between two requests, never during one. A reload
//! re-reads the configuration file the registry was started with; a file that does not parse
//! or compile leaves the rules in force unchanged.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::Registry;
use super::pulls::PullLog;
use super::quota::QuotaState;
use crate::auth::scope::matches;
use crate::config::{Config, parse_duration, parse_size};
use crate::error::{Error, Result};

/// A compiled `[[retention]]` rule.
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    /// Repository glob.
    pub repositories: String,
    /// Keep this many most recently pushed tags.
    pub keep_last: Option<u32>,
    /// Tags matching any of these are kept.
    pub keep_tags: Vec<Regex>,
    /// Tags pulled within this long are kept.
    pub keep_pulled_within: Option<Duration>,
    /// Only tags pushed longer ago than this are untagged.
    pub delete_older_than: Option<Duration>,
}

impl RetentionPolicy {
    /// Whether the rule says anything at all (a rule without criteria untags nothing).
    pub fn has_criteria(&self) -> bool {
        self.keep_last.is_some()
            || !self.keep_tags.is_empty()
            || self.keep_pulled_within.is_some()
            || self.delete_older_than.is_some()
    }
}

/// A compiled `[[quota]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The namespace: `namespace` itself and every repository under `namespace/`.
    pub namespace: String,
    /// Its limit in bytes.
    pub bytes: u64,
}

/// A compiled `[[immutable_tags]]` rule.
#[derive(Debug, Clone)]
pub struct ImmutablePolicy {
    /// Repository glob.
    pub repositories: String,
    /// Tags it protects.
    pub tags: Regex,
}

impl ImmutablePolicy {
    /// The error refusing to `verb` (`moved`, `deleted`…) tag `repo:tag`, pointing at `digest`.
    pub fn refusal(
        &self,
        repo: &str,
        tag: &str,
        digest: berth_oci::Digest,
        verb: &'static str,
    ) -> Error {
        Error::TagImmutable {
            tag: format!("{repo}:{tag}"),
            digest,
            verb,
            rule: format!(
                "rule: repositories {:?}, tags {:?}",
                self.repositories,
                self.tags.as_str()
            ),
        }
    }
}

/// Every rule in force.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Retention rules, in configuration order (the first matching one applies).
    pub retention: Vec<RetentionPolicy>,
    /// Quotas (every one whose namespace holds a repository applies to it).
    pub quotas: Vec<Quota>,
    /// Immutable-tag rules (any matching one protects a tag).
    pub immutable: Vec<ImmutablePolicy>,
}

/// How many rules of each kind are in force, as a reload reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PolicyCounts {
    /// `[[retention]]` rules.
    pub retention: usize,
    /// `[[quota]]` rules.
    pub quota: usize,
    /// `[[immutable_tags]]` rules.
    pub immutable_tags: usize,
}

fn regex(what: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern)
        .map_err(|e| Error::Config(format!("{what}: invalid regex {pattern:?}: {e}")))
}

fn duration(what: &str, key: &str, v: &Option<String>) -> Result<Option<Duration>> {
    v.as_deref()
        .map(|s| parse_duration(s).map_err(|e| Error::Config(format!("{what}: {key}: {e}"))))
        .transpose()
}

fn glob(what: &str, pattern: &str) -> Result<String> {
    if pattern.trim().is_empty() {
        return Err(Error::Config(format!(
            "{what}: repositories must be a repository name or glob such as 'ci/**'"
        )));
    }
    Ok(pattern.trim().to_string())
}

impl Policies {
    /// Compile the rules of `config`; the error names the rule and the key at fault.
    pub fn compile(config: &Config) -> Result<Policies> {
        let mut p = Policies::default();
        for (i, r) in config.retention.iter().enumerate() {
            let what = format!("[[retention]] #{} ({:?})", i + 1, r.repositories);
            p.retention.push(RetentionPolicy {
                repositories: glob(&what, &r.repositories)?,
                keep_last: r.keep_last,
                keep_tags: r
                    .keep_tags
                    .iter()
                    .map(|t| regex(&format!("{what}: keep_tags"), t))
                    .collect::<Result<_>>()?,
                keep_pulled_within: duration(&what, "keep_pulled_within", &r.keep_pulled_within)?,
                delete_older_than: duration(&what, "delete_older_than", &r.delete_older_than)?,
            });
        }
        for (i, q) in config.quota.iter().enumerate() {
            let what = format!("[[quota]] #{} ({:?})", i + 1, q.namespace);
            let namespace = q.namespace.trim_matches('/').to_string();
            berth_oci::validate_repository(&namespace).map_err(|_| {
                Error::Config(format!(
                    "{what}: namespace must be a repository name prefix such as 'team-a'"
                ))
            })?;
            let bytes =
                parse_size(&q.bytes).map_err(|e| Error::Config(format!("{what}: bytes: {e}")))?;
            p.quotas.push(Quota { namespace, bytes });
        }
        for (i, r) in config.immutable_tags.iter().enumerate() {
            let what = format!("[[immutable_tags]] #{} ({:?})", i + 1, r.repositories);
            if r.tags.is_empty() {
                return Err(Error::Config(format!(
                    "{what}: tags must be a regex of the tags to protect, such as '^v'"
                )));
            }
            p.immutable.push(ImmutablePolicy {
                repositories: glob(&what, &r.repositories)?,
                tags: regex(&format!("{what}: tags"), &r.tags)?,
            });
        }
        Ok(p)
    }

    /// The retention rule for `repo`: the first whose glob matches.
    pub fn retention_for(&self, repo: &str) -> Option<&RetentionPolicy> {
        self.retention
            .iter()
            .find(|r| matches(&r.repositories, repo))
    }

    /// The quotas that apply to `repo` (nested namespaces may each have one).
    pub fn quotas_for<'a>(&'a self, repo: &'a str) -> impl Iterator<Item = &'a Quota> + 'a {
        self.quotas
            .iter()
            .filter(move |q| crate::metadata::usage::in_namespace(&q.namespace, repo))
    }

    /// The rule that makes `repo:tag` immutable, if one does.
    pub fn immutable_rule(&self, repo: &str, tag: &str) -> Option<&ImmutablePolicy> {
        self.immutable
            .iter()
            .find(|r| matches(&r.repositories, repo) && r.tags.is_match(tag))
    }

    /// How many rules of each kind.
    pub fn counts(&self) -> PolicyCounts {
        PolicyCounts {
            retention: self.retention.len(),
            quota: self.quotas.len(),
            immutable_tags: self.immutable.len(),
        }
    }
}

/// The registry's state for these rules: the rules in force, where they were read from, pull
/// times waiting to be written, quota bookkeeping, and the lock that makes checking and
/// setting a protected tag one step.
pub(crate) struct PolicyState {
    rules: RwLock<Arc<Policies>>,
    config_file: RwLock<Option<PathBuf>>,
    pub(crate) pulls: Arc<PullLog>,
    pub(crate) quota: QuotaState,
    /// Held while an immutable tag is checked and set, so two pushes cannot both find it new.
    pub(crate) tag_lock: tokio::sync::Mutex<()>,
}

impl PolicyState {
    /// The state for `config`; a rule that does not compile is logged and left out (the
    /// registry's `open` reports it as an error first).
    pub(crate) fn new(
        config: &Config,
        meta: Arc<dyn crate::metadata::MetadataStore>,
    ) -> PolicyState {
        let rules = Policies::compile(config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "ignoring the retention, quota and immutable-tag rules");
            Policies::default()
        });
        PolicyState {
            rules: RwLock::new(Arc::new(rules)),
            config_file: RwLock::new(None),
            pulls: PullLog::start(meta),
            quota: QuotaState::default(),
            tag_lock: tokio::sync::Mutex::new(()),
        }
    }
}

impl Registry {
    /// The retention, quota and immutable-tag rules in force now.
    pub fn policies(&self) -> Arc<Policies> {
        self.policy.rules.read().expect("policy lock").clone()
    }

    /// Put the rules of `config` in force (retention, quotas, immutable tags); on error the
    /// rules in force stay.
    pub fn set_policies(&self, config: &Config) -> Result<PolicyCounts> {
        let compiled = Policies::compile(config)?;
        let counts = compiled.counts();
        *self.policy.rules.write().expect("policy lock") = Arc::new(compiled);
        Ok(counts)
    }

    /// Remember the configuration file the registry was started with, for
    /// [`Registry::reload_config`].
    pub fn set_config_file(&self, path: Option<PathBuf>) {
        *self.policy.config_file.write().expect("policy lock") = path;
    }

    /// Re-read the configuration file and put its rules in force (SIGHUP, the admin API's
    /// `POST /berth/api/v1/config/reload`). Without a file there is nothing to re-read: an
    /// error says so. Other settings (address, root, TLS, auth) need a restart.
    pub fn reload_config(&self) -> Result<PolicyCounts> {
        let path = self.policy.config_file.read().expect("policy lock").clone();
        let Some(path) = path else {
            return Err(Error::Config(
                "no configuration file to re-read: the registry was started without --config"
                    .into(),
            ));
        };
        let config = Config::from_file(&path)?;
        let counts = self.set_policies(&config)?;
        tracing::info!(
            file = %path.display(),
            retention = counts.retention,
            quota = counts.quota,
            immutable_tags = counts.immutable_tags,
            "configuration reloaded"
        );
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml).unwrap()
    }

    #[test]
    fn compiles_and_matches() {
        let p = Policies::compile(&config(
            "[[retention]]\nrepositories = \"ci/**\"\nkeep_last = 2\nkeep_tags = [\"^v\"]\n\
             keep_pulled_within = \"30d\"\n[[retention]]\nrepositories = \"*\"\n\
             [[quota]]\nnamespace = \"team-a\"\nbytes = \"1MiB\"\n\
             [[quota]]\nnamespace = \"team-a/big\"\nbytes = \"10MB\"\n\
             [[immutable_tags]]\nrepositories = \"prod/**\"\ntags = \"^v\"\n",
        ))
        .unwrap();
        let r = p.retention_for("ci/app/x").unwrap();
        assert_eq!(r.keep_last, Some(2));
        assert_eq!(r.keep_pulled_within, Some(Duration::from_secs(30 * 86400)));
        assert!(!p.retention_for("other").unwrap().has_criteria());
        let q: Vec<_> = p.quotas_for("team-a/big/app").map(|q| q.bytes).collect();
        assert_eq!(q, vec![1 << 20, 10_000_000]);
        assert_eq!(p.quotas_for("team-ab/app").count(), 0);
        assert!(p.immutable_rule("prod/web", "v1.2").is_some());
        assert!(p.immutable_rule("prod/web", "latest").is_none());
        assert!(p.immutable_rule("dev/web", "v1").is_none());
    }

    #[test]
    fn errors_name_the_rule_and_key() {
        let e = Policies::compile(&config(
            "[[retention]]\nrepositories = \"a\"\nkeep_tags = [\"(\"]\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[[retention]] #1") && e.contains("keep_tags"),
            "{e}"
        );
        let e = Policies::compile(&config("[[quota]]\nnamespace = \"a\"\nbytes = \"lots\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[quota]] #1") && e.contains("bytes"), "{e}");
        let e = Policies::compile(&config(
            "[[retention]]\nrepositories = \"a\"\ndelete_older_than = \"3 weeks\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("delete_older_than"), "{e}");
        let e = Policies::compile(&config("[[immutable_tags]]\nrepositories = \"a\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tags"), "{e}");
    }
}
