//! Garbage collection under load (docs/gc.md, "Why it is safe"): writers push over HTTP in a
//! loop — shared base layers, HEAD-then-skip uploads, chunked uploads, cross-repository mounts,
//! multi-platform indexes, tags moved every push, old images pushed again after GC may have
//! taken their blobs, manifests deleted — while GC runs back to back with `--untagged` and a
//! two-second grace period. No push may fail, GC must have removed things meanwhile, and
//! afterwards every tag resolves to a manifest whose blobs are all present and hash to their
//! digests, and scrub finds nothing wrong.

mod gc_util;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use berth_oci::Digest;
use berth_registry::service::GcOptions;
use gc_util::{INDEX, MANIFEST, check_all, image_manifest, index};
use support::Server;

const WRITERS: usize = 4;
const RUN: Duration = Duration::from_millis(4500);
const BASES: [&[u8]; 3] = [
    b"base layer zero, shared by everyone",
    b"base layer one, shared by everyone",
    b"base layer two, shared by everyone",
];

/// Push one blob the way clients do: HEAD, and upload only when the registry lacks it —
/// monolithically, in chunks, or by mounting it from `from`.
async fn push_blob(
    s: &Server,
    repo: &str,
    data: &[u8],
    how: usize,
    from: &str,
) -> Result<(), String> {
    let d = Digest::sha256(data);
    let head = s
        .req("HEAD", &format!("/v2/{repo}/blobs/{d}"), &[], b"")
        .await;
    match head.status {
        200 => return Ok(()),
        404 => {}
        other => return Err(format!("HEAD {repo} {d}: {other}")),
    }
    let ct = [("content-type", "application/octet-stream")];
    let r = match how % 3 {
        0 => {
            s.req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &ct,
                data,
            )
            .await
        }
        1 => {
            let start = s
                .req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
                .await;
            if start.status != 202 {
                return Err(format!(
                    "POST upload {repo}: {} {}",
                    start.status,
                    start.text()
                ));
            }
            let loc = start.header("location").unwrap().to_string();
            let half = data.len() / 2;
            let range = format!("0-{}", half.max(1) - 1);
            let p = s
                .req(
                    "PATCH",
                    &loc,
                    &[
                        ("content-type", "application/octet-stream"),
                        ("content-range", &range),
                    ],
                    &data[..half.max(1)],
                )
                .await;
            if p.status != 202 {
                return Err(format!("PATCH {repo}: {} {}", p.status, p.text()));
            }
            let sep = if loc.contains('?') { '&' } else { '?' };
            s.req(
                "PUT",
                &format!("{loc}{sep}digest={d}"),
                &ct,
                &data[half.max(1)..],
            )
            .await
        }
        _ => {
            let m = s
                .req(
                    "POST",
                    &format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"),
                    &[],
                    b"",
                )
                .await;
            if m.status == 201 {
                return Ok(());
            }
            // Not mountable (GC may have taken the source): the plain upload it started.
            if m.status != 202 {
                return Err(format!("mount {repo} {d}: {} {}", m.status, m.text()));
            }
            let loc = m.header("location").unwrap().to_string();
            let sep = if loc.contains('?') { '&' } else { '?' };
            s.req("PUT", &format!("{loc}{sep}digest={d}"), &ct, data)
                .await
        }
    };
    if r.status == 201 {
        Ok(())
    } else {
        Err(format!("upload {repo} {d}: {} {}", r.status, r.text()))
    }
}

async fn put(
    s: &Server,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let r = s
        .req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            body,
        )
        .await;
    if r.status == 201 {
        Ok(())
    } else {
        Err(format!("PUT {repo}:{reference}: {} {}", r.status, r.text()))
    }
}

/// One writer: pushes until `stop`, returning how many pushes it made, or the first failure.
async fn writer(s: Arc<Server>, w: usize, stop: Arc<AtomicBool>) -> Result<usize, String> {
    let repo = format!("load/w{w}");
    let from = format!("load/w{}", (w + 1) % WRITERS);
    let mut pushed: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    // Children of an index: deleting one would break the index (the user's doing, not GC's).
    let mut indexed = std::collections::HashSet::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let config = format!("{{\"writer\":{w},\"i\":{i}}}").into_bytes();
        let unique = format!("layer of writer {w} push {i} {}", "x".repeat(i % 97)).into_bytes();
        let blobs = vec![config.clone(), BASES[i % 3].to_vec(), unique];
        for (k, b) in blobs.iter().enumerate() {
            push_blob(&s, &repo, b, i + k, &from).await?;
        }
        let layers: Vec<&[u8]> = blobs[1..].iter().map(|b| b.as_slice()).collect();
        let body = image_manifest(&config, &layers, None);
        // The tag moves every push: the image it pointed at becomes untagged.
        put(&s, &repo, &format!("t{}", i % 3), MANIFEST, &body).await?;
        pushed.push((body.clone(), blobs));
        if i.is_multiple_of(5) {
            // A two-platform index over this image and the previous one, children by digest.
            let prev = &pushed[pushed.len().saturating_sub(2)];
            for b in &prev.1 {
                push_blob(&s, &repo, b, i, &from).await?;
            }
            for child in [&prev.0, &body] {
                put(
                    &s,
                    &repo,
                    &Digest::sha256(child).to_string(),
                    MANIFEST,
                    child,
                )
                .await?;
                indexed.insert(Digest::sha256(child));
            }
            put(&s, &repo, "multi", INDEX, &index(&[&prev.0, &body])).await?;
        }
        if i.is_multiple_of(3) && pushed.len() > 3 {
            // An old image again (often older than the grace period, so GC may be taking its
            // blobs right now), as `docker push` of a rebuilt-identical image would.
            let (old, old_blobs) = pushed[(i * 7919) % (pushed.len() - 3)].clone();
            for (k, b) in old_blobs.iter().enumerate() {
                push_blob(&s, &repo, b, i + k, &from).await?;
            }
            put(&s, &repo, "old", MANIFEST, &old).await?;
        }
        if i.is_multiple_of(6) && pushed.len() > 2 {
            let gone = Digest::sha256(&pushed[pushed.len() - 3].0);
            if indexed.contains(&gone) {
                continue;
            }
            let r = s
                .req("DELETE", &format!("/v2/{repo}/manifests/{gone}"), &[], b"")
                .await;
            if r.status != 202 && r.status != 404 {
                return Err(format!("DELETE {repo}@{gone}: {} {}", r.status, r.text()));
            }
        }
    }
    Ok(i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_never_fail_and_nothing_breaks_while_gc_runs_in_a_loop() {
    // The server's grace too: it sets how old a link a HEAD refreshes (docs/gc.md).
    let s = Arc::new(support::start_with(|c| c.gc.grace = "2s".into()).await);
    let stop = Arc::new(AtomicBool::new(false));
    let opts = GcOptions {
        dry_run: false,
        grace: Duration::from_secs(2),
        untagged: true,
        upload_expire: Duration::from_secs(3600),
        retention: false,
    };
    let removed = Arc::new(AtomicU64::new(0));
    let gc = {
        let (reg, stop, removed, opts) =
            (s.reg.clone(), stop.clone(), removed.clone(), opts.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = reg.gc(&opts).await.expect("gc");
                removed.fetch_add(r.summary.blobs + r.summary.manifests, Ordering::Relaxed);
                runs += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            runs
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(s.clone(), w, stop.clone())))
        .collect();
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let mut pushes = 0;
    for w in writers {
        pushes += w
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a push failed while GC ran: {e}"));
    }
    let runs = gc.await.unwrap();
    eprintln!(
        "{pushes} pushes and {runs} collections in {:?}; {} blobs and manifests removed",
        started.elapsed(),
        removed.load(Ordering::Relaxed)
    );
    assert!(
        runs >= 5 && pushes >= 20,
        "the load ran ({pushes} pushes, {runs} collections)"
    );
    assert!(
        removed.load(Ordering::Relaxed) > 0,
        "GC removed things while the writers pushed"
    );
    let tags = check_all(&s.reg).await;
    assert!(tags >= WRITERS * 3, "every writer's tags resolve ({tags})");
    // One more collection of everything now unkept, then the same checks and a scrub.
    s.reg.gc(&opts).await.unwrap();
    check_all(&s.reg).await;
    let scrub = s.reg.scrub(false, &|_| {}).await.unwrap();
    assert!(scrub.ok(), "scrub after the load: {:?}", scrub.problems);
}
