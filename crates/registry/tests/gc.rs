//! Garbage collection's rules (docs/gc.md), in-process against the filesystem store and
//! SQLite: what is kept (shared layers, index children, referrers of kept manifests, anything
//! within the grace period), what goes (only what nothing keeps), that a dry run changes
//! nothing, the sweep of expired uploads and orphan files, the re-checks that make it safe
//! against concurrent writers, and scrub.

mod gc_util;

use std::collections::BTreeSet;

use berth_oci::Digest;
use berth_registry::Error;
use berth_registry::metadata::sqlite::SqliteMetadata;
use berth_registry::metadata::{ManifestRecord, MetadataStore};
use berth_registry::service::ManifestRef;
use gc_util::{INDEX, MANIFEST, env, image_manifest, index};

const HOUR: i64 = 3600;

fn digests<'a>(items: impl IntoIterator<Item = &'a Digest>) -> BTreeSet<String> {
    items.into_iter().map(|d| d.to_string()).collect()
}

/// Everything below the data root's blobs, for before/after comparisons.
fn files(root: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.join("v1")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains("metadata.db") {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn deleting_one_of_two_images_sharing_layers_frees_only_its_own_blobs() {
    let e = env(|_| {}).await;
    let base: &[u8] = b"base layer shared by every image";
    let a = e
        .image("app", "a", b"{\"config\":\"a\"}", &[base, b"layer of a"])
        .await;
    e.image("app", "b", b"{\"config\":\"b\"}", &[base, b"layer of b"])
        .await;
    e.image("other", "c", b"{\"config\":\"c\"}", &[base, b"layer of c"])
        .await;
    let a_digest = Digest::sha256(&a);
    e.reg
        .delete_manifest("app", &ManifestRef::Digest(a_digest.clone()))
        .await
        .unwrap();

    // Within the grace period nothing goes.
    let r = e.gc(false, false).await;
    assert_eq!(r.summary.bytes, 0, "nothing young is removed: {r:?}");

    e.age(2 * HOUR).await;
    let before = files(&e.root);
    let dry = e.gc(false, true).await;
    assert_eq!(files(&e.root), before, "a dry run changes no file");
    assert!(
        e.serves("app", &Digest::sha256(b"layer of a")).await,
        "nor a link"
    );

    let r = e.gc(false, false).await;
    let a_only = [
        Digest::sha256(b"layer of a"),
        Digest::sha256(b"{\"config\":\"a\"}"),
        a_digest.clone(),
    ];
    assert_eq!(digests(r.blobs.iter().map(|b| &b.digest)), digests(&a_only));
    assert_eq!(
        digests(r.links.iter().map(|l| &l.digest)),
        digests(&a_only[..2]),
        "the two blobs only a used are unlinked from app"
    );
    assert_eq!(
        digests(dry.blobs.iter().map(|b| &b.digest)),
        digests(r.blobs.iter().map(|b| &b.digest)),
        "the dry run said exactly this"
    );
    assert_eq!(dry.summary.bytes, r.summary.bytes);
    for d in &a_only {
        assert!(!e.stored(d), "{d} is gone");
    }
    assert!(e.stored(&Digest::sha256(base)), "the shared layer stays");
    assert_eq!(e.check_all().await, 2, "b and c are whole");
    let again = e.gc(false, false).await;
    assert_eq!(
        again.summary.bytes + again.summary.links,
        0,
        "a second run finds nothing"
    );
}

#[tokio::test]
async fn untagged_removes_unkept_manifests_but_never_a_child_of_a_kept_index() {
    let e = env(|_| {}).await;
    // A multi-platform image: children pushed by digest (untagged), the index tagged.
    let mut children = Vec::new();
    for arch in ["amd64", "arm64", "riscv64"] {
        let config = format!("{{\"architecture\":\"{arch}\"}}").into_bytes();
        let layer = format!("layer for {arch}").into_bytes();
        children.push(e.image("multi", "@", &config, &[&layer]).await);
    }
    let refs: Vec<&[u8]> = children.iter().map(|c| c.as_slice()).collect();
    let idx = e.manifest("multi", "latest", INDEX, &index(&refs)).await;
    // An untagged index with a child of its own: both go.
    let lone_child = e
        .image("multi", "@", b"{\"lone\":1}", &[b"lone layer"])
        .await;
    let lone_index = e
        .manifest("multi", "@", INDEX, &index(&[&lone_child]))
        .await;
    // A tag moved to a new image: the old manifest is untagged now.
    let old = e.image("moving", "v", b"{\"gen\":1}", &[b"gen 1"]).await;
    e.image("moving", "v", b"{\"gen\":2}", &[b"gen 2"]).await;
    e.age(2 * HOUR).await;

    let r = e.gc(false, false).await;
    assert!(
        r.manifests.is_empty(),
        "without --untagged no manifest goes"
    );
    let r = e.gc(true, false).await;
    let removed: BTreeSet<String> = r
        .manifests
        .iter()
        .map(|m| format!("{}@{}", m.repo, m.digest))
        .collect();
    let want: BTreeSet<String> = [
        format!("multi@{}", Digest::sha256(&lone_child)),
        format!("multi@{lone_index}"),
        format!("moving@{}", Digest::sha256(&old)),
    ]
    .into();
    assert_eq!(removed, want);
    assert!(e.has_manifest("multi", &idx).await);
    for c in &children {
        assert!(
            e.has_manifest("multi", &Digest::sha256(c)).await,
            "every child of a kept index stays"
        );
    }
    assert!(!e.stored(&Digest::sha256(b"lone layer")));
    assert!(!e.stored(&Digest::sha256(b"gen 1")));
    assert!(e.stored(&Digest::sha256(b"gen 2")));
    assert_eq!(e.check_all().await, 2);
}

#[tokio::test]
async fn referrers_of_kept_manifests_are_kept() {
    let e = env(|_| {}).await;
    let image = e
        .image("signed", "v1", b"{\"signed\":true}", &[b"signed layer"])
        .await;
    e.blob("signed", b"{}").await;
    // A signature of the image, and an attestation of the signature (a chain of subjects).
    let sig = image_manifest(b"{}", &[], Some(&image));
    let sig_digest = e.manifest("signed", "@", MANIFEST, &sig).await;
    let att = image_manifest(b"{}", &[], Some(&sig));
    let att_digest = e.manifest("signed", "@", MANIFEST, &att).await;
    // A signature of an image that is itself untagged goes with it.
    let gone = e
        .image("signed", "@", b"{\"signed\":false}", &[b"unsigned layer"])
        .await;
    e.blob("signed", b"sig payload").await;
    let orphan_sig = e
        .manifest(
            "signed",
            "@",
            MANIFEST,
            &image_manifest(b"{}", &[b"sig payload"], Some(&gone)),
        )
        .await;
    e.age(2 * HOUR).await;
    let r = e.gc(true, false).await;
    assert!(
        e.has_manifest("signed", &sig_digest).await,
        "the signature of a tagged image stays"
    );
    assert!(
        e.has_manifest("signed", &att_digest).await,
        "and what refers to it"
    );
    let removed = digests(r.manifests.iter().map(|m| &m.digest));
    assert_eq!(removed, digests(&[Digest::sha256(&gone), orphan_sig]));
    assert!(
        e.stored(&Digest::sha256(b"{}")),
        "the empty config is still used"
    );
    assert!(!e.stored(&Digest::sha256(b"sig payload")));
    let refs = e
        .reg
        .referrers("signed", &Digest::sha256(&image), None)
        .await
        .unwrap();
    assert_eq!(refs.len(), 1);
}

#[tokio::test]
async fn grace_protects_fresh_uploads_and_a_head_refreshes_an_old_link() {
    let e = env(|_| {}).await;
    // Layers uploaded, manifest not pushed yet: the push in progress must not break.
    let config = e.blob("push", b"{\"in\":\"progress\"}").await;
    let layer = e.blob("push", b"in-progress layer").await;
    let r = e.gc(true, false).await;
    assert_eq!(
        (r.summary.links, r.summary.blobs),
        (0, 0),
        "fresh links and blobs stay"
    );
    // Later: the pusher HEADs the layer (so it skips the upload) long after uploading it.
    e.age(2 * HOUR).await;
    e.reg.head_blob("push", &layer).await.unwrap();
    let r = e.gc(true, false).await;
    assert_eq!(
        digests(r.links.iter().map(|l| &l.digest)),
        digests([&config]),
        "only the un-HEADed blob goes"
    );
    assert!(e.serves("push", &layer).await);
    let body = image_manifest(b"other config", &[b"in-progress layer"], None);
    e.blob("push", b"other config").await;
    e.manifest("push", "done", MANIFEST, &body).await;
    assert_eq!(e.check_all().await, 1);
    // Uploading content again (elsewhere) makes it young again; the old link still goes.
    e.blob("early", b"uploaded twice").await;
    e.age(2 * HOUR).await;
    let twice = e.blob("late", b"uploaded twice").await;
    let r = e.gc(false, false).await;
    assert_eq!(r.summary.blobs, 0, "{r:?}");
    assert!(!e.serves("early", &twice).await && e.serves("late", &twice).await);
}

#[tokio::test]
async fn expired_uploads_and_orphan_files_are_swept() {
    let e = env(|_| {}).await;
    let old_id = e.reg.start_upload("up").await.unwrap();
    e.reg
        .upload_chunk("up", &old_id, Some(0), gc_util::stream(b"abandoned"))
        .await
        .unwrap();
    let v1 = e.root.join("v1");
    // After a crash: an upload file without a session, a temp file, a blob nobody references.
    let orphan_id = uuid::Uuid::new_v4().to_string();
    std::fs::write(v1.join("uploads").join(&orphan_id), b"lost").unwrap();
    std::fs::write(v1.join("tmp/put-in-flight"), b"half").unwrap();
    let stray = Digest::sha256(b"never linked");
    std::fs::create_dir_all(e.path(&stray).parent().unwrap()).unwrap();
    std::fs::write(e.path(&stray), b"never linked").unwrap();
    e.age(2 * HOUR).await;

    let r = e.gc(false, false).await;
    let ups: Vec<(String, Option<String>)> = r
        .uploads
        .iter()
        .map(|u| (u.id.clone(), u.repo.clone()))
        .collect();
    assert_eq!(
        ups,
        vec![(orphan_id.clone(), None)],
        "an idle session is kept until it expires"
    );
    assert_eq!(r.orphans.len(), 1);
    assert_eq!(
        digests(r.blobs.iter().map(|b| &b.digest)),
        digests([&stray])
    );
    assert!(!v1.join("tmp/put-in-flight").exists());

    e.age(24 * HOUR).await;
    let fresh_id = e.reg.start_upload("up").await.unwrap();
    let r = e.gc(false, false).await;
    assert_eq!(r.uploads.len(), 1);
    assert_eq!(r.uploads[0].id, old_id);
    assert_eq!(r.uploads[0].size, 9);
    assert!(matches!(
        e.reg.upload_size("up", &old_id).await,
        Err(Error::BlobUploadUnknown(_))
    ));
    assert!(!v1.join("uploads").join(&old_id).exists());
    assert_eq!(
        e.reg.upload_size("up", &fresh_id).await.unwrap(),
        0,
        "a live session stays"
    );
}

#[tokio::test]
async fn recording_rechecks_references_and_mounts_check_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let m = SqliteMetadata::open(&dir.path().join("m.db"))
        .await
        .unwrap();
    let blob = Digest::sha256(b"layer");
    let record = ManifestRecord {
        repo: "r".into(),
        digest: Digest::sha256(b"manifest"),
        media_type: MANIFEST.into(),
        size: 8,
        artifact_type: None,
        subject: None,
        annotations: None,
        blobs: vec![blob.clone()],
        children: vec![],
        require_refs: true,
    };
    // GC unlinked the blob after the service looked: the recording transaction notices.
    assert!(matches!(
        m.put_manifest(&record, Some("t")).await,
        Err(Error::ManifestBlobUnknown(d)) if d == blob
    ));
    assert_eq!(
        m.resolve_tag("r", "t").await.unwrap(),
        None,
        "nothing recorded"
    );
    m.link_blob("r", &blob, 5).await.unwrap();
    m.put_manifest(&record, Some("t")).await.unwrap();
    // A referenced link cannot be unlinked or collected, whatever its age.
    assert!(!m.unlink_blob("r", &blob).await.unwrap());
    let link = m.gc_unreferenced_links(i64::MAX, false).await.unwrap();
    assert!(link.is_empty());
    // A mount whose source is gone links nothing.
    assert_eq!(m.mount_link("s", &blob, "nowhere").await.unwrap(), None);
    assert_eq!(m.mount_link("s", &blob, "r").await.unwrap(), Some(5));
    assert_eq!(m.blob_linked("s", &blob).await.unwrap(), Some(5));
    // A link removed only when still unreferenced and still old, re-checked in its transaction.
    let items = m.gc_unreferenced_links(i64::MAX, false).await.unwrap();
    assert_eq!(items.len(), 1, "s's link is unreferenced");
    m.link_blob("s", &blob, 5).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        m.gc_remove_links(&items, now - 10)
            .await
            .unwrap()
            .is_empty(),
        "re-linked since it was judged: kept"
    );
}

#[tokio::test]
async fn databases_from_before_gc_get_the_new_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let pool = gc_util::side_db_file(&path).await;
        sqlx::raw_sql(
            "CREATE TABLE repositories (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL);
             CREATE TABLE manifests (repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
               size BIGINT NOT NULL, artifact_type TEXT, subject TEXT, annotations TEXT,
               created_at BIGINT NOT NULL, PRIMARY KEY (repo, digest));
             INSERT INTO repositories VALUES ('r', 1);
             INSERT INTO manifests VALUES ('r', 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
               'x', 1, NULL, NULL, NULL, 1);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let m = SqliteMetadata::open(&path).await.unwrap();
    let unkept = m.gc_unkept_manifests(100).await.unwrap();
    assert_eq!(unkept.len(), 1, "an old row counts from created_at");
    drop(m);
    SqliteMetadata::open(&path)
        .await
        .expect("opening twice migrates once");
}

#[tokio::test]
async fn scrub_finds_a_flipped_byte_and_a_missing_file_and_repairs() {
    let e = env(|_| {}).await;
    e.image(
        "s",
        "v1",
        b"{\"scrub\":1}",
        &[b"layer to corrupt", b"layer to lose"],
    )
    .await;
    let flipped = Digest::sha256(b"layer to corrupt");
    let lost = Digest::sha256(b"layer to lose");
    let r = e.reg.scrub(false, &|_| {}).await.unwrap();
    assert!(r.ok(), "a fresh store is fine: {r:?}");
    let mut data = std::fs::read(e.path(&flipped)).unwrap();
    data[3] ^= 0x20;
    std::fs::write(e.path(&flipped), &data).unwrap();
    std::fs::remove_file(e.path(&lost)).unwrap();

    let done = std::sync::atomic::AtomicU64::new(0);
    let r = e
        .reg
        .scrub(false, &|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert_eq!(
        done.load(std::sync::atomic::Ordering::Relaxed),
        r.bytes,
        "progress covers every byte"
    );
    let found: Vec<(String, &str)> = r
        .problems
        .iter()
        .map(|p| (p.digest.to_string(), p.kind))
        .collect();
    let mut want = vec![
        (flipped.to_string(), "corrupt"),
        (lost.to_string(), "missing"),
    ];
    want.sort();
    assert_eq!(found, want);
    assert!(
        r.problems.iter().all(|p| p.needed_by.len() == 1),
        "the image needing them is named"
    );
    assert!(e.stored(&flipped), "without --repair nothing changes");

    let r = e.reg.scrub(true, &|_| {}).await.unwrap();
    assert_eq!(r.problems.len(), 2);
    let q = r.problems.iter().find(|p| p.kind == "corrupt").unwrap();
    assert!(std::path::Path::new(q.quarantined.as_ref().unwrap()).exists());
    assert!(
        !e.serves("s", &flipped).await && !e.serves("s", &lost).await,
        "both unlinked"
    );
    // Clients push them again; then all is well.
    e.blob("s", b"layer to corrupt").await;
    e.blob("s", b"layer to lose").await;
    assert!(e.reg.scrub(false, &|_| {}).await.unwrap().ok());
    assert_eq!(e.check_all().await, 1);
}
