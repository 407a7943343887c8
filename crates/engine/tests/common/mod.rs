//! What the engine's in-process tests share: an engine on a temporary data root, and images
//! built here as OCI archives and loaded (no registry, no binary).

#![allow(dead_code)]

use std::io::Cursor;

use berth_client::config::Config;
use berth_engine::Engine;
use berth_oci::Digest;
use berth_oci::media_type as mt;
use serde_json::json;

/// An engine on data root `dir`.
pub async fn engine(dir: &tempfile::TempDir) -> Engine {
    let config = Config::from_toml(&format!("root = {:?}", dir.path())).unwrap();
    Engine::with_config(config).await.unwrap()
}

/// A tar of regular files.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Load image `name` (`docker.io/library/NAME:TAG`) of one layer holding `files`, with image
/// `config` (Docker's `config` object: Env, Cmd…); returns its id.
pub async fn load_image(
    engine: &Engine,
    name: &str,
    config: serde_json::Value,
    files: &[(&str, &[u8])],
) -> Digest {
    let layer = tar_of(files);
    let ld = Digest::sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [ld]},
        "history": [{"created_by": "test"}],
    }))
    .unwrap();
    let cd = Digest::sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": cd, "size": config.len()},
        "layers": [{"mediaType": mt::OCI_LAYER_TAR, "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let md = Digest::sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX,
        "manifests": [{"mediaType": mt::OCI_MANIFEST, "digest": md, "size": manifest.len(),
            "annotations": {"io.containerd.image.name": format!("docker.io/library/{name}")}}],
    }))
    .unwrap();
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let archive = tar_of(&[
        ("index.json", &index),
        (&blob(&cd), &config),
        (&blob(&md), &manifest),
        (&blob(&ld), &layer),
    ]);
    engine.load(Cursor::new(archive)).await.unwrap()[0]
        .id
        .clone()
}
