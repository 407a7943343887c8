//! `save`: images to a tar archive.
//!
//! Both formats are an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) with
//! each manifest annotated with its full name (`io.containerd.image.name`) and tag
//! (`org.opencontainers.image.ref.name`). [`SaveFormat::Docker`], the default, adds docker's
//! `manifest.json`, exactly as `docker save` of Docker 25 and later writes it, so older
//! `docker load` and skopeo's `docker-archive:` read it too. Blobs are written as stored (layers
//! stay compressed, which `docker load` accepts). Entries are sorted with mtime 0, so the same
//! images give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use berth_oci::{Descriptor, Digest, ManifestKind, ParsedManifest};
use berth_store::blobs::BlobDir;
use serde_json::json;

use super::{CONTAINERD_NAME, OCI_LAYOUT, OCI_REF_NAME};
use crate::Engine;
use crate::error::{Context as _, Error, Result};

/// The archive format of [`Engine::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFormat {
    /// An OCI image layout plus docker's `manifest.json` (what `docker save` writes).
    #[default]
    Docker,
    /// An OCI image layout only.
    Oci,
}

impl std::str::FromStr for SaveFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<SaveFormat> {
        match s {
            "docker" => Ok(SaveFormat::Docker),
            "oci" => Ok(SaveFormat::Oci),
            _ => Err(Error::InvalidArgument(format!(
                "invalid archive format {s:?}: use docker or oci"
            ))),
        }
    }
}

/// One image to write, with the names it is saved under.
struct Saved {
    manifest: Descriptor,
    config: Descriptor,
    layers: Vec<Descriptor>,
    /// (full name:tag, familiar name:tag, tag)
    tags: Vec<(String, String, String)>,
}

impl Engine {
    /// Write the images `images` (name[:tag], name@digest or id) to `out` as a tar archive;
    /// returns `out`, flushed. Emits a `save` image event per image.
    pub async fn save<W: Write + Send + 'static>(
        &self,
        images: &[String],
        format: SaveFormat,
        out: W,
    ) -> Result<W> {
        let saved = self.saved(images).await?;
        let blobs = self.store.blobs().clone();
        let (out, saved) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut out = write_archive(out, &blobs, &saved, format == SaveFormat::Docker)?;
            out.flush().context(|| "cannot write the archive".into())?;
            Ok((out, saved))
        })
        .await??;
        self.emit_saved(&saved);
        Ok(out)
    }

    /// [`Engine::save`] to file `path`, through a temporary file renamed into place, so a failed
    /// save leaves no half-written archive behind.
    pub async fn save_to_file(
        &self,
        images: &[String],
        format: SaveFormat,
        path: &Path,
    ) -> Result<()> {
        let saved = self.saved(images).await?;
        let blobs = self.store.blobs().clone();
        let path = path.to_path_buf();
        let saved = tokio::task::spawn_blocking(move || {
            write_file(&path, &blobs, &saved, format == SaveFormat::Docker).map(|()| saved)
        })
        .await??;
        self.emit_saved(&saved);
        Ok(())
    }

    /// The images to save, each once with every name it was asked for.
    async fn saved(&self, images: &[String]) -> Result<Vec<Saved>> {
        let mut saved: Vec<Saved> = Vec::new();
        for q in images {
            let img = self.find_image(q).await?;
            // A name saves that name; an id or digest saves the image without a name, as
            // docker does.
            let tag = self.reference(q).ok().filter(|r| {
                r.digest.is_none()
                    && img
                        .names
                        .iter()
                        .any(|(n, t)| *n == r.name() && t == r.tag_or_latest())
            });
            let tag = tag.map(|r| {
                let t = r.tag_or_latest().to_string();
                (format!("{}:{t}", r.name()), self.familiar(&r.name(), &t), t)
            });
            if let Some(s) = saved.iter_mut().find(|s| s.config.digest == img.record.id) {
                if let Some(t) = tag
                    && !s.tags.contains(&t)
                {
                    s.tags.push(t);
                }
                continue;
            }
            saved.push(describe(self.store.blobs(), &img.record, tag)?);
        }
        Ok(saved)
    }

    fn emit_saved(&self, saved: &[Saved]) {
        for s in saved {
            let id = s.config.digest.to_string();
            let name = s.tags.first().map_or_else(|| id.clone(), |t| t.1.clone());
            crate::events::emit(
                self.layout().root(),
                "image",
                "save",
                &id,
                &[("name", name)],
            );
        }
    }
}

/// The descriptors of a stored image.
fn describe(
    blobs: &BlobDir,
    record: &berth_store::NewImage,
    tag: Option<(String, String, String)>,
) -> Result<Saved> {
    let body = blobs.read(&record.manifest)?;
    let parsed = ParsedManifest::parse(&body, &record.manifest_media_type)
        .context(|| format!("manifest {}", record.manifest))?;
    if parsed.kind != ManifestKind::Image || parsed.blobs.is_empty() {
        return Err(Error::Internal(format!(
            "image {} has no image manifest",
            record.id
        )));
    }
    let config = parsed.blobs[0].clone();
    let layers = parsed.blobs[1..].to_vec();
    for d in parsed.blobs.iter() {
        if blobs.size(&d.digest).is_none() {
            return Err(Error::Internal(format!(
                "blob {} of image {} is not in the local store",
                d.digest, record.id
            )));
        }
    }
    Ok(Saved {
        manifest: Descriptor {
            media_type: parsed.media_type,
            digest: record.manifest.clone(),
            size: body.len() as i64,
            artifact_type: None,
            annotations: None,
            platform: None,
            urls: None,
        },
        config,
        layers,
        tags: tag.into_iter().collect(),
    })
}

/// Write to `path` through a temporary file renamed into place.
fn write_file(path: &Path, blobs: &BlobDir, saved: &[Saved], docker: bool) -> Result<()> {
    let what = || format!("cannot save to {}", path.display());
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidArgument(format!("{}: {} is not a file name", what(), path.display()))
    })?;
    let tmp: PathBuf = path.with_file_name(format!(
        ".{}.berth-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let f = File::create(&tmp).context(|| format!("cannot create {}", path.display()))?;
        let f = write_archive(BufWriter::with_capacity(1 << 20, f), blobs, saved, docker)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| super::within(e, what()))
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// `index.json` and docker's `manifest.json` for `saved`.
fn index_and_manifest(saved: &[Saved]) -> (Vec<u8>, Vec<u8>) {
    let mut entries = Vec::new();
    for s in saved {
        if s.tags.is_empty() {
            entries.push(json!({
                "mediaType": s.manifest.media_type, "digest": s.manifest.digest, "size": s.manifest.size,
            }));
        }
        for (full, _, tag) in &s.tags {
            entries.push(json!({
                "mediaType": s.manifest.media_type, "digest": s.manifest.digest, "size": s.manifest.size,
                "annotations": {CONTAINERD_NAME: full, OCI_REF_NAME: tag},
            }));
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": berth_oci::media_type::OCI_INDEX,
        "manifests": entries,
    });
    let manifest: Vec<_> = saved
        .iter()
        .map(|s| {
            json!({
                "Config": blob_path(&s.config.digest),
                "RepoTags": s.tags.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
                "Layers": s.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
            })
        })
        .collect();
    (
        serde_json::to_vec(&index).expect("JSON"),
        serde_json::to_vec(&manifest).expect("JSON"),
    )
}

/// What goes into the archive under one path.
enum Content<'a> {
    Dir,
    Bytes(&'a [u8]),
    Blob(Digest),
}

/// Stream the archive into `out`; returns `out` for the caller to flush or sync.
fn write_archive<W: Write>(out: W, blobs: &BlobDir, saved: &[Saved], docker: bool) -> Result<W> {
    let (index, manifest) = index_and_manifest(saved);
    let mut entries: BTreeMap<String, Content> = BTreeMap::new();
    entries.insert("oci-layout".into(), Content::Bytes(OCI_LAYOUT.as_bytes()));
    entries.insert("index.json".into(), Content::Bytes(&index));
    if docker {
        entries.insert("manifest.json".into(), Content::Bytes(&manifest));
    }
    let mut digests = BTreeSet::new();
    for s in saved {
        digests.insert(s.manifest.digest.clone());
        digests.insert(s.config.digest.clone());
        digests.extend(s.layers.iter().map(|l| l.digest.clone()));
    }
    for d in digests {
        entries.insert("blobs/".into(), Content::Dir);
        entries.insert(format!("blobs/{}/", d.algorithm().as_str()), Content::Dir);
        entries.insert(blob_path(&d), Content::Blob(d));
    }
    let mut tar = tar::Builder::new(out);
    for (path, content) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match content {
            Content::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, &path, io::empty())?;
            }
            Content::Bytes(b) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(b.len() as u64);
                tar.append_data(&mut h, &path, b)?;
            }
            Content::Blob(d) => {
                let p = blobs.path(&d);
                let f = File::open(&p).context(|| format!("cannot read blob {d}"))?;
                let len = f.metadata()?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(len);
                // `take` guards the header's size against a file that changed under us.
                tar.append_data(&mut h, &path, io::Read::take(f, len))
                    .context(|| format!("cannot write blob {d}"))?;
            }
        }
    }
    Ok(tar.into_inner()?)
}
