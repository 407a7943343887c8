//! The read side: manifests (GET and HEAD), blobs (with ranges, through redirects) and tag
//! lists. Every call tries the registry's mirrors first.

use berth_oci::media_type as mt;
use berth_oci::{Digest, Hasher, Reference};
use futures_util::TryStreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, RANGE};

use super::transport::{Creds, small_body, status_error, transport_error};
use super::{BlobStream, Client, Endpoint, FetchedManifest, repo_scope};
use crate::error::{Error, Result};

/// Largest manifest accepted.
const MAX_MANIFEST: u64 = 8 * 1024 * 1024;

/// Pages of a tag list followed before giving up (a loop guard).
const MAX_TAG_PAGES: usize = 10_000;

/// Every manifest type berth can use, for `Accept` (the `accept_lists_every_type` test keeps
/// it in step with `berth_oci::media_type`).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

fn header(resp: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `type/subtype` without parameters.
fn bare_media_type(v: &str) -> String {
    v.split(';').next().unwrap_or("").trim().to_string()
}

impl Client {
    /// Fetch the manifest `r` names (by digest if it has one, else by tag or `latest`).
    pub async fn get_manifest(&self, r: &Reference) -> Result<FetchedManifest> {
        let what = r.to_string();
        let reference = r.reference();
        on_pull_endpoints!(self, &r.registry, |ep| self.fetch_manifest(
            &ep,
            &r.repository,
            &reference,
            r.digest.as_ref(),
            &what
        ))
    }

    /// Fetch manifest `digest` of `registry/repo`, verifying it.
    pub async fn get_manifest_by_digest(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
    ) -> Result<FetchedManifest> {
        let what = format!("{registry}/{repo}@{digest}");
        let reference = digest.to_string();
        on_pull_endpoints!(self, registry, |ep| self.fetch_manifest(
            &ep,
            repo,
            &reference,
            Some(digest),
            &what
        ))
    }

    async fn fetch_manifest(
        &self,
        ep: &Endpoint,
        repo: &str,
        reference: &str,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<FetchedManifest> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", ep.base);
        let scopes = [repo_scope(repo, "pull")];
        let build = |h: &reqwest::Client| h.get(&url).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.send(ep, &scopes, Creds::Store, what, &build).await?;
        if !resp.status().is_success() {
            return Err(status_error(ep, what, resp).await);
        }
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST) {
            return Err(Error::Protocol {
                registry: ep.host.clone(),
                what: what.to_string(),
                reason: format!("manifest larger than {MAX_MANIFEST} bytes"),
            });
        }
        let content_type = header(&resp, CONTENT_TYPE).map(bare_media_type);
        let announced =
            header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(ep, what, e))?;
        let media_type = match content_type {
            Some(t) if !t.is_empty() && t != "application/json" && t != "text/plain" => t,
            _ => media_type_field(&bytes).unwrap_or_else(|| mt::OCI_MANIFEST.to_string()),
        };
        // Verify against what we asked for, else what the registry announced, else sha256.
        let claimed = expected.cloned().or(announced);
        let digest = match claimed {
            Some(claimed) => {
                let mut h = Hasher::new(claimed.algorithm());
                h.update(&bytes);
                let actual = h.finish();
                if actual != claimed {
                    return Err(Error::DigestMismatch {
                        registry: ep.host.clone(),
                        repository: repo.to_string(),
                        expected: claimed,
                        actual,
                    });
                }
                actual
            }
            None => Digest::sha256(&bytes),
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// HEAD a manifest: its digest, media type and size, or `None` when the registry does not
    /// have it. `reference` is a tag or a digest.
    pub async fn head_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(Digest, String, u64)>> {
        let what = manifest_what(registry, repo, reference);
        on_pull_endpoints!(self, registry, |ep| self
            .head_manifest_at(&ep, repo, reference, &what))
    }

    async fn head_manifest_at(
        &self,
        ep: &Endpoint,
        repo: &str,
        reference: &str,
        what: &str,
    ) -> Result<Option<(Digest, String, u64)>> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", ep.base);
        let scopes = [repo_scope(repo, "pull")];
        let build = |h: &reqwest::Client| h.head(&url).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.send(ep, &scopes, Creds::Store, what, &build).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(status_error(ep, what, resp).await);
        }
        let media_type = header(&resp, CONTENT_TYPE).map(bare_media_type);
        let size = header(&resp, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let digest = header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
        if let (Some(d), Some(t), Some(n)) = (digest, media_type, size) {
            return Ok(Some((d, t, n)));
        }
        // Not every registry fills in HEAD; a GET tells everything.
        let expected = reference.parse::<Digest>().ok();
        let m = self
            .fetch_manifest(ep, repo, reference, expected.as_ref(), what)
            .await?;
        let len = m.bytes.len() as u64;
        Ok(Some((m.digest, m.media_type, len)))
    }

    /// Download blob `digest` from byte `offset` on. Redirects (to storage) are followed, and
    /// `Authorization` is not sent to another host. The stream is not verified: the caller
    /// hashes what it keeps.
    pub async fn get_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream> {
        let what = format!("{registry}/{repo}@{digest}");
        on_pull_endpoints!(self, registry, |ep| self
            .get_blob_at(&ep, repo, digest, offset, &what))
    }

    async fn get_blob_at(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &Digest,
        offset: u64,
        what: &str,
    ) -> Result<BlobStream> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", ep.base);
        let scopes = [repo_scope(repo, "pull")];
        let build = |h: &reqwest::Client| {
            let req = h.get(&url);
            if offset > 0 {
                req.header(RANGE, format!("bytes={offset}-"))
            } else {
                req
            }
        };
        let resp = self.send(ep, &scopes, Creds::Store, what, &build).await?;
        let len = resp.content_length();
        let (start, total) = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let (start, total) = header(&resp, CONTENT_RANGE)
                    .and_then(parse_content_range)
                    .unwrap_or((offset, None));
                if start != offset {
                    return Err(Error::Protocol {
                        registry: ep.host.clone(),
                        what: what.to_string(),
                        reason: format!("asked for bytes from {offset}, got from {start}"),
                    });
                }
                (start, total.or(len.map(|n| n + start)))
            }
            s if s.is_success() => (0, len),
            _ => return Err(status_error(ep, what, resp).await),
        };
        let (host, what2) = (ep.clone(), what.to_string());
        let stream = resp
            .bytes_stream()
            .map_err(move |e| transport_error(&host, &what2, e));
        Ok(BlobStream {
            offset: start,
            total,
            stream: Box::pin(stream),
        })
    }

    /// All tags of `registry/repo`, following `Link` pagination.
    pub async fn list_tags(&self, registry: &str, repo: &str) -> Result<Vec<String>> {
        let ep = self.endpoint(registry);
        let what = format!("tags of {registry}/{repo}");
        let scopes = [repo_scope(repo, "pull")];
        let mut url = format!("{}/v2/{repo}/tags/list", ep.base);
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let build = |h: &reqwest::Client| h.get(&url);
            let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
            if !resp.status().is_success() {
                return Err(status_error(&ep, &what, resp).await);
            }
            let next = header(&resp, LINK).and_then(next_link);
            let body = small_body(&ep, &what, resp).await?;
            #[derive(serde::Deserialize)]
            struct Page {
                tags: Option<Vec<String>>,
            }
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                registry: ep.host.clone(),
                what: what.clone(),
                reason: format!("tag list: {e}"),
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = resolve(&ep, &n),
                None => return Ok(tags),
            }
        }
        Err(Error::Protocol {
            registry: ep.host.clone(),
            what,
            reason: format!("more than {MAX_TAG_PAGES} pages"),
        })
    }
}

/// `registry/repo:tag` or `registry/repo@digest`.
pub(crate) fn manifest_what(registry: &str, repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("{registry}/{repo}@{reference}")
    } else {
        format!("{registry}/{repo}:{reference}")
    }
}

/// The `mediaType` field of a JSON manifest.
fn media_type_field(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<M>(body).ok()?.media_type
}

/// `bytes <start>-<end>/<total|*>`: the start and, when known, the total.
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let v = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = v.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// The target of `rel="next"` in a `Link` header: `<url>; rel="next"`.
pub(crate) fn next_link(v: &str) -> Option<String> {
    v.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// A `Location` or `Link` target made absolute against the endpoint.
pub(crate) fn resolve(ep: &Endpoint, target: &str) -> String {
    if target.starts_with("http://") || target.starts_with("https://") {
        target.to_string()
    } else if target.starts_with('/') {
        // The authority of the base, without any path prefix it may carry.
        let scheme_end = ep.base.find("://").map_or(0, |i| i + 3);
        let authority_end = ep.base[scheme_end..]
            .find('/')
            .map_or(ep.base.len(), |i| scheme_end + i);
        format!("{}{target}", &ep.base[..authority_end])
    } else {
        format!("{}/{target}", ep.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_every_type() {
        for t in [
            mt::OCI_MANIFEST,
            mt::OCI_INDEX,
            mt::DOCKER_MANIFEST,
            mt::DOCKER_MANIFEST_LIST,
        ] {
            assert!(MANIFEST_ACCEPT.contains(t), "{t}");
        }
    }

    #[test]
    fn links_and_locations() {
        assert_eq!(
            next_link("</v2/foo/tags/list?n=2&last=b>; rel=\"next\"").as_deref(),
            Some("/v2/foo/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link("<https://x/a>; rel=prev, <https://x/b>; rel=next").as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link("<x>; rel=\"prev\""), None);
        let ep = Endpoint {
            host: "h".into(),
            base: "http://h:5000".into(),
        };
        assert_eq!(resolve(&ep, "/v2/x"), "http://h:5000/v2/x");
        assert_eq!(resolve(&ep, "https://s3/x"), "https://s3/x");
        let ep = Endpoint {
            host: "h".into(),
            base: "https://mirror/prefix".into(),
        };
        assert_eq!(resolve(&ep, "/v2/x"), "https://mirror/v2/x");
    }

    #[test]
    fn content_ranges_and_media_types() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(parse_content_range("10-99"), None);
        assert_eq!(
            bare_media_type("application/json; charset=utf-8"),
            "application/json"
        );
        assert_eq!(
            manifest_what("r", "a/b", "sha256:00").as_str(),
            "r/a/b@sha256:00"
        );
        assert_eq!(manifest_what("r", "a", "v1"), "r/a:v1");
    }
}
