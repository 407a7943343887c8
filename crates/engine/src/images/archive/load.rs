//! `load`: images from a tar archive (plain or gzip) into the local store.
//!
//! Two formats are read: an OCI image layout (`index.json`, nested indexes followed, the name
//! taken from the `io.containerd.image.name` or `org.opencontainers.image.ref.name` annotation),
//! which is what `docker save` of Docker 25+ and `berth save` write; and, when there is no
//! `index.json`, the docker-archive of older Docker and of skopeo (`manifest.json`, see
//! [`super::legacy`]).
//!
//! The archive is read once (see [`super::unpack`]). Images are recorded only once every blob
//! they need is verified; on failure nothing is recorded and blobs this load wrote that no image
//! uses are deleted again.

use std::io::Read;

use berth_oci::manifest::Descriptor;
use berth_oci::media_type as mt;
use berth_oci::{Digest, ManifestKind, ParsedManifest};
use berth_store::NewImage;
use berth_store::blobs::BlobDir;

use super::unpack::{Unpacked, unpack};
use super::{CONTAINERD_NAME, OCI_REF_NAME, bad, decompress, within};
use crate::Engine;
use crate::engine::host_platform;
use crate::error::Result;

/// An image [`Engine::load`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image id (its config's digest).
    pub id: Digest,
    /// The names it was loaded under, for display (`name:tag`, familiar); may be empty.
    pub names: Vec<String>,
}

/// An image ready to record, with the names it was saved under (as written in the archive).
pub(super) struct Planned {
    pub(super) image: NewImage,
    pub(super) names: Vec<String>,
}

impl Engine {
    /// Load the images of the tar archive (plain or gzip) `input` reads into the store; returns
    /// them in the archive's order. A damaged or incomplete archive is
    /// [`Error::InvalidArgument`] and records nothing. Emits a `load` image event per image.
    pub async fn load(&self, input: impl Read + Send + 'static) -> Result<Vec<Loaded>> {
        let blobs = self.store.blobs().clone();
        let (planned, written) = tokio::task::spawn_blocking(move || {
            let mut written = Vec::new();
            let planned = plan(input, &blobs, &mut written);
            (planned, written)
        })
        .await?;
        let result = match planned {
            Ok(images) => self.record_loaded(&images).await,
            Err(e) => Err(e),
        };
        // Blobs written for images that were not recorded must not linger.
        let discarded = self.store.discard_unreferenced(&written).await;
        let loaded = result?;
        discarded?;
        Ok(loaded)
    }

    /// Record the planned images and their names.
    async fn record_loaded(&self, images: &[Planned]) -> Result<Vec<Loaded>> {
        // Check every name first, so a bad one records nothing.
        let mut named = Vec::new();
        for p in images {
            let mut refs = Vec::new();
            for n in &p.names {
                let r = self.reference(n).map_err(|e| {
                    within(e, format_args!("invalid image name {n:?} in the archive"))
                })?;
                if r.digest.is_some() {
                    continue;
                }
                refs.push(r);
            }
            named.push((p, refs));
        }
        let mut loaded = Vec::new();
        for (p, refs) in named {
            let first = refs
                .first()
                .map(|r| (r.name(), r.tag_or_latest().to_string()));
            self.store
                .add_image(
                    &p.image,
                    first.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                    None,
                )
                .await?;
            for r in refs.iter().skip(1) {
                self.store
                    .tag(&p.image.id, &r.name(), r.tag_or_latest())
                    .await?;
            }
            let names: Vec<String> = refs
                .iter()
                .map(|r| self.familiar(&r.name(), r.tag_or_latest()))
                .collect();
            let id = p.image.id.to_string();
            let name = names.first().cloned().unwrap_or_else(|| id.clone());
            crate::events::emit(
                self.layout().root(),
                "image",
                "load",
                &id,
                &[("name", name)],
            );
            loaded.push(Loaded {
                id: p.image.id.clone(),
                names,
            });
        }
        Ok(loaded)
    }
}

/// Read the archive and work out the images in it; every blob they need is in the store when
/// this returns. Blobs this call added to the store are pushed to `written`.
fn plan(
    input: impl Read + Send + 'static,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<Vec<Planned>> {
    let reader = decompress(input, "archive")?;
    let unpacked = unpack(reader, blobs, written)?;
    let images = if unpacked.files.contains_key("index.json") {
        oci_images(&unpacked, blobs, written)?
    } else if unpacked.files.contains_key("manifest.json") {
        super::legacy::images(&unpacked, blobs, written)?
    } else {
        return Err(bad(
            "the archive has neither index.json nor manifest.json: it is not an image archive",
        ));
    };
    if images.is_empty() {
        return Err(bad("the archive holds no image"));
    }
    Ok(images)
}

/// The image name an `index.json` entry carries: the full name from containerd's annotation,
/// else the OCI ref name when it is a full `name:tag` (a bare tag names no repository).
fn entry_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations.as_ref()?;
    if let Some(n) = a.get(CONTAINERD_NAME).filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    a.get(OCI_REF_NAME)
        .filter(|n| n.contains(['/', ':']) && !n.contains('@'))
        .cloned()
}

/// Images of an OCI image layout.
fn oci_images(
    unpacked: &Unpacked,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<Vec<Planned>> {
    let body = unpacked.bytes("index.json", blobs)?;
    let index =
        ParsedManifest::parse(&body, mt::OCI_INDEX).map_err(|e| bad(format!("index.json: {e}")))?;
    if index.kind != ManifestKind::Index {
        return Err(bad("index.json is not an image index"));
    }
    let mut out: Vec<Planned> = Vec::new();
    for entry in &index.manifests {
        let Some(image) = oci_image(unpacked, entry, blobs, written, 0)? else {
            continue;
        };
        let name = entry_name(entry);
        match out.iter_mut().find(|p| p.image.id == image.id) {
            Some(p) => p.names.extend(name),
            None => out.push(Planned {
                image,
                names: name.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// The image `d` points at (for an index: the host's platform, else the first image it has);
/// `None` for artifacts that are not images.
fn oci_image(
    unpacked: &Unpacked,
    d: &Descriptor,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
    depth: usize,
) -> Result<Option<NewImage>> {
    if depth > 4 {
        return Err(bad(format!("indexes nested too deeply at {}", d.digest)));
    }
    unpacked.blob(d, blobs, written)?;
    let body = blobs.read(&d.digest)?;
    let parsed = ParsedManifest::parse(&body, &d.media_type)
        .map_err(|e| bad(format!("manifest {}: {e}", d.digest)))?;
    if parsed.kind == ManifestKind::Index {
        let available = |c: &&Descriptor| {
            let path = format!("blobs/{}/{}", c.digest.algorithm().as_str(), c.digest.hex());
            let attestation = c
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("vnd.docker.reference.type"));
            !attestation && (unpacked.files.contains_key(&path) || blobs.size(&c.digest).is_some())
        };
        let (os, arch, _) = host_platform();
        let platform = |c: &Descriptor, k: &str| {
            c.platform
                .as_ref()
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let children: Vec<&Descriptor> = parsed.manifests.iter().filter(available).collect();
        let chosen = children
            .iter()
            .find(|c| {
                platform(c, "os").as_deref() == Some(&os)
                    && platform(c, "architecture").as_deref() == Some(&arch)
            })
            .or_else(|| children.first());
        let Some(child) = chosen else {
            return Err(bad(format!(
                "index {} lists no manifest the archive holds",
                d.digest
            )));
        };
        return oci_image(unpacked, child, blobs, written, depth + 1);
    }
    let config = &parsed.blobs[0];
    if config.media_type != mt::OCI_CONFIG && config.media_type != mt::DOCKER_CONFIG {
        tracing::debug!(digest = %d.digest, "skipping an artifact that is not an image");
        return Ok(None);
    }
    for b in &parsed.blobs {
        unpacked.blob(b, blobs, written)?;
    }
    let cfg: serde_json::Value = serde_json::from_slice(&blobs.read(&config.digest)?)
        .map_err(|e| bad(format!("image config {} is not JSON: {e}", config.digest)))?;
    let layers = &parsed.blobs[1..];
    let diff_ids = diff_ids(&cfg)?;
    if diff_ids.len() != layers.len() {
        return Err(bad(format!(
            "image config {} lists {} diff_ids for {} layers",
            config.digest,
            diff_ids.len(),
            layers.len()
        )));
    }
    for (l, diff) in layers.iter().zip(&diff_ids) {
        let uncompressed = l.media_type == mt::OCI_LAYER_TAR || l.media_type.ends_with(".diff.tar");
        if uncompressed && l.digest != *diff {
            return Err(bad(format!(
                "uncompressed layer {} does not match diff_id {diff} in the image config",
                l.digest
            )));
        }
    }
    let mut all = vec![d.digest.clone()];
    all.extend(parsed.blobs.iter().map(|b| b.digest.clone()));
    Ok(Some(new_image(
        &cfg,
        &d.digest,
        &parsed.media_type,
        &parsed.blobs,
        all,
    )))
}

/// The `rootfs.diff_ids` of an image config.
pub(super) fn diff_ids(cfg: &serde_json::Value) -> Result<Vec<Digest>> {
    let Some(list) = cfg.pointer("/rootfs/diff_ids").and_then(|v| v.as_array()) else {
        return Err(bad("the image config has no rootfs.diff_ids"));
    };
    list.iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("invalid diff_id {v} in the image config")))
        })
        .collect()
}

/// The store record of an image whose blobs (`config_and_layers`, config first) are stored.
pub(super) fn new_image(
    cfg: &serde_json::Value,
    manifest: &Digest,
    media_type: &str,
    config_and_layers: &[Descriptor],
    blobs: Vec<Digest>,
) -> NewImage {
    let field = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let host = host_platform();
    NewImage {
        id: config_and_layers[0].digest.clone(),
        manifest: manifest.clone(),
        manifest_media_type: media_type.to_string(),
        os: field("os").unwrap_or(host.0),
        architecture: field("architecture").unwrap_or(host.1),
        variant: field("variant"),
        created: field("created"),
        size: config_and_layers.iter().map(|d| d.size.max(0) as u64).sum(),
        blobs,
    }
}
