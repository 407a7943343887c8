//! `berth diff` and `berth commit`: a container's changes listed (A/C/D, without the mount
//! points berth itself made) and turned into a new image whose config is the container's
//! process, whose last layer holds exactly those changes, and which runs.

mod common;

use std::io::Read as _;

use common::Env;
use common::containers::{busybox, needs_busybox};

/// The entries of the last layer of `image`, from `berth save --format oci`.
fn last_layer(env: &Env, image: &str) -> Vec<String> {
    let out = env.path("saved.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        out.to_str().unwrap(),
        image,
    ]);
    let mut files = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(path, data);
    }
    let blob = |d: &str| &files[&format!("blobs/sha256/{}", &d["sha256:".len()..])];
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let gz = blob(layers.last().unwrap()["digest"].as_str().unwrap());
    let mut names = Vec::new();
    let mut layer = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    for e in layer.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    names
}

#[test]
fn diff_and_commit_a_container() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&[
        "run",
        "--name",
        "changed",
        "-e",
        "MODE=prod",
        "-w",
        "/work",
        "bb:1",
        "sh",
        "-c",
        "echo data > /work/file; rm /bin/cat; mkdir -p /var/x; echo y > /var/x/y",
    ]);
    let diff = env.ok(&["diff", "changed"]);
    assert_eq!(
        diff, "C /bin\nD /bin/cat\nA /var\nA /var/x\nA /var/x/y\nA /work\nA /work/file\n",
        "no /proc, /sys, /dev or /etc stubs"
    );
    let id = env.ok(&[
        "commit",
        "-m",
        "my change",
        "-a",
        "someone",
        "-c",
        "LABEL k=v",
        "changed",
        "committed:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    let mut layer = last_layer(&env, "committed:1");
    layer.sort();
    assert_eq!(
        layer,
        [
            "bin/",
            "bin/.wh.cat",
            "var/",
            "var/x/",
            "var/x/y",
            "work/",
            "work/file"
        ],
        "the layer holds the changes only"
    );
    let config = env.inspect("committed:1");
    assert_eq!(config["Config"]["Env"], serde_json::json!(["MODE=prod"]));
    assert_eq!(config["Config"]["WorkingDir"], "/work");
    assert_eq!(config["Config"]["Labels"]["k"], "v");
    assert_eq!(config["Author"], "someone");
    let history = env.ok(&["history", "committed:1"]);
    assert!(
        history.lines().nth(1).unwrap().contains("my change"),
        "{history}"
    );
    // The image runs its committed command against its committed files.
    let out = env.run(&["run", "--rm", "committed:1"]);
    assert!(out.status.success(), "{out:?}");
    let ran = env.ok(&[
        "run",
        "--rm",
        "committed:1",
        "sh",
        "-c",
        "busybox cat /work/file /var/x/y; [ -e /bin/cat ] || echo no-cat",
    ]);
    assert_eq!(ran, "data\ny\nno-cat\n");
    // A container with no changes commits to an image with one more history entry, no layer.
    env.ok(&["run", "--name", "still", "bb:1", "sh", "-c", "exit 0"]);
    env.ok(&["commit", "still", "same:1"]);
    assert_eq!(
        env.inspect("same:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        env.inspect("bb:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len()
    );
    let missing = env.run(&["commit", "nope"]);
    assert!(!missing.status.success());
}
