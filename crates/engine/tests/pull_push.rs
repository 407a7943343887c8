//! push and pull in-process against berth's own registry, served on 127.0.0.1 (an ephemeral
//! port) by the same test: the progress events in Docker's order, the digests, the recorded
//! repository digests and events; blobs skipped, mounted and resumed as Docker's CLI shows.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use berth_client::config::Config;
use berth_engine::events::EventFilter;
use berth_engine::images::progress::{Progress, short_id};
use berth_engine::{Engine, ErrorKind};
use berth_oci::Digest;
use berth_oci::media_type as mt;
use serde_json::json;

async fn engine(dir: &std::path::Path) -> Engine {
    let config = Config::from_toml(&format!("root = {dir:?}")).unwrap();
    Engine::with_config(config).await.unwrap()
}

/// berth's registry on a free loopback port (anyone may push and pull); its `host:port`.
async fn registry(dir: &std::path::Path) -> String {
    let config = berth_registry::Config {
        root: dir.join("registry"),
        ..Default::default()
    };
    let reg = Arc::new(berth_registry::Registry::open(config).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(berth_registry::server::serve(
        reg,
        listener,
        None,
        std::future::pending(),
    ));
    addr.to_string()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Load an image named `name` with one layer into `engine`; its (config, manifest, layer)
/// digests.
async fn add_image(engine: &Engine, name: &str) -> [Digest; 3] {
    let layer = tar_of(&[("etc/motd", &b"hello\n".repeat(10_000))]);
    let layer_digest = Digest::sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = Digest::sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": mt::OCI_LAYER_TAR, "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = Digest::sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX,
        "manifests": [{
            "mediaType": mt::OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    }))
    .unwrap();
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let archive = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
        (&path(&config_digest), &config),
        (&path(&manifest_digest), &manifest),
        (&path(&layer_digest), &layer),
    ]);
    engine.load(Cursor::new(archive)).await.unwrap();
    [config_digest, manifest_digest, layer_digest]
}

/// Collects progress events; byte counts (`Downloading`/`Pushing`) are kept apart.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<Progress>>,
}

impl Seen {
    fn sink(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        |p| self.events.lock().unwrap().push(p)
    }

    /// The events without transfer counts.
    fn steps(&self) -> Vec<Progress> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.detail().is_none())
            .cloned()
            .collect()
    }

    /// The last count reported for blob `id`.
    fn last_count(&self, id: &str) -> Option<(u64, u64)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.id() == Some(id))
            .filter_map(Progress::detail)
            .next_back()
    }

    /// The events about blob `id` without transfer counts.
    fn of(&self, id: &str) -> Vec<Progress> {
        self.steps()
            .into_iter()
            .filter(|p| p.id() == Some(id))
            .collect()
    }
}

/// The `Downloading` counts reported for blob `id`.
fn counts(seen: &Seen, id: &str) -> Vec<u64> {
    seen.events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.id() == Some(id))
        .filter_map(|p| p.detail().map(|d| d.0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let host = registry(dir.path()).await;
    let a = engine(&dir.path().join("a")).await;
    let name = format!("{host}/team/tiny");
    let [config, manifest, layer] = add_image(&a, &format!("{name}:1")).await;
    let (cid, lid) = (short_id(&config), short_id(&layer));

    // First push: both blobs uploaded, layers first, then the manifest.
    let seen = Seen::default();
    let r = a.reference(&format!("{name}:1")).unwrap();
    let pushed = a.push(&r, &seen.sink()).await.unwrap();
    assert_eq!(pushed.digest, manifest);
    assert_eq!(pushed.tag, "1");
    assert_eq!(pushed.repository, name);
    let steps = seen.steps();
    assert_eq!(
        steps.first(),
        Some(&Progress::PushRefersTo {
            repository: name.clone()
        })
    );
    assert_eq!(
        steps.last().unwrap().status(),
        format!("1: digest: {manifest} size: {}", pushed.size)
    );
    for id in [&cid, &lid] {
        assert_eq!(
            seen.of(id),
            [
                Progress::Preparing { id: id.clone() },
                Progress::Pushed { id: id.clone() }
            ]
        );
    }
    let (done, total) = seen.last_count(&lid).unwrap();
    assert_eq!(done, total);
    assert!(total > 50_000);
    let img = a.find_image(&format!("{name}:1")).await.unwrap();
    assert!(img.repo_digests.contains(&(name.clone(), manifest.clone())));

    // Again: the registry has every blob.
    let seen = Seen::default();
    a.push(&r, &seen.sink()).await.unwrap();
    assert_eq!(
        seen.of(&lid),
        [
            Progress::Preparing { id: lid.clone() },
            Progress::LayerAlreadyExists { id: lid.clone() }
        ]
    );

    // Another repository of the same registry: blobs are mounted from the first.
    a.tag(&format!("{name}:1"), &format!("{host}/other/tiny:2"))
        .await
        .unwrap();
    let seen = Seen::default();
    let other = a.reference(&format!("{host}/other/tiny:2")).unwrap();
    a.push(&other, &seen.sink()).await.unwrap();
    assert_eq!(
        seen.of(&lid)[1],
        Progress::MountedFrom {
            id: lid.clone(),
            from: "team/tiny".into()
        }
    );

    // Refusals: by digest, an image that is not here.
    let by_digest = a.reference(&format!("{name}@{manifest}")).unwrap();
    let e = a.push(&by_digest, &|_| {}).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let missing = a.reference(&format!("{name}:nothere")).unwrap();
    let e = a.push(&missing, &|_| {}).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("An image does not exist locally with the tag: {name}")
    );

    // Pull into a fresh data root: every blob downloaded and verified.
    let b = engine(&dir.path().join("b")).await;
    let platform = berth_engine::host_platform();
    let amd64 = ("linux".to_string(), "amd64".to_string(), None);
    let seen = Seen::default();
    let id = b.pull(&r, &amd64, &seen.sink()).await.unwrap();
    assert_eq!(id, config);
    let steps = seen.steps();
    assert_eq!(
        steps[0],
        Progress::PullingFrom {
            tag: "1".into(),
            repository: "team/tiny".into()
        }
    );
    assert_eq!(steps[0].line(), "1: Pulling from team/tiny");
    let n = steps.len();
    assert_eq!(
        steps[n - 2..],
        [
            Progress::Digest {
                digest: manifest.clone()
            },
            Progress::DownloadedNewer {
                reference: format!("{name}:1")
            }
        ]
    );
    for id in [&cid, &lid] {
        assert_eq!(
            seen.of(id),
            [
                Progress::PullingFsLayer { id: id.clone() },
                Progress::DownloadComplete { id: id.clone() },
                Progress::PullComplete { id: id.clone() }
            ]
        );
    }
    let (done, total) = seen.last_count(&lid).unwrap();
    assert_eq!(done, total);
    let img = b.find_image(&format!("{name}:1")).await.unwrap();
    assert_eq!(img.record.manifest, manifest);
    assert!(b.store.blobs().size(&layer).is_some());

    // Again: nothing to download.
    let seen = Seen::default();
    b.pull(&r, &platform, &seen.sink()).await.unwrap();
    assert_eq!(seen.of(&lid), [Progress::AlreadyExists { id: lid.clone() }]);
    assert_eq!(
        seen.steps().last(),
        Some(&Progress::UpToDate {
            reference: format!("{name}:1")
        })
    );

    // By digest, and the event journal.
    let seen = Seen::default();
    let by_digest = b.reference(&format!("{name}@{manifest}")).unwrap();
    assert_eq!(
        b.pull(&by_digest, &platform, &seen.sink()).await.unwrap(),
        config
    );
    assert_eq!(
        seen.steps().last(),
        Some(&Progress::UpToDate {
            reference: format!("{name}@{manifest}")
        })
    );
    let mut f = EventFilter::default();
    f.add("event=pull").unwrap();
    let pulls = berth_engine::events::journal(&b.config.root)
        .read(&f)
        .unwrap();
    assert_eq!(pulls.len(), 3);
    assert_eq!(pulls[0].actor.id, format!("{name}:1"));

    // Without a tag: `latest`, which is not there.
    let seen = Seen::default();
    let untagged = b.reference(&name).unwrap();
    assert!(b.pull(&untagged, &platform, &seen.sink()).await.is_err());
    assert_eq!(seen.steps(), [Progress::UsingDefaultTag]);

    // An interrupted download resumes where it stopped; a wrong partial one starts again.
    let layer_bytes = tar_of(&[("etc/motd", &b"hello\n".repeat(10_000))]);
    assert_eq!(Digest::sha256(&layer_bytes), layer);
    for (partial, first) in [(&layer_bytes[..1000], 1000u64), (&[7u8; 1000][..], 1000)] {
        let c = engine(&dir.path().join(format!("c{}", partial[0]))).await;
        let mut ingest = c.store.blobs().ingest(&layer).unwrap();
        ingest.write(partial).unwrap();
        drop(ingest);
        let seen = Seen::default();
        assert_eq!(c.pull(&r, &platform, &seen.sink()).await.unwrap(), config);
        let counts = counts(&seen, &lid);
        assert_eq!(counts[0], first);
        let restarted = counts.windows(2).any(|w| w[1] < w[0]);
        assert_eq!(restarted, partial[0] == 7, "{counts:?}");
        assert_eq!(*counts.last().unwrap(), layer_bytes.len() as u64);
        assert_eq!(c.store.blobs().read(&layer).unwrap(), layer_bytes);
    }
}
