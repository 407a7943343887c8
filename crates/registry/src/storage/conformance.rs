//! The contract of [`BlobStore`], as one async function that every implementation's tests call.
//! It panics with a message naming the broken rule.

use berth_oci::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::StreamExt;

use std::time::SystemTime;

use super::{BlobEntry, BlobStore, ByteStream, FenceMode};
use crate::error::Error;

fn body(parts: &[&'static [u8]]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> =
        parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    Box::pin(futures_util::stream::iter(items))
}

fn broken_body(first: &'static [u8]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(first)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ];
    Box::pin(futures_util::stream::iter(items))
}

async fn read_to_vec(store: &dyn BlobStore, d: &Digest, start: u64, end: u64) -> Vec<u8> {
    let mut s = store.read(d, start, end).await.expect("read");
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// Check `store` against the `BlobStore` contract. The store should start empty.
pub async fn run(store: &dyn BlobStore) {
    // put / stat / read / read_all / delete
    let data = Bytes::from_static(b"the quick brown fox");
    let d = Digest::sha256(&data);
    assert_eq!(
        store.stat(&d).await.unwrap(),
        None,
        "absent blob has no size"
    );
    assert!(
        matches!(store.read(&d, 0, 1).await, Err(Error::BlobUnknown(_))),
        "absent blob read"
    );
    let wrong = Digest::sha256(b"other");
    assert!(
        matches!(
            store.put(&wrong, data.clone()).await,
            Err(Error::DigestInvalid(_))
        ),
        "put verifies"
    );
    assert_eq!(
        store.stat(&wrong).await.unwrap(),
        None,
        "failed put leaves nothing"
    );
    store.put(&d, data.clone()).await.unwrap();
    store
        .put(&d, data.clone())
        .await
        .expect("put of present content is a no-op");
    assert_eq!(store.stat(&d).await.unwrap(), Some(data.len() as u64));
    assert_eq!(
        read_to_vec(store, &d, 0, data.len() as u64).await,
        data.to_vec()
    );
    assert_eq!(
        read_to_vec(store, &d, 4, 9).await,
        b"quick".to_vec(),
        "ranged read"
    );
    assert_eq!(store.read_all(&d, 1024).await.unwrap().unwrap(), data);
    assert!(
        matches!(store.read_all(&d, 3).await, Err(Error::TooLarge(_))),
        "read_all limit"
    );
    assert!(store.delete(&d).await.unwrap());
    assert!(
        !store.delete(&d).await.unwrap(),
        "second delete finds nothing"
    );
    assert_eq!(store.stat(&d).await.unwrap(), None);

    // uploads: append in order, out of order refused, broken body rolled back, commit verifies
    let id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        store.upload_size(&id).await.unwrap(),
        None,
        "unknown upload"
    );
    store.upload_create(&id).await.unwrap();
    assert_eq!(store.upload_size(&id).await.unwrap(), Some(0));
    assert_eq!(
        store
            .upload_append(&id, Some(0), body(&[b"abc", b"def"]))
            .await
            .unwrap(),
        6
    );
    assert!(
        matches!(
            store.upload_append(&id, Some(3), body(&[b"x"])).await,
            Err(Error::RangeNotSatisfiable(_))
        ),
        "out-of-order chunk refused"
    );
    assert!(
        store
            .upload_append(&id, None, broken_body(b"zzz"))
            .await
            .is_err(),
        "broken body fails"
    );
    assert_eq!(
        store.upload_size(&id).await.unwrap(),
        Some(6),
        "broken body rolled back"
    );
    assert_eq!(
        store
            .upload_append(&id, None, body(&[b"ghi"]))
            .await
            .unwrap(),
        9
    );
    let good = Digest::sha256(b"abcdefghi");
    assert!(
        matches!(
            store.upload_commit(&id, &wrong).await,
            Err(Error::DigestInvalid(_))
        ),
        "commit verifies the digest"
    );
    assert_eq!(
        store.upload_size(&id).await.unwrap(),
        Some(9),
        "failed commit keeps the upload"
    );
    assert_eq!(store.upload_commit(&id, &good).await.unwrap(), 9);
    assert_eq!(
        store.upload_size(&id).await.unwrap(),
        None,
        "commit ends the session"
    );
    assert_eq!(read_to_vec(store, &good, 0, 9).await, b"abcdefghi".to_vec());

    // sha512 commit, and a commit of content already stored
    for _ in 0..2 {
        let id = uuid::Uuid::new_v4().to_string();
        store.upload_create(&id).await.unwrap();
        store
            .upload_append(&id, None, body(&[b"sha512 content"]))
            .await
            .unwrap();
        let d512 = Digest::of(Algorithm::Sha512, b"sha512 content");
        assert_eq!(store.upload_commit(&id, &d512).await.unwrap(), 14);
        assert_eq!(store.stat(&d512).await.unwrap(), Some(14));
    }

    // cancel
    let id = uuid::Uuid::new_v4().to_string();
    store.upload_create(&id).await.unwrap();
    assert!(store.upload_cancel(&id).await.unwrap());
    assert!(!store.upload_cancel(&id).await.unwrap());
    assert_eq!(store.upload_size(&id).await.unwrap(), None);
    assert!(matches!(
        store.upload_append(&id, None, body(&[b"x"])).await,
        Err(Error::BlobUploadUnknown(_))
    ));
    assert!(
        store.upload_size("../../etc/passwd").await.is_err(),
        "ids are not paths"
    );

    gc(store).await;
}

/// Everything `list_blobs` returns, page by page of `page`.
async fn list_all(store: &dyn BlobStore, page: usize) -> Vec<BlobEntry> {
    let mut out: Vec<BlobEntry> = Vec::new();
    loop {
        let after = out.last().map(|e| e.digest.clone());
        let next = store.list_blobs(after.as_ref(), page).await.unwrap();
        if next.is_empty() {
            return out;
        }
        assert!(next.len() <= page, "a page holds at most `limit` entries");
        out.extend(next);
    }
}

/// The garbage-collection and scrub part of the contract.
async fn gc(store: &dyn BlobStore) {
    // The fence: shared holders coexist; exclusive waits for them.
    let a = store.fence(FenceMode::Shared).await.unwrap();
    let b = store.fence(FenceMode::Shared).await.unwrap();
    drop((a, b));
    let ex = store.fence(FenceMode::Exclusive).await.unwrap();
    drop(ex);

    // Listing: every blob, in digest-string order, across pages.
    let mut digests = Vec::new();
    for i in 0..12u32 {
        let data = Bytes::from(format!("gc listing {i}"));
        let d = if i % 4 == 0 {
            Digest::of(Algorithm::Sha512, &data)
        } else {
            Digest::sha256(&data)
        };
        store.put(&d, data).await.unwrap();
        digests.push(d);
    }
    let all = list_all(store, 5).await;
    let names: Vec<String> = all.iter().map(|e| e.digest.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listing is in digest-string order");
    for d in &digests {
        let e = all.iter().find(|e| &e.digest == d).expect("listed");
        assert_eq!(Some(e.size), store.stat(d).await.unwrap(), "listed size");
    }

    // Removal only of what was written before the cut-off; storing again refreshes the time.
    let d = &digests[1];
    let hour = std::time::Duration::from_secs(3600);
    let now = SystemTime::now();
    assert_eq!(
        store.remove_if_older(d, now - hour).await.unwrap(),
        None,
        "a fresh blob stays"
    );
    let written = all.iter().find(|e| &e.digest == d).unwrap().modified;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store.put(d, Bytes::from("gc listing 1")).await.unwrap();
    assert_eq!(
        store
            .remove_if_older(d, written + std::time::Duration::from_millis(10))
            .await
            .unwrap(),
        None,
        "storing present content counts as a new write"
    );
    let size = store.stat(d).await.unwrap();
    assert_eq!(
        store.remove_if_older(d, now + hour).await.unwrap(),
        size,
        "an old blob goes, its size returned"
    );
    assert_eq!(store.stat(d).await.unwrap(), None);
    assert_eq!(
        store.remove_if_older(d, now + hour).await.unwrap(),
        None,
        "an absent blob is not removed twice"
    );

    // Uploads are listed with their sizes.
    let id = uuid::Uuid::new_v4().to_string();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, None, body(&[b"four"]))
        .await
        .unwrap();
    let ups = store.list_uploads().await.unwrap();
    let u = ups.iter().find(|u| u.id == id).expect("upload listed");
    assert_eq!(u.size, 4);
    store.upload_cancel(&id).await.unwrap();
    assert!(
        !store
            .list_uploads()
            .await
            .unwrap()
            .iter()
            .any(|u| u.id == id),
        "a cancelled upload is not listed"
    );
    store.sweep_temp(now + hour, true).await.unwrap();

    // Quarantine moves a blob out of the store.
    let q = &digests[2];
    assert!(store.quarantine(q).await.unwrap().is_some());
    assert_eq!(
        store.stat(q).await.unwrap(),
        None,
        "quarantined blob is gone"
    );
    assert!(
        !list_all(store, 100).await.iter().any(|e| &e.digest == q),
        "and not listed"
    );
    assert_eq!(store.quarantine(q).await.unwrap(), None);
}
