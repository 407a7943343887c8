//! end-11: cross-repository blob mount (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`)
//! and its fall-back to an upload session.

use crate::common;
use crate::util::*;

fn mount(reg: &Reg, to: &str, digest: &str, from: Option<&str>) -> Resp {
    let mut url = with_query(&format!("/v2/{to}/blobs/uploads/"), "mount", digest);
    if let Some(from) = from {
        url = with_query(&url, "from", from);
    }
    reg.post(&url)
}

fn path_of(reg: &Reg, location: &str) -> String {
    reqwest::Url::parse(&reg.url(location))
        .unwrap()
        .path()
        .to_string()
}

// spec §Mounting a blob: "The response to a successful mount MUST be `201 Created`, and MUST contain the following header: `Location: <blob-location>`"
#[test]
fn end11_mount_from_another_repository_is_201_with_location() {
    let reg = Reg::start();
    let data = unique(777);
    let d = reg.push_blob("conf/source", &data);
    let r = mount(&reg, "conf/target", &d, Some("conf/source")).must(201);
    assert_eq!(
        path_of(&reg, &r.location()),
        format!("/v2/conf/target/blobs/{d}"),
        "\n{r}"
    );
    assert!(
        reg.get(&r.location()).must(200).body == data,
        "mounted blob differs"
    );
}

// spec §Mounting a blob: "The Docker-Content-Digest header returns the canonical digest of the uploaded blob" - after the mount the blob is served by the target with that digest.
#[test]
fn end11_mounted_blob_is_served_by_the_target() {
    let reg = Reg::start();
    let data = unique(64);
    let d = reg.push_blob("conf/source", &data);
    let r = mount(&reg, "conf/target", &d, Some("conf/source")).must(201);
    if let Some(h) = r.header("docker-content-digest") {
        assert_eq!(h, d, "\n{r}");
    }
    let r = reg.head(&format!("/v2/conf/target/blobs/{d}")).must(200);
    assert_eq!(r.must_header("docker-content-digest"), d, "\n{r}");
    assert_eq!(r.must_header("content-length"), "64", "\n{r}");
    reg.head(&format!("/v2/conf/source/blobs/{d}")).must(200);
}

// spec §Mounting a blob: "if a registry does not support cross-repository mounting or is unable to mount the requested blob, it SHOULD return a `202`. This indicates that the upload session has begun".
#[test]
fn end11_mount_of_a_missing_blob_falls_back_to_202_upload() {
    let reg = Reg::start();
    reg.push_blob("conf/source", b"unrelated");
    let data = unique(321);
    let d = common::sha256(&data);
    let r = mount(&reg, "conf/target", &d, Some("conf/source")).must(202);
    let loc = r.location();
    assert!(
        path_of(&reg, &loc).starts_with("/v2/conf/target/blobs/uploads/"),
        "\n{r}"
    );
    reg.head(&format!("/v2/conf/target/blobs/{d}")).must(404);
    let put = reg.put_upload(&loc, &d, &data, None).must(201);
    assert!(reg.get(&put.location()).must(200).body == data);
}

// spec §Mounting a blob: unable to mount "SHOULD return a `202`" - a `from` repository that does not exist cannot supply the blob.
#[test]
fn end11_mount_from_a_nonexistent_repository_is_202() {
    let reg = Reg::start();
    let d = reg.push_blob("conf/elsewhere", &unique(50));
    let r = mount(&reg, "conf/target", &d, Some("conf/never-created")).must(202);
    assert!(
        path_of(&reg, &r.location()).starts_with("/v2/conf/target/blobs/uploads/"),
        "\n{r}"
    );
}

// spec §Mounting a blob: "The registry MAY treat the `from` parameter as optional, and it MAY cross-mount the blob if it can be found." - berth does (the official suite's OCI_AUTOMATIC_CROSSMOUNT=1), from a repository the caller may pull.
#[test]
fn end11_mount_without_from_mounts_automatically_201() {
    let reg = Reg::start();
    let data = unique(99);
    let d = reg.push_blob("conf/source", &data);
    let r = mount(&reg, "conf/target", &d, None).must(201);
    assert_eq!(
        path_of(&reg, &r.location()),
        format!("/v2/conf/target/blobs/{d}"),
        "\n{r}"
    );
    assert!(reg.get(&r.location()).must(200).body == data);
    // Mounting again what the target already holds is 201 too.
    mount(&reg, "conf/target", &d, None).must(201);
}

// spec §Mounting a blob: a mount without `from` of a digest found nowhere cannot be mounted, so it "SHOULD return a `202`" starting a session.
#[test]
fn end11_mount_without_from_of_an_unknown_digest_is_202() {
    let reg = Reg::start();
    reg.push_blob("conf/source", b"x");
    let r = mount(&reg, "conf/target", &common::sha256(b"nowhere"), None).must(202);
    assert!(
        path_of(&reg, &r.location()).starts_with("/v2/conf/target/blobs/uploads/"),
        "\n{r}"
    );
}

// spec §Mounting a blob: "into a different repository" - a mounted blob is usable by a manifest pushed to the target repository.
#[test]
fn end11_mounted_blobs_satisfy_a_manifest_in_the_target() {
    let reg = Reg::start();
    let img = new_image(serde_json::json!({}));
    reg.push_image("conf/source", "v1", &img);
    for b in std::iter::once(&img.config).chain(&img.layers) {
        mount(&reg, "conf/target", &b.digest, Some("conf/source")).must(201);
    }
    let body = &img.manifest.body;
    reg.put_manifest("conf/target", "v1", OCI_MANIFEST, body)
        .must(201);
    assert!(reg.get_manifest("conf/target", "v1").must(200).body == *body);
}

// spec §Mounting a blob: mounting a blob already present in the target is still a successful mount (`201`).
#[test]
fn end11_mount_of_a_blob_already_in_the_target_is_201() {
    let reg = Reg::start();
    let data = unique(10);
    let d = reg.push_blob("conf/source", &data);
    reg.push_blob("conf/target", &data);
    let r = mount(&reg, "conf/target", &d, Some("conf/source")).must(201);
    assert_eq!(
        path_of(&reg, &r.location()),
        format!("/v2/conf/target/blobs/{d}"),
        "\n{r}"
    );
}
