//! `push`: upload a local image ([`Engine::push`]). Blobs the registry already has are skipped
//! (HEAD), blobs another repository of the same registry holds are mounted, the rest are
//! streamed in parallel (chunked for large blobs); then the manifest. Progress is reported as
//! [`Progress`] events.

use std::sync::Arc;

use berth_client::registry::Client;
use berth_oci::{Descriptor, Digest, ParsedManifest, Reference};
use futures_util::StreamExt;

use crate::Engine;
use crate::error::{Error, Result};
use crate::images::progress::{Progress, short_id};
use crate::images::pull::{ProgressSink, client_error, flatten};

/// Blobs uploaded at once.
const PARALLEL: usize = 3;

/// What [`Engine::push`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// The full repository name (`localhost:5000/app`).
    pub repository: String,
    /// The tag pushed.
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: usize,
}

impl Engine {
    /// Push the local image `reference` (`name[:tag]`, never a digest) to its registry.
    /// Records the repository digest and the `push` event.
    pub async fn push(
        &self,
        reference: &Reference,
        progress: ProgressSink<'_>,
    ) -> Result<PushResult> {
        let r = reference;
        if r.digest.is_some() {
            return Err(Error::InvalidArgument(
                "cannot push a digest reference: push by name[:tag]".into(),
            ));
        }
        let tag = r.tag_or_latest().to_string();
        // Docker's words; not `No such image`, so not [`Error::NotFound`].
        let img = self.store.by_name(&r.name(), &tag).await?.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name(&self.config.default_registry)
            ))
        })?;
        progress(Progress::PushRefersTo {
            repository: r.name(),
        });
        let manifest = self.store.blobs().read(&img.record.manifest)?;
        let parsed = ParsedManifest::parse(&manifest, &img.record.manifest_media_type)
            .map_err(|e| Error::Internal(flatten(&e)))?;
        if parsed.blobs.is_empty() {
            return Err(Error::Internal("manifest has no config".into()));
        }
        let client = self.client()?;
        // Other repositories of the same registry that hold this image: mount sources.
        let sources: Vec<String> = img
            .names
            .iter()
            .map(|(n, _)| n.clone())
            .chain(img.repo_digests.iter().map(|(n, _)| n.clone()))
            .filter_map(|n| self.reference(&n).ok())
            .filter(|o| o.registry == r.registry && o.repository != r.repository)
            .map(|o| o.repository)
            .collect();
        let mut blobs: Vec<Descriptor> = parsed.blobs[1..].to_vec();
        blobs.push(parsed.blobs[0].clone());
        for d in &blobs {
            progress(Progress::Preparing {
                id: short_id(&d.digest),
            });
        }
        let results: Vec<Result<()>> = futures_util::stream::iter(blobs.into_iter().map(|d| {
            let (client, sources) = (client.clone(), &sources);
            async move { self.push_blob(&client, r, &d, sources, progress).await }
        }))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
        for res in results {
            res?;
        }
        let size = manifest.len();
        let digest = client
            .put_manifest(
                &r.registry,
                &r.repository,
                &tag,
                &img.record.manifest_media_type,
                manifest.into(),
            )
            .await
            .map_err(client_error)?;
        self.store
            .add_image(&img.record, None, Some((&r.name(), &digest)))
            .await?;
        let familiar = r.familiar_name(&self.config.default_registry);
        crate::events::emit(
            &self.config.root,
            "image",
            "push",
            &format!("{familiar}:{tag}"),
            &[("name", familiar)],
        );
        progress(Progress::PushedManifest {
            tag: tag.clone(),
            digest: digest.clone(),
            size,
        });
        Ok(PushResult {
            repository: r.name(),
            tag,
            digest,
            size,
        })
    }

    async fn push_blob(
        &self,
        client: &Client,
        r: &Reference,
        d: &Descriptor,
        sources: &[String],
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let id = short_id(&d.digest);
        if client
            .blob_exists(&r.registry, &r.repository, &d.digest)
            .await
            .map_err(client_error)?
        {
            progress(Progress::LayerAlreadyExists { id });
            return Ok(());
        }
        for from in sources {
            if client
                .mount_blob(&r.registry, &r.repository, &d.digest, from)
                .await
                .map_err(client_error)?
            {
                progress(Progress::MountedFrom {
                    id,
                    from: from.clone(),
                });
                return Ok(());
            }
        }
        let path = self.store.blobs().path(&d.digest);
        let total = d.size.max(0) as u64;
        progress(Progress::Pushing {
            id: id.clone(),
            current: 0,
            total,
        });
        // The client reports from its own tasks; its counts come back here to be reported.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let report: berth_client::registry::ProgressFn = Arc::new(move |n| {
            let _ = tx.send(n);
        });
        let upload = client.push_blob(&r.registry, &r.repository, &d.digest, &path, report);
        tokio::pin!(upload);
        let result = loop {
            tokio::select! {
                res = &mut upload => break res,
                Some(current) = rx.recv() => progress(Progress::Pushing {
                    id: id.clone(),
                    current,
                    total,
                }),
            }
        };
        while let Ok(current) = rx.try_recv() {
            progress(Progress::Pushing {
                id: id.clone(),
                current,
                total,
            });
        }
        result.map_err(client_error)?;
        progress(Progress::Pushed { id });
        Ok(())
    }
}
