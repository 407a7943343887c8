//! The sha512 digest algorithm (image-spec "Registered algorithms": `sha512`) across the API:
//! every blob push method, pull, mount, delete, manifests and indexes addressed by sha512, and
//! referrers of a sha512 subject.

use reqwest::Method;
use serde_json::json;

use crate::common;
use crate::util::*;

const REPO: &str = "conf/sha512";

/// `Docker-Content-Digest`, when present, must be "a digest matching that of the response body".
#[track_caller]
fn digest_header_matches(r: &Resp, body: &[u8]) {
    let h = r.must_header("docker-content-digest");
    let want = if h.starts_with("sha512:") {
        common::sha512(body)
    } else {
        common::sha256(body)
    };
    assert_eq!(
        h, want,
        "Docker-Content-Digest does not match the content:\n{r}"
    );
}

/// A sha512-addressed manifest.
fn manifest512(media_type: &str, body: Vec<u8>) -> Manifest {
    let digest = common::sha512(&body);
    Manifest {
        media_type: media_type.into(),
        body,
        digest,
    }
}

// spec §Pulling blobs (sha512): "A GET request to an existing blob URL MUST provide the expected blob, with a response code that MUST be `200 OK`." and Docker-Content-Digest "MUST be a digest matching that of the response body".
#[test]
fn sha512_blob_post_then_put_and_pull() {
    let reg = Reg::start();
    let data = unique(2000);
    let d = common::sha512(&data);
    let loc = reg.start_upload(REPO);
    let r = reg.put_upload(&loc, &d, &data, None).must(201);
    assert!(reg.get(&r.location()).must(200).body == data);
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert!(r.body == data, "\n{r}");
    digest_header_matches(&r, &data);
    let h = reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(h.must_header("content-length"), "2000", "\n{h}");
    digest_header_matches(&h, &data);
}

// spec §Single POST (sha512): "Successful completion of the request MUST return a `201 Created` and MUST include ... `Location: <blob-location>`"
#[test]
fn sha512_blob_single_post() {
    let reg = Reg::start();
    let data = unique(1000);
    let d = common::sha512(&data);
    let url = with_query(&format!("/v2/{REPO}/blobs/uploads/"), "digest", &d);
    let r = reg
        .req(
            Method::POST,
            &url,
            &[("Content-Type", "application/octet-stream")],
            Some(data.clone()),
        )
        .must(201);
    assert!(reg.get(&r.location()).must(200).body == data);
}

// spec §Pushing a blob in chunks (sha512): "The closing `PUT` request MUST include the `<digest>` of the whole blob" - chunks, then a last chunk in the PUT.
#[test]
fn sha512_blob_chunked_with_final_chunk_in_put() {
    let reg = Reg::start();
    let r = reg.post_upload(REPO).must(202);
    let min = r
        .header("oci-chunk-min-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let size = min.max(1024);
    let data = unique(size * 2 + 11);
    let d = common::sha512(&data);
    let r = reg
        .patch(&r.location(), &data[..size], Some((0, size - 1)))
        .must(202);
    let r = reg
        .patch(
            &r.location(),
            &data[size..2 * size],
            Some((size, 2 * size - 1)),
        )
        .must(202);
    assert_eq!(
        r.must_header("range"),
        format!("0-{}", 2 * size - 1),
        "\n{r}"
    );
    let r = reg
        .put_upload(
            &r.location(),
            &d,
            &data[2 * size..],
            Some((2 * size, data.len() - 1)),
        )
        .must(201);
    assert!(reg.get(&r.location()).must(200).body == data);
}

// spec §Pushing blobs (sha512, official suite "bad digest"): a sha512 that does not match the uploaded content is DIGEST_INVALID (400).
#[test]
fn sha512_digest_mismatch_is_400_digest_invalid() {
    let reg = Reg::start();
    let loc = reg.start_upload(REPO);
    let wrong = common::sha512(b"other bytes");
    assert_error(
        &reg.put_upload(&loc, &wrong, b"these bytes", None),
        &[400],
        "DIGEST_INVALID",
    );
    let short = format!("sha512:{}", &common::sha512(b"x")[7..71]);
    let loc = reg.start_upload(REPO);
    assert_error(
        &reg.put_upload(&loc, &short, b"x", None),
        &[400],
        "DIGEST_INVALID",
    );
}

// spec §Mounting a blob (sha512): "The response to a successful mount MUST be `201 Created`, and MUST contain ... `Location: <blob-location>`"
#[test]
fn sha512_blob_mount() {
    let reg = Reg::start();
    let data = unique(500);
    let d = common::sha512(&data);
    reg.push_blob_as("conf/source", &data, &d);
    let url = with_query(
        &with_query("/v2/conf/target/blobs/uploads/", "mount", &d),
        "from",
        "conf/source",
    );
    let r = reg.post(&url).must(201);
    assert!(reg.get(&r.location()).must(200).body == data);
}

// spec §Deleting Blobs (sha512): "Upon success, the registry MUST respond with code `202 Accepted`." then 404.
#[test]
fn sha512_blob_delete() {
    let reg = Reg::start();
    let data = unique(40);
    let d = common::sha512(&data);
    reg.push_blob_as(REPO, &data, &d);
    reg.delete(&format!("/v2/{REPO}/blobs/{d}")).must(202);
    reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(404);
    assert_error(
        &reg.get(&format!("/v2/{REPO}/blobs/{d}")),
        &[404],
        "BLOB_UNKNOWN",
    );
}

// spec §Pushing Manifests (sha512): "The Docker-Content-Digest header ... MUST be equal to the client provided digest." - a manifest over sha512 blobs, pushed and pulled by its sha512 digest.
#[test]
fn sha512_manifest_by_digest_over_sha512_blobs() {
    let reg = Reg::start();
    let config = Blob::sha512(
        OCI_CONFIG,
        serde_json::to_vec(&json!({"os": "linux", "x": hex::encode(unique(6))})).unwrap(),
    );
    let layer = Blob::sha512(OCI_LAYER, unique(600));
    for b in [&config, &layer] {
        reg.push_blob_as(REPO, &b.data, &b.digest);
    }
    let m = manifest512(
        OCI_MANIFEST,
        make_image_manifest(&config.desc(), &[layer.desc()], json!({})),
    );
    let r = reg
        .put_manifest(REPO, &m.digest, OCI_MANIFEST, &m.body)
        .must(201);
    assert_eq!(r.must_header("docker-content-digest"), m.digest, "\n{r}");
    assert!(reg.get(&r.location()).must(200).body == m.body);
    let g = reg.get_manifest(REPO, &m.digest).must(200);
    assert!(g.body == m.body, "\n{g}");
    assert_eq!(g.must_header("content-type"), OCI_MANIFEST, "\n{g}");
    digest_header_matches(&g, &m.body);
    reg.head_manifest(REPO, &m.digest).must(200);
}

// spec §Pushing Manifests (sha512): a PUT by a sha512 digest the body does not hash to is refused with 400 DIGEST_INVALID.
#[test]
fn sha512_manifest_digest_mismatch_is_400() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let wrong = common::sha512(b"something else");
    let r = reg.put_manifest(REPO, &wrong, OCI_MANIFEST, &img.manifest.body);
    assert_error(&r, &[400], "DIGEST_INVALID");
}

// spec §Pushing Manifests (sha512): an index addressing its children by sha512, pushed by its sha512 digest and by tag, pulled by both.
#[test]
fn sha512_index_of_sha512_manifests() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let child = manifest512(OCI_MANIFEST, img.manifest.body.clone());
    reg.put_manifest(REPO, &child.digest, OCI_MANIFEST, &child.body)
        .must(201);
    let idx = manifest512(OCI_INDEX, make_index(&[child.desc()], json!({})));
    let r = reg
        .put_manifest(REPO, &idx.digest, OCI_INDEX, &idx.body)
        .must(201);
    assert_eq!(r.must_header("docker-content-digest"), idx.digest, "\n{r}");
    reg.put_manifest(REPO, "multi", OCI_INDEX, &idx.body)
        .must(201);
    let g = reg.get_manifest(REPO, &idx.digest).must(200);
    assert!(g.body == idx.body, "\n{g}");
    assert_eq!(g.must_header("content-type"), OCI_INDEX, "\n{g}");
    assert!(reg.get_manifest(REPO, "multi").must(200).body == idx.body);
}

// spec §Deleting Manifests (sha512): "Upon success, the registry MUST respond with a `202 Accepted` code." and the digest and its tags are then 404.
#[test]
fn sha512_manifest_delete() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let m = manifest512(OCI_MANIFEST, img.manifest.body.clone());
    reg.put_manifest(REPO, &m.digest, OCI_MANIFEST, &m.body)
        .must(201);
    reg.put_manifest(REPO, "t", OCI_MANIFEST, &m.body).must(201);
    reg.delete(&format!("/v2/{REPO}/manifests/{}", m.digest))
        .must(202);
    reg.get_manifest(REPO, &m.digest).must(404);
}

// spec §Listing Referrers (sha512): "`<digest>` is the digest of the manifest specified in the `subject` field" - a sha512 subject gets `OCI-Subject` and a listing.
#[test]
fn sha512_subject_referrers() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let subj = manifest512(OCI_MANIFEST, img.manifest.body.clone());
    reg.put_manifest(REPO, &subj.digest, OCI_MANIFEST, &subj.body)
        .must(201);
    let art = new_artifact(
        "application/vnd.example.sbom.v1",
        json!({"subject": subj.desc(), "annotations": {"a": "1"}}),
    );
    reg.push_image_blobs(REPO, &art);
    let r = reg
        .put_manifest(REPO, &art.manifest.digest, OCI_MANIFEST, &art.manifest.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(subj.digest.as_str()),
        "\n{r}"
    );
    let r = reg.referrers(REPO, &subj.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 1, "\n{r}");
    let d = find_desc(&list, &art.manifest.digest, &r);
    assert_eq!(
        d["artifactType"],
        json!("application/vnd.example.sbom.v1"),
        "\n{r}"
    );
    assert_eq!(d["annotations"], json!({"a": "1"}), "\n{r}");
}

// spec §Pushing blobs (sha512, official suite "stream", "empty", "emptyJSON"): a streamed PATCH then PUT, and the empty and `{}` blobs, all addressed by sha512.
#[test]
fn sha512_streamed_upload_and_well_known_blobs() {
    let reg = Reg::start();
    let data = unique(1500);
    let d = common::sha512(&data);
    let loc = reg.start_upload(REPO);
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg.req_stream(Method::PATCH, &loc, &h, &data).must(202);
    let r = reg.put_upload(&r.location(), &d, b"", None).must(201);
    assert!(reg.get(&r.location()).must(200).body == data);
    for well_known in [&b""[..], b"{}"] {
        let d = common::sha512(well_known);
        reg.push_blob_as(REPO, well_known, &d);
        let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
        assert!(r.body == well_known, "\n{r}");
        let h = reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(200);
        assert_eq!(
            h.must_header("content-length"),
            well_known.len().to_string(),
            "\n{h}"
        );
    }
}
