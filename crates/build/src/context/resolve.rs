//! COPY/ADD source resolution, with Docker's rules:
//!
//! - a source is relative to the context root (a leading `/` is dropped) and is cleaned; one
//!   that climbs out (`../x`, `a/../../x`) is an error;
//! - `filepath.Match` wildcards apply per path segment, and only to entries `.dockerignore`
//!   left in; a pattern matching nothing is a "not found" error, as is a missing path;
//! - symlinks on the way, and a symlink named as the source itself, are followed *inside* the
//!   context (an absolute target is taken relative to the root, `..` stops at the root), as
//!   BuildKit's scoped resolution does; symlinks *below* a copied directory are copied as
//!   symlinks by the caller;
//! - a directory source stands for its contents ([`Context::contents`]).

use super::{Context, Entry, EntryKind, hash_entry};
use crate::error::{Error, Result};
use crate::ignore::pattern::{Pattern, clean, has_wildcards, unescape};

use sha2::{Digest, Sha256};

/// Symlinks followed while resolving one path before giving up (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// One match of a COPY source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as matched, relative to the root (`.` for the root): its last component
    /// names a copied file when the destination is a directory.
    pub path: String,
    /// What it resolves to, symlinks followed. For a directory, the entries to copy are
    /// [`Context::contents`] of `entry.path`.
    pub entry: Entry,
}

impl Context {
    /// Resolve one COPY source (as written in the Dockerfile) to its matches, sorted by path.
    ///
    /// Errors: [`Error::OutsideContext`] for a path climbing out of the context,
    /// [`Error::BadGlob`] for a malformed pattern, [`Error::NotFound`] when nothing matches
    /// (missing, excluded, or a dangling symlink).
    pub fn resolve(&self, src: &str) -> Result<Vec<Source>> {
        let cleaned = clean(src.trim_start_matches('/'));
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(Error::OutsideContext {
                path: src.to_string(),
            });
        }
        let not_found = || Error::NotFound {
            path: cleaned.clone(),
        };
        if !has_wildcards(&cleaned) {
            let literal = unescape(&cleaned);
            let entry = self.follow(&literal, true).ok_or_else(not_found)?;
            return Ok(vec![Source {
                path: literal,
                entry: entry.clone(),
            }]);
        }
        // (path as matched, real path of what it names so far)
        let mut candidates = vec![(String::new(), String::new())];
        for segment in cleaned.split('/') {
            let mut next = Vec::new();
            let glob = if has_wildcards(segment) {
                Some(
                    Pattern::compile(segment, false).map_err(|_| Error::BadGlob {
                        pattern: src.to_string(),
                    })?,
                )
            } else {
                None
            };
            for (shown, real) in candidates {
                let Some(dir) = self.follow(&real, true).filter(|e| e.is_dir()) else {
                    continue;
                };
                match &glob {
                    None => {
                        let name = unescape(segment);
                        next.push((join(&shown, &name), join(&dir.path, &name)));
                    }
                    Some(pattern) => {
                        for child in self.children(&dir.path) {
                            if pattern.matches(child.name()) {
                                next.push((join(&shown, child.name()), child.path.clone()));
                            }
                        }
                    }
                }
            }
            candidates = next;
        }
        let mut found: Vec<Source> = candidates
            .into_iter()
            .filter_map(|(shown, real)| {
                let entry = self.follow(&real, true)?;
                Some(Source {
                    path: shown,
                    entry: entry.clone(),
                })
            })
            .collect();
        if found.is_empty() {
            return Err(not_found());
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// A content digest over sources as [`super::digest`] computes it, with each source's
    /// matched path and, for directories, everything below (named relative to the source):
    /// the cache key input for one COPY.
    pub fn sources_digest(&self, sources: &[Source]) -> Result<String> {
        let mut hasher = Sha256::new();
        for source in sources {
            hash_entry(&mut hasher, &source.path, &source.entry)?;
            if source.entry.is_dir() {
                let skip = if source.entry.path.is_empty() {
                    0
                } else {
                    source.entry.path.len() + 1
                };
                for e in self.contents(&source.entry.path) {
                    hash_entry(
                        &mut hasher,
                        &format!("{}/{}", source.path, &e.path[skip..]),
                        e,
                    )?;
                }
            }
        }
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// Direct children of directory `dir` (a real path).
    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        let depth = if dir.is_empty() {
            0
        } else {
            dir.matches('/').count() + 1
        };
        self.contents(dir)
            .iter()
            .filter(move |e| e.path.matches('/').count() == depth)
    }

    /// Look `path` up component by component, following symlinks within the context (the
    /// last one only with `follow_last`). `None` if anything on the way is missing, excluded,
    /// not a directory, or the links loop.
    pub(crate) fn follow(&self, path: &str, follow_last: bool) -> Option<&Entry> {
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut current = String::new();
        let mut links = 0;
        while let Some(comp) = pending.pop() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    current = current
                        .rsplit_once('/')
                        .map(|(p, _)| p.to_string())
                        .unwrap_or_default();
                    continue;
                }
                _ => {}
            }
            if !self.get(&current)?.is_dir() {
                return None;
            }
            let next = join(&current, &comp);
            let entry = self.get(&next)?;
            let last = pending.iter().all(|c| c.is_empty() || c == ".");
            match &entry.kind {
                EntryKind::Symlink(target) if follow_last || !last => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(target.split('/').rev().map(str::to_string));
                }
                _ => current = next,
            }
        }
        self.get(&current)
    }
}

/// `a/b`, or `b` when `a` is empty.
fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}
