//! The build context: a directory (or an unpacked tarball, for `berth build -`) filtered by
//! `.dockerignore`, and the COPY/ADD source rules that read it.
//!
//! - [`Context::open`] reads the ignore file and walks the directory once, without following
//!   symlinks, into a sorted list of [`Entry`]s. An excluded directory is still walked when an
//!   exception could match below it; an included file inside an excluded directory brings its
//!   parent directories back (as BuildKit does), so it can be copied.
//! - The Dockerfile and `.dockerignore` may be excluded: they are read from disk by whoever
//!   needs them, and are then simply not copyable, which is what Docker does too.
//! - [`Context::resolve`] (`resolve.rs`) turns a COPY source into entries; [`digest`] hashes
//!   entries for cache keys; [`Context::from_tar`] (`unpack.rs`) unpacks a context tarball.
//! - Only regular files, directories and symlinks are part of a context: sockets, fifos and
//!   device nodes are skipped.
//!
//! This module calls [`crate::ignore`] and the file system.

mod resolve;
mod unpack;

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ignore::Ignore;

pub use resolve::Source;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target as written (never followed while walking).
    Symlink(String),
}

/// One file-system object in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the context root, `/`-separated, without `./`; empty for the root.
    pub path: String,
    /// Where the object is on the host.
    pub host: PathBuf,
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
    /// Owner on the host (COPY without `--chown` does not use it: Docker copies as root).
    pub uid: u32,
    /// Group on the host.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

impl Entry {
    /// The last path component (empty for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Read `host`'s metadata (without following a final symlink) as entry `path`. `None` for
    /// the kinds a context leaves out (sockets, fifos, devices).
    fn stat(path: String, host: PathBuf) -> Result<Option<Entry>> {
        let io = |source| Error::Io {
            path: host.clone(),
            source,
        };
        let meta = fs::symlink_metadata(&host).map_err(io)?;
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(&host).map_err(io)?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| Error::NonUtf8Path { path: host.clone() })?;
            EntryKind::Symlink(target)
        } else {
            return Ok(None);
        };
        Ok(Some(Entry {
            size: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            path,
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            host,
        }))
    }
}

/// A build context, walked and filtered.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    root_entry: Entry,
    /// Included entries, sorted by path (byte order), so everything below a directory is one
    /// contiguous run.
    entries: Vec<Entry>,
    ignore: Ignore,
    /// For a context unpacked from a tarball: the directory to delete on drop.
    _scratch: Option<unpack::ScratchDir>,
}

impl Context {
    /// Open the context directory `dir`. Patterns come from `<dockerfile>.dockerignore` when
    /// a Dockerfile path is given and that file exists (BuildKit's per-Dockerfile ignore file,
    /// which takes precedence), else from `dir/.dockerignore`, else nothing is excluded.
    ///
    /// ```no_run
    /// use berth_build::context::Context;
    /// let ctx = Context::open("./app".as_ref(), Some("./app/Dockerfile".as_ref()))?;
    /// for entry in ctx.entries() {
    ///     println!("{}", entry.path);
    /// }
    /// # Ok::<(), berth_build::error::Error>(())
    /// ```
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<Context> {
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        let meta = fs::metadata(dir).map_err(io)?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let ignore = read_ignore(dir, dockerfile)?;
        let root_entry = Entry::stat(String::new(), dir.to_path_buf())?
            .filter(Entry::is_dir)
            .ok_or_else(|| Error::NotADirectory {
                path: dir.to_path_buf(),
            })?;
        let mut walked = Vec::new();
        walk(dir, "", &ignore, &mut walked)?;
        let entries = with_parents(walked);
        Ok(Context {
            root: dir.to_path_buf(),
            root_entry,
            entries,
            ignore,
            _scratch: None,
        })
    }

    /// The context's directory on the host (for a tarball context, the unpacked copy: read
    /// the Dockerfile from here).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The patterns in force.
    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    /// Every included entry, sorted by path; the root itself is not listed.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The included entry at exactly `path` (relative, cleaned; no symlink is followed).
    /// `""` or `"."` is the root.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        if path.is_empty() || path == "." {
            return Some(&self.root_entry);
        }
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Every included entry below directory `dir` (all depths, sorted; not `dir` itself).
    /// `""` or `"."` gives the whole context.
    pub fn contents(&self, dir: &str) -> &[Entry] {
        if dir.is_empty() || dir == "." {
            return &self.entries;
        }
        let prefix = format!("{dir}/");
        let start = self
            .entries
            .partition_point(|e| e.path.as_str() < prefix.as_str());
        let len = self.entries[start..]
            .iter()
            .take_while(|e| e.path.starts_with(&prefix))
            .count();
        &self.entries[start..start + len]
    }
}

/// Read the ignore file that applies (see [`Context::open`]).
fn read_ignore(dir: &Path, dockerfile: Option<&Path>) -> Result<Ignore> {
    let mut candidates = Vec::new();
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_os_string();
        name.push(".dockerignore");
        candidates.push(PathBuf::from(name));
    }
    candidates.push(dir.join(".dockerignore"));
    for path in candidates {
        match fs::read(&path) {
            Ok(bytes) => return Ignore::parse(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
    }
    Ok(Ignore::default())
}

/// Walk `host` (whose context path is `rel`) depth-first, pushing every entry that is not
/// excluded, and descending into excluded directories only when an exception may match below.
fn walk(host: &Path, rel: &str, ignore: &Ignore, out: &mut Vec<Entry>) -> Result<()> {
    let io = |source| Error::Io {
        path: host.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for item in fs::read_dir(host).map_err(io)? {
        let name = item.map_err(io)?.file_name();
        let name = name
            .into_string()
            .map_err(|n| Error::NonUtf8Path { path: host.join(n) })?;
        names.push(name);
    }
    names.sort();
    for name in names {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Some(entry) = Entry::stat(path, host.join(&name))? else {
            continue;
        };
        let excluded = ignore.is_excluded(&entry.path);
        let descend = entry.is_dir() && (!excluded || ignore.may_include_below(&entry.path));
        if descend {
            walk(&entry.host, &entry.path, ignore, out)?;
        }
        if !excluded {
            out.push(entry);
        } else if entry.is_dir() {
            // Kept aside in case an included entry below needs it as a parent.
            out.push(Entry {
                path: format!("\0{}", entry.path),
                ..entry
            });
        }
    }
    Ok(())
}

/// Sort walked entries, keeping excluded directories (marked with a leading NUL by [`walk`])
/// only when an included entry lies below them.
fn with_parents(walked: Vec<Entry>) -> Vec<Entry> {
    let (mut kept, aside): (Vec<Entry>, Vec<Entry>) =
        walked.into_iter().partition(|e| !e.path.starts_with('\0'));
    let mut needed = std::collections::BTreeSet::new();
    for e in &kept {
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            needed.insert(parent.to_string());
            p = parent;
        }
    }
    for mut e in aside {
        e.path.remove(0);
        if needed.contains(&e.path) {
            kept.push(e);
        }
    }
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    kept
}

/// A content digest of `entries` for cache keys, `sha256:<hex>`: over each entry's path, type,
/// mode, link target, size and file contents, in path order. Owner and mtime are left out, as
/// in BuildKit's content checksum, so a fresh checkout hits the cache.
pub fn digest<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<String> {
    let mut sorted: Vec<&Entry> = entries.into_iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    for e in sorted {
        hash_entry(&mut hasher, &e.path, e)?;
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Feed one entry, named `name`, into `hasher`. Fields are NUL-terminated so that no two
/// different entries give the same byte stream.
fn hash_entry(hasher: &mut Sha256, name: &str, e: &Entry) -> Result<()> {
    let (kind, target) = match &e.kind {
        EntryKind::File => ('f', ""),
        EntryKind::Dir => ('d', ""),
        EntryKind::Symlink(t) => ('l', t.as_str()),
    };
    hasher.update(format!(
        "{name}\0{kind}\0{:o}\0{target}\0{}\0",
        e.mode, e.size
    ));
    if e.kind == EntryKind::File {
        let io = |source| Error::Io {
            path: e.host.clone(),
            source,
        };
        let mut file = fs::File::open(&e.host).map_err(io)?;
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        if total != e.size {
            return Err(Error::Changed {
                path: e.host.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
