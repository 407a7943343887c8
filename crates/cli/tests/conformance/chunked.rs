//! Chunked blob push: end-5 (`PATCH <location>`), the closing end-6 `PUT` with or without a last
//! chunk, end-13 (`GET <location>` upload status) and cancelling an upload (`DELETE <location>`).

use reqwest::Method;

use crate::common;
use crate::util::*;

const REPO: &str = "conf/chunked";

/// Open a chunked session; returns the absolute location and the chunk size to use (1000 bytes,
/// or the registry's `OCI-Chunk-Min-Length` when larger).
fn open(reg: &Reg) -> (String, usize) {
    let r = reg.post_upload(REPO).must(202);
    let min = r.header("oci-chunk-min-length").map(|v| {
        v.trim()
            .parse::<usize>()
            .unwrap_or_else(|_| panic!("OCI-Chunk-Min-Length is not a number:\n{r}"))
    });
    (reg.url(&r.location()), min.unwrap_or(0).max(1000))
}

/// PATCH `data[start..end]` with its Content-Range; asserts 202, `Range: 0-<end-1>` and returns the
/// next location.
#[track_caller]
fn chunk(reg: &Reg, loc: &str, data: &[u8], start: usize, end: usize) -> String {
    let r = reg
        .patch(loc, &data[start..end], Some((start, end - 1)))
        .must(202);
    assert_eq!(r.must_header("range"), format!("0-{}", end - 1), "\n{r}");
    reg.url(&r.location())
}

// spec §Pushing a blob in chunks: "Each successful chunk upload MUST have a `202 Accepted` response code, and MUST have the following headers: `Location: <location>` `Range: 0-<end-of-range>`"
#[test]
fn end5_patch_chunk_returns_202_location_and_range() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size);
    let r = reg.patch(&loc, &data, Some((0, size - 1))).must(202);
    assert!(!r.location().is_empty());
    assert_eq!(r.must_header("range"), format!("0-{}", size - 1), "\n{r}");
}

// spec §Pushing a blob in chunks: "Chunks MUST be uploaded in order, with the first byte of a chunk being the last chunk's `<end-of-range>` plus one." then "the session MUST be closed with a `PUT` request".
#[test]
fn end5_three_chunks_then_put_returns_201() {
    let reg = Reg::start();
    let (mut loc, size) = open(&reg);
    let data = unique(size * 3 - 5);
    for i in 0..3 {
        loc = chunk(
            &reg,
            &loc,
            &data,
            i * size,
            ((i + 1) * size).min(data.len()),
        );
    }
    let r = reg
        .put_upload(&loc, &common::sha256(&data), b"", None)
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "assembled blob differs"
    );
}

// spec §Pushing a blob in chunks: "The first chunk's range MUST begin with `0`." and "If a chunk is uploaded out of order, the registry MUST respond with a `416 Requested Range Not Satisfiable` code."
#[test]
fn end5_first_chunk_not_at_zero_is_416() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 2);
    reg.patch(&loc, &data[size..], Some((size, size * 2 - 1)))
        .must(416);
    let st = reg.get(&loc).must(204);
    let range = st.must_header("range");
    assert!(
        range == "0-0" || range == "0--1",
        "Range after a refused first chunk:\n{st}"
    );
    let loc = chunk(&reg, &reg.url(&st.location()), &data, 0, size);
    let loc = chunk(&reg, &loc, &data, size, size * 2);
    reg.put_upload(&loc, &common::sha256(&data), b"", None)
        .must(201);
}

// spec §Pushing a blob in chunks: "If a chunk is uploaded out of order, the registry MUST respond with a `416 Requested Range Not Satisfiable` code." (skipping ahead)
#[test]
fn end5_chunk_skipping_ahead_is_416() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 3);
    let loc = chunk(&reg, &loc, &data, 0, size);
    reg.patch(&loc, &data[size * 2..], Some((size * 2, size * 3 - 1)))
        .must(416);
}

// spec §Pushing a blob in chunks: out-of-order "MUST respond with a `416`" - re-sending an already accepted chunk to the first location is out of order.
#[test]
fn end5_resending_an_accepted_chunk_is_416() {
    let reg = Reg::start();
    let (first, size) = open(&reg);
    let data = unique(size * 2);
    chunk(&reg, &first, &data, 0, size);
    reg.patch(&first, &data[..size], Some((0, size - 1)))
        .must(416);
}

// spec §Pushing a blob in chunks: "To get the current status after a 416 error, issue a `GET` request to a URL `<location>`" - "MUST be a `204 No Content` ... `Location` ... `Range: 0-<end-of-range>`"; the upload then continues.
#[test]
fn end13_status_after_416_then_resume_and_finish() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 3 - 5);
    let loc = chunk(&reg, &loc, &data, 0, size);
    reg.patch(&loc, &data[size * 2..], Some((size * 2, data.len() - 1)))
        .must(416);
    let st = reg.get(&loc).must(204);
    assert_eq!(st.must_header("range"), format!("0-{}", size - 1), "\n{st}");
    let loc = chunk(&reg, &reg.url(&st.location()), &data, size, size * 2);
    let loc = chunk(&reg, &loc, &data, size * 2, data.len());
    let r = reg
        .put_upload(&loc, &common::sha256(&data), b"", None)
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "assembled blob differs"
    );
}

// spec §Pushing a blob in chunks: "The final chunk MAY be uploaded using a `PATCH` request or it MAY be uploaded in the closing `PUT` request." (with `Content-Range`)
#[test]
fn end6_final_chunk_in_put_with_content_range() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 2 + 7);
    let loc = chunk(&reg, &loc, &data, 0, size);
    let loc = chunk(&reg, &loc, &data, size, size * 2);
    let d = common::sha256(&data);
    let r = reg
        .put_upload(
            &loc,
            &d,
            &data[size * 2..],
            Some((size * 2, data.len() - 1)),
        )
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "assembled blob differs"
    );
}

// spec §Pushing a blob in chunks: a closing PUT whose chunk is out of order gets "`416 Requested Range Not Satisfiable`", and the session stays usable.
#[test]
fn end6_out_of_order_final_chunk_in_put_is_416_and_session_survives() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 2 + 50);
    let d = common::sha256(&data);
    let loc = chunk(&reg, &loc, &data, 0, size);
    let tail = &data[size * 2..];
    reg.put_upload(&loc, &d, tail, Some((size * 2, data.len() - 1)))
        .must(416);
    let st = reg.get(&loc).must(204);
    assert_eq!(st.must_header("range"), format!("0-{}", size - 1), "\n{st}");
    let loc = reg.url(&st.location());
    let r = reg
        .put_upload(&loc, &d, &data[size..], Some((size, data.len() - 1)))
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "assembled blob differs"
    );
}

// spec §Pushing a blob in chunks: the closing PUT carries "Content-Range: <range of chunk, if present>" - a last chunk without Content-Range is appended.
#[test]
fn end6_final_chunk_in_put_without_content_range() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size + 333);
    let loc = chunk(&reg, &loc, &data, 0, size);
    let r = reg
        .put_upload(&loc, &common::sha256(&data), &data[size..], None)
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "assembled blob differs"
    );
}

// spec §Pushing a blob in chunks: a session opened with `Content-Length: 0` may be closed by a PUT carrying the whole blob as its only chunk, with `Content-Range: 0-<end>`.
#[test]
fn end6_put_with_the_only_chunk_and_content_range() {
    let reg = Reg::start();
    let (loc, _) = open(&reg);
    let data = unique(900);
    let r = reg
        .put_upload(&loc, &common::sha256(&data), &data, Some((0, 899)))
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "blob differs"
    );
}

// spec §Pushing blobs (streamed upload, official suite "stream"): a PATCH without Content-Range or Content-Length is `202`, then the closing PUT is `201`.
#[test]
fn end5_streamed_patch_without_content_range() {
    let reg = Reg::start();
    let (loc, _) = open(&reg);
    let data = unique(3000);
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg.req_stream(Method::PATCH, &loc, &h, &data).must(202);
    assert_eq!(r.must_header("range"), "0-2999", "\n{r}");
    let loc = reg.url(&r.location());
    let r = reg
        .put_upload(&loc, &common::sha256(&data), b"", None)
        .must(201);
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "streamed blob differs"
    );
}

// spec §Pushing a blob in chunks: "The response to an active upload `<location>` MUST be a `204 No Content` response code, and MUST have the following headers: `Location` ... `Range: 0-<end-of-range>`"
#[test]
fn end13_get_status_returns_204_location_and_range() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size);
    let loc = chunk(&reg, &loc, &data, 0, size);
    let st = reg.get(&loc).must(204);
    assert!(!st.location().is_empty());
    assert_eq!(st.must_header("range"), format!("0-{}", size - 1), "\n{st}");
}

// spec §Pushing a blob in chunks: upload status on a fresh session is `204` with `Location` and a `Range` of the form `0-<end-of-range>`.
#[test]
fn end13_get_status_of_a_fresh_session() {
    let reg = Reg::start();
    let (loc, _) = open(&reg);
    let st = reg.get(&loc).must(204);
    assert!(!st.location().is_empty());
    let range = st.must_header("range");
    let end = range
        .strip_prefix("0-")
        .unwrap_or_else(|| panic!("Range lacks 0- prefix:\n{st}"));
    assert!(
        end == "0" || end == "-1",
        "fresh session Range {range:?}:\n{st}"
    );
}

// spec §Pushing a blob in chunks: "The `<location>` refers to the URL obtained from any preceding `POST` or `PATCH` request." - the POST location still reports the current range.
#[test]
fn end13_status_via_the_post_location_after_a_patch() {
    let reg = Reg::start();
    let (first, size) = open(&reg);
    let data = unique(size);
    chunk(&reg, &first, &data, 0, size);
    let st = reg.get(&first).must(204);
    assert!(!st.location().is_empty());
    assert_eq!(st.must_header("range"), format!("0-{}", size - 1), "\n{st}");
}

// spec §Error Codes: code-3 BLOB_UPLOAD_UNKNOWN - end-13 and end-5 failure `404` for an upload that does not exist.
#[test]
fn end13_and_end5_unknown_upload_is_404_blob_upload_unknown() {
    let reg = Reg::start();
    reg.start_upload(REPO);
    let loc = format!("/v2/{REPO}/blobs/uploads/3d1f0a5e-7c2b-4e9a-8f61-0a9b8c7d6e5f");
    assert_error(&reg.get(&loc), &[404], "BLOB_UPLOAD_UNKNOWN");
    assert_error(
        &reg.patch(&loc, b"abc", Some((0, 2))),
        &[404],
        "BLOB_UPLOAD_UNKNOWN",
    );
}

// spec §Pushing blobs (official suite "post cancel"): `DELETE <location>` cancels an upload with `204 No Content`; the session is then unknown.
#[test]
fn cancel_upload_returns_204_and_forgets_the_session() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size);
    let loc = chunk(&reg, &loc, &data, 0, size);
    reg.delete(&loc).must(204);
    assert_error(&reg.get(&loc), &[404], "BLOB_UPLOAD_UNKNOWN");
    assert_error(
        &reg.patch(&loc, &data, Some((size, 2 * size - 1))),
        &[404],
        "BLOB_UPLOAD_UNKNOWN",
    );
    let r = reg.put_upload(&loc, &common::sha256(&data), b"", None);
    assert_error(&r, &[404], "BLOB_UPLOAD_UNKNOWN");
    reg.head(&format!("/v2/{REPO}/blobs/{}", common::sha256(&data)))
        .must(404);
}

// spec §Error Codes: code-3 BLOB_UPLOAD_UNKNOWN - cancelling an upload that does not exist is `404`.
#[test]
fn cancel_unknown_upload_is_404_blob_upload_unknown() {
    let reg = Reg::start();
    reg.start_upload(REPO);
    let loc = format!("/v2/{REPO}/blobs/uploads/0c9a2b4e-1d3f-4a5b-8c7d-6e5f4a3b2c1d");
    assert_error(&reg.delete(&loc), &[404], "BLOB_UPLOAD_UNKNOWN");
}

// spec §Pushing a blob in chunks: "The closing `PUT` request MUST include the `<digest>` of the whole blob (not the final chunk)" - a digest of anything else is DIGEST_INVALID.
#[test]
fn end6_chunked_digest_mismatch_is_400_digest_invalid() {
    let reg = Reg::start();
    let (loc, size) = open(&reg);
    let data = unique(size * 2);
    let loc = chunk(&reg, &loc, &data, 0, size);
    let last_chunk_digest = common::sha256(&data[size..]);
    let r = reg.put_upload(
        &loc,
        &last_chunk_digest,
        &data[size..],
        Some((size, size * 2 - 1)),
    );
    assert_error(&r, &[400], "DIGEST_INVALID");
    reg.head(&format!("/v2/{REPO}/blobs/{last_chunk_digest}"))
        .must(404);
}

// spec §Pushing blobs (official suite "bad digest stream"): a streamed upload closed with a digest its bytes do not match is `400` DIGEST_INVALID.
#[test]
fn end6_streamed_upload_digest_mismatch_is_400_digest_invalid() {
    let reg = Reg::start();
    let (loc, _) = open(&reg);
    let data = unique(2500);
    let h = [("Content-Type", "application/octet-stream")];
    let r = reg.req_stream(Method::PATCH, &loc, &h, &data).must(202);
    let wrong = common::sha256(&data[1..]);
    assert_error(
        &reg.put_upload(&r.location(), &wrong, b"", None),
        &[400],
        "DIGEST_INVALID",
    );
    reg.head(&format!("/v2/{REPO}/blobs/{wrong}")).must(404);
}

// spec §POST then PUT: the session is for "the namespace of the repository" it was opened in - its id used under another repository is BLOB_UPLOAD_UNKNOWN, and no blob lands there.
#[test]
fn end13_upload_of_another_repository_is_unknown() {
    let reg = Reg::start();
    let (loc, _) = open(&reg);
    let moved = loc.replacen(&format!("/v2/{REPO}/"), "/v2/conf/intruder/", 1);
    assert_ne!(
        moved, loc,
        "upload location {loc:?} is not under /v2/{REPO}/"
    );
    assert_error(&reg.get(&moved), &[404], "BLOB_UPLOAD_UNKNOWN");
    let r = reg.put_upload(&moved, &common::sha256(b"data"), b"data", None);
    assert_error(&r, &[404], "BLOB_UPLOAD_UNKNOWN");
    reg.head(&format!(
        "/v2/conf/intruder/blobs/{}",
        common::sha256(b"data")
    ))
    .must(404);
    reg.get(&loc).must(204);
}
