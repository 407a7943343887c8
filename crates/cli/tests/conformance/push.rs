//! Monolithic blob push: end-4a (`POST /v2/<name>/blobs/uploads/`), end-4b (single
//! `POST ...?digest=`) and end-6 (`PUT <location>?digest=`).

use reqwest::Method;

use crate::common;
use crate::util::*;

const REPO: &str = "conf/push";

/// Whether `s` contains a UUID (hyphenated 8-4-4-4-12 or 32 plain hex digits).
fn contains_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let hyph = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    b.windows(36).any(hyph) || b.windows(32).any(|w| w.iter().all(u8::is_ascii_hexdigit))
}

// spec §POST then PUT: "Upon success, the response MUST have a code of `202 Accepted`, and MUST include the following header: `Location: <location>`"
#[test]
fn end4a_post_returns_202_with_location() {
    let reg = Reg::start();
    let r = reg.post_upload(REPO).must(202);
    assert!(!r.location().is_empty(), "\n{r}");
}

// spec §POST then PUT: "The `<location>` MUST contain a UUID representing a unique session ID for the upload to follow."
#[test]
fn end4a_location_contains_a_unique_uuid() {
    let reg = Reg::start();
    let a = reg.post_upload(REPO).must(202).location();
    let b = reg.post_upload(REPO).must(202).location();
    assert_ne!(a, b, "two sessions share a location");
    assert!(contains_uuid(&a), "location {a:?} holds no UUID");
    assert!(contains_uuid(&b), "location {b:?} holds no UUID");
}

// spec §POST then PUT: "Upon successful completion of the request, the response MUST have code `201 Created` and MUST have the following header: `Location: <blob-location>` With `<blob-location>` being a pullable blob URL."
#[test]
fn end6_post_then_put_returns_201_with_pullable_location() {
    let reg = Reg::start();
    let data = unique(4096);
    let d = common::sha256(&data);
    let loc = reg.start_upload(REPO);
    let r = reg.put_upload(&loc, &d, &data, None).must(201);
    let blob = reg.get(&r.location()).must(200);
    assert!(blob.body == data, "blob at Location differs:\n{blob}");
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert!(r.body == data, "blob differs:\n{r}");
}

// spec §POST then PUT: the `<location>` "MAY be absolute ... or it MAY be relative"; it SHOULD be used exactly as returned - a relative one resolves under this registry's `/v2/<name>/blobs/uploads/`.
#[test]
fn end4a_location_is_an_upload_url_of_the_repository() {
    let reg = Reg::start();
    let loc = reg.url(&reg.post_upload("conf/a/b").must(202).location());
    let path = reqwest::Url::parse(&loc).unwrap().path().to_string();
    assert!(
        path.starts_with("/v2/conf/a/b/blobs/uploads/"),
        "upload location {loc:?}"
    );
}

// spec §Single POST: "Successful completion of the request MUST return a `201 Created` and MUST include the following header: `Location: <blob-location>`"
#[test]
fn end4b_single_post_with_digest_returns_201() {
    let reg = Reg::start();
    let data = unique(2048);
    let d = common::sha256(&data);
    let url = with_query(&format!("/v2/{REPO}/blobs/uploads/"), "digest", &d);
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg
        .req(Method::POST, &url, &h, Some(data.clone()))
        .must(201);
    let blob = reg.get(&r.location()).must(200);
    assert!(blob.body == data, "blob at Location differs:\n{blob}");
}

// spec §Single POST: "Likewise, the `<digest>` MUST match the blob's digest." (code-4 DIGEST_INVALID: provided digest did not match uploaded content)
#[test]
fn end4b_single_post_digest_mismatch_is_400_digest_invalid() {
    let reg = Reg::start();
    let url = with_query(
        &format!("/v2/{REPO}/blobs/uploads/"),
        "digest",
        &common::sha256(b"other"),
    );
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg.req(Method::POST, &url, &h, Some(b"content".to_vec()));
    assert_error(&r, &[400], "DIGEST_INVALID");
    reg.head(&format!("/v2/{REPO}/blobs/{}", common::sha256(b"content")))
        .must(404);
    reg.head(&format!("/v2/{REPO}/blobs/{}", common::sha256(b"other")))
        .must(404);
}

// spec §Pushing blobs: the `<digest>` is "the digest of the blob being uploaded"; a PUT whose bytes do not hash to it is DIGEST_INVALID (400, end-6 failure).
#[test]
fn end6_put_digest_mismatch_is_400_digest_invalid() {
    let reg = Reg::start();
    let loc = reg.start_upload(REPO);
    let wrong = common::sha256(b"not these bytes");
    assert_error(
        &reg.put_upload(&loc, &wrong, b"these bytes", None),
        &[400],
        "DIGEST_INVALID",
    );
    reg.head(&format!("/v2/{REPO}/blobs/{wrong}")).must(404);
    reg.head(&format!(
        "/v2/{REPO}/blobs/{}",
        common::sha256(b"these bytes")
    ))
    .must(404);
}

// spec §Pushing a blob in chunks: "The closing `PUT` request MUST include the `<digest>` of the whole blob (not the final chunk) as a query parameter."
#[test]
fn end6_put_without_digest_is_400() {
    let reg = Reg::start();
    let loc = reg.start_upload(REPO);
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg.req(Method::PUT, &loc, &h, Some(b"data".to_vec()));
    assert_eq!(r.status, 400, "\n{r}");
    let codes = error_codes(&r);
    assert!(
        codes
            .iter()
            .any(|c| c == "DIGEST_INVALID" || c == "BLOB_UPLOAD_INVALID"),
        "\n{r}"
    );
}

// spec §Error Codes: code-3 BLOB_UPLOAD_UNKNOWN "blob upload unknown to registry" - end-6 failure 404.
#[test]
fn end6_put_to_unknown_upload_is_404_blob_upload_unknown() {
    let reg = Reg::start();
    reg.start_upload(REPO);
    let loc = format!("/v2/{REPO}/blobs/uploads/5f0e8e3c-2c1a-4d8b-9a55-1b7d1a0b9c11");
    let r = reg.put_upload(&loc, &common::sha256(b"x"), b"x", None);
    assert_error(&r, &[404], "BLOB_UPLOAD_UNKNOWN");
}

// spec §Pushing a blob in chunks: "the session MUST be closed with a `PUT` request" - once closed, the upload location is unknown.
#[test]
fn end6_session_is_closed_after_put() {
    let reg = Reg::start();
    let loc = reg.start_upload(REPO);
    reg.put_upload(&loc, &common::sha256(b"abc"), b"abc", None)
        .must(201);
    assert_error(&reg.get(&loc), &[404], "BLOB_UPLOAD_UNKNOWN");
    assert_error(
        &reg.patch(&loc, b"more", Some((3, 6))),
        &[404],
        "BLOB_UPLOAD_UNKNOWN",
    );
}

// spec §Layer Upload De-duplication: "If process A and B upload the same layer ... both operations will proceed" - pushing an existing blob again succeeds.
#[test]
fn end6_pushing_the_same_blob_twice_succeeds() {
    let reg = Reg::start();
    let data = unique(512);
    let d = reg.push_blob(REPO, &data);
    let a = reg.start_upload(REPO);
    let b = reg.start_upload(REPO);
    reg.put_upload(&a, &d, &data, None).must(201);
    reg.put_upload(&b, &d, &data, None).must(201);
    assert!(reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200).body == data);
}

// spec §POST then PUT with an empty blob: a zero-byte blob (sha256 of nothing) is pushable and pullable (conformance data `empty`).
#[test]
fn end6_zero_byte_blob() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, b"");
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert!(r.body.is_empty(), "\n{r}");
    let r = reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(r.must_header("content-length"), "0", "\n{r}");
}

// spec §POST then PUT: the OCI empty JSON blob `{}` has the well-known digest sha256:44136fa3... (conformance data `emptyJSON`).
#[test]
fn end6_empty_json_blob() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, b"{}");
    assert_eq!(d, EMPTY_JSON_DIGEST);
    let r = reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(r.body, b"{}", "\n{r}");
    assert_eq!(
        r.must_header("docker-content-digest"),
        EMPTY_JSON_DIGEST,
        "\n{r}"
    );
}

// spec §POST then PUT: a blob is stored "keyed by digest" in the repository it was pushed to - pushing to a nested repository name works and is pullable there.
#[test]
fn end6_push_to_a_nested_repository() {
    let reg = Reg::start();
    let data = unique(100);
    let d = reg.push_blob("a/b/c/d", &data);
    assert!(reg.get(&format!("/v2/a/b/c/d/blobs/{d}")).must(200).body == data);
}

// spec §POST then PUT: "Upon successful completion ... `Location: <blob-location>`" - a large (multi-megabyte) blob in one PUT.
#[test]
fn end6_large_monolithic_blob() {
    let reg = Reg::start();
    let data = unique(6 * 1024 * 1024 + 17);
    let d = reg.push_blob(REPO, &data);
    let r = reg.head(&format!("/v2/{REPO}/blobs/{d}")).must(200);
    assert_eq!(
        r.must_header("content-length"),
        data.len().to_string(),
        "\n{r}"
    );
    assert!(reg.get(&format!("/v2/{REPO}/blobs/{d}")).must(200).body == data);
}
