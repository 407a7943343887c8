//! buildah as a peer builder: its own storage in a test directory, and what it does
//! differently from Docker (BuildKit), which berth follows, undone before comparing.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::tree::Tree;

/// buildah with its own storage under `dir` (vfs, chroot isolation: nothing machine-wide).
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new("buildah")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env("BUILDAH_ISOLATION", "chroot")
        // Cache mounts live under $TMPDIR/buildah-cache-*: keep them in the test's directory.
        .env("TMPDIR", dir.join("tmp"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "buildah {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The config fields both builders set, normalised: empty and missing are the same.
///
/// Both add the default `PATH` to `Env` when the base image has none, as BuildKit does (the
/// `PATH` filter below only matters for a berth that would not). Intentional difference:
/// buildah labels every image with `io.buildah.version`.
pub fn comparable(config: &Value, berth_env: Option<&Value>) -> Value {
    let c = &config["config"];
    let mut out = serde_json::Map::new();
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
        "Volumes",
        "StopSignal",
    ] {
        let mut v = c[field].clone();
        if field == "Labels"
            && let Some(m) = v.as_object_mut()
        {
            m.remove("io.buildah.version");
        }
        if field == "Env"
            && let (Some(list), Some(theirs)) = (v.as_array_mut(), berth_env)
        {
            let berth_has_path = theirs
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")));
            if !berth_has_path {
                list.retain(|e| !e.as_str().is_some_and(|e| e.starts_with("PATH=")));
            }
        }
        let empty = v.is_null()
            || v.as_str() == Some("")
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.as_object().is_some_and(|o| o.is_empty());
        if !empty {
            out.insert(field.to_string(), v);
        }
    }
    Value::Object(out)
}

/// Undo what buildah 1.28 does differently from Docker (BuildKit), which berth follows:
/// - it expands ENV values with `\` as the escape character even under a backtick `escape`
///   directive, so
///   `C=c\d` becomes `cd` (BuildKit keeps `c\d`);
/// - it keeps a port range as one `8000-8001/tcp` key; Docker expands it to one per port;
/// - RUN leaves its mount points (`/dev`, `/proc`, `/sys`, `/run`, empty `/etc/hosts`,
///   `/etc/hostname`, `/etc/resolv.conf`) in the layer; BuildKit and berth remove them;
/// - it creates each `VOLUME` directory in the image; BuildKit does not.
pub fn known_differences(config: &mut Value, theirs: &mut Tree, ours: &Tree) {
    if let Some(env) = config.get_mut("Env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if e == "C=cd" {
                *e = json!("C=c\\d");
            }
        }
    }
    if let Some(n) = theirs.get_mut("c.txt")
        && n.data == b"cd\n"
    {
        n.data = b"c\\d\n".to_vec();
    }
    if let Some(ports) = config
        .get_mut("ExposedPorts")
        .and_then(Value::as_object_mut)
    {
        let ranges: Vec<String> = ports.keys().filter(|k| k.contains('-')).cloned().collect();
        for r in ranges {
            ports.remove(&r);
            let (range, proto) = r.split_once('/').unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            for p in lo.parse::<u16>().unwrap()..=hi.parse::<u16>().unwrap() {
                ports.insert(format!("{p}/{proto}"), json!({}));
            }
        }
    }
    let volumes: Vec<String> = config["Volumes"]
        .as_object()
        .map(|v| {
            v.keys()
                .map(|k| k.trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    let stubs = [
        "dev",
        "proc",
        "sys",
        "run",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
    ];
    theirs.retain(|p, n| {
        ours.contains_key(p)
            || !(stubs.contains(&p.as_str()) && (n.kind == 'd' || n.data.is_empty())
                || volumes.contains(p))
    });
    // `/etc` itself when it only held those stubs.
    if !ours.contains_key("etc") && !theirs.keys().any(|p| p.starts_with("etc/")) {
        theirs.remove("etc");
    }
}
