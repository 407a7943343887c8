//! The contract of [`BlobStore`], as one async function that every implementation's tests call.
//! It panics with a message naming the broken rule.

use berth_oci::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{BlobStore, ByteStream};
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
}
