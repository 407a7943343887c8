//! `berth save`, `berth load` and `berth import`: images in and out of tar archives, in the
//! formats `docker save`/`docker load`/`docker import` use. This module holds what the three
//! share: opening an input that may be gzip-compressed, checking archive paths, a private staging
//! directory and RFC 3339 timestamps. The commands call the local store (`berth-store`) through
//! [`super::context::Context`] and nothing above it.
//!
//! The tar crate is synchronous, so each command gathers what it needs from the store, then does
//! the archive work in `spawn_blocking`, streaming: no layer is ever held in memory.

pub mod import;
pub mod legacy;
pub mod load;
pub mod save;

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};

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

/// Open `path` (`None` or `-` for stdin) and undo gzip compression if there is any.
/// `what` names the input in errors ("archive", "rootfs tarball").
pub fn open_input(path: Option<&str>, what: &str) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match path {
        None | Some("-") => {
            if io::stdin().is_terminal() {
                bail!("requested to read the {what} from stdin, but stdin is a terminal");
            }
            Box::new(io::stdin())
        }
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {p}"))?),
    };
    let mut buf = BufReader::with_capacity(1 << 20, raw);
    let head = buf
        .fill_buf()
        .with_context(|| format!("cannot read the {what}"))?;
    if head.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(match sniff(head) {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Other(name) => bail!("{name}-compressed {what}s are not supported"),
    })
}

/// A path inside an archive, normalised (no `.` components, no leading `./`, no trailing `/`).
/// Absolute paths and `..` are refused: archive content must not name anything outside it.
pub fn safe_path(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| {
        anyhow::anyhow!(
            "archive entry {:?} is not UTF-8",
            String::from_utf8_lossy(raw)
        )
    })?;
    if s.starts_with('/') {
        bail!("archive entry {s:?}: refusing an absolute path");
    }
    normalise("", s).with_context(|| format!("archive entry {s:?}"))
}

/// `rel` resolved against the archive directory `dir`, normalised; `..` may not climb above the
/// archive's root.
pub fn normalise(dir: &str, rel: &str) -> Result<String> {
    if rel.starts_with('/') {
        bail!("refusing an absolute path {rel:?}");
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." if dir.is_empty() => bail!("refusing a path with \"..\""),
            ".." => {
                if parts.pop().is_none() {
                    bail!("refusing a path outside the archive: {rel:?}");
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// A tar reading error as one short line: the tar crate quotes raw header bytes, which may hold
/// newlines and control characters.
pub fn tar_error(what: &str, e: io::Error) -> anyhow::Error {
    let text: String = e.to_string().escape_debug().take(200).collect();
    anyhow::anyhow!("{what}: {text}")
}

/// A private directory for files an archive command stages; removed (with its content) on drop.
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
                    return Err(e).with_context(|| format!("cannot create {}", dir.display()));
                }
            }
        }
        bail!("cannot create a staging directory under {}", base.display())
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
) -> Result<bool> {
    if blobs.size(digest).is_some() {
        return Ok(false);
    }
    let mut src = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut ingest = blobs.ingest(digest)?;
    if ingest.offset() != 0 {
        ingest.restart()?;
    }
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if n == 0 {
            break;
        }
        ingest.write(&buf[..n])?;
    }
    ingest.commit()?;
    Ok(true)
}

pub use super::context::format_rfc3339 as rfc3339;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::context::parse_rfc3339;
    use std::time::Duration;

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
    }

    #[test]
    fn compression_is_recognised() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff(b"BZh9"), Compression::Other("bzip2"));
        assert_eq!(sniff(b"hello"), Compression::None);
    }

    #[test]
    fn rfc3339_round_trips() {
        for secs in [0u64, 951_782_400, 1_735_689_600, 4_102_444_799] {
            let s = rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_rfc3339(&s), Some(secs as i64), "{s}");
        }
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::new(1_735_689_600, 5)),
            "2025-01-01T00:00:00.000000005Z"
        );
    }
}
