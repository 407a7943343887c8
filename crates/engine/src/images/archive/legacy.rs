//! The docker-archive format of Docker before 25 and of skopeo: `manifest.json` lists, per image,
//! `Config` (`<hex>.json`), `RepoTags` and `Layers` (`<id>/layer.tar`, often links to one shared
//! file), with layers usually uncompressed. berth stores such an image under a synthesized OCI
//! manifest: each uncompressed layer becomes an `application/vnd.oci.image.layer.v1.tar` blob
//! whose digest must equal the config's diff_id for it; a gzip layer is kept as it is, after its
//! uncompressed content is checked against the diff_id.

use std::io::Read;

use berth_oci::manifest::Descriptor;
use berth_oci::media_type as mt;
use berth_oci::{Algorithm, Digest, Hasher};
use berth_store::blobs::BlobDir;
use serde_json::{Value, json};

use super::load::{Planned, diff_ids, new_image};
use super::unpack::{Source, Unpacked};
use super::{Compression, bad, sniff};
use crate::error::Result;

/// Images listed in `manifest.json`.
pub(super) fn images(
    unpacked: &Unpacked,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<Vec<Planned>> {
    let body = unpacked.bytes("manifest.json", blobs)?;
    let list: Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("manifest.json is not JSON: {e}")))?;
    let Some(list) = list.as_array() else {
        return Err(bad("manifest.json is not a list of images"));
    };
    let mut out = Vec::new();
    for entry in list {
        let config = entry
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("manifest.json: an entry has no Config"))?;
        let layers: Vec<&str> = match entry.get("Layers").and_then(Value::as_array) {
            Some(l) => l
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| bad("manifest.json: a layer path is not a string"))
                })
                .collect::<Result<_>>()?,
            None => {
                return Err(bad(format!(
                    "manifest.json: the entry for {config} has no Layers"
                )));
            }
        };
        let names: Vec<String> = entry
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let image = image(unpacked, config, &layers, blobs, written)?;
        out.push(Planned { image, names });
    }
    Ok(out)
}

/// One image: its config and layers into the store, and an OCI manifest for them.
fn image(
    unpacked: &Unpacked,
    config_path: &str,
    layer_paths: &[&str],
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<berth_store::NewImage> {
    let config_path = super::safe_path(config_path.as_bytes())?;
    let cfg_bytes = unpacked.bytes(&config_path, blobs)?;
    let cfg_digest = Digest::sha256(&cfg_bytes);
    // Docker names the config by its digest (`<hex>.json`): a mismatch is a damaged archive.
    let base = config_path.rsplit('/').next().unwrap_or("");
    let named = base.strip_suffix(".json").unwrap_or(base);
    if named.len() == 64
        && named.bytes().all(|b| b.is_ascii_hexdigit())
        && named != cfg_digest.hex()
    {
        return Err(bad(format!(
            "archive entry {config_path} does not match its digest: it hashes to {cfg_digest}"
        )));
    }
    unpacked.materialize(&config_path, &cfg_digest, blobs, written)?;
    let cfg: Value = serde_json::from_slice(&cfg_bytes)
        .map_err(|e| bad(format!("image config {config_path} is not JSON: {e}")))?;
    let diffs = diff_ids(&cfg)?;
    if diffs.len() != layer_paths.len() {
        return Err(bad(format!(
            "image config {config_path} lists {} diff_ids, manifest.json {} layers",
            diffs.len(),
            layer_paths.len()
        )));
    }
    let mut descriptors = vec![descriptor(
        mt::OCI_CONFIG,
        &cfg_digest,
        cfg_bytes.len() as u64,
    )];
    for (path, diff) in layer_paths.iter().zip(&diffs) {
        let path = super::safe_path(path.as_bytes())?;
        let (media_type, digest) = layer(unpacked, &path, diff, blobs, written)?;
        let size = blobs.size(&digest).unwrap_or(0);
        descriptors.push(descriptor(media_type, &digest, size));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": descriptors[0],
        "layers": descriptors[1..],
    });
    let manifest = serde_json::to_vec(&manifest).expect("JSON");
    let manifest_digest = Digest::sha256(&manifest);
    if blobs.size(&manifest_digest).is_none() {
        blobs.put(&manifest_digest, &manifest)?;
        written.push(manifest_digest.clone());
    }
    let mut all = vec![manifest_digest.clone()];
    all.extend(descriptors.iter().map(|d| d.digest.clone()));
    Ok(new_image(
        &cfg,
        &manifest_digest,
        mt::OCI_MANIFEST,
        &descriptors,
        all,
    ))
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest.clone(),
        size: size as i64,
        artifact_type: None,
        annotations: None,
        platform: None,
        urls: None,
    }
}

/// Store the layer at `path`, checked against its diff_id; returns its media type and digest.
fn layer(
    unpacked: &Unpacked,
    path: &str,
    diff: &Digest,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<(&'static str, Digest)> {
    let open = |s: &Source| -> Result<Box<dyn Read>> {
        Ok(match s {
            Source::Blob(d) => Box::new(std::fs::File::open(blobs.path(d))?),
            Source::Memory(b) => Box::new(std::io::Cursor::new(b.clone())),
            Source::Staged(p) => Box::new(std::fs::File::open(p)?),
            Source::Link(_) => unreachable!("resolve follows links"),
        })
    };
    let Some(source) = unpacked.resolve(path)? else {
        return Err(bad(format!(
            "the archive lacks layer {path}: it is incomplete"
        )));
    };
    if let Source::Blob(d) = source
        && d == diff
    {
        return Ok((mt::OCI_LAYER_TAR, d.clone()));
    }
    let mut head = [0u8; 6];
    let n = read_up_to(&mut open(source)?, &mut head)?;
    match sniff(&head[..n]) {
        Compression::None => {
            if let Some(actual) = unpacked.try_materialize(path, diff, blobs, written)? {
                return Err(bad(format!(
                    "layer {path} does not match diff_id {diff} in the image config: it hashes to {actual}"
                )));
            }
            Ok((mt::OCI_LAYER_TAR, diff.clone()))
        }
        Compression::Gzip => {
            let digest = hash(open(source)?)?;
            let uncompressed = hash(flate2::read::MultiGzDecoder::new(open(source)?))
                .map_err(|e| bad(format!("layer {path} is not valid gzip: {e}")))?;
            if uncompressed != *diff {
                return Err(bad(format!(
                    "layer {path} does not match diff_id {diff} in the image config: it uncompresses to {uncompressed}"
                )));
            }
            unpacked.materialize(path, &digest, blobs, written)?;
            Ok((mt::OCI_LAYER_GZIP, digest))
        }
        Compression::Other(name) => Err(bad(format!(
            "layer {path}: {name}-compressed layers are not supported"
        ))),
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// sha256 of everything `r` yields.
fn hash(mut r: impl Read) -> Result<Digest> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(h.finish()),
            n => h.update(&buf[..n]),
        }
    }
}
