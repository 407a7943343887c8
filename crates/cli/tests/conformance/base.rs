//! end-1 (`GET /v2/`), the error body (§Error Codes), repository-name and digest validation, and
//! `Warning` headers (§Warnings).

use crate::common;
use crate::util::*;

// spec §Determining Support: "If the response is `200 OK`, then the registry implements this specification."
#[test]
fn end1_get_v2_returns_200() {
    let reg = Reg::start();
    reg.get("/v2/").must(200);
}

// spec (distribution API v2) §API Version Check: "When a `200 OK` or `401 Unauthorized` response is returned, the "Docker-Distribution-API-Version" header SHOULD be set to "registry/2.0"."
#[test]
fn end1_api_version_header_is_registry_2_0() {
    let reg = Reg::start();
    let r = reg.get("/v2/").must(200);
    assert_eq!(
        r.header("docker-distribution-api-version").as_deref(),
        Some("registry/2.0"),
        "\n{r}"
    );
}

// spec §Error Codes: "If the response body is in JSON format, it MUST have the following format: {"errors": [{"code", "message", "detail"}]}" and "The `code` field MUST be one of the following".
#[test]
fn error_body_shape_on_every_failure_kind() {
    let reg = Reg::start();
    reg.push_blob("conf/repo", b"present");
    let missing = common::sha256(b"absent");
    let failures = [
        reg.get(&format!("/v2/conf/repo/blobs/{missing}")),
        reg.head(&format!("/v2/conf/repo/blobs/{missing}")),
        reg.get_manifest("conf/repo", "nope"),
        reg.get("/v2/conf/repo/blobs/uploads/00000000-0000-0000-0000-000000000000"),
        reg.put_manifest("conf/repo", "t", OCI_MANIFEST, b"not json"),
        reg.post_upload("Conf/Repo"),
        reg.delete(&format!("/v2/conf/repo/blobs/{missing}")),
    ];
    for r in &failures {
        assert!((400..500).contains(&r.status), "expected a 4xx:\n{r}");
        if r.method == reqwest::Method::HEAD {
            assert!(r.body.is_empty(), "HEAD carried a body:\n{r}");
            continue;
        }
        error_codes(r);
    }
}

// spec §Pulling manifests: "Throughout this document, `<name>` MUST match the following regular expression: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`" (uppercase is outside it).
#[test]
fn name_invalid_uppercase_is_name_invalid() {
    let reg = Reg::start();
    assert_error(&reg.post_upload("conf/Repo"), &[400, 404], "NAME_INVALID");
    let img = new_image(serde_json::json!({}));
    let r = reg.put_manifest("Conf/repo", "latest", OCI_MANIFEST, &img.manifest.body);
    assert_error(&r, &[400, 404], "NAME_INVALID");
    assert_error(&reg.get("/v2/REPO/tags/list"), &[400, 404], "NAME_INVALID");
}

// spec §Pulling manifests: a path component "MUST match [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*": it cannot begin or end with a separator.
#[test]
fn name_invalid_leading_or_trailing_separator_is_name_invalid() {
    let reg = Reg::start();
    for name in ["-repo", "repo-", "conf/.repo", "conf/repo_", "repo."] {
        assert_error(&reg.post_upload(name), &[400, 404], "NAME_INVALID");
        assert_error(
            &reg.get_manifest(name, "latest"),
            &[400, 404],
            "NAME_INVALID",
        );
    }
}

// spec §Pulling manifests: separators are exactly `.`, `_`, `__` or a run of `-`, and components are joined by a single `/`.
#[test]
fn name_invalid_separator_runs_and_empty_components_are_name_invalid() {
    let reg = Reg::start();
    for name in ["a..b", "a___b", "a._b", "a//b", "a/-/b", "a%20b"] {
        assert_error(&reg.post_upload(name), &[400, 404], "NAME_INVALID");
    }
}

// spec §Pulling manifests: the `<name>` regular expression admits `__`, runs of `-` and several `/`-separated components.
#[test]
fn name_valid_separators_and_components_are_accepted() {
    let reg = Reg::start();
    for name in [
        "a__b",
        "a---b/c.d",
        "x/y/z/w/v",
        "0/1-2_3.4",
        "conformance/repo1",
    ] {
        let img = new_image(serde_json::json!({}));
        reg.push_image(name, "v1", &img);
        let r = reg.get_manifest(name, "v1").must(200);
        assert_eq!(r.body, img.manifest.body, "\n{r}");
    }
}

// spec §Content Digests (image-spec descriptor): a digest is `algorithm ":" encoded`; a malformed one is DIGEST_INVALID (code-4).
#[test]
fn digest_invalid_syntax_on_blob_endpoints() {
    let reg = Reg::start();
    reg.push_blob("conf/repo", b"x");
    for bad in ["sha256:xyz", "sha256", "sha256:", "nodigest"] {
        assert_error(
            &reg.get(&format!("/v2/conf/repo/blobs/{bad}")),
            &[400, 404],
            "DIGEST_INVALID",
        );
        assert_error(
            &reg.delete(&format!("/v2/conf/repo/blobs/{bad}")),
            &[400, 404],
            "DIGEST_INVALID",
        );
    }
}

// spec §Content Digests (image-spec descriptor): "sha256 ... encoded portion MUST match /[a-f0-9]{64}/" - wrong length or uppercase hex is DIGEST_INVALID.
#[test]
fn digest_invalid_sha256_length_or_case_on_upload() {
    let reg = Reg::start();
    let data = b"some blob";
    let good = common::sha256(data);
    let upper = format!("sha256:{}", good["sha256:".len()..].to_uppercase());
    for bad in ["sha256:abcd".to_string(), format!("{good}00"), upper] {
        let loc = reg.start_upload("conf/repo");
        assert_error(
            &reg.put_upload(&loc, &bad, data, None),
            &[400],
            "DIGEST_INVALID",
        );
    }
}

// spec §Warnings: "If included, `Warning` headers MUST specify a `warn-code` of `299` and a `warn-agent` of `-`, and MUST NOT specify a `warn-date` value." and "A registry MUST NOT send more than 4096 bytes of warning data".
#[test]
fn warning_headers_are_well_formed() {
    let reg = Reg::start();
    let img = new_image(serde_json::json!({}));
    reg.push_image_blobs("conf/repo", &img);
    let responses = [
        reg.get("/v2/"),
        reg.put_manifest("conf/repo", "v1", OCI_MANIFEST, &img.manifest.body),
        reg.get_manifest("conf/repo", "v1"),
        reg.get(&format!("/v2/conf/repo/blobs/{}", img.config.digest)),
        reg.get("/v2/conf/repo/tags/list"),
        reg.post_upload("conf/repo"),
        reg.referrers("conf/repo", &img.manifest.digest, None),
    ];
    for r in &responses {
        let warnings = r.header_all("warning");
        let total: usize = warnings.iter().map(String::len).sum();
        assert!(total <= 4096, "more than 4096 bytes of warnings:\n{r}");
        for w in warnings {
            let rest = w
                .strip_prefix("299 - \"")
                .unwrap_or_else(|| panic!("Warning {w:?} is not `299 - \"...\"`:\n{r}"));
            assert!(
                rest.ends_with('"'),
                "Warning {w:?} carries a warn-date or is unterminated:\n{r}"
            );
        }
    }
}
