//! end-7 with the official suite's data kinds: non-distributable layers, descriptors with
//! `data`, custom fields, an empty index, an image without layers, nested indexes and artifacts.

use serde_json::json;

use crate::common;
use crate::manifests::{REPO, round_trip};
use crate::util::*;

// spec §Push: "A registry MAY reject a manifest ... with descriptors ... that reference a manifest or blob that does not exist" - non-distributable layers with `urls` are never pushed and must be accepted (official suite data "nondistributable").
#[test]
fn end7_nondistributable_layers_are_accepted() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let foreign = common::sha256(&unique(256));
    let nd = json!({
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": foreign, "size": 123456,
        "urls": [format!("https://store.example.com/blobs/sha256/{}", &foreign[7..])],
    });
    let body = make_image_manifest(&img.config.desc(), &[nd, img.layers[0].desc()], json!({}));
    round_trip(
        &reg,
        "non-distributable-image",
        &Manifest::new(OCI_MANIFEST, body),
    );
}

// spec §Definitions: "Descriptor: a reference that describes the type, metadata and content address" - descriptors with the `data` field are accepted (official suite data "data-field").
#[test]
fn end7_descriptors_with_data_field_are_accepted() {
    use base64_like::encode;
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let mut config = img.config.desc();
    config["data"] = json!(encode(&img.config.data));
    let mut layer = img.layers[0].desc();
    layer["data"] = json!(encode(&img.layers[0].data));
    let body = make_image_manifest(&config, &[layer], json!({}));
    round_trip(&reg, "data-field", &Manifest::new(OCI_MANIFEST, body));
}

// spec §Pushing Manifests: "The registry MUST store the manifest in the exact byte representation" - unknown fields in an index and its manifests survive (official suite data "custom-fields").
#[test]
fn end7_custom_fields_are_preserved() {
    let reg = Reg::start();
    let img = new_image(json!({"org.example.custom": "value", "annotations": {"a": "b"}}));
    reg.push_image(REPO, &img.manifest.digest, &img);
    let index = make_index(
        &[img.manifest.desc()],
        json!({"org.example.other": {"nested": [1, 2]}}),
    );
    round_trip(&reg, "custom-fields", &Manifest::new(OCI_INDEX, index));
}

// spec §Pushing Manifests: "the list of blobs MAY be empty" - an index with no manifests (official suite data "empty-index").
#[test]
fn end7_empty_index_is_accepted() {
    let reg = Reg::start();
    round_trip(
        &reg,
        "index",
        &Manifest::new(OCI_INDEX, make_index(&[], json!({}))),
    );
}

// spec §Pushing Manifests: "The uploaded manifest MUST reference any blobs that make up the object. However, the list of blobs MAY be empty." (image manifest with no layers)
#[test]
fn end7_image_manifest_with_no_layers_is_accepted() {
    let reg = Reg::start();
    let config = Blob::new(
        OCI_CONFIG,
        b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec(),
    );
    reg.push_blob_as(REPO, &config.data, &config.digest);
    let body = make_image_manifest(&config.desc(), &[], json!({}));
    round_trip(&reg, "empty-layers", &Manifest::new(OCI_MANIFEST, body));
}

// spec §Definitions: "Image Index: a manifest containing a list of manifests" - which may be indexes themselves (official suite data "nested-index").
#[test]
fn end7_index_of_indexes() {
    let reg = Reg::start();
    let mut inner = Vec::new();
    for _ in 0..2 {
        let img = new_image(json!({}));
        reg.push_image(REPO, &img.manifest.digest, &img);
        let idx = Manifest::new(OCI_INDEX, make_index(&[img.manifest.desc()], json!({})));
        reg.push_manifest(REPO, &idx.digest, OCI_INDEX, &idx.body);
        inner.push(idx.desc());
    }
    round_trip(
        &reg,
        "index-of-index",
        &Manifest::new(OCI_INDEX, make_index(&inner, json!({}))),
    );
}

// spec §Definitions: "Object: one conceptual piece of content stored as blobs with an accompanying manifest" - artifacts with `artifactType`, an empty `{}` config, and an empty-JSON layer (official suite data "artifact", "artifact-without-layers").
#[test]
fn end7_artifacts_are_accepted() {
    let reg = Reg::start();
    let art = new_artifact("application/vnd.example.oci.conformance", json!({}));
    reg.push_image_blobs(REPO, &art);
    round_trip(&reg, "artifact", &art.manifest);
    let empty = Blob::new(OCI_EMPTY, b"{}".to_vec());
    let body = make_image_manifest(
        &empty.desc(),
        &[empty.desc()],
        json!({"artifactType": "application/vnd.example.oci.conformance"}),
    );
    round_trip(
        &reg,
        "artifact-without-layers",
        &Manifest::new(OCI_MANIFEST, body),
    );
}

/// Standard base64 (the `data` field encoding) without a crate dependency.
mod base64_like {
    pub fn encode(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
