//! end-7b: pushing a manifest by digest with `tag` query parameters
//! (`PUT /v2/<name>/manifests/<digest>?tag=A&tag=B`), answered by one `OCI-Tag` header per
//! accepted tag.

use serde_json::json;

use crate::util::*;

const REPO: &str = "conf/tagparam";

/// Every tag named by the `OCI-Tag` headers of `r` (each header may list several, comma-separated).
fn oci_tags(r: &Resp) -> Vec<String> {
    r.header_all("oci-tag")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn put_with_tags(reg: &Reg, img: &Image, tags: &[&str]) -> Resp {
    let mut path = format!("/v2/{REPO}/manifests/{}", img.manifest.digest);
    for t in tags {
        path = with_query(&path, "tag", t);
    }
    reg.req(
        reqwest::Method::PUT,
        &path,
        &[("Content-Type", img.manifest.media_type.as_str())],
        Some(img.manifest.body.clone()),
    )
}

// spec §Pushing Manifests: "When pushing a manifest by digest, the registry MAY support the pushing of tags specified by addition of `tag` query parameters. If a registry supports this, it: [...] MUST include an `OCI-Tag` response header [...] for each accepted tag."
#[test]
fn end7b_tag_parameters_tag_the_manifest_and_echo_oci_tag() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let tags = ["1.2.3", "1.2", "1", "latest"];
    let r = put_with_tags(&reg, &img, &tags).must(201);
    assert_eq!(
        r.must_header("docker-content-digest"),
        img.manifest.digest,
        "\n{r}"
    );
    let mut echoed = oci_tags(&r);
    echoed.sort();
    let mut want: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(echoed, want, "one OCI-Tag per tag:\n{r}");
    assert_eq!(
        r.header_all("oci-tag").len(),
        tags.len(),
        "one header per tag:\n{r}"
    );
    for t in tags {
        let g = reg.get_manifest(REPO, t).must(200);
        assert_eq!(
            g.must_header("docker-content-digest"),
            img.manifest.digest,
            "\n{g}"
        );
        assert!(
            g.body == img.manifest.body,
            "tag {t} serves other bytes:\n{g}"
        );
    }
    let l = reg.get(&format!("/v2/{REPO}/tags/list")).must(200);
    assert_eq!(tag_list(&l, REPO), want, "\n{l}");
}

// spec §Pushing Manifests: "SHOULD support pushing at least 10 tags per request."
#[test]
fn end7b_ten_tags_in_one_request() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let tags: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let r = put_with_tags(&reg, &img, &refs).must(201);
    let mut echoed = oci_tags(&r);
    echoed.sort();
    assert_eq!(echoed, tags, "\n{r}");
    let l = reg.get(&format!("/v2/{REPO}/tags/list")).must(200);
    assert_eq!(tag_list(&l, REPO), tags, "\n{l}");
}

// spec §Pushing Manifests: tags move to the pushed manifest - a `tag` parameter naming an existing tag repoints it, like a push by tag.
#[test]
fn end7b_tag_parameter_moves_an_existing_tag() {
    let reg = Reg::start();
    let first = new_image(json!({}));
    reg.push_image(REPO, "stable", &first);
    let second = new_image(json!({}));
    reg.push_image_blobs(REPO, &second);
    let r = put_with_tags(&reg, &second, &["stable", "next"]).must(201);
    assert_eq!(oci_tags(&r).len(), 2, "\n{r}");
    let g = reg.get_manifest(REPO, "stable").must(200);
    assert_eq!(
        g.must_header("docker-content-digest"),
        second.manifest.digest,
        "\n{g}"
    );
}

// spec §Pushing Manifests: a push by digest without `tag` parameters adds no tag and needs no `OCI-Tag` header; the same tag given twice is one tag.
#[test]
fn end7b_without_tag_parameters_no_tags_and_duplicates_once() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let r = put_with_tags(&reg, &img, &[]).must(201);
    assert!(
        r.header("oci-tag").is_none(),
        "OCI-Tag without tag parameters:\n{r}"
    );
    let other = new_image(json!({}));
    reg.push_image_blobs(REPO, &other);
    let r = put_with_tags(&reg, &other, &["twice", "twice"]).must(201);
    assert_eq!(oci_tags(&r), vec!["twice".to_string()], "\n{r}");
    let l = reg.get(&format!("/v2/{REPO}/tags/list")).must(200);
    assert_eq!(tag_list(&l, REPO), vec!["twice".to_string()], "\n{l}");
}

// spec §Pushing Manifests: a tag "MUST match the following regular expression: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`" - an invalid tag parameter is refused and nothing is tagged.
#[test]
fn end7b_invalid_tag_parameter_is_refused_whole() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    let r = put_with_tags(&reg, &img, &["good", "-bad"]);
    assert_error(&r, &[400], "MANIFEST_INVALID");
    let g = reg.get_manifest(REPO, "good");
    assert_eq!(g.status, 404, "a tag was set by a refused push:\n{g}");
}
