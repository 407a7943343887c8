//! Images in and out of tar archives, in the formats `docker save`/`docker load`/`docker import`
//! use: [`Engine::save`](crate::Engine::save), [`Engine::load`](crate::Engine::load) and
//! [`Engine::import`](crate::Engine::import). This module holds what they share: undoing gzip
//! compression, checking archive paths, a private staging directory.
//!
//! The tar crate is synchronous, so each operation gathers what it needs from the store, then
//! does the archive work in `spawn_blocking`, streaming: no layer is ever held in memory.
//! A damaged or malformed archive is [`Error::InvalidArgument`]; I/O and store failures are
//! [`Error::Internal`].

pub mod change;
pub mod import;
mod legacy;
pub mod load;
pub mod save;
mod unpack;

pub use change::apply_change;
pub use import::ImportOptions;
pub use load::Loaded;
pub use save::SaveFormat;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// `oci-layout` file content.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// Annotation containerd and docker put the full image name in.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation of the OCI image layout naming a manifest (docker writes the tag only).
pub const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The compression of a stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// None (a plain tar).
    None,
    /// gzip.
    Gzip,
    /// bzip2, xz or zstd: recognised, not supported.
    Other(&'static str),
}

/// Recognise the compression from the magic bytes.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Other("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Other("xz")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Other("zstd")
    } else {
        Compression::None
    }
}

/// An invalid-argument error (a damaged or malformed archive, a bad flag).
pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// `e` with `what` before its message, of the same kind (I/O errors become internal ones).
pub(crate) fn within(e: Error, what: impl std::fmt::Display) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{what}: {m}")),
        Error::Conflict(m) => Error::Conflict(format!("{what}: {m}")),
        Error::Forbidden(m) => Error::Forbidden(format!("{what}: {m}")),
        e @ Error::NotFound { .. } => e,
        e => Error::Internal(format!("{what}: {e}")),
    }
}

/// A store error: content that does not match its digest is a damaged archive.
pub(crate) fn store_error(e: berth_store::Error) -> Error {
    match e {
        e @ berth_store::Error::DigestMismatch { .. } => bad(e.to_string()),
        e => e.into(),
    }
}

/// Undo gzip compression of `raw`, if there is any. `what` names the input in errors
/// ("archive", "rootfs tarball"); an empty input and other compressions are refused.
pub fn decompress(raw: impl Read + Send + 'static, what: &str) -> Result<Box<dyn Read + Send>> {
    let mut buf = BufReader::with_capacity(1 << 20, raw);
    let head = buf
        .fill_buf()
        .map_err(|e| Error::Internal(format!("cannot read the {what}: {e}")))?;
    if head.is_empty() {
        return Err(bad(format!("the {what} is empty")));
    }
    Ok(match sniff(head) {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Other(name) => {
            return Err(bad(format!("{name}-compressed {what}s are not supported")));
        }
    })
}

/// A path inside an archive, normalised (no `.` components, no leading `./`, no trailing `/`).
/// Absolute paths and `..` are refused: archive content must not name anything outside it.
pub fn safe_path(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| {
        bad(format!(
            "archive entry {:?} is not UTF-8",
            String::from_utf8_lossy(raw)
        ))
    })?;
    if s.starts_with('/') {
        return Err(bad(format!(
            "archive entry {s:?}: refusing an absolute path"
        )));
    }
    normalise("", s).map_err(|e| within(e, format_args!("archive entry {s:?}")))
}

/// `rel` resolved against the archive directory `dir`, normalised; `..` may not climb above the
/// archive's root.
pub fn normalise(dir: &str, rel: &str) -> Result<String> {
    if rel.starts_with('/') {
        return Err(bad(format!("refusing an absolute path {rel:?}")));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." if dir.is_empty() => return Err(bad("refusing a path with \"..\"")),
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad(format!("refusing a path outside the archive: {rel:?}")));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// A tar reading error as one short line: the tar crate quotes raw header bytes, which may hold
/// newlines and control characters.
pub fn tar_error(what: &str, e: io::Error) -> Error {
    let text: String = e.to_string().escape_debug().take(200).collect();
    bad(format!("{what}: {text}"))
}

/// A private directory for files an archive operation stages; removed (with its content) on
/// drop.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Create a fresh directory under the system temporary directory (`TMPDIR`).
    pub fn new(prefix: &str) -> Result<Staging> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = base.join(format!(
                "berth-{prefix}-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            let mut b = std::fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            match b.create(&dir) {
                Ok(()) => return Ok(Staging { dir }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Internal(format!(
                        "cannot create {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
        Err(Error::Internal(format!(
            "cannot create a staging directory under {}",
            base.display()
        )))
    }

    /// Path of staged file `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stream `file` (already written, rewound by opening anew) into blob `digest` through the
/// store's verifying [`berth_store::Ingest`]. Returns true when the blob was new.
pub fn ingest_file(
    blobs: &berth_store::blobs::BlobDir,
    digest: &berth_oci::Digest,
    file: &Path,
) -> berth_store::Result<bool> {
    let io_error = |source| berth_store::Error::Io {
        path: file.to_path_buf(),
        source,
    };
    if blobs.size(digest).is_some() {
        return Ok(false);
    }
    let mut src = File::open(file).map_err(io_error)?;
    let mut ingest = blobs.ingest(digest)?;
    if ingest.offset() != 0 {
        ingest.restart()?;
    }
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            break;
        }
        ingest.write(&buf[..n])?;
    }
    ingest.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_stay_inside() {
        assert_eq!(safe_path(b"./blobs/sha256/ab").unwrap(), "blobs/sha256/ab");
        assert_eq!(safe_path(b"abc/").unwrap(), "abc");
        assert!(safe_path(b"../evil").is_err());
        assert!(safe_path(b"a/../../evil").is_err());
        assert!(safe_path(b"/etc/passwd").is_err());
        assert_eq!(
            normalise("abc", "../def/layer.tar").unwrap(),
            "def/layer.tar"
        );
        assert!(normalise("abc", "../../x").is_err());
        assert!(normalise("abc", "/x").is_err());
        assert_eq!(
            safe_path(b"../evil").unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn compression_is_recognised() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff(b"BZh9"), Compression::Other("bzip2"));
        assert_eq!(sniff(b"hello"), Compression::None);
        let e = decompress(io::empty(), "archive").err().unwrap();
        assert_eq!(e.to_string(), "the archive is empty");
    }
}
