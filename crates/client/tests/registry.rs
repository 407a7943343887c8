//! The registry client against real servers on 127.0.0.1: berth's own registry in-process, an
//! auth proxy in front of it (Docker token flow, Basic auth, faults, redirects) and CNCF
//! Distribution. Every test has its own servers and temp dirs, so they run in parallel.

mod common;

use std::sync::atomic::Ordering;

use berth_client::Error;
use berth_oci::{Digest, Reference, media_type as mt};
use bytes::Bytes;
use common::image::{data, no_progress, push_image, read_all, recorder, write};
use common::{Auth, Berth, Distribution, Options, Proxy, client, client_with, cred, dead_port};
use futures_util::TryStreamExt;

#[tokio::test(flavor = "multi_thread")]
async fn monolithic_push_then_pull_by_tag_and_digest() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    let layer = data(100_000, 1);
    let (lp, ld) = write(dir.path(), "layer", &layer);
    assert!(!c.blob_exists(&reg.addr, "app/web", &ld).await.unwrap());
    let (progress, seen) = recorder();
    c.push_blob(&reg.addr, "app/web", &ld, &lp, progress)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&100_000));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(c.blob_exists(&reg.addr, "app/web", &ld).await.unwrap());

    let (md, ld, layer) = push_image(&c, dir.path(), &reg.addr, "app/web", "v1", 5000).await;
    let r = Reference::parse(&format!("{}/app/web:v1", reg.addr)).unwrap();
    let m = c.get_manifest(&r).await.unwrap();
    assert_eq!(
        (m.digest.clone(), m.media_type.as_str()),
        (md.clone(), mt::OCI_MANIFEST)
    );
    let by_digest = Reference::parse(&format!("{}/app/web@{md}", reg.addr)).unwrap();
    assert_eq!(c.get_manifest(&by_digest).await.unwrap().bytes, m.bytes);
    let again = c
        .get_manifest_by_digest(&reg.addr, "app/web", &md)
        .await
        .unwrap();
    assert_eq!(again.bytes, m.bytes);

    let head = c.head_manifest(&reg.addr, "app/web", "v1").await.unwrap();
    assert_eq!(
        head,
        Some((
            md.clone(),
            mt::OCI_MANIFEST.to_string(),
            m.bytes.len() as u64
        ))
    );
    assert_eq!(
        c.head_manifest(&reg.addr, "app/web", "nope").await.unwrap(),
        None
    );

    assert_eq!(read_all(&c, &reg.addr, "app/web", &ld, 0).await, (0, layer));
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_push_and_ranged_pull() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    let c = c.with_chunk_threshold(1000);
    let layer = data(10_500, 2);
    let (lp, ld) = write(dir.path(), "layer", &layer);
    let (progress, seen) = recorder();
    c.push_blob(&reg.addr, "chunky", &ld, &lp, progress)
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&10_500));
    assert!(c.blob_exists(&reg.addr, "chunky", &ld).await.unwrap());

    let b = c.get_blob(&reg.addr, "chunky", &ld, 4000).await.unwrap();
    assert_eq!((b.offset, b.total), (4000, Some(10_500)));
    let rest: Vec<Bytes> = b.stream.try_collect().await.unwrap();
    assert_eq!(rest.concat(), &layer[4000..]);
    assert_eq!(read_all(&c, &reg.addr, "chunky", &ld, 0).await, (0, layer));

    // A chunk-sized and an empty blob take the chunked and the monolithic path's edges.
    for len in [1000, 0] {
        let bytes = data(len, 3);
        let (p, d) = write(dir.path(), &format!("b{len}"), &bytes);
        c.push_blob(&reg.addr, "chunky", &d, &p, no_progress())
            .await
            .unwrap();
        assert_eq!(read_all(&c, &reg.addr, "chunky", &d, 0).await.1, bytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_push_resumes_after_a_lost_chunk() {
    let reg = Berth::start().await;
    let opts = Options {
        lose_patch: Some(3),
        ..Options::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    let c = c.with_chunk_threshold(1024);
    let layer = data(5000, 4);
    let (lp, ld) = write(dir.path(), "layer", &layer);
    c.push_blob(&proxy.addr, "resume", &ld, &lp, no_progress())
        .await
        .unwrap();
    // 5 chunks, one of them lost and sent again.
    assert_eq!(proxy.seen.patches.load(Ordering::SeqCst), 6);
    assert_eq!(read_all(&c, &reg.addr, "resume", &ld, 0).await.1, layer);
}

#[tokio::test(flavor = "multi_thread")]
async fn mounts_and_declined_mounts() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    let (lp, ld) = write(dir.path(), "layer", &data(3000, 5));
    c.push_blob(&reg.addr, "src", &ld, &lp, no_progress())
        .await
        .unwrap();
    assert!(c.mount_blob(&reg.addr, "dst", &ld, "src").await.unwrap());
    assert!(c.blob_exists(&reg.addr, "dst", &ld).await.unwrap());
    // The source lacks it: the registry opens an upload instead, which the client cancels.
    let other = Digest::sha256(b"not there");
    assert!(
        !c.mount_blob(&reg.addr, "dst2", &other, "src")
            .await
            .unwrap()
    );
    assert!(!c.blob_exists(&reg.addr, "dst2", &other).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_lists_follow_pagination() {
    let reg = Berth::start().await;
    let proxy = Proxy::start(
        &reg.addr,
        Options {
            page_size: Some(2),
            ..Options::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    let (md, ..) = push_image(&c, dir.path(), &reg.addr, "many", "t0", 10).await;
    let m = c
        .get_manifest_by_digest(&reg.addr, "many", &md)
        .await
        .unwrap();
    for t in ["t1", "t2", "t3", "t4"] {
        c.put_manifest(&reg.addr, "many", t, &m.media_type, m.bytes.clone())
            .await
            .unwrap();
    }
    let tags = c.list_tags(&proxy.addr, "many").await.unwrap();
    assert_eq!(tags, ["t0", "t1", "t2", "t3", "t4"]);
    // Three pages: 2 + 2 + 1.
    assert_eq!(proxy.seen.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_is_followed_and_cached() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (direct, _) = client(dir.path());
    let (md, ld, layer) = push_image(&direct, dir.path(), &reg.addr, "foo", "latest", 2000).await;
    let proxy = Proxy::start(
        &reg.addr,
        Options {
            auth: Auth::Bearer,
            ..Options::default()
        },
    )
    .await;
    let (c, store) = client(dir.path());
    store
        .store(&proxy.addr, &cred("alice", "wonderland"))
        .unwrap();
    let r = Reference::parse(&format!("{}/foo", proxy.addr)).unwrap();
    for _ in 0..3 {
        // Spawned, so the futures are known to be Send.
        let (c2, r2) = (c.clone(), r.clone());
        let m = tokio::spawn(async move { c2.get_manifest(&r2).await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.digest, md);
        assert_eq!(read_all(&c, &proxy.addr, "foo", &ld, 0).await.1, layer);
        assert!(
            c.head_manifest(&proxy.addr, "foo", "latest")
                .await
                .unwrap()
                .is_some()
        );
    }
    let seen = &proxy.seen;
    assert_eq!(seen.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(*seen.token_users.lock().unwrap(), ["alice"]);
    assert_eq!(*seen.token_scopes.lock().unwrap(), ["repository:foo:pull"]);

    // A push needs `pull,push`: one more token, then cached as well.
    let (p, d) = write(dir.path(), "pushed", b"pushed through the proxy");
    c.push_blob(&proxy.addr, "foo", &d, &p, no_progress())
        .await
        .unwrap();
    c.put_manifest(
        &proxy.addr,
        "foo",
        "again",
        mt::OCI_MANIFEST,
        c.get_manifest(&r).await.unwrap().bytes,
    )
    .await
    .unwrap();
    assert_eq!(seen.token_requests.load(Ordering::SeqCst), 2);
    assert!(
        seen.token_scopes
            .lock()
            .unwrap()
            .contains(&"repository:foo:pull,push".to_string())
    );

    c.check_login(&proxy.addr, &cred("alice", "wonderland"))
        .await
        .unwrap();
    let e = c
        .check_login(&proxy.addr, &cred("alice", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_or_missing_credentials_are_unauthorized() {
    let reg = Berth::start().await;
    for auth in [Auth::Bearer, Auth::Basic] {
        let proxy = Proxy::start(
            &reg.addr,
            Options {
                auth,
                ..Options::default()
            },
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (c, store) = client(dir.path());
        let r = Reference::parse(&format!("{}/foo:bar", proxy.addr)).unwrap();
        let e = c.get_manifest(&r).await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("berth login {}", proxy.addr)),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");

        store.store(&proxy.addr, &cred("alice", "wrong")).unwrap();
        let e = c.get_manifest(&r).await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
        eprintln!("{e}");

        c.check_login(&proxy.addr, &cred("alice", "wonderland"))
            .await
            .unwrap();
        let e = c
            .check_login(&proxy.addr, &cred("bob", "wonderland"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_and_redirected_blobs() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (direct, _) = client(dir.path());
    let (md, ld, layer) = push_image(&direct, dir.path(), &reg.addr, "img", "v1", 4000).await;
    // "Storage" on another host name: Authorization must not follow the redirect there.
    let storage = Proxy::start(&reg.addr, Options::default()).await;
    let port = storage.addr.rsplit(':').next().unwrap();
    let proxy = Proxy::start(
        &reg.addr,
        Options {
            auth: Auth::Basic,
            redirect_blobs_to: Some(format!("http://localhost:{port}")),
            ..Options::default()
        },
    )
    .await;
    let (c, store) = client(dir.path());
    store
        .store(&proxy.addr, &cred("alice", "wonderland"))
        .unwrap();
    let m = c
        .get_manifest_by_digest(&proxy.addr, "img", &md)
        .await
        .unwrap();
    assert_eq!(m.digest, md);
    assert_eq!(read_all(&c, &proxy.addr, "img", &ld, 0).await.1, layer);
    assert_eq!(
        read_all(&c, &proxy.addr, "img", &ld, 100).await,
        (100, layer[100..].to_vec())
    );
    assert_eq!(storage.seen.requests.load(Ordering::SeqCst), 2);
    assert_eq!(storage.seen.with_authorization.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_images_and_dead_registries_say_what_failed() {
    let reg = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    push_image(&c, dir.path(), &reg.addr, "foo", "v1", 10).await;
    let r = Reference::parse(&format!("{}/foo:bar", reg.addr)).unwrap();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(matches!(e, Error::Registry { status: 404, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "manifest unknown: {}/foo:bar not found (MANIFEST_UNKNOWN)",
            reg.addr
        )
    );
    let r = Reference::parse(&format!("{}/nothing/here", reg.addr)).unwrap();
    let msg = c.get_manifest(&r).await.unwrap_err().to_string();
    assert!(
        msg.contains(&format!("{}/nothing/here:latest not found", reg.addr)),
        "{msg}"
    );
    let d = Digest::sha256(b"missing");
    let e = c.get_blob(&reg.addr, "foo", &d, 0).await.unwrap_err();
    assert!(e.to_string().contains(&d.to_string()), "{e}");

    let dead = format!("127.0.0.1:{}", dead_port());
    let r = Reference::parse(&format!("{dead}/foo")).unwrap();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("cannot reach registry {dead}: connection refused")
    );
    let e = c.check_login(&dead, &cred("a", "b")).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");

    // TLS spoken to a plain-HTTP registry.
    let toml = format!("[registries.\"{}\"]\ninsecure = false\n", reg.addr);
    let (tls, _) = client_with(dir.path(), &toml);
    let r = Reference::parse(&format!("{}/foo:v1", reg.addr)).unwrap();
    let e = tls.get_manifest(&r).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("plain HTTP"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_try_mirrors_first_and_fall_back() {
    let origin = Berth::start().await;
    let mirror = Berth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (direct, _) = client(dir.path());
    let (on_origin, ..) = push_image(&direct, dir.path(), &origin.addr, "lib/x", "v1", 100).await;
    let (on_mirror, ..) = push_image(&direct, dir.path(), &mirror.addr, "lib/x", "v1", 200).await;
    push_image(
        &direct,
        dir.path(),
        &origin.addr,
        "lib/x",
        "only-origin",
        300,
    )
    .await;
    let dead = format!("127.0.0.1:{}", dead_port());
    let toml = format!(
        "[registries.\"{}\"]\nmirrors = [\"{dead}\", \"http://{}\"]\n",
        origin.addr, mirror.addr
    );
    let (c, _) = client_with(dir.path(), &toml);
    let r = |t: &str| Reference::parse(&format!("{}/lib/x:{t}", origin.addr)).unwrap();
    assert_eq!(c.get_manifest(&r("v1")).await.unwrap().digest, on_mirror);
    assert_ne!(on_mirror, on_origin);
    // The mirror lacks this tag: the origin answers.
    assert!(c.get_manifest(&r("only-origin")).await.is_ok());
    // Pushes never go to mirrors.
    assert!(
        c.head_manifest(&mirror.addr, "lib/x", "only-origin")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_interop() {
    let Some(dist) = Distribution::start(None).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = client(dir.path());
    for (threshold, tag) in [(u64::MAX, "mono"), (4096, "chunked")] {
        let c = c.clone().with_chunk_threshold(threshold);
        let (md, ld, layer) =
            push_image(&c, dir.path(), &dist.addr, "interop/img", tag, 20_000).await;
        let r = Reference::parse(&format!("{}/interop/img:{tag}", dist.addr)).unwrap();
        let m = c.get_manifest(&r).await.unwrap();
        assert_eq!(
            (m.digest, m.media_type.as_str()),
            (md.clone(), mt::OCI_MANIFEST)
        );
        let head = c
            .head_manifest(&dist.addr, "interop/img", tag)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.0, md);
        assert_eq!(
            read_all(&c, &dist.addr, "interop/img", &ld, 0).await.1,
            layer
        );
        assert_eq!(
            read_all(&c, &dist.addr, "interop/img", &ld, 5).await.1,
            &layer[5..]
        );
        assert!(
            c.mount_blob(&dist.addr, "interop/copy", &ld, "interop/img")
                .await
                .unwrap()
        );
    }
    let mut tags = c.list_tags(&dist.addr, "interop/img").await.unwrap();
    tags.sort();
    assert_eq!(tags, ["chunked", "mono"]);
    let e = c
        .get_manifest(&Reference::parse(&format!("{}/interop/img:nope", dist.addr)).unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("MANIFEST_UNKNOWN"), "{e}");
}

/// `alice:s3cret`, bcrypt (cost 5), made with libxcrypt's `crypt(3)` through perl.
const HTPASSWD: &str = "alice:$2b$05$berthtestsaltberthtesuw0hUSUIGDvObwrVK3m3mN3E16TwpC66";

#[tokio::test(flavor = "multi_thread")]
async fn distribution_with_htpasswd_basic_auth() {
    let Some(dist) = Distribution::start(Some(HTPASSWD)).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (c, store) = client(dir.path());
    let e = c
        .check_login(&dist.addr, &cred("alice", "wrong"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    c.check_login(&dist.addr, &cred("alice", "s3cret"))
        .await
        .unwrap();

    let layer = data(1000, 9);
    let (lp, ld) = write(dir.path(), "layer", &layer);
    let e = c
        .push_blob(&dist.addr, "sec", &ld, &lp, no_progress())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    store.store(&dist.addr, &cred("alice", "s3cret")).unwrap();
    let (md, ld, layer) = push_image(&c, dir.path(), &dist.addr, "sec", "v1", 1000).await;
    let r = Reference::parse(&format!("{}/sec:v1", dist.addr)).unwrap();
    assert_eq!(c.get_manifest(&r).await.unwrap().digest, md);
    assert_eq!(read_all(&c, &dist.addr, "sec", &ld, 0).await.1, layer);
}
