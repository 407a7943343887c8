//! `GET /v2/_catalog` (Docker Registry HTTP API V2 §Listing Repositories, kept by the OCI spec's
//! apdx-1 detail document): `{"repositories": [...]}` in lexical order, `n`/`last` and `Link`.

use serde_json::json;

use crate::util::*;

const REPOS: &[&str] = &[
    "zeta",
    "alpha",
    "conf/repo2",
    "conf/repo1",
    "a/b/c",
    "m-n",
    "m.n",
    "m_n",
];

/// Push one tagged image into each of `repos`; returns the names sorted.
fn populate(reg: &Reg, repos: &[&str]) -> Vec<String> {
    for repo in repos {
        reg.push_image(repo, "latest", &new_image(json!({})));
    }
    let mut sorted: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
    sorted.sort();
    sorted
}

fn catalog(reg: &Reg, query: &str) -> (Resp, Vec<String>) {
    let r = reg.get(&format!("/v2/_catalog{query}")).must(200);
    let repos = strings(&r.json(), "repositories", &r);
    (r, repos)
}

// detail §Listing Repositories: "The response body will be a JSON object of the form {"repositories": [...]}" listing every repository, in lexical order.
#[test]
fn catalog_lists_every_repository_in_lexical_order() {
    let reg = Reg::start();
    let want = populate(&reg, REPOS);
    let (r, got) = catalog(&reg, "");
    assert_eq!(got, want, "\n{r}");
}

// detail §Pagination: "the n parameter ... limits the number of results"; when more remain a `Link: <url>; rel="next"` header points at the next page.
#[test]
fn catalog_n_limits_and_links_to_the_next_page() {
    let reg = Reg::start();
    let want = populate(&reg, REPOS);
    let (r, got) = catalog(&reg, "?n=3");
    assert_eq!(got, want[..3].to_vec(), "\n{r}");
    assert!(
        link_next(&r).is_some(),
        "more repositories remain but there is no Link header:\n{r}"
    );
}

// detail §Pagination: following each `Link` (rel="next") walks the whole catalog exactly once, ending on a page without Link.
#[test]
fn catalog_following_link_returns_every_repository_once() {
    let reg = Reg::start();
    let want = populate(&reg, REPOS);
    let mut got = Vec::new();
    let mut next = Some("/v2/_catalog?n=3".to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let r = reg.get(&url).must(200);
        let page = strings(&r.json(), "repositories", &r);
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

// detail §Pagination: "the last parameter ... the value of the last repository" - results begin non-inclusively after it.
#[test]
fn catalog_last_is_exclusive() {
    let reg = Reg::start();
    let want = populate(&reg, REPOS);
    let (r, got) = catalog(&reg, &format!("?n=2&last={}", enc(&want[2])));
    assert_eq!(got, want[3..5].to_vec(), "\n{r}");
    let (r, got) = catalog(&reg, &format!("?last={}", enc(&want[5])));
    assert_eq!(got, want[6..].to_vec(), "\n{r}");
}

// detail §Pagination (as for tags): `n=0` is an empty list without a Link header; `n` beyond the total returns all, without Link.
#[test]
fn catalog_n_zero_and_n_beyond_total() {
    let reg = Reg::start();
    let want = populate(&reg, REPOS);
    let (r, got) = catalog(&reg, "?n=0");
    assert!(got.is_empty(), "\n{r}");
    assert!(r.header("link").is_none(), "Link header with n=0:\n{r}");
    let (r, got) = catalog(&reg, "?n=1000");
    assert_eq!(got, want, "\n{r}");
    assert!(
        r.header("link").is_none(),
        "Link header without more repositories:\n{r}"
    );
}

// detail §Listing Repositories: a registry with no content has an empty catalog.
#[test]
fn catalog_of_an_empty_registry_is_empty() {
    let reg = Reg::start();
    let (r, got) = catalog(&reg, "");
    assert!(got.is_empty(), "\n{r}");
}
