//! Content management: end-9 (`DELETE /v2/<name>/manifests/<tag|digest>`) and end-10
//! (`DELETE /v2/<name>/blobs/<digest>`).

use serde_json::json;

use crate::common;
use crate::util::*;

const REPO: &str = "conf/delete";

fn manifest_path(reference: &str) -> String {
    format!("/v2/{REPO}/manifests/{reference}")
}

fn blob_path(digest: &str) -> String {
    format!("/v2/{REPO}/blobs/{digest}")
}

fn tags(reg: &Reg) -> Vec<String> {
    tag_list(&reg.get(&format!("/v2/{REPO}/tags/list")).must(200), REPO)
}

// spec §Deleting tags: "Upon success, the registry MUST respond with a `202 Accepted` code." and "Once deleted, a `GET` to `/v2/<name>/manifests/<tag>` will return a 404."
#[test]
fn end9_delete_tag_is_202_and_only_the_tag_goes() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "gone", &img);
    reg.push_manifest(REPO, "kept", OCI_MANIFEST, &img.manifest.body);
    reg.delete(&manifest_path("gone")).must(202);
    assert_error(&reg.get_manifest(REPO, "gone"), &[404], "MANIFEST_UNKNOWN");
    reg.head_manifest(REPO, "gone").must(404);
    reg.get_manifest(REPO, "kept").must(200);
    reg.get_manifest(REPO, &img.manifest.digest).must(200);
}

// spec §Deleting tags: a deleted tag is no longer "each tags on the repository" of the tags list.
#[test]
fn end9_deleted_tag_leaves_the_tag_list() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "a", &img);
    reg.push_manifest(REPO, "b", OCI_MANIFEST, &img.manifest.body);
    reg.delete(&manifest_path("a")).must(202);
    assert_eq!(tags(&reg), vec!["b".to_string()]);
}

// spec §Deleting Manifests: "Upon success, the registry MUST respond with a `202 Accepted` code." and "Once deleted, a `GET` to `/v2/<name>/manifests/<digest>` and any tag pointing to that digest will return a 404."
#[test]
fn end9_delete_manifest_by_digest_is_202_then_digest_and_tags_are_404() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "t1", &img);
    reg.push_manifest(REPO, "t2", OCI_MANIFEST, &img.manifest.body);
    reg.delete(&manifest_path(&img.manifest.digest)).must(202);
    assert_error(
        &reg.get_manifest(REPO, &img.manifest.digest),
        &[404],
        "MANIFEST_UNKNOWN",
    );
    reg.head_manifest(REPO, &img.manifest.digest).must(404);
    for t in ["t1", "t2"] {
        assert_error(&reg.get_manifest(REPO, t), &[404], "MANIFEST_UNKNOWN");
        reg.head_manifest(REPO, t).must(404);
    }
}

// spec §Deleting Manifests: "any tag pointing to that digest will return a 404" - so those tags leave the tags list; other tags stay.
#[test]
fn end9_deleting_a_manifest_removes_its_tags_from_the_list() {
    let reg = Reg::start();
    let (a, b) = (new_image(json!({})), new_image(json!({})));
    reg.push_image(REPO, "a1", &a);
    reg.push_manifest(REPO, "a2", OCI_MANIFEST, &a.manifest.body);
    reg.push_image(REPO, "b1", &b);
    reg.delete(&manifest_path(&a.manifest.digest)).must(202);
    let r = reg.get(&format!("/v2/{REPO}/tags/list"));
    assert_eq!(tag_list(&r, REPO), vec!["b1".to_string()], "\n{r}");
}

// spec end-9 failure `404`: deleting a manifest or tag the repository does not have (MANIFEST_UNKNOWN).
#[test]
fn end9_delete_unknown_manifest_or_tag_is_404_manifest_unknown() {
    let reg = Reg::start();
    reg.push_image(REPO, "present", &new_image(json!({})));
    assert_error(
        &reg.delete(&manifest_path(&common::sha256(b"nothing"))),
        &[404],
        "MANIFEST_UNKNOWN",
    );
    assert_error(
        &reg.delete(&manifest_path("absent")),
        &[404],
        "MANIFEST_UNKNOWN",
    );
}

// spec §Deleting Manifests: "If the repository does not exist, the response MUST return `404 Not Found`."
#[test]
fn end9_delete_in_a_nonexistent_repository_is_404() {
    let reg = Reg::start();
    let r = reg
        .delete(&format!(
            "/v2/conf/never-created/manifests/{}",
            common::sha256(b"x")
        ))
        .must(404);
    let codes = error_codes(&r);
    assert!(
        codes
            .iter()
            .any(|c| c == "NAME_UNKNOWN" || c == "MANIFEST_UNKNOWN"),
        "\n{r}"
    );
}

// spec §Deleting tags: "Upon success ... `202 Accepted`"; "Once deleted ... will return a 404" - a second delete of the same tag is 404.
#[test]
fn end9_deleting_a_tag_twice() {
    let reg = Reg::start();
    reg.push_image(REPO, "once", &new_image(json!({})));
    reg.delete(&manifest_path("once")).must(202);
    assert_error(
        &reg.delete(&manifest_path("once")),
        &[404],
        "MANIFEST_UNKNOWN",
    );
}

// spec §Deleting Manifests: deleting an index removes the index; "Once deleted, a GET ... will return a 404" - and only it: its child manifests remain.
#[test]
fn end9_delete_index_leaves_its_children() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, &img.manifest.digest, &img);
    let idx = Manifest::new(OCI_INDEX, make_index(&[img.manifest.desc()], json!({})));
    reg.push_manifest(REPO, "multi", OCI_INDEX, &idx.body);
    reg.delete(&manifest_path(&idx.digest)).must(202);
    reg.get_manifest(REPO, &idx.digest).must(404);
    reg.get_manifest(REPO, "multi").must(404);
    assert!(reg.get_manifest(REPO, &img.manifest.digest).must(200).body == img.manifest.body);
}

// spec §Deleting Manifests: after a delete the manifest is gone; pushing it again (`201 Created`) restores it.
#[test]
fn end9_deleted_manifest_can_be_pushed_again() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "again", &img);
    reg.delete(&manifest_path(&img.manifest.digest)).must(202);
    reg.push_manifest(REPO, "again", OCI_MANIFEST, &img.manifest.body);
    assert!(reg.get_manifest(REPO, "again").must(200).body == img.manifest.body);
    assert_eq!(tags(&reg), vec!["again".to_string()]);
}

// spec §Deleting Blobs: "Upon success, the registry MUST respond with code `202 Accepted`." - afterwards GET and HEAD are 404 (official suite checks HEAD).
#[test]
fn end10_delete_blob_is_202_then_404() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, &unique(100));
    reg.delete(&blob_path(&d)).must(202);
    assert_error(&reg.get(&blob_path(&d)), &[404], "BLOB_UNKNOWN");
    reg.head(&blob_path(&d)).must(404);
}

// spec §Deleting Blobs: "If the blob is not found, a `404 Not Found` code MUST be returned."
#[test]
fn end10_delete_unknown_blob_is_404_blob_unknown() {
    let reg = Reg::start();
    let d = reg.push_blob(REPO, b"present");
    assert_error(
        &reg.delete(&blob_path(&common::sha256(b"absent"))),
        &[404],
        "BLOB_UNKNOWN",
    );
    reg.delete(&blob_path(&d)).must(202);
    assert_error(&reg.delete(&blob_path(&d)), &[404], "BLOB_UNKNOWN");
}

// berth (issue 9): a blob a manifest of the repository still uses is not deleted — the error names
// the manifest — so no image is broken for everyone; once the manifest is gone, the blob delete is
// `202 Accepted`. (The official suite has OCI_DELETE_MANIFEST_BEFORE_BLOBS for such registries.)
#[test]
fn end10_delete_blob_referenced_by_a_manifest_is_refused_until_the_manifest_goes() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "v1", &img);
    let r = reg.delete(&blob_path(&img.layers[0].digest));
    assert_error(&r, &[409], "DENIED");
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        text.contains(&img.manifest.digest),
        "the error names the manifest: {text}"
    );
    reg.get(&blob_path(&img.layers[0].digest)).must(200);
    reg.delete(&manifest_path(&img.manifest.digest)).must(202);
    reg.delete(&blob_path(&img.config.digest)).must(202);
    reg.delete(&blob_path(&img.layers[0].digest)).must(202);
    reg.head(&blob_path(&img.config.digest)).must(404);
}

// spec §Deleting Blobs: "`<name>` is the namespace of the repository" - deleting a blob in one repository leaves it in another.
#[test]
fn end10_delete_is_scoped_to_the_repository() {
    let reg = Reg::start();
    let data = unique(200);
    let d = reg.push_blob(REPO, &data);
    let mount = with_query(
        &with_query("/v2/conf/other/blobs/uploads/", "mount", &d),
        "from",
        REPO,
    );
    let r = reg.post(&mount);
    if r.status == 202 {
        reg.put_upload(&r.location(), &d, &data, None).must(201);
    } else {
        r.must(201);
    }
    reg.delete(&blob_path(&d)).must(202);
    reg.head(&blob_path(&d)).must(404);
    assert!(reg.get(&format!("/v2/conf/other/blobs/{d}")).must(200).body == data);
}

// spec §Deleting Blobs: after a delete the blob is gone; pushing it again (`201 Created`) makes it pullable again.
#[test]
fn end10_deleted_blob_can_be_pushed_again() {
    let reg = Reg::start();
    let data = unique(300);
    let d = reg.push_blob(REPO, &data);
    reg.delete(&blob_path(&d)).must(202);
    reg.push_blob(REPO, &data);
    assert!(reg.get(&blob_path(&d)).must(200).body == data);
}

// spec §Deleting Manifests: "Upon success, the registry MUST respond with a `202 Accepted` code." - also for a subject that has referrers, which stay listed (official suite deletes tags, then manifests in reverse push order).
#[test]
fn end9_delete_subject_with_referrers_is_202() {
    let reg = Reg::start();
    let subj = new_image(json!({}));
    reg.push_image(REPO, "image", &subj);
    let art = new_artifact(
        "application/vnd.example.sbom.v1",
        json!({"subject": subj.manifest.desc()}),
    );
    reg.push_image(REPO, "tagged-artifact", &art);
    reg.delete(&manifest_path("image")).must(202);
    reg.delete(&manifest_path(&subj.manifest.digest)).must(202);
    reg.get_manifest(REPO, &subj.manifest.digest).must(404);
    let r = reg.referrers(REPO, &subj.manifest.digest, None);
    find_desc(&referrer_list(&r), &art.manifest.digest, &r);
    reg.delete(&manifest_path(&art.manifest.digest)).must(202);
    let r = reg.referrers(REPO, &subj.manifest.digest, None);
    assert!(referrer_list(&r).is_empty(), "\n{r}");
}
