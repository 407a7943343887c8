//! The client half end to end: `berth pull | images | inspect | tag | push | rmi` against berth's
//! own registry (with `--samples`) and CNCF Distribution, with an isolated data root, config and
//! Docker credentials per test.

mod common;

use std::path::Path;

use common::{Env, Registry, client};

fn blob_count(root: &Path) -> usize {
    let dir = root.join("images/v1/blobs/sha256");
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn pull_images_inspect_tag_push_rmi_round_trip() {
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);

    let before = env.ok(&["images"]);
    assert_eq!(before.lines().count(), 1, "only the header: {before}");
    assert!(before.starts_with("REPOSITORY"));

    let out = env.ok(&["pull", "hello-world"]);
    assert!(out.contains("Using default tag: latest"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for hello-world:latest"),
        "{out}"
    );
    assert_eq!(
        out.lines().last().unwrap(),
        format!("{}/library/hello-world:latest", r.addr)
    );
    let again = env.ok(&["pull", "hello-world"]);
    assert!(
        again.contains("Status: Image is up to date for hello-world:latest"),
        "{again}"
    );

    let images = env.ok(&["images"]);
    let row = images.lines().nth(1).expect("one image");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..2], ["hello-world", "latest"], "{images}");
    assert_eq!(cols[2].len(), 12, "short image id");
    assert!(
        cols.last().unwrap().ends_with("kB") || cols.last().unwrap().ends_with('B'),
        "{row}"
    );
    let ids = env.ok(&["images", "-q"]);
    assert_eq!(ids.trim(), cols[2]);

    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "hello-world"])).unwrap();
    assert_eq!(inspect[0]["RepoTags"][0], "hello-world:latest");
    assert_eq!(
        inspect[0]["Architecture"], "amd64",
        "host platform chosen from the index"
    );
    assert_eq!(inspect[0]["Config"]["Cmd"][0], "/hello");
    assert!(
        inspect[0]["Id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("sha256:{}", cols[2]))
    );

    // Tag into another repository of the same registry and push: blobs are mounted, the
    // manifest lands under the new tag with the same digest.
    let target = format!("{}/mine/hello:v1", r.addr);
    env.ok(&["tag", "hello-world", &target]);
    let pushed = env.ok(&["push", &target]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    assert!(
        pushed.contains("Mounted from library/hello-world"),
        "blobs are mounted, not re-sent: {pushed}"
    );
    let local_manifest = inspect[0]["Descriptor"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let head = client()
        .head(r.u("/v2/mine/hello/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["docker-content-digest"],
        local_manifest.as_str()
    );

    // rmi by one name only untags; by the last name deletes, and blobs go with it.
    let blobs = blob_count(&env.root());
    assert!(
        blobs >= 3,
        "index, manifest, config and layer are stored: {blobs}"
    );
    let out = env.ok(&["rmi", "hello-world"]);
    assert!(
        out.contains("Untagged: hello-world:latest") && !out.contains("Deleted"),
        "{out}"
    );
    let out = env.ok(&["rmi", &target]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(blob_count(&env.root()), 0, "no blob left behind");
    assert_eq!(env.ok(&["images"]).lines().count(), 1);
}

#[test]
fn all_tags_pulls_every_tag() {
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    for t in ["a", "b"] {
        env.ok(&["tag", "hello-world", &format!("{}/multi/img:{t}", r.addr)]);
        env.ok(&["push", "-q", &format!("{}/multi/img:{t}", r.addr)]);
    }
    let fresh = Env::new(&r.addr);
    let out = fresh.ok(&["pull", "--all-tags", &format!("{}/multi/img", r.addr)]);
    assert!(
        out.contains("multi/img:a") && out.contains("multi/img:b"),
        "{out}"
    );
    let images = fresh.ok(&["images"]);
    assert_eq!(images.lines().count(), 3, "two tags of one image: {images}");
    let bad = fresh.run(&["pull", "-a", &format!("{}/multi/img:a", r.addr)]);
    assert!(!bad.status.success());
}

#[test]
fn platform_selection_and_shared_layers() {
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    env.ok(&["pull", "--platform", "linux/arm64", "-q", "hello-world"]);
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "hello-world"])).unwrap();
    assert_eq!(inspect[0]["Architecture"], "arm64");
    let out = env.run(&["pull", "--platform", "windows/amd64", "hello-world"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no matching manifest for windows/amd64"),
        "{err}"
    );
}

#[test]
fn failures_are_one_readable_line_and_leave_the_store_consistent() {
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    let out = env.run(&["pull", "does-not-exist"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("berth: error:") && err.contains("does-not-exist"),
        "{err}"
    );

    // Nothing listening there.
    let dead = Env::new("127.0.0.1:9");
    let out = dead.run(&["pull", "hello-world"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:9"), "{err}");

    for args in [
        &["rmi", "nope"][..],
        &["inspect", "nope"][..],
        &["push", "nope"][..],
        &["tag", "nope", "x"][..],
    ] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nope"), "{args:?}: {err}");
    }
    let out = env.run(&["pull", "UPPER/case"]);
    assert!(!out.status.success());
    assert_eq!(
        env.ok(&["images"]).lines().count(),
        1,
        "failed pulls record nothing"
    );
}

#[test]
fn interrupted_pull_resumes_from_the_partial_download() {
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    // Find the amd64 layer and leave its first half as an interrupted download.
    let c = client();
    let index: serde_json::Value = c
        .get(r.u("/v2/library/hello-world/manifests/latest"))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let amd = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap();
    let m: serde_json::Value = c
        .get(r.u(&format!(
            "/v2/library/hello-world/manifests/{}",
            amd["digest"].as_str().unwrap()
        )))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let bytes = c
        .get(r.u(&format!("/v2/library/hello-world/blobs/{layer}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let ingest = env.root().join("images/v1/ingest");
    std::fs::create_dir_all(&ingest).unwrap();
    let partial = ingest.join(layer.replace(':', "-"));
    std::fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
    env.ok(&["pull", "-q", "hello-world"]);
    assert!(
        !partial.exists(),
        "the partial download was completed and published"
    );
    let stored = std::fs::read(
        env.root()
            .join("images/v1/blobs/sha256")
            .join(layer.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(stored, bytes.to_vec());
}

#[test]
fn pull_and_push_with_cncf_distribution() {
    if !common::require_tool("docker-registry") {
        return;
    }
    let berth_reg = Registry::start_args(&["--samples"]);
    let dist = common::Distribution::start();
    let env = Env::new(&berth_reg.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let target = format!("{}/copied/hello:1", dist.addr);
    env.ok(&["tag", "hello-world", &target]);
    let out = env.ok(&["push", &target]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // A fresh client pulls it back from Distribution.
    let env2 = Env::new(&dist.addr);
    env2.ok(&["pull", "-q", &target]);
    let a: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "hello-world"])).unwrap();
    let b: serde_json::Value = serde_json::from_str(&env2.ok(&["inspect", &target])).unwrap();
    assert_eq!(a[0]["Id"], b[0]["Id"], "same image id after the round trip");
}

#[test]
fn concurrent_pulls_into_one_store_are_safe() {
    let r = Registry::start_args(&["--samples"]);
    let env = std::sync::Arc::new(Env::new(&r.addr));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let env = env.clone();
            std::thread::spawn(move || {
                let platform = if i % 2 == 0 {
                    "linux/amd64"
                } else {
                    "linux/arm64"
                };
                env.run(&["pull", "-q", "--platform", platform, "hello-world"])
            })
        })
        .collect();
    for w in workers {
        let out = w.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The tag points at whichever platform finished last; both images are recorded, every
    // blob they need is present and hashes to its name.
    let ids = env.ok(&["images", "-q"]);
    assert!((1..=2).contains(&ids.lines().count()), "{ids}");
    let blobs = env.root().join("images/v1/blobs/sha256");
    for f in std::fs::read_dir(&blobs).unwrap() {
        let f = f.unwrap();
        let data = std::fs::read(f.path()).unwrap();
        assert_eq!(
            common::sha256(&data),
            format!("sha256:{}", f.file_name().to_string_lossy())
        );
    }
    assert_eq!(
        std::fs::read_dir(env.root().join("images/v1/ingest"))
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".lock")
            })
            .count(),
        0,
        "no partial download left"
    );
}
