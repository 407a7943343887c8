//! An Apache htpasswd file (`user:hash` lines, bcrypt hashes as `htpasswd -B` writes them — the
//! file CNCF Distribution uses), re-read when it changes (its size, mtime or inode).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_ns: i64,
}

fn stamp(path: &Path) -> std::io::Result<FileStamp> {
    let m = std::fs::metadata(path)?;
    Ok(FileStamp {
        ino: m.ino(),
        len: m.len(),
        mtime: m.mtime(),
        mtime_ns: m.mtime_nsec(),
    })
}

/// The users of an htpasswd file.
pub struct Htpasswd {
    path: PathBuf,
    stamp: Option<FileStamp>,
    users: BTreeMap<String, String>,
}

fn parse(path: &Path, text: &str) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash))
                if !user.is_empty()
                    && (hash.starts_with("$2a$")
                        || hash.starts_with("$2b$")
                        || hash.starts_with("$2y$")) =>
            {
                users.insert(user.to_string(), hash.to_string());
            }
            _ => tracing::warn!(
                file = %path.display(),
                line = n + 1,
                "htpasswd line skipped: only bcrypt entries (htpasswd -B) are accepted"
            ),
        }
    }
    users
}

impl Htpasswd {
    /// Read `path` (a missing or unreadable file is an error; lines that are not `user:bcrypt`
    /// are skipped with a warning naming the line number, never its content).
    pub fn open(path: &Path) -> crate::Result<Htpasswd> {
        let mut h = Htpasswd {
            path: path.to_path_buf(),
            stamp: None,
            users: BTreeMap::new(),
        };
        let st = stamp(path).map_err(|e| Error::io(path, e))?;
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        h.users = parse(path, &text);
        h.stamp = Some(st);
        Ok(h)
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-read the file if it changed since the last read; `true` when it did. A file that
    /// became unreadable keeps the last good contents (and logs a warning).
    pub fn refresh(&mut self) -> bool {
        let st = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                if self.stamp.take().is_some() {
                    tracing::warn!(file = %self.path.display(), error = %e, "htpasswd file unreadable; keeping the users last read");
                }
                return false;
            }
        };
        if self.stamp == Some(st) {
            return false;
        }
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                self.users = parse(&self.path, &text);
                self.stamp = Some(st);
                true
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "htpasswd file unreadable; keeping the users last read");
                false
            }
        }
    }

    /// The stored hash of `user`.
    pub fn hash(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// The user names, sorted.
    pub fn users(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bcrypt_entries_and_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let alice = bcrypt::hash("alice-pw", 4).unwrap();
        std::fs::write(
            &path,
            format!("# comment\nalice:{alice}\nbob:plaintext\ncarol:{{SHA}}x\n"),
        )
        .unwrap();
        let mut h = Htpasswd::open(&path).unwrap();
        assert_eq!(h.users(), vec!["alice".to_string()]);
        assert!(crate::auth::password::verify_password(
            h.hash("alice").unwrap(),
            "alice-pw"
        ));
        assert!(h.hash("bob").is_none());
        assert!(!h.refresh(), "unchanged file");

        let dave = bcrypt::hash("dave-pw", 4).unwrap();
        let tmp = dir.path().join("htpasswd.new");
        std::fs::write(&tmp, format!("dave:{dave}\n")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(h.refresh());
        assert_eq!(h.users(), vec!["dave".to_string()]);

        std::fs::remove_file(&path).unwrap();
        assert!(!h.refresh());
        assert_eq!(
            h.users(),
            vec!["dave".to_string()],
            "last good contents kept"
        );
        assert!(Htpasswd::open(&dir.path().join("missing")).is_err());
    }
}
