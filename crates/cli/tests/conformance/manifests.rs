//! end-7: pushing manifests (`PUT /v2/<name>/manifests/<reference>`) of every kind - OCI image
//! manifest and index, Docker schema2 manifest and manifest list - and the ways a push is refused.

use serde_json::json;

use crate::common;
use crate::util::*;

pub const REPO: &str = "conf/manifests";

/// Push `m` and check the full round trip: 201, Location pullable with the same bytes and type,
/// `Docker-Content-Digest` equal to the digest of the bytes.
#[track_caller]
pub fn round_trip(reg: &Reg, reference: &str, m: &Manifest) {
    let r = reg
        .put_manifest(REPO, reference, &m.media_type, &m.body)
        .must(201);
    assert_eq!(r.must_header("docker-content-digest"), m.digest, "\n{r}");
    let g = reg
        .get_with(&r.location(), &[("Accept", ACCEPT_ALL)])
        .must(200);
    assert!(g.body == m.body, "manifest at Location differs:\n{g}");
    assert_eq!(g.must_header("content-type"), m.media_type, "\n{g}");
    assert_eq!(
        g.must_header("content-length"),
        m.body.len().to_string(),
        "\n{g}"
    );
    for reference in [reference, m.digest.as_str()] {
        let g = reg.get_manifest(REPO, reference).must(200);
        assert!(g.body == m.body, "manifest differs:\n{g}");
        assert_eq!(g.must_header("content-type"), m.media_type, "\n{g}");
        let h = reg.head_manifest(REPO, reference).must(200);
        assert_eq!(h.must_header("content-type"), m.media_type, "\n{h}");
    }
}

/// An image manifest of exactly `len` bytes (padded with an annotation), its blobs pushed.
fn manifest_of_len(reg: &Reg, len: usize) -> Vec<u8> {
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let layers = [img.layers[0].desc()];
    let base = make_image_manifest(
        &img.config.desc(),
        &layers,
        json!({"annotations": {"pad": ""}}),
    );
    let pad = "p".repeat(len - base.len());
    let body = make_image_manifest(
        &img.config.desc(),
        &layers,
        json!({"annotations": {"pad": pad}}),
    );
    assert_eq!(body.len(), len);
    body
}

// spec §Pushing Manifests: "Upon a successful upload, the registry MUST return response code `201 Created`, and MUST have the following header: `Location: <location>`" ... "The Docker-Content-Digest header returns the canonical digest of the uploaded blob, and MUST be equal to the client provided digest." (by tag)
#[test]
fn end7_put_oci_image_manifest_by_tag() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    round_trip(&reg, "latest", &img.manifest);
}

// spec §Pushing Manifests: "the `<reference>` MUST be either a) a digest or b) a tag." and Docker-Content-Digest "MUST be equal to the client provided digest". (by digest)
#[test]
fn end7_put_oci_image_manifest_by_digest() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    round_trip(&reg, &img.manifest.digest.clone(), &img.manifest);
}

// spec §Pushing Manifests: "The registry MUST store the manifest in the exact byte representation provided by the client."
#[test]
fn end7_manifest_is_stored_byte_for_byte() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let (c, l) = (&img.config, &img.layers[0]);
    let body = format!(
        "{{\n  \"layers\" : [ {{\"size\":{}, \"digest\":\"{}\", \"mediaType\":\"{}\"}} ],\n\t\"schemaVersion\":2,\
         \"config\":{{\"digest\":\"{}\",\"mediaType\":\"{}\",\"size\":{}}},\"mediaType\":\"{}\",\
         \"annotations\":{{\"z\":\"\\u00e9\",\"a\":\"1\"}}   }}\n\n",
        l.data.len(),
        l.digest,
        l.media_type,
        c.digest,
        c.media_type,
        c.data.len(),
        OCI_MANIFEST
    );
    round_trip(
        &reg,
        "pretty",
        &Manifest::new(OCI_MANIFEST, body.into_bytes()),
    );
}

// spec §Pulling manifests: "The `Content-Type` header SHOULD match what the client pushed as the manifest's `Content-Type`." (OCI image index)
#[test]
fn end7_put_oci_index() {
    let reg = Reg::start();
    let (a, b) = (new_image(json!({})), new_image(json!({})));
    reg.push_image(REPO, &a.manifest.digest, &a);
    reg.push_image(REPO, &b.manifest.digest, &b);
    let mut da = a.manifest.desc();
    da["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut db = b.manifest.desc();
    db["platform"] = json!({"os": "linux", "architecture": "arm64"});
    round_trip(
        &reg,
        "multi",
        &Manifest::new(OCI_INDEX, make_index(&[da, db], json!({}))),
    );
}

// spec §Pulling manifests: Content-Type "SHOULD match what the client pushed" (Docker schema2 image manifest).
#[test]
fn end7_put_docker_schema2_manifest() {
    let reg = Reg::start();
    let config = Blob::new(
        DOCKER_CONFIG,
        serde_json::to_vec(&json!({"os": "linux", "n": hex::encode(unique(8))})).unwrap(),
    );
    let layer = Blob::new(DOCKER_LAYER, unique(400));
    reg.push_blob_as(REPO, &config.data, &config.digest);
    reg.push_blob_as(REPO, &layer.data, &layer.digest);
    let body = make_image_manifest(
        &config.desc(),
        &[layer.desc()],
        json!({"mediaType": DOCKER_MANIFEST}),
    );
    round_trip(&reg, "docker", &Manifest::new(DOCKER_MANIFEST, body));
}

// spec §Pulling manifests: Content-Type "SHOULD match what the client pushed" (Docker manifest list over schema2 manifests).
#[test]
fn end7_put_docker_manifest_list() {
    let reg = Reg::start();
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = Blob::new(
            DOCKER_CONFIG,
            serde_json::to_vec(&json!({"architecture": arch})).unwrap(),
        );
        reg.push_blob_as(REPO, &config.data, &config.digest);
        let body = make_image_manifest(&config.desc(), &[], json!({"mediaType": DOCKER_MANIFEST}));
        let m = Manifest::new(DOCKER_MANIFEST, body);
        reg.push_manifest(REPO, &m.digest, DOCKER_MANIFEST, &m.body);
        let mut d = m.desc();
        d["platform"] = json!({"os": "linux", "architecture": arch});
        children.push(d);
    }
    let list = make_index(&children, json!({"mediaType": DOCKER_LIST}));
    round_trip(&reg, "list", &Manifest::new(DOCKER_LIST, list));
}

// spec §Pushing Manifests: "Clients SHOULD set the `Content-Type` header to the type of the manifest being pushed." - a manifest without a `mediaType` field is served with the pushed Content-Type.
#[test]
fn end7_manifest_without_media_type_field() {
    let reg = Reg::start();
    let img = new_image(json!({"mediaType": null}));
    reg.push_image_blobs(REPO, &img);
    round_trip(&reg, "nomt", &img.manifest);
}

// spec §Push: "When a manifest is rejected for this reason, it MUST result in one or more `MANIFEST_BLOB_UNKNOWN` errors" (a layer that was never pushed).
#[test]
fn end7_manifest_with_a_missing_layer_is_manifest_blob_unknown() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_blob_as(REPO, &img.config.data, &img.config.digest);
    let r = reg.put_manifest(REPO, "v1", OCI_MANIFEST, &img.manifest.body);
    assert_error(&r, &[400, 404], "MANIFEST_BLOB_UNKNOWN");
    reg.get_manifest(REPO, "v1").must(404);
}

// spec §Push: a manifest rejected for a missing blob "MUST result in one or more `MANIFEST_BLOB_UNKNOWN` errors" (the config blob was never pushed).
#[test]
fn end7_manifest_with_a_missing_config_is_manifest_blob_unknown() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_blob_as(REPO, &img.layers[0].data, &img.layers[0].digest);
    let r = reg.put_manifest(REPO, &img.manifest.digest, OCI_MANIFEST, &img.manifest.body);
    assert_error(&r, &[400, 404], "MANIFEST_BLOB_UNKNOWN");
    reg.get_manifest(REPO, &img.manifest.digest).must(404);
}

// spec §Push / code-5: MANIFEST_BLOB_UNKNOWN "manifest references a manifest or blob unknown to registry" (an index over a manifest never pushed).
#[test]
fn end7_index_with_a_missing_manifest_is_manifest_blob_unknown() {
    let reg = Reg::start();
    let present = new_image(json!({}));
    reg.push_image(REPO, &present.manifest.digest, &present);
    let absent = new_image(json!({}));
    let index = make_index(
        &[present.manifest.desc(), absent.manifest.desc()],
        json!({}),
    );
    let r = reg.put_manifest(REPO, "idx", OCI_INDEX, &index);
    assert_error(&r, &[400, 404], "MANIFEST_BLOB_UNKNOWN");
}

// spec §Pushing Manifests: "A registry that enforces this limit SHOULD respond to a request to push a manifest over this limit with a response code `413 Payload Too Large`." (berth's limit: 4 MiB)
#[test]
fn end7_manifest_over_4_mib_is_413() {
    let reg = Reg::start();
    let body = manifest_of_len(&reg, 4 * 1024 * 1024 + 1);
    let r = reg
        .put_manifest(REPO, "huge", OCI_MANIFEST, &body)
        .must(413);
    if r.json_ok() {
        error_codes(&r);
    }
    reg.get_manifest(REPO, "huge").must(404);
}

// spec §Pushing Manifests: "Client and registry implementations SHOULD expect to be able to support manifest pushes of at least 4 megabytes." (exactly 4 MiB)
#[test]
fn end7_manifest_of_4_mib_is_accepted() {
    let reg = Reg::start();
    let body = manifest_of_len(&reg, 4 * 1024 * 1024);
    round_trip(&reg, "big", &Manifest::new(OCI_MANIFEST, body));
}

// spec §Legacy Docker support error codes / code-6 MANIFEST_INVALID: Docker schema1 manifests are not a supported manifest type and are refused.
#[test]
fn end7_schema1_manifest_is_refused() {
    let reg = Reg::start();
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 1, "name": REPO, "tag": "old", "architecture": "amd64",
        "fsLayers": [{"blobSum": common::sha256(b"l")}], "history": [{"v1Compatibility": "{}"}],
    }))
    .unwrap();
    for mt in [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ] {
        let r = reg.put_manifest(REPO, "old", mt, &body);
        assert!((400..500).contains(&r.status), "schema1 accepted:\n{r}");
        let codes = error_codes(&r);
        assert!(
            codes
                .iter()
                .any(|c| c == "MANIFEST_INVALID" || c == "UNSUPPORTED"),
            "\n{r}"
        );
    }
    reg.get_manifest(REPO, "old").must(404);
}

// spec §Error Codes code-6: MANIFEST_INVALID "manifest invalid" - a body that is not a manifest.
#[test]
fn end7_malformed_manifest_is_manifest_invalid() {
    let reg = Reg::start();
    for body in [
        &b"not json"[..],
        b"{\"schemaVersion\": 2, \"config\": 5}",
        b"[]",
    ] {
        assert_error(
            &reg.put_manifest(REPO, "bad", OCI_MANIFEST, body),
            &[400],
            "MANIFEST_INVALID",
        );
    }
    assert_error(
        &reg.put_manifest(REPO, "bad", OCI_INDEX, b"{\"manifests\": \"x\"}"),
        &[400],
        "MANIFEST_INVALID",
    );
}

// spec §Pushing Manifests: Docker-Content-Digest "MUST be equal to the client provided digest" - a PUT by a digest the body does not hash to is refused (official suite "bad-digest-image": 400).
#[test]
fn end7_put_by_a_digest_the_body_does_not_match_is_400_digest_invalid() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let mut body = img.manifest.body.clone();
    body.extend_from_slice(b"  ");
    let r = reg.put_manifest(REPO, &img.manifest.digest, OCI_MANIFEST, &body);
    assert_error(&r, &[400], "DIGEST_INVALID");
    reg.get_manifest(REPO, &img.manifest.digest).must(404);
    reg.get_manifest(REPO, &common::sha256(&body)).must(404);
}

// spec §Pulling manifests: "The `<reference>` MUST NOT be in any other format." - `sha256:baddigeststring` is neither a digest nor a tag (PUT 400; GET 400 or 404).
#[test]
fn end7_malformed_digest_reference_is_400_digest_invalid() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let r = reg.put_manifest(
        REPO,
        "sha256:baddigeststring",
        OCI_MANIFEST,
        &img.manifest.body,
    );
    assert_error(&r, &[400], "DIGEST_INVALID");
    let r = reg.get_manifest(REPO, "sha256:baddigeststring");
    assert!(r.status == 400 || r.status == 404, "\n{r}");
    error_codes(&r);
}

// spec §Pulling manifests: "`<reference>` as a tag MUST be at most 128 characters in length and MUST match ... `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`"
#[test]
fn end7_invalid_tags_are_refused() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    for tag in [
        "a".repeat(129),
        ".hidden".into(),
        "-dash".into(),
        "has+plus".into(),
        "sp%20ace".into(),
    ] {
        let r = reg.put_manifest(REPO, &tag, OCI_MANIFEST, &img.manifest.body);
        assert_eq!(r.status, 400, "tag {tag:?} accepted:\n{r}");
        error_codes(&r);
    }
}

// spec §Pulling manifests: a tag matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` - 128 characters, upper case, `_` first, dots and dashes are all valid.
#[test]
fn end7_valid_tag_forms_are_accepted() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    for tag in [
        "T".repeat(128),
        "_x".into(),
        "1.0.0-rc.1".into(),
        "MiXeD_Case-9".into(),
    ] {
        reg.put_manifest(REPO, &tag, OCI_MANIFEST, &img.manifest.body)
            .must(201);
        assert!(reg.get_manifest(REPO, &tag).must(200).body == img.manifest.body);
    }
}

// spec §Definitions: "Tag: a custom, human-readable pointer to a manifest." - pushing another manifest to a tag moves it.
#[test]
fn end7_pushing_to_an_existing_tag_moves_it() {
    let reg = Reg::start();
    let (a, b) = (new_image(json!({})), new_image(json!({})));
    reg.push_image(REPO, "moving", &a);
    reg.push_image(REPO, "moving", &b);
    let r = reg.get_manifest(REPO, "moving").must(200);
    assert_eq!(
        r.must_header("docker-content-digest"),
        b.manifest.digest,
        "\n{r}"
    );
    reg.get_manifest(REPO, &a.manifest.digest).must(200);
}

// spec §Definitions: "A manifest digest may have zero, one, or many tags referencing it." (re-pushing the same manifest is idempotent)
#[test]
fn end7_one_manifest_many_tags_and_idempotent_repush() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    for tag in ["test0", "test1", "test2", "test3", "test0"] {
        let r = reg
            .put_manifest(REPO, tag, OCI_MANIFEST, &img.manifest.body)
            .must(201);
        assert_eq!(
            r.must_header("docker-content-digest"),
            img.manifest.digest,
            "\n{r}"
        );
    }
    for tag in ["test0", "test1", "test2", "test3"] {
        assert!(reg.get_manifest(REPO, tag).must(200).body == img.manifest.body);
    }
}

// spec §Pushing Manifests: "If a manifest includes a `mediaType` field, clients MUST set the `Content-Type` header to the value specified by the `mediaType` field." - a push contradicting its own mediaType is MANIFEST_INVALID.
#[test]
fn end7_content_type_contradicting_media_type_is_manifest_invalid() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let r = reg.put_manifest(REPO, "mixed", OCI_INDEX, &img.manifest.body);
    assert_error(&r, &[400], "MANIFEST_INVALID");
    reg.get_manifest(REPO, "mixed").must(404);
}

// spec §Push: a registry rejecting descriptors that "reference a manifest or blob that does not exist" answers MANIFEST_BLOB_UNKNOWN - berth scopes blobs per repository, so a blob only in another repository counts as missing.
#[test]
fn end7_blob_only_in_another_repository_is_manifest_blob_unknown() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image("conf/elsewhere", "v1", &img);
    let r = reg.put_manifest(REPO, "v1", OCI_MANIFEST, &img.manifest.body);
    assert_error(&r, &[400, 404], "MANIFEST_BLOB_UNKNOWN");
}
