//! `.dockerignore` patterns with Docker's exact semantics (moby/patternmatcher and its
//! `ignorefile` reader, as BuildKit uses them).
//!
//! - Lines starting with `#` are comments (checked *before* trimming, as Docker does, so
//!   `  # x` is a pattern); blank lines are skipped; a UTF-8 BOM on the first line is dropped.
//! - Each pattern is trimmed, cleaned like Go's `filepath.Clean`, and loses a leading `/`.
//! - `!pattern` is an exception: it re-includes what earlier patterns excluded.
//! - The last pattern that matches a path decides; a pattern matches a path when it matches
//!   the path itself or any of its parent directories, so excluding `dir` excludes everything
//!   below it, while `!dir/keep` can still bring back one file.
//! - Syntax is Go's `filepath.Match` (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes; note that
//!   `[!a]` is *not* negation in Go, nor in Docker) plus `**`, which matches any number of
//!   directories (`**/*.go`, `dir/**`).
//!
//! This module calls nothing outside the crate.

pub(crate) mod pattern;

use crate::error::{Error, Result};
use pattern::{Pattern, clean};

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

/// One pattern line.
#[derive(Debug, Clone)]
struct Rule {
    /// `!pattern`: re-include.
    exception: bool,
    pattern: Pattern,
}

impl Ignore {
    /// Parse the text of a `.dockerignore` file. An invalid pattern (such as `[` or a lone
    /// `!`) is an [`Error::Ignore`] naming its line, as Docker refuses such a file too.
    pub fn parse(text: &str) -> Result<Ignore> {
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = if index == 0 {
                raw.strip_prefix('\u{feff}').unwrap_or(raw)
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            let mut text = raw.trim();
            if text.is_empty() {
                continue;
            }
            let exception = text.starts_with('!');
            if exception {
                text = text[1..].trim();
            }
            if text.is_empty() {
                return Err(Error::Ignore {
                    line,
                    message: "illegal exclusion pattern: \"!\"".to_string(),
                });
            }
            let mut cleaned = clean(text);
            if cleaned.len() > 1
                && let Some(relative) = cleaned.strip_prefix('/')
            {
                cleaned = relative.to_string();
            }
            let pattern = Pattern::compile(&cleaned, true).map_err(|e| Error::Ignore {
                line,
                message: format!("{e}: {cleaned}"),
            })?;
            rules.push(Rule { exception, pattern });
        }
        Ok(Ignore { rules })
    }

    /// Whether no pattern was given (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `path` (relative to the context root, `/`-separated, as the walker produces
    /// it) is excluded: the last pattern matching it or one of its parents decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        if path == "." || path.is_empty() {
            // Docker never lets the context root itself be excluded.
            return false;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // An exclusion cannot change an excluded path, nor an exception an included one.
            if rule.exception != excluded {
                continue;
            }
            let hit = rule.pattern.matches(path) || parents.iter().any(|p| rule.pattern.matches(p));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether an exception could re-include something below the excluded directory `dir`:
    /// if not, the walker skips the directory whole. Conservative: `true` means "maybe".
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        let prefix = format!("{}/", dir.trim_start_matches('/'));
        self.rules
            .iter()
            .any(|r| r.exception && r.pattern.may_match_with_prefix(&prefix))
    }
}

#[cfg(test)]
mod tests;
