//! `pull`: fetch an image (the asked-for platform's manifest from a multi-platform index) into
//! the local store, blobs in parallel and verified; an interrupted pull resumes without
//! downloading finished blobs again ([`Engine::pull`]). Progress is reported as [`Progress`]
//! events.

use berth_client::registry::Client;
use berth_oci::manifest::ManifestKind;
use berth_oci::{Descriptor, Digest, ParsedManifest, Reference};
use berth_store::NewImage;
use futures_util::StreamExt;

use crate::Engine;
use crate::error::{Error, Result};
use crate::images::progress::{Progress, short_id};

/// Blobs downloaded at once.
const PARALLEL: usize = 3;

/// Where pull and push report progress. It may be called from several blob transfers at once.
pub type ProgressSink<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// An error of a lower layer (registry client, OCI parsing) as one line: its message, then each
/// cause it does not already quote.
pub(crate) fn flatten(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(&format!(": {text}"));
        }
        cause = c.source();
    }
    line
}

/// A registry client's error as an engine error.
pub(crate) fn client_error(e: berth_client::Error) -> Error {
    Error::Internal(flatten(&e))
}

fn oci_error(e: berth_oci::Error) -> Error {
    Error::Internal(flatten(&e))
}

impl Engine {
    /// Pull `reference` into the store, choosing `platform` (os, architecture, variant) from a
    /// multi-platform index; returns the image id. Records the `pull` event.
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: &(String, String, Option<String>),
        progress: ProgressSink<'_>,
    ) -> Result<Digest> {
        if reference.tag.is_none() && reference.digest.is_none() {
            progress(Progress::UsingDefaultTag);
        }
        let r = reference.clone().with_default_tag();
        let familiar = r.familiar_name(&self.config.default_registry);
        let client = self.client()?;
        let top = client.get_manifest(&r).await.map_err(client_error)?;
        progress(Progress::PullingFrom {
            tag: r.tag.clone().unwrap_or_else(|| r.reference()),
            repository: r.repository.clone(),
        });
        let parsed = ParsedManifest::parse(&top.bytes, &top.media_type).map_err(oci_error)?;
        let mut blobs_for_image = vec![top.digest.clone()];
        self.store.blobs().put(&top.digest, &top.bytes)?;
        let (manifest, manifest_digest, manifest_type) = match parsed.kind {
            ManifestKind::Image => (parsed, top.digest.clone(), top.media_type.clone()),
            ManifestKind::Index => {
                let child = choose_platform(&parsed.manifests, platform).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "no matching manifest for {} in the manifest list entries",
                        show_platform(platform)
                    ))
                })?;
                let m = client
                    .get_manifest_by_digest(&r.registry, &r.repository, &child.digest)
                    .await
                    .map_err(client_error)?;
                self.store.blobs().put(&m.digest, &m.bytes)?;
                blobs_for_image.push(m.digest.clone());
                let p = ParsedManifest::parse(&m.bytes, &m.media_type).map_err(oci_error)?;
                if p.kind != ManifestKind::Image {
                    return Err(Error::InvalidArgument(format!(
                        "{} is a nested index, which berth does not pull",
                        m.digest
                    )));
                }
                (p, m.digest, m.media_type)
            }
        };
        let config = manifest
            .blobs
            .first()
            .ok_or_else(|| Error::Internal("manifest has no config".into()))?
            .clone();
        let downloads: Vec<Descriptor> = manifest.blobs.clone();

        let results: Vec<Result<bool>> =
            futures_util::stream::iter(downloads.iter().cloned().map(|d| {
                let (client, r) = (client.clone(), r.clone());
                async move { self.fetch_blob(&client, &r, &d, progress).await }
            }))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut fetched = 0usize;
        for res in results {
            fetched += res? as usize;
        }
        blobs_for_image.extend(downloads.iter().map(|d| d.digest.clone()));

        let cfg_bytes = self.store.blobs().read(&config.digest)?;
        let cfg: serde_json::Value = serde_json::from_slice(&cfg_bytes)
            .map_err(|e| Error::Internal(format!("image config is not JSON: {e}")))?;
        let field = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let image = NewImage {
            id: config.digest.clone(),
            manifest: manifest_digest,
            manifest_media_type: manifest_type,
            os: field("os").unwrap_or_else(|| "linux".into()),
            architecture: field("architecture").unwrap_or_else(|| platform.1.clone()),
            variant: field("variant"),
            created: field("created"),
            size: downloads.iter().map(|d| d.size.max(0) as u64).sum(),
            blobs: blobs_for_image,
        };
        let existed = self.store.image(&image.id).await?.is_some();
        let name = r.name();
        let tagged = r.tag.as_deref().map(|t| (name.as_str(), t));
        self.store
            .add_image(&image, tagged, Some((name.as_str(), &top.digest)))
            .await?;
        progress(Progress::Digest {
            digest: top.digest.clone(),
        });
        let shown = match &r.digest {
            Some(d) => format!("{familiar}@{d}"),
            None => format!("{familiar}:{}", r.tag_or_latest()),
        };
        crate::events::emit(
            &self.config.root,
            "image",
            "pull",
            &shown,
            &[("name", familiar.clone())],
        );
        progress(if existed && fetched == 0 {
            Progress::UpToDate { reference: shown }
        } else {
            Progress::DownloadedNewer { reference: shown }
        });
        Ok(image.id)
    }

    /// Download one blob into the store (resuming a partial one); false when it was already
    /// there.
    async fn fetch_blob(
        &self,
        client: &Client,
        r: &Reference,
        d: &Descriptor,
        progress: ProgressSink<'_>,
    ) -> Result<bool> {
        let id = short_id(&d.digest);
        if self.store.blobs().size(&d.digest).is_some() {
            progress(Progress::AlreadyExists { id });
            return Ok(false);
        }
        progress(Progress::PullingFsLayer { id: id.clone() });
        if let Err(e) = self.download(client, r, d, &id, progress).await {
            // A partial download left by someone else may be wrong: it was discarded when it
            // failed to verify, so one fresh attempt from zero settles it.
            let Failure::Stale(_) = e else {
                return Err(e.into());
            };
            progress(Progress::Downloading {
                id: id.clone(),
                current: 0,
                total: d.size.max(0) as u64,
            });
            self.download(client, r, d, &id, progress)
                .await
                .map_err(Error::from)?;
        }
        progress(Progress::DownloadComplete { id: id.clone() });
        progress(Progress::PullComplete { id });
        Ok(true)
    }

    /// Stream one blob into the store, resuming a partial download.
    async fn download(
        &self,
        client: &Client,
        r: &Reference,
        d: &Descriptor,
        id: &str,
        progress: ProgressSink<'_>,
    ) -> std::result::Result<(), Failure> {
        let total = d.size.max(0) as u64;
        let blobs = self.store.blobs().clone();
        let digest = d.digest.clone();
        let mut ingest = tokio::task::spawn_blocking(move || blobs.ingest(&digest))
            .await
            .map_err(Error::from)??;
        let stream = client
            .get_blob(&r.registry, &r.repository, &d.digest, ingest.offset())
            .await
            .map_err(client_error)?;
        if stream.offset != ingest.offset() {
            ingest.restart()?;
        }
        let mut current = ingest.offset();
        progress(Progress::Downloading {
            id: id.to_string(),
            current,
            total,
        });
        // A writer thread hashes and writes while the network delivers the next chunks.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(32);
        let writer =
            tokio::task::spawn_blocking(move || -> berth_store::Result<berth_store::Ingest> {
                while let Some(chunk) = rx.blocking_recv() {
                    ingest.write(&chunk)?;
                }
                Ok(ingest)
            });
        let mut body = stream.stream;
        let mut broke = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    let len = c.len() as u64;
                    if tx.send(c).await.is_err() {
                        break; // the writer failed; its error follows
                    }
                    current += len;
                    progress(Progress::Downloading {
                        id: id.to_string(),
                        current,
                        total,
                    });
                }
                Err(e) => {
                    broke = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let done = writer.await.map_err(Error::from)??;
        if let Some(e) = broke {
            return Err(Error::Internal(format!(
                "download of {} broke off; run the pull again to resume: {}",
                d.digest,
                flatten(&e)
            ))
            .into());
        }
        if done.offset() != total {
            return Err(Error::Internal(format!(
                "{}: the registry sent {} bytes, the manifest says {}",
                d.digest,
                done.offset(),
                d.size
            ))
            .into());
        }
        tokio::task::spawn_blocking(move || done.commit())
            .await
            .map_err(Error::from)??;
        Ok(())
    }
}

/// Why a download failed: a partial download that did not verify (worth one fresh attempt), or
/// anything else.
enum Failure {
    Stale(berth_store::Error),
    Other(Error),
}

impl From<berth_store::Error> for Failure {
    fn from(e: berth_store::Error) -> Failure {
        match e {
            e @ berth_store::Error::DigestMismatch { .. } => Failure::Stale(e),
            e => Failure::Other(e.into()),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Other(e)
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Stale(e) => e.into(),
            Failure::Other(e) => e,
        }
    }
}

fn show_platform(p: &(String, String, Option<String>)) -> String {
    match &p.2 {
        Some(v) => format!("{}/{}/{v}", p.0, p.1),
        None => format!("{}/{}", p.0, p.1),
    }
}

/// The index entry for `platform` (a variant, when asked for, must match).
fn choose_platform<'a>(
    entries: &'a [Descriptor],
    platform: &(String, String, Option<String>),
) -> Option<&'a Descriptor> {
    let field = |d: &Descriptor, k: &str| {
        d.platform
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    entries
        .iter()
        .filter(|d| d.artifact_type.is_none())
        .filter(|d| {
            field(d, "os").as_deref() == Some(&platform.0)
                && field(d, "architecture").as_deref() == Some(&platform.1)
        })
        .find(|d| platform.2.is_none() || field(d, "variant") == platform.2)
}
