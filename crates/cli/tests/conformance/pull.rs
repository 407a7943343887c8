//! Pull: end-2 (`GET`/`HEAD /v2/<name>/blobs/<digest>`, ranged reads) and end-3
//! (`GET`/`HEAD /v2/<name>/manifests/<reference>`).

use serde_json::json;

use crate::common;
use crate::util::*;

const REPO: &str = "conf/pull";

// spec §Pulling blobs: "A GET request to an existing blob URL MUST provide the expected blob, with a response code that MUST be `200 OK`."
#[test]
fn end2_get_blob_returns_200_and_the_exact_bytes() {
    let reg = Reg::start();
    let data = unique(5000);
    let d = reg.push_blob(REPO, &data);
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert!(r.body == data, "blob bytes differ:\n{r}");
    assert_eq!(
        r.header("content-length"),
        Some(data.len().to_string()),
        "\n{r}"
    );
}

// spec §Pulling blobs: "A successful response SHOULD contain the digest of the uploaded blob in the header `Docker-Content-Digest`. If present, the value of this header MUST be a digest matching that of the response body."
#[test]
fn end2_get_blob_docker_content_digest_matches_body() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, &unique(64));
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(
        r.must_header("docker-content-digest"),
        common::sha256(&r.body),
        "\n{r}"
    );
}

// spec §Pulling blobs: "If the blob is not found in the repository, the response code MUST be `404 Not Found`." (code-1 BLOB_UNKNOWN)
#[test]
fn end2_get_missing_blob_is_404_blob_unknown() {
    let reg = Reg::start();
    reg.push_blob(REPO, b"something else");
    let r = reg.get(&format!(
        "/v2/{REPO}/blobs/{}",
        common::sha256(b"never pushed")
    ));
    assert_error(&r, &[404], "BLOB_UNKNOWN");
}

// spec §Pulling blobs: "If the blob is not found in the repository, the response code MUST be `404 Not Found`." - a blob pushed to another repository is not in this one.
#[test]
fn end2_blob_of_another_repository_is_404_blob_unknown() {
    let reg = Reg::start();
    let d = reg.push_blob("conf/a", &unique(100));
    reg.push_blob("conf/b", &unique(100));
    assert_error(
        &reg.get(&format!("/v2/conf/b/blobs/{d}")),
        &[404],
        "BLOB_UNKNOWN",
    );
    reg.head(&format!("/v2/conf/b/blobs/{d}")).must(404);
}

// spec §Checking if content exists: "A HEAD request to an existing blob or manifest URL MUST return `200 OK`." with `Docker-Content-Digest` and `Content-Length` (SHOULD), and no body.
#[test]
fn end2_head_blob_returns_200_digest_and_length_without_body() {
    let reg = Reg::start();
    let data = unique(1234);
    let d = reg.push_blob(REPO, &data);
    let r = reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(r.must_header("docker-content-digest"), d, "\n{r}");
    assert_eq!(r.must_header("content-length"), "1234", "\n{r}");
    assert!(r.body.is_empty(), "HEAD returned a body:\n{r}");
}

// spec §Checking if content exists: "If the blob or manifest is not found in the repository, the response code MUST be `404 Not Found`."
#[test]
fn end2_head_missing_blob_is_404() {
    let reg = Reg::start();
    reg.push_blob(REPO, b"x");
    let r = reg
        .head(&format!("/v2/{REPO}/blobs/{}", common::sha256(b"y")))
        .must(404);
    assert!(r.body.is_empty(), "HEAD returned a body:\n{r}");
}

// spec §Pulling blobs: "A registry SHOULD support the `Range` request header in accordance with RFC 9110." (206 with Content-Range)
#[test]
fn end2_range_request_returns_206_and_content_range() {
    let reg = Reg::start();
    let data = unique(1000);
    let d = reg.push_blob(REPO, &data);
    let r = reg
        .get_with(
            &format!("/v2/{REPO}/blobs/{d}"),
            &[("Range", "bytes=10-99")],
        )
        .must(206);
    assert_eq!(r.must_header("content-range"), "bytes 10-99/1000", "\n{r}");
    assert!(r.body == data[10..100], "ranged body differs:\n{r}");
    assert_eq!(r.header("content-length"), Some("90".to_string()), "\n{r}");
}

// spec §Pulling blobs: Range per RFC 9110 - open-ended (`bytes=N-`) and suffix (`bytes=-N`) ranges.
#[test]
fn end2_range_open_ended_and_suffix() {
    let reg = Reg::start();
    let data = unique(300);
    let d = reg.push_blob(REPO, &data);
    let path = format!("/v2/{REPO}/blobs/{d}");
    let r = reg.get_with(&path, &[("Range", "bytes=250-")]).must(206);
    assert_eq!(r.must_header("content-range"), "bytes 250-299/300", "\n{r}");
    assert!(r.body == data[250..], "open-ended range body differs:\n{r}");
    let r = reg.get_with(&path, &[("Range", "bytes=-20")]).must(206);
    assert_eq!(r.must_header("content-range"), "bytes 280-299/300", "\n{r}");
    assert!(r.body == data[280..], "suffix range body differs:\n{r}");
}

// spec §Pulling blobs: Range per RFC 9110 §15.5.17 - a range starting past the end is `416` with `Content-Range: bytes */<size>`.
#[test]
fn end2_unsatisfiable_range_is_416() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, &unique(100));
    let r = reg
        .get_with(
            &format!("/v2/{REPO}/blobs/{d}"),
            &[("Range", "bytes=500-600")],
        )
        .must(416);
    assert_eq!(r.must_header("content-range"), "bytes */100", "\n{r}");
}

// spec §Pulling manifests: "A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be `200 OK`." (by tag)
#[test]
fn end3_get_manifest_by_tag_returns_exact_bytes_type_and_digest() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "latest", &img);
    let r = reg.get_manifest(REPO, "latest").must(200);
    assert!(r.body == img.manifest.body, "manifest bytes differ:\n{r}");
    assert_eq!(r.must_header("content-type"), OCI_MANIFEST, "\n{r}");
    assert_eq!(
        r.must_header("docker-content-digest"),
        img.manifest.digest,
        "\n{r}"
    );
    assert_eq!(
        r.must_header("content-length"),
        img.manifest.body.len().to_string(),
        "\n{r}"
    );
}

// spec §Pulling manifests: "`<reference>` MUST be either (a) the digest of the manifest or (b) a tag." (by digest)
#[test]
fn end3_get_manifest_by_digest_returns_exact_bytes() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "latest", &img);
    let r = reg.get_manifest(REPO, &img.manifest.digest).must(200);
    assert!(r.body == img.manifest.body, "manifest bytes differ:\n{r}");
    assert_eq!(
        r.must_header("docker-content-digest"),
        img.manifest.digest,
        "\n{r}"
    );
    assert_eq!(r.must_header("content-type"), OCI_MANIFEST, "\n{r}");
}

// spec §Pulling manifests: "In a successful response, the `Content-Type` header will indicate the type of the returned manifest." (no Accept header sent)
#[test]
fn end3_get_manifest_without_accept_header() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "latest", &img);
    let r = reg.get(&format!("/v2/{REPO}/manifests/latest")).must(200);
    assert!(r.body == img.manifest.body, "manifest bytes differ:\n{r}");
    assert_eq!(r.must_header("content-type"), OCI_MANIFEST, "\n{r}");
}

// spec §Checking if content exists: "A HEAD request to an existing blob or manifest URL MUST return `200 OK`." with Docker-Content-Digest and Content-Length (SHOULD).
#[test]
fn end3_head_manifest_by_tag_and_digest() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "v1", &img);
    for reference in ["v1", img.manifest.digest.as_str()] {
        let r = reg.head_manifest(REPO, reference).must(200);
        assert_eq!(
            r.must_header("docker-content-digest"),
            img.manifest.digest,
            "\n{r}"
        );
        assert_eq!(
            r.must_header("content-length"),
            img.manifest.body.len().to_string(),
            "\n{r}"
        );
        assert_eq!(r.must_header("content-type"), OCI_MANIFEST, "\n{r}");
        assert!(r.body.is_empty(), "HEAD returned a body:\n{r}");
    }
}

// spec §Pulling manifests: "If the manifest is not found in the repository, the response code MUST be `404 Not Found`." (code-7 MANIFEST_UNKNOWN)
#[test]
fn end3_missing_manifest_is_404_manifest_unknown() {
    let reg = Reg::start();
    reg.push_image(REPO, "present", &new_image(json!({})));
    assert_error(
        &reg.get_manifest(REPO, "absent"),
        &[404],
        "MANIFEST_UNKNOWN",
    );
    let d = common::sha256(b"no such manifest");
    assert_error(&reg.get_manifest(REPO, &d), &[404], "MANIFEST_UNKNOWN");
    reg.head_manifest(REPO, "absent").must(404);
    reg.head_manifest(REPO, &d).must(404);
}

// spec §Pulling manifests: "If the manifest is not found in the repository, the response code MUST be `404 Not Found`." - manifests are per repository.
#[test]
fn end3_manifest_of_another_repository_is_404() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image("conf/a", "v1", &img);
    reg.push_image("conf/b", "other", &new_image(json!({})));
    assert_error(
        &reg.get_manifest("conf/b", &img.manifest.digest),
        &[404],
        "MANIFEST_UNKNOWN",
    );
    assert_error(
        &reg.get_manifest("conf/b", "v1"),
        &[404],
        "MANIFEST_UNKNOWN",
    );
}

// spec §Pushing Manifests: "An attempt to pull a nonexistent repository MUST return response code `404 Not Found`".
#[test]
fn end3_nonexistent_repository_is_404() {
    let reg = Reg::start();
    let r = reg.get_manifest("conf/never-created", "latest").must(404);
    let codes = error_codes(&r);
    assert!(
        codes
            .iter()
            .any(|c| c == "NAME_UNKNOWN" || c == "MANIFEST_UNKNOWN"),
        "\n{r}"
    );
    let r = reg
        .get(&format!(
            "/v2/conf/never-created/blobs/{}",
            common::sha256(b"x")
        ))
        .must(404);
    let codes = error_codes(&r);
    assert!(
        codes
            .iter()
            .any(|c| c == "NAME_UNKNOWN" || c == "BLOB_UNKNOWN"),
        "\n{r}"
    );
}

// spec §Pulling manifests: "The `Content-Type` header SHOULD match what the client pushed as the manifest's `Content-Type`." and "The registry SHOULD NOT include parameters on the `Content-Type` header."
#[test]
fn end3_content_type_matches_pushed_type_without_parameters() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let ct = format!("{OCI_MANIFEST}; charset=utf-8");
    reg.put_manifest(REPO, "v1", &ct, &img.manifest.body)
        .must(201);
    let r = reg.get_manifest(REPO, "v1").must(200);
    assert_eq!(r.must_header("content-type"), OCI_MANIFEST, "\n{r}");
}

// spec §Pulling manifests / image-spec: a client SHOULD verify "the returned manifest matches this digest" - so a GET by digest must return bytes hashing to it.
#[test]
fn end3_get_by_digest_body_hashes_to_the_digest() {
    let reg = Reg::start();
    let img = new_image(json!({"annotations": {"k": "v"}}));
    reg.push_image(REPO, &img.manifest.digest, &img);
    let r = reg.get_manifest(REPO, &img.manifest.digest).must(200);
    assert_eq!(common::sha256(&r.body), img.manifest.digest, "\n{r}");
}
