//! Referrers: end-12a (`GET /v2/<name>/referrers/<digest>`), end-12b (`?artifactType=`) and the
//! `subject` field on push (`OCI-Subject`).

use serde_json::{Value, json};

use crate::common;
use crate::util::*;

const REPO: &str = "conf/referrers";
const SBOM: &str = "application/vnd.example.sbom.v1";
const SIG: &str = "application/vnd.example.signature.v1";

/// Push a subject image tagged `subject`; returns it.
fn subject(reg: &Reg) -> Image {
    let img = new_image(json!({}));
    reg.push_image(REPO, "subject", &img);
    img
}

/// Push `img` (blobs and manifest, by digest), asserting `201` and `OCI-Subject: <subject>`.
#[track_caller]
fn push_referrer(reg: &Reg, img: &Image, subject: &str) {
    reg.push_image_blobs(REPO, img);
    let m = &img.manifest;
    let r = reg
        .put_manifest(REPO, &m.digest, &m.media_type, &m.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(subject),
        "OCI-Subject:\n{r}"
    );
}

/// An artifact referring to `subject` with `artifactType` and one unique annotation.
fn artifact(artifact_type: &str, subject: &Manifest) -> Image {
    new_artifact(
        artifact_type,
        json!({
            "subject": subject.desc(),
            "annotations": {"org.opencontainers.conformance": hex::encode(unique(6))},
        }),
    )
}

/// An index with `subject` (and `extra`) over one freshly pushed image.
fn push_index_referrer(reg: &Reg, subject: &Manifest, extra: Value) -> Manifest {
    let child = new_image(json!({}));
    reg.push_image(REPO, &child.manifest.digest, &child);
    let mut all = json!({"subject": subject.desc(), "annotations": {"k": hex::encode(unique(4))}});
    if let (Some(a), Value::Object(e)) = (all.as_object_mut(), extra) {
        a.extend(e);
    }
    let idx = Manifest::new(OCI_INDEX, make_index(&[child.manifest.desc()], all));
    let r = reg
        .put_manifest(REPO, &idx.digest, OCI_INDEX, &idx.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(subject.digest.as_str()),
        "OCI-Subject:\n{r}"
    );
    idx
}

/// Check a referrers descriptor against the pushed manifest: mediaType, size, digest,
/// artifactType (`None` = must be absent) and annotations equal to the manifest's.
#[track_caller]
fn check_desc(d: &Value, m: &Manifest, artifact_type: Option<&str>, r: &Resp) {
    assert_eq!(
        d["mediaType"].as_str(),
        Some(m.media_type.as_str()),
        "mediaType of {d}:\n{r}"
    );
    assert_eq!(
        d["size"].as_u64(),
        Some(m.body.len() as u64),
        "size of {d}:\n{r}"
    );
    assert_eq!(
        d.get("artifactType").and_then(Value::as_str),
        artifact_type,
        "artifactType of {d}:\n{r}"
    );
    let want = serde_json::from_slice::<Value>(&m.body).unwrap()["annotations"].clone();
    let got = d.get("annotations").cloned().unwrap_or(Value::Null);
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
    assert!(
        got == want || (empty(&got) && empty(&want)),
        "annotations of {d} differ from {want}:\n{r}"
    );
}

// spec §Listing Referrers: "If a query results in no matching referrers, an empty manifest list MUST be returned." (200, image index, `manifests: []`)
#[test]
fn end12a_no_referrers_is_an_empty_index() {
    let reg = Reg::start();
    let s = subject(&reg);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    assert!(referrer_list(&r).is_empty(), "\n{r}");
}

// spec §Listing Referrers: "If the registry supports the referrers API, the registry MUST NOT return a `404 Not Found` to a referrers API requests."
#[test]
fn end12a_unknown_repository_and_subject_are_200_not_404() {
    let reg = Reg::start();
    let r = reg.referrers(
        "conf/never-created",
        &common::sha256(b"random subject"),
        None,
    );
    assert!(referrer_list(&r).is_empty(), "\n{r}");
    subject(&reg);
    let r = reg.referrers(REPO, &common::sha256(b"another random subject"), None);
    assert!(referrer_list(&r).is_empty(), "\n{r}");
}

// spec §Listing Referrers: "If the request is invalid, such as a `<digest>` with an invalid syntax, a `400 Bad Request` MUST be returned."
#[test]
fn end12a_invalid_digest_is_400() {
    let reg = Reg::start();
    subject(&reg);
    for bad in ["sha256:nothex", "notadigest", "sha256:abc"] {
        let r = reg.referrers(REPO, bad, None).must(400);
        error_codes(&r);
    }
}

// spec §Pushing Manifests with Subject: "a registry implementation that supports the referrers API MUST respond with the response header `OCI-Subject: <subject digest>`" - and the referrer is listed with its artifactType and annotations.
#[test]
fn end12a_image_manifest_referrer_is_listed_with_artifact_type_and_annotations() {
    let reg = Reg::start();
    let s = subject(&reg);
    let a = artifact(SBOM, &s.manifest);
    push_referrer(&reg, &a, &s.manifest.digest);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 1, "\n{r}");
    check_desc(
        find_desc(&list, &a.manifest.digest, &r),
        &a.manifest,
        Some(SBOM),
        &r,
    );
}

// spec §Listing Referrers: "If the `artifactType` is empty or missing in the image manifest, the value of `artifactType` MUST be set to the config descriptor `mediaType` value."
#[test]
fn end12a_artifact_type_falls_back_to_the_config_media_type() {
    let reg = Reg::start();
    let s = subject(&reg);
    let plain = new_image(json!({"subject": s.manifest.desc()}));
    push_referrer(&reg, &plain, &s.manifest.digest);
    let empty_at = new_image(json!({"subject": s.manifest.desc(), "artifactType": ""}));
    push_referrer(&reg, &empty_at, &s.manifest.digest);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    check_desc(
        find_desc(&list, &plain.manifest.digest, &r),
        &plain.manifest,
        Some(OCI_CONFIG),
        &r,
    );
    check_desc(
        find_desc(&list, &empty_at.manifest.digest, &r),
        &empty_at.manifest,
        Some(OCI_CONFIG),
        &r,
    );
}

// spec §Listing Referrers: "The descriptors MUST include an `artifactType` field that is set to the value of the `artifactType` in the image manifest or index, if present." (index referrer)
#[test]
fn end12a_index_referrer_with_artifact_type() {
    let reg = Reg::start();
    let s = subject(&reg);
    let idx = push_index_referrer(&reg, &s.manifest, json!({"artifactType": SIG}));
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    check_desc(find_desc(&list, &idx.digest, &r), &idx, Some(SIG), &r);
}

// spec §Listing Referrers: "If the `artifactType` is empty or missing in an index, the `artifactType` MUST be omitted."
#[test]
fn end12a_index_referrer_without_artifact_type_omits_it() {
    let reg = Reg::start();
    let s = subject(&reg);
    let idx = push_index_referrer(&reg, &s.manifest, json!({}));
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    check_desc(find_desc(&list, &idx.digest, &r), &idx, None, &r);
}

// spec §Listing Referrers: "`<digest>` is the digest of the manifest specified in the `subject` field" - the subject may be an index (official suite data "index-with-subject").
#[test]
fn end12a_referrers_of_an_index_subject() {
    let reg = Reg::start();
    let child = new_image(json!({}));
    reg.push_image(REPO, &child.manifest.digest, &child);
    let subj = Manifest::new(OCI_INDEX, make_index(&[child.manifest.desc()], json!({})));
    reg.push_manifest(REPO, "index", OCI_INDEX, &subj.body);
    let a = artifact(SBOM, &subj);
    push_referrer(&reg, &a, &subj.digest);
    let idx = push_index_referrer(&reg, &subj, json!({"artifactType": SIG}));
    let r = reg.referrers(REPO, &subj.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 2, "\n{r}");
    check_desc(
        find_desc(&list, &a.manifest.digest, &r),
        &a.manifest,
        Some(SBOM),
        &r,
    );
    check_desc(find_desc(&list, &idx.digest, &r), &idx, Some(SIG), &r);
}

// spec §Listing Referrers: "Each descriptor is of an image manifest or index in the same `<name>` namespace with a `subject` field that specifies the value of `<digest>`." - all of them, once each, and nothing else.
#[test]
fn end12a_every_referrer_is_listed_once_and_nothing_else() {
    let reg = Reg::start();
    let s = subject(&reg);
    let other = subject(&reg);
    let types = [SBOM, SIG, SBOM];
    let refs: Vec<Image> = types.iter().map(|t| artifact(t, &s.manifest)).collect();
    for a in &refs {
        push_referrer(&reg, a, &s.manifest.digest);
    }
    push_referrer(&reg, &refs[0], &s.manifest.digest);
    push_referrer(
        &reg,
        &artifact(SIG, &other.manifest),
        &other.manifest.digest,
    );
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 3, "\n{r}");
    for (a, t) in refs.iter().zip(types) {
        check_desc(
            find_desc(&list, &a.manifest.digest, &r),
            &a.manifest,
            Some(t),
            &r,
        );
    }
}

// spec §Listing Referrers: descriptors are of manifests "in the same `<name>` namespace" - referrers pushed to another repository are not listed.
#[test]
fn end12a_referrers_are_scoped_to_the_repository() {
    let reg = Reg::start();
    let s = subject(&reg);
    let a = artifact(SBOM, &s.manifest);
    reg.push_image_blobs("conf/elsewhere", &a);
    let r = reg
        .put_manifest(
            "conf/elsewhere",
            &a.manifest.digest,
            OCI_MANIFEST,
            &a.manifest.body,
        )
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(s.manifest.digest.as_str()),
        "\n{r}"
    );
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    assert!(referrer_list(&r).is_empty(), "\n{r}");
    let r = reg.referrers("conf/elsewhere", &s.manifest.digest, None);
    assert_eq!(referrer_list(&r).len(), 1, "\n{r}");
}

// spec §Push: "A registry MUST initially accept an otherwise valid manifest with a `subject` field that references a manifest that does not exist in the repository" (official suite data "missing-subject").
#[test]
fn end7_manifest_with_a_missing_subject_is_accepted_and_listed() {
    let reg = Reg::start();
    let missing = json!({"mediaType": OCI_MANIFEST, "size": 123, "digest": common::sha256(b"missing content")});
    let a = new_artifact(SBOM, json!({"subject": missing, "annotations": {"a": "b"}}));
    reg.push_image_blobs(REPO, &a);
    let r = reg
        .put_manifest(REPO, "tagged-artifact", OCI_MANIFEST, &a.manifest.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject"),
        Some(common::sha256(b"missing content")),
        "\n{r}"
    );
    let r = reg.referrers(REPO, &common::sha256(b"missing content"), None);
    let list = referrer_list(&r);
    check_desc(
        find_desc(&list, &a.manifest.digest, &r),
        &a.manifest,
        Some(SBOM),
        &r,
    );
}

// spec §Push: referrers may be pushed "in either order" - a referrer pushed before its subject is listed once the subject arrives.
#[test]
fn end12a_referrer_pushed_before_its_subject_is_listed() {
    let reg = Reg::start();
    let s = new_image(json!({}));
    let a = artifact(SIG, &s.manifest);
    push_referrer(&reg, &a, &s.manifest.digest);
    reg.push_image(REPO, "subject", &s);
    let b = artifact(SBOM, &s.manifest);
    push_referrer(&reg, &b, &s.manifest.digest);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 2, "\n{r}");
    find_desc(&list, &a.manifest.digest, &r);
    find_desc(&list, &b.manifest.digest, &r);
}

// spec §Enabling the Referrers API: "Registries MUST include all newly pushed image manifests with a valid `subject` field in the referrers API response." - including those pushed by tag.
#[test]
fn end12a_referrer_pushed_by_tag_is_listed() {
    let reg = Reg::start();
    let s = subject(&reg);
    let a = artifact(SBOM, &s.manifest);
    reg.push_image_blobs(REPO, &a);
    let r = reg
        .put_manifest(REPO, "tagged-artifact", OCI_MANIFEST, &a.manifest.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(s.manifest.digest.as_str()),
        "\n{r}"
    );
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    check_desc(
        find_desc(&referrer_list(&r), &a.manifest.digest, &r),
        &a.manifest,
        Some(SBOM),
        &r,
    );
}

// spec §Listing Referrers: descriptors are of manifests "with a `subject` field that specifies the value of `<digest>`" - a deleted referrer is no longer one.
#[test]
fn end12a_deleted_referrer_leaves_the_list() {
    let reg = Reg::start();
    let s = subject(&reg);
    let (a, b) = (artifact(SBOM, &s.manifest), artifact(SIG, &s.manifest));
    push_referrer(&reg, &a, &s.manifest.digest);
    push_referrer(&reg, &b, &s.manifest.digest);
    reg.delete(&format!("/v2/{REPO}/manifests/{}", a.manifest.digest))
        .must(202);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 1, "\n{r}");
    find_desc(&list, &b.manifest.digest, &r);
}

// spec §Listing Referrers: "If filtering is requested and applied, the response MUST include a header `OCI-Filters-Applied: artifactType`" (end-12b).
#[test]
fn end12b_artifact_type_filter_is_applied_and_announced() {
    let reg = Reg::start();
    let s = subject(&reg);
    let sboms = [artifact(SBOM, &s.manifest), artifact(SBOM, &s.manifest)];
    for a in &sboms {
        push_referrer(&reg, a, &s.manifest.digest);
    }
    push_referrer(&reg, &artifact(SIG, &s.manifest), &s.manifest.digest);
    push_index_referrer(&reg, &s.manifest, json!({"artifactType": SIG}));
    let r = reg.referrers(REPO, &s.manifest.digest, Some(SBOM));
    let list = referrer_list(&r);
    assert_eq!(
        r.header("oci-filters-applied").as_deref(),
        Some("artifactType"),
        "\n{r}"
    );
    assert_eq!(list.len(), 2, "\n{r}");
    for a in &sboms {
        check_desc(
            find_desc(&list, &a.manifest.digest, &r),
            &a.manifest,
            Some(SBOM),
            &r,
        );
    }
}

// spec §Listing Referrers: a filter matching nothing still answers "an empty manifest list" with `OCI-Filters-Applied: artifactType`.
#[test]
fn end12b_filter_matching_nothing_is_an_empty_list() {
    let reg = Reg::start();
    let s = subject(&reg);
    push_referrer(&reg, &artifact(SBOM, &s.manifest), &s.manifest.digest);
    let r = reg.referrers(
        REPO,
        &s.manifest.digest,
        Some("application/vnd.example.none"),
    );
    assert!(referrer_list(&r).is_empty(), "\n{r}");
    assert_eq!(
        r.header("oci-filters-applied").as_deref(),
        Some("artifactType"),
        "\n{r}"
    );
}

// spec §Listing Referrers: `OCI-Filters-Applied` denotes "that an `artifactType` filter was applied" - an unfiltered listing carries no such header.
#[test]
fn end12a_unfiltered_listing_has_no_filters_applied_header() {
    let reg = Reg::start();
    let s = subject(&reg);
    push_referrer(&reg, &artifact(SBOM, &s.manifest), &s.manifest.digest);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    assert_eq!(referrer_list(&r).len(), 1, "\n{r}");
    assert!(r.header("oci-filters-applied").is_none(), "\n{r}");
}

// spec §Pushing Manifests with Subject: "MUST respond with the response header `OCI-Subject: <subject digest>`" - also for an image manifest without artifactType (official suite data "artifacts-with-subject").
#[test]
fn end7_subject_on_a_plain_image_manifest_returns_oci_subject() {
    let reg = Reg::start();
    let s = subject(&reg);
    let img = new_image(json!({"subject": s.manifest.desc()}));
    reg.push_image_blobs(REPO, &img);
    let r = reg
        .put_manifest(REPO, "by-tag", OCI_MANIFEST, &img.manifest.body)
        .must(201);
    assert_eq!(
        r.header("oci-subject").as_deref(),
        Some(s.manifest.digest.as_str()),
        "\n{r}"
    );
}

// spec §Listing Referrers: `?artifactType=<artifactType>` is a query parameter - a media type with `+` (sent percent-encoded, as `%2B`) filters on the decoded value.
#[test]
fn end12b_filter_value_is_query_decoded() {
    let reg = Reg::start();
    let s = subject(&reg);
    let spdx = artifact("application/spdx+json", &s.manifest);
    push_referrer(&reg, &spdx, &s.manifest.digest);
    push_referrer(&reg, &artifact(SIG, &s.manifest), &s.manifest.digest);
    let r = reg.referrers(REPO, &s.manifest.digest, Some("application/spdx+json"));
    let list = referrer_list(&r);
    assert_eq!(
        r.header("oci-filters-applied").as_deref(),
        Some("artifactType"),
        "\n{r}"
    );
    assert_eq!(list.len(), 1, "\n{r}");
    let d = find_desc(&list, &spdx.manifest.digest, &r);
    check_desc(d, &spdx.manifest, Some("application/spdx+json"), &r);
}

// spec §Referrers Tag Schema: clients without the API push an index under the tag `<alg>-<ref>`; that is an ordinary tag, and the referrers API keeps answering from the `subject` fields.
#[test]
fn referrers_tag_schema_index_is_an_ordinary_tag() {
    let reg = Reg::start();
    let s = subject(&reg);
    let a = artifact(SBOM, &s.manifest);
    push_referrer(&reg, &a, &s.manifest.digest);
    let mut d = a.manifest.desc();
    d["artifactType"] = json!(SBOM);
    let tag = s.manifest.digest.replacen(':', "-", 1);
    let idx = Manifest::new(OCI_INDEX, make_index(&[d], json!({})));
    reg.push_manifest(REPO, &tag, OCI_INDEX, &idx.body);
    assert!(reg.get_manifest(REPO, &tag).must(200).body == idx.body);
    let r = reg.referrers(REPO, &s.manifest.digest, None);
    let list = referrer_list(&r);
    assert_eq!(list.len(), 1, "\n{r}");
    check_desc(
        find_desc(&list, &a.manifest.digest, &r),
        &a.manifest,
        Some(SBOM),
        &r,
    );
}
