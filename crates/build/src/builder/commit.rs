//! Layers from a container's changes, for `berth commit` and RUN steps: an overlay upper
//! directory diffed into a reproducible layer and stored.

use std::path::Path;

use berth_oci::Digest;
use berth_store::Store;

use super::image::Layer;
use crate::error::{Error, Result};
use crate::layer::LayerBuilder;

fn other(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

/// The layer of overlay upper directory `upper` (timestamps clamped to `epoch`), without the
/// empty files and directories the container's mounts left at `mount_points`, written under
/// scratch directory `tmp` and stored in `store`; `None` when nothing changed.
pub async fn layer_from_upper(
    store: &Store,
    upper: &Path,
    epoch: Option<i64>,
    tmp: &Path,
    mount_points: &[String],
) -> Result<Option<Layer>> {
    let upper = upper.to_path_buf();
    let mut builder = tokio::task::spawn_blocking(move || crate::layer::diff_upper(&upper, epoch))
        .await
        .map_err(other)??;
    for m in mount_points {
        // The stub, then the directories made only to hold it (`/etc` of an image without one).
        let mut path = m.trim_end_matches('/');
        while !path.is_empty() && builder.drop_mount_point(path) {
            path = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    store_layer(store, builder, tmp).await.map(Some)
}

/// Write `layer` out under `tmp` (removed afterwards) and move its gzip blob into the store
/// through its verifying ingest.
pub async fn store_layer(store: &Store, layer: LayerBuilder, tmp: &Path) -> Result<Layer> {
    let tmp_dir = tmp.to_path_buf();
    let info = tokio::task::spawn_blocking(move || layer.finish(&tmp_dir))
        .await
        .map_err(other)??;
    let digest: Digest = info.digest.parse().map_err(other)?;
    let diff_id: Digest = info.diff_id.parse().map_err(other)?;
    let blobs = store.blobs().clone();
    let (d, gz) = (digest.clone(), info.gzip_path.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        if blobs.size(&d).is_some() {
            return Ok(());
        }
        let mut ingest = blobs.ingest(&d).map_err(other)?;
        ingest.restart().map_err(other)?;
        let io = |source| Error::Io {
            path: gz.clone(),
            source,
        };
        let mut file = std::fs::File::open(&gz).map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            ingest.write(&buf[..n]).map_err(other)?;
        }
        ingest.commit().map_err(other)
    })
    .await
    .map_err(other)??;
    let _ = std::fs::remove_dir_all(tmp);
    Ok(Layer {
        digest,
        diff_id,
        size: info.size,
        media_type: berth_oci::media_type::OCI_LAYER_GZIP.to_string(),
    })
}
