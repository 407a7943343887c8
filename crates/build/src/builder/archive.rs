//! `ADD` of a local tar archive (plain, gzip, bzip2, xz or zstd, recognised by magic bytes):
//! unpacked with the runtime's safe unpacker into a scratch directory, then added under the
//! destination with the archive's owners and modes.

use std::path::Path;

use super::stage::{StageBuild, clean_path};
use super::view::View;
use crate::error::{Error, Result};
use crate::layer::{Attrs, LayerBuilder, Meta};

fn other(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

/// A compression ADD recognises by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// Whether `path` is a tar archive ADD extracts (plain, gzip, bzip2, xz or zstd), by its
/// magic bytes (and, compressed, the tar magic of what it decompresses to).
pub(crate) fn archive_kind(path: &Path) -> std::io::Result<Option<Compression>> {
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(path)?;
    let n = std::io::Read::read(&mut f, &mut head)?;
    let head = &head[..n];
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(b"BZh") {
        Some(Compression::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Some(Compression::None)
    } else {
        None
    })
}

/// A reader of `path` decompressed.
fn decompressed(
    path: &Path,
    kind: Compression,
    scratch: &Path,
) -> std::io::Result<Box<dyn std::io::Read>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(match kind {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::Zstd => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(file).map_err(std::io::Error::other)?)
        }
        Compression::Xz => {
            // lzma-rs decodes into a writer: through a file next to the scratch directory.
            let tar = scratch.with_extension("tar");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tar)?);
            lzma_rs::xz_decompress(&mut { file }, &mut out)
                .map_err(|e| std::io::Error::other(format!("xz: {e}")))?;
            std::io::Write::flush(&mut out)?;
            drop(out);
            let reader = std::fs::File::open(&tar)?;
            let _ = std::fs::remove_file(&tar); // open; gone when read
            Box::new(std::io::BufReader::new(reader))
        }
    })
}

/// ADD of a local archive: unpacked safely into a scratch directory, then added under `dest`
/// with the archive's owners and modes.
pub(crate) async fn extract(
    sb: &StageBuild<'_>,
    layer: &mut LayerBuilder,
    archive: &Path,
    kind: Compression,
    dest: &str,
    view: &View,
    scratch: &Path,
) -> Result<()> {
    use berth_runtime::unpack::{UnpackOptions, WhiteoutMode, unpack_layer};
    let scratch = scratch.to_path_buf();
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|source| Error::Io {
        path: scratch.clone(),
        source,
    })?;
    let (a, s) = (archive.to_path_buf(), scratch.clone());
    tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
        let reader = decompressed(&a, kind, &s).map_err(|e| e.to_string())?;
        let opts = UnpackOptions::default()
            .with_whiteouts(WhiteoutMode::Flatten)
            .with_preserve_ownership(true);
        unpack_layer(reader, &s, &opts)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(other)?
    .map_err(|message| Error::Options {
        message: format!("ADD {}: {message}", archive.display()),
    })?;
    if !view.is_dir(dest) {
        layer.add_dir(
            dest,
            Meta::new(0o755).with_mtime(sb.opts.epoch.unwrap_or(0)),
        )?;
    }
    let mut stack = vec![(scratch.clone(), dest.to_string())];
    let keep = Attrs::default();
    while let Some((dir, at)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = clean_path(&format!("{at}/{name}"));
            layer.add_host_path(&target, &e.path(), &keep)?;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), target));
            }
        }
    }
    // The scratch files are read when the layer is written, then removed with its directory.
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    /// A one-file tar.
    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn every_compression_is_recognised_and_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        let zst = ruzstd::encoding::compress_to_vec(
            &tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let cases = [
            (Compression::None, tar.clone()),
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Bzip2, bz.finish().unwrap()),
            (Compression::Xz, xz),
            (Compression::Zstd, zst),
        ];
        for (i, (kind, bytes)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("a{i}"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(archive_kind(&path).unwrap(), Some(kind));
            let mut out = Vec::new();
            decompressed(&path, kind, &dir.path().join(format!("s{i}")))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, tar, "{kind:?}");
        }
        let text = dir.path().join("text");
        std::fs::write(&text, "just text, not an archive").unwrap();
        assert_eq!(archive_kind(&text).unwrap(), None);
    }
}
