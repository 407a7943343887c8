//! The write side: blob existence checks, cross-repository mounts, blob uploads (monolithic or
//! chunked, resumable, streamed from disk) and manifest pushes; plus the login check.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use berth_oci::{Digest, Hasher};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::pull::{manifest_what, resolve};
use super::transport::{Creds, status_error};
use super::{Client, Endpoint, ProgressFn, repo_scope};
use crate::credentials::Credential;
use crate::error::{Error, Result};

/// Bytes read from disk per body chunk.
const READ_SIZE: usize = 256 * 1024;

/// Times a chunked upload may fall back to the server's offset before giving up.
const MAX_RESUMES: u32 = 5;

const OCTET_STREAM: &str = "application/octet-stream";

impl Client {
    /// Whether `registry/repo` has blob `digest`.
    pub async fn blob_exists(&self, registry: &str, repo: &str, digest: &Digest) -> Result<bool> {
        let ep = self.endpoint(registry);
        let what = format!("{}/{repo}@{digest}", ep.host);
        let url = format!("{}/v2/{repo}/blobs/{digest}", ep.base);
        let scopes = [repo_scope(repo, "pull")];
        let build = |h: &reqwest::Client| h.head(&url);
        let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&ep, &what, resp).await),
        }
    }

    /// Ask `registry` to link blob `digest` from `from_repo` into `repo` without uploading it.
    /// `true` when mounted (201); `false` when the registry declined, in which case the upload
    /// session it opened instead is cancelled.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        from_repo: &str,
    ) -> Result<bool> {
        let ep = self.endpoint(registry);
        let what = format!("mount of {digest} from {from_repo} into {}/{repo}", ep.host);
        let url = format!("{}/v2/{repo}/blobs/uploads/", ep.base);
        let scopes = [repo_scope(repo, "pull,push"), repo_scope(from_repo, "pull")];
        let query = [
            ("mount", digest.to_string()),
            ("from", from_repo.to_string()),
        ];
        let build = |h: &reqwest::Client| h.post(&url).query(&query).header(CONTENT_LENGTH, 0);
        let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(loc) = location(&resp) {
                    let url = resolve(&ep, &loc);
                    let build = |h: &reqwest::Client| h.delete(&url);
                    // Best effort: an abandoned session only costs the registry some space.
                    if let Err(e) = self.send(&ep, &scopes, Creds::Store, &what, &build).await {
                        tracing::debug!(error = %e, "cancelling the mount's upload session");
                    }
                }
                Ok(false)
            }
            _ => Err(status_error(&ep, &what, resp).await),
        }
    }

    /// Upload the file at `path` as blob `digest` of `registry/repo`, streaming it from disk.
    /// Below the chunk threshold it goes in one PUT; above, in PATCH chunks with
    /// `Content-Range`, resuming from the registry's offset when it answers 416 or the
    /// connection breaks. `progress` sees the bytes accepted so far.
    pub async fn push_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        path: &Path,
        progress: ProgressFn,
    ) -> Result<()> {
        let ep = self.endpoint(registry);
        let what = format!("upload of {digest} to {}/{repo}", ep.host);
        let scopes = [repo_scope(repo, "pull,push")];
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io_err)?.len();
        tokio::fs::File::open(path).await.map_err(io_err)?;

        let start_url = format!("{}/v2/{repo}/blobs/uploads/", ep.base);
        let build = |h: &reqwest::Client| h.post(&start_url).header(CONTENT_LENGTH, 0);
        let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(&ep, &what, resp).await);
        }
        let mut loc = self.need_location(&ep, &what, &resp)?;

        let mut offset = 0;
        if size >= self.chunk_threshold {
            let mut resumes = 0;
            while offset < size {
                let len = self.chunk_threshold.min(size - offset);
                let url = resolve(&ep, &loc);
                let range = format!("{}-{}", offset, offset + len - 1);
                let build = |h: &reqwest::Client| {
                    h.patch(&url)
                        .header(CONTENT_TYPE, OCTET_STREAM)
                        .header("content-range", &range)
                        .header(CONTENT_LENGTH, len)
                        .body(file_body(path, offset, len, progress.clone()))
                };
                let sent = self.send(&ep, &scopes, Creds::Store, &what, &build).await;
                let resp = match sent {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => {
                        loc = location(&r).unwrap_or(loc);
                        offset = match upload_end(&r) {
                            Some(end) if end > offset => end,
                            _ => offset + len,
                        };
                        progress(offset);
                        continue;
                    }
                    Ok(r) if r.status() == StatusCode::RANGE_NOT_SATISFIABLE => Some(r),
                    Ok(r) => return Err(status_error(&ep, &what, r).await),
                    Err(e @ (Error::Transport { .. } | Error::Unreachable { .. })) => {
                        tracing::debug!(error = %e, offset, "chunk failed, asking where the upload stands");
                        None
                    }
                    Err(e) => return Err(e),
                };
                resumes += 1;
                if resumes > MAX_RESUMES {
                    let reason = format!("upload stuck at byte {offset} of {size}");
                    return Err(Error::Protocol {
                        registry: ep.host.clone(),
                        what,
                        reason,
                    });
                }
                (loc, offset) = match resp
                    .as_ref()
                    .and_then(|r| Some((location(r), upload_end(r)?)))
                {
                    Some((l, end)) => (l.unwrap_or(loc), end),
                    None => self.upload_status(&ep, &scopes, &what, &loc).await?,
                };
                progress(offset);
            }
        }

        // The final PUT: the whole blob (monolithic) or nothing more (chunked).
        let url = with_digest(&resolve(&ep, &loc), digest);
        let len = size - offset;
        let build = |h: &reqwest::Client| {
            let req = h.put(&url).header(CONTENT_LENGTH, len);
            if len == 0 {
                req
            } else {
                req.header(CONTENT_TYPE, OCTET_STREAM).body(file_body(
                    path,
                    offset,
                    len,
                    progress.clone(),
                ))
            }
        };
        let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
        if !resp.status().is_success() {
            return Err(status_error(&ep, &what, resp).await);
        }
        progress(size);
        Ok(())
    }

    /// Where an upload session stands: its (possibly new) location and the bytes it holds.
    async fn upload_status(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        what: &str,
        loc: &str,
    ) -> Result<(String, u64)> {
        let url = resolve(ep, loc);
        let build = |h: &reqwest::Client| h.get(&url);
        let resp = self.send(ep, scopes, Creds::Store, what, &build).await?;
        if !resp.status().is_success() {
            return Err(status_error(ep, what, resp).await);
        }
        let end = upload_end(&resp).unwrap_or(0);
        Ok((location(&resp).unwrap_or_else(|| loc.to_string()), end))
    }

    fn need_location(&self, ep: &Endpoint, what: &str, resp: &reqwest::Response) -> Result<String> {
        location(resp).ok_or_else(|| Error::Protocol {
            registry: ep.host.clone(),
            what: what.to_string(),
            reason: "upload session without a Location".into(),
        })
    }

    /// Push manifest `body` (of `media_type`) as `registry/repo:reference` (a tag or digest);
    /// returns its digest.
    pub async fn put_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest> {
        let ep = self.endpoint(registry);
        let what = manifest_what(&ep.host, repo, reference);
        let digest = match reference.parse::<Digest>() {
            Ok(d) => {
                let mut h = Hasher::new(d.algorithm());
                h.update(&body);
                let actual = h.finish();
                if actual != d {
                    return Err(Error::DigestMismatch {
                        registry: ep.host.clone(),
                        repository: repo.to_string(),
                        expected: d,
                        actual,
                    });
                }
                actual
            }
            Err(_) => Digest::sha256(&body),
        };
        let url = format!("{}/v2/{repo}/manifests/{reference}", ep.base);
        let scopes = [repo_scope(repo, "pull,push")];
        let build = |h: &reqwest::Client| {
            h.put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(body.clone())
        };
        let resp = self.send(&ep, &scopes, Creds::Store, &what, &build).await?;
        if !resp.status().is_success() {
            return Err(status_error(&ep, &what, resp).await);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && d != digest.to_string()
        {
            tracing::warn!(ours = %digest, theirs = d, "registry reports another manifest digest");
        }
        Ok(digest)
    }

    /// Check a login: `GET /v2/` on `registry` with `cred` (Basic, or through the token flow).
    /// Nothing is cached or stored. [`Error::Unauthorized`] when the registry refuses it.
    pub async fn check_login(&self, registry: &str, cred: &Credential) -> Result<()> {
        let ep = self.endpoint(registry);
        let url = format!("{}/v2/", ep.base);
        let what = format!("login to {}", ep.host);
        let build = |h: &reqwest::Client| h.get(&url);
        let resp = self
            .send(&ep, &[], Creds::Given(cred), &what, &build)
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(&ep, &what, resp).await)
        }
    }
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The offset after the bytes an upload holds, from its `Range: 0-<last>` header. `0-0` is
/// read as empty (registries send it for empty sessions too).
fn upload_end(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get("range")?.to_str().ok()?;
    parse_upload_range(v)
}

fn parse_upload_range(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (_, end) = v.split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    Some(if end == 0 { 0 } else { end + 1 })
}

/// `url` with `digest=<digest>` added to its query.
fn with_digest(url: &str, digest: &Digest) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={digest}")
}

/// A request body streaming `len` bytes of the file at `path` from `start`, reporting the
/// absolute position to `progress` as it goes. The file is opened lazily, so the body can be
/// rebuilt for a retry.
fn file_body(path: &Path, start: u64, len: u64, progress: ProgressFn) -> reqwest::Body {
    struct State {
        path: PathBuf,
        file: Option<tokio::fs::File>,
        start: u64,
        remaining: u64,
        done: u64,
        progress: ProgressFn,
    }
    let state = State {
        path: path.to_path_buf(),
        file: None,
        start,
        remaining: len,
        done: start,
        progress,
    };
    let stream = futures_util::stream::try_unfold(state, |mut st| async move {
        if st.remaining == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        if st.file.is_none() {
            let mut f = tokio::fs::File::open(&st.path).await?;
            f.seek(SeekFrom::Start(st.start)).await?;
            st.file = Some(f);
        }
        let want = (st.remaining).min(READ_SIZE as u64) as usize;
        let mut buf = vec![0u8; want];
        let got = st.file.as_mut().expect("opened").read(&mut buf).await?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} shrank during the upload", st.path.display()),
            ));
        }
        buf.truncate(got);
        st.remaining -= got as u64;
        st.done += got as u64;
        (st.progress)(st.done);
        Ok(Some((Bytes::from(buf), st)))
    });
    reqwest::Body::wrap_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(parse_upload_range("0-99"), Some(100));
        assert_eq!(parse_upload_range("bytes=0-9"), Some(10));
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("junk"), None);
    }

    #[test]
    fn digest_query() {
        let d = Digest::sha256(b"");
        assert_eq!(
            with_digest("http://h/u/1", &d),
            format!("http://h/u/1?digest={d}")
        );
        assert_eq!(
            with_digest("http://h/u/1?_state=x", &d),
            format!("http://h/u/1?_state=x&digest={d}")
        );
    }
}
