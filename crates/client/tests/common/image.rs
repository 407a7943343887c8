//! Test content: deterministic bytes, blobs on disk, a small OCI image pushed through the
//! client, and blob reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_client::registry::{Client, ProgressFn};
use berth_oci::{Digest, media_type as mt};
use bytes::Bytes;
use futures_util::TryStreamExt;

/// Deterministic, incompressible-looking test bytes.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Digest) {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    (p, Digest::sha256(bytes))
}

pub fn recorder() -> (ProgressFn, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |n| s.lock().unwrap().push(n)), seen)
}

pub fn no_progress() -> ProgressFn {
    Arc::new(|_| {})
}

/// An OCI image manifest for `config` and `layers` (digest, size).
pub fn manifest(config: (&Digest, usize), layers: &[(&Digest, usize)]) -> Bytes {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, n)| serde_json::json!({"mediaType": mt::OCI_LAYER_GZIP, "digest": d.to_string(), "size": n}))
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config.0.to_string(), "size": config.1},
        "layers": layers,
    });
    Bytes::from(serde_json::to_vec(&m).unwrap())
}

/// Push a two-blob image as `registry/repo:tag`; returns the manifest digest and the layer.
pub async fn push_image(
    c: &Client,
    dir: &Path,
    registry: &str,
    repo: &str,
    tag: &str,
    layer_len: usize,
) -> (Digest, Digest, Vec<u8>) {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = data(layer_len, tag.len() as u8);
    let (cp, cd) = write(dir, &format!("config-{tag}"), config);
    let (lp, ld) = write(dir, &format!("layer-{tag}"), &layer);
    c.push_blob(registry, repo, &cd, &cp, no_progress())
        .await
        .unwrap();
    c.push_blob(registry, repo, &ld, &lp, no_progress())
        .await
        .unwrap();
    let body = manifest((&cd, config.len()), &[(&ld, layer.len())]);
    let md = c
        .put_manifest(registry, repo, tag, mt::OCI_MANIFEST, body.clone())
        .await
        .unwrap();
    assert_eq!(md, Digest::sha256(&body));
    (md, ld, layer)
}

pub async fn read_all(
    c: &Client,
    registry: &str,
    repo: &str,
    d: &Digest,
    offset: u64,
) -> (u64, Vec<u8>) {
    let b = c.get_blob(registry, repo, d, offset).await.unwrap();
    let bytes: Vec<Bytes> = b.stream.try_collect().await.unwrap();
    (b.offset, bytes.concat())
}
