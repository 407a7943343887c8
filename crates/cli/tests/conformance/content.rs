//! Content builders for the conformance suite: unique bytes, blobs, manifests, OCI image
//! manifests, indexes, images and artifacts.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::common;
use crate::util::{OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST};

/// `len` bytes that no other call in this process returns.
pub fn unique(len: usize) -> Vec<u8> {
    use sha2::Digest;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seed = format!("{}-{nanos}-{n}", std::process::id());
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(&sha2::Sha256::digest(format!("{seed}-{i}").as_bytes()));
        i += 1;
    }
    out.truncate(len);
    out
}

/// A blob with its media type and digest.
#[derive(Clone)]
pub struct Blob {
    pub media_type: String,
    pub data: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        let digest = common::sha256(&data);
        Blob {
            media_type: media_type.into(),
            data,
            digest,
        }
    }

    pub fn sha512(media_type: &str, data: Vec<u8>) -> Blob {
        let digest = common::sha512(&data);
        Blob {
            media_type: media_type.into(),
            data,
            digest,
        }
    }

    pub fn desc(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// A manifest body with its media type and sha256 digest.
#[derive(Clone)]
pub struct Manifest {
    pub media_type: String,
    pub body: Vec<u8>,
    pub digest: String,
}

impl Manifest {
    pub fn new(media_type: &str, body: Vec<u8>) -> Manifest {
        let digest = common::sha256(&body);
        Manifest {
            media_type: media_type.into(),
            body,
            digest,
        }
    }

    pub fn desc(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.body.len()})
    }
}

/// An image: config blob, layer blobs and the manifest referencing them.
#[derive(Clone)]
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Manifest,
}

/// Set (or, for `null`, remove) each key of `extra` on the object `v`.
fn merge(v: &mut Value, extra: Value) {
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        for (k, x) in extra {
            if x.is_null() {
                obj.remove(&k);
            } else {
                obj.insert(k, x);
            }
        }
    }
}

/// An OCI image manifest body over `config` and `layers`, with top-level fields from `extra`.
pub fn make_image_manifest(config: &Value, layers: &[Value], extra: Value) -> Vec<u8> {
    let mut m =
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers});
    merge(&mut m, extra);
    serde_json::to_vec(&m).unwrap()
}

/// An OCI index body over `manifests`, with top-level fields from `extra`.
pub fn make_index(manifests: &[Value], extra: Value) -> Vec<u8> {
    let mut m = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    merge(&mut m, extra);
    serde_json::to_vec(&m).unwrap()
}

/// A fresh OCI image (config + one gzip layer) whose manifest carries the fields of `extra`.
pub fn new_image(extra: Value) -> Image {
    let layer = Blob::new(OCI_LAYER, unique(700));
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "author": hex::encode(unique(8)),
        "rootfs": {"type": "layers", "diff_ids": [common::sha256(&layer.data)]},
    });
    let config = Blob::new(OCI_CONFIG, serde_json::to_vec(&config).unwrap());
    let body = make_image_manifest(&config.desc(), &[layer.desc()], extra);
    Image {
        config,
        layers: vec![layer],
        manifest: Manifest::new(OCI_MANIFEST, body),
    }
}

/// An artifact: empty `{}` config, one layer of `artifact_type`, plus the fields of `extra`.
pub fn new_artifact(artifact_type: &str, extra: Value) -> Image {
    let config = Blob::new(OCI_EMPTY, b"{}".to_vec());
    let layer = Blob::new(artifact_type, unique(300));
    let mut all = json!({"artifactType": artifact_type});
    merge(&mut all, extra);
    let body = make_image_manifest(&config.desc(), &[layer.desc()], all);
    Image {
        config,
        layers: vec![layer],
        manifest: Manifest::new(OCI_MANIFEST, body),
    }
}
