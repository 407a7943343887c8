//! Content discovery: end-8a (`GET /v2/<name>/tags/list`) and end-8b (`?n=<int>&last=<tag>`
//! with `Link` pagination).

use serde_json::json;

use crate::util::*;

const REPO: &str = "conf/tags";

/// Push one image and tag it with every tag in `tags` (in the given order); returns them sorted.
fn tagged(reg: &Reg, tags: &[&str]) -> Vec<String> {
    let img = new_image(json!({}));
    reg.push_image_blobs(REPO, &img);
    for t in tags {
        reg.push_manifest(REPO, t, OCI_MANIFEST, &img.manifest.body);
    }
    let mut sorted: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    sorted.sort();
    sorted.dedup();
    sorted
}

fn list(reg: &Reg, query: &str) -> Resp {
    reg.get(&format!("/v2/{REPO}/tags/list{query}")).must(200)
}

const TAGS: &[&str] = &[
    "v2", "latest", "1.0", "alpha", "v10", "a-b", "a.b", "a_b", "0", "zeta",
];

// spec §Listing Tags: "Assuming a repository is found, this request MUST return a `200 OK` response code." and "the response MUST be a json body in the following format: {"name": "<name>", "tags": [...]}"
#[test]
fn end8a_tags_list_is_200_with_name_and_tags() {
    let reg = Reg::start();
    let want = tagged(&reg, &["b", "a"]);
    let r = list(&reg, "");
    assert_eq!(tag_list(&r, REPO), want, "\n{r}");
}

// spec §Listing Tags: "If the list is not empty, the tags MUST be in lexical order (i.e. case-insensitive alphanumeric order)."
#[test]
fn end8a_tags_are_in_lexical_order() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, "");
    assert_eq!(tag_list(&r, REPO), want, "\n{r}");
}

// spec §Listing Tags: "the response MUST include `<int>` results" unless fewer tags exist "or a `Link` header is provided"; "If included, the `Link` header MUST be set according to RFC5988 with the Relation Type `rel="next"`."
#[test]
fn end8b_n_limits_the_count_and_links_to_the_next_page() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, "?n=3");
    assert_eq!(tag_list(&r, REPO), want[..3].to_vec(), "\n{r}");
    assert!(
        link_next(&r).is_some(),
        "more tags remain but there is no Link header:\n{r}"
    );
}

// spec §Listing Tags: "When available, clients should prefer the `Link` header over using the `last` parameter for pagination." - following Link yields every tag once, in order.
#[test]
fn end8b_following_link_pages_through_every_tag() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let mut got = Vec::new();
    let mut next = Some(format!("/v2/{REPO}/tags/list?n=3"));
    let mut pages = 0;
    while let Some(url) = next {
        let r = reg.get(&url).must(200);
        let page = tag_list(&r, REPO);
        assert!(page.len() <= 3, "page larger than n:\n{r}");
        got.extend(page);
        next = link_next(&r);
        pages += 1;
        assert!(
            pages <= want.len() + 1,
            "pagination does not terminate:\n{r}"
        );
    }
    assert_eq!(got, want);
}

// spec §Listing Tags: "When `n` is zero, this endpoint MUST return an empty list, and MUST NOT include a `Link` header."
#[test]
fn end8b_n_zero_is_an_empty_list_without_link() {
    let reg = Reg::start();
    tagged(&reg, TAGS);
    let r = list(&reg, "?n=0");
    assert!(tag_list(&r, REPO).is_empty(), "\n{r}");
    assert!(r.header("link").is_none(), "Link header with n=0:\n{r}");
}

// spec §Listing Tags: "A request of this sort will return up to `<int>` tags, beginning non-inclusively with `<tagname>`."
#[test]
fn end8b_last_is_exclusive() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, &format!("?n=2&last={}", enc(&want[1])));
    assert_eq!(tag_list(&r, REPO), want[2..4].to_vec(), "\n{r}");
}

// spec §Listing Tags: "When using the `last` query parameter, the `n` parameter is OPTIONAL."
#[test]
fn end8b_last_without_n_returns_the_rest() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, &format!("?last={}", enc(&want[4])));
    assert_eq!(tag_list(&r, REPO), want[5..].to_vec(), "\n{r}");
}

// spec §Listing Tags: "The response to such a request MAY return fewer than `<int>` results, but only when the total number of tags attached to the repository is less than `<int>`" - and no next page is advertised.
#[test]
fn end8b_n_larger_than_the_total_returns_all_without_link() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, "?n=100");
    assert_eq!(tag_list(&r, REPO), want, "\n{r}");
    assert!(
        r.header("link").is_none(),
        "Link header without more tags:\n{r}"
    );
}

// spec §Listing Tags: "up to `<int>` tags *after* `<tagname>` will be returned" - none after the last tag.
#[test]
fn end8b_last_equal_to_the_final_tag_is_empty() {
    let reg = Reg::start();
    let want = tagged(&reg, TAGS);
    let r = list(&reg, &format!("?n=5&last={}", enc(want.last().unwrap())));
    assert!(tag_list(&r, REPO).is_empty(), "\n{r}");
    assert!(
        r.header("link").is_none(),
        "Link header on the final page:\n{r}"
    );
}

// spec §Listing Tags: tags are returned "beginning non-inclusively with `<tagname>`" in lexical order - a `last` that is not itself a tag still positions the list.
#[test]
fn end8b_last_between_tags() {
    let reg = Reg::start();
    tagged(&reg, &["a", "ba", "c"]);
    let r = list(&reg, "?last=b");
    assert_eq!(
        tag_list(&r, REPO),
        vec!["ba".to_string(), "c".to_string()],
        "\n{r}"
    );
}

// spec §Definitions: "Tag: a custom, human-readable pointer to a manifest." - manifests pushed by digest add no tags.
#[test]
fn end8a_manifests_pushed_by_digest_add_no_tags() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image(REPO, "only", &img);
    let other = new_image(json!({}));
    reg.push_image(REPO, &other.manifest.digest, &other);
    let r = list(&reg, "");
    assert_eq!(tag_list(&r, REPO), vec!["only".to_string()], "\n{r}");
}

// spec §Listing Tags: end-8a failure `404` - a repository that does not exist is NAME_UNKNOWN (code-9), or at most an empty list.
#[test]
fn end8a_unknown_repository() {
    let reg = Reg::start();
    tagged(&reg, &["x"]);
    let r = reg.get("/v2/conf/never-created/tags/list");
    match r.status {
        404 => assert_error(&r, &[404], "NAME_UNKNOWN"),
        200 => assert!(tag_list(&r, "conf/never-created").is_empty(), "\n{r}"),
        _ => panic!("unexpected status:\n{r}"),
    }
}

// spec §Listing Tags: "`<name>` is the namespace of the repository" - a multi-component name is echoed whole.
#[test]
fn end8a_nested_repository_name_is_echoed() {
    let reg = Reg::start();
    let img = new_image(json!({}));
    reg.push_image("a/b/c", "t1", &img);
    let r = reg.get("/v2/a/b/c/tags/list").must(200);
    assert_eq!(tag_list(&r, "a/b/c"), vec!["t1".to_string()], "\n{r}");
}
