//! An image's root file system as a sorted map, read from an OCI archive (`berth save --format
//! oci`, `buildah push … oci-archive:`) by applying its layers in order with OCI whiteouts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// One file system entry: its kind (`d`, `f`, `l` symlink, `c`/`b`/`p` others), permission
/// bits, owner and, for files, contents (for symlinks, the target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub data: Vec<u8>,
}

impl Node {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Paths without a leading `/` (`bin/sh`), the root itself left out.
pub type Tree = BTreeMap<String, Node>;

fn clean(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// The archive's files by name.
fn entries(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = clean(&e.path().unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

/// The config JSON and root file system of the one image of an OCI archive.
pub fn read_oci_archive(archive: &[u8]) -> (serde_json::Value, Tree) {
    let files = entries(archive);
    let blob = |digest: &str| -> &Vec<u8> {
        let name = format!("blobs/{}", digest.replacen(':', "/", 1));
        files
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the archive"))
    };
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let mut tree = Tree::new();
    for layer in manifest["layers"].as_array().unwrap() {
        apply_layer(&mut tree, blob(layer["digest"].as_str().unwrap()));
    }
    (config, tree)
}

fn remove_under(tree: &mut Tree, dir: &str, keep: &BTreeSet<String>) {
    let prefix = format!("{dir}/");
    tree.retain(|p, _| !(p.starts_with(&prefix) || dir.is_empty()) || keep.contains(p));
}

/// Apply one layer (gzip or plain tar) to `tree`.
pub fn apply_layer(tree: &mut Tree, blob: &[u8]) {
    let raw: Vec<u8> = if blob.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        blob.to_vec()
    };
    // Paths this layer added: an opaque whiteout hides only what lies below.
    let mut added = BTreeSet::new();
    let mut a = tar::Archive::new(raw.as_slice());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = clean(&e.path().unwrap());
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), path.clone()),
        };
        if base == ".wh..wh..opq" {
            remove_under(tree, &dir, &added);
            continue;
        }
        if let Some(hidden) = base.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            };
            tree.remove(&gone);
            remove_under(tree, &gone, &BTreeSet::new());
            continue;
        }
        if path.is_empty() {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => {
                let target = clean(&e.link_name().unwrap().unwrap());
                let node = tree
                    .get(&target)
                    .cloned()
                    .expect("a hard link to a known file");
                added.insert(path.clone());
                tree.insert(path, node);
                continue;
            }
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            _ => 'f',
        };
        let mut data = Vec::new();
        if kind == 'l' {
            data = e
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .as_bytes()
                .to_vec();
        } else {
            e.read_to_end(&mut data).unwrap();
        }
        // A non-directory replaces whatever was there, a directory's children included.
        if kind != 'd' {
            remove_under(tree, &path, &added);
        }
        let node = Node {
            kind,
            mode: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            data,
        };
        added.insert(path.clone());
        tree.insert(path, node);
    }
}

/// A one-line-per-entry listing (`kind mode uid:gid path [-> target]`) for readable diffs.
pub fn listing(tree: &Tree) -> String {
    let mut out = String::new();
    for (p, n) in tree {
        let extra = match n.kind {
            'l' => format!(" -> {}", n.text()),
            'f' => format!(" ({} bytes)", n.data.len()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{} {:04o} {}:{} /{p}{extra}\n",
            n.kind, n.mode, n.uid, n.gid
        ));
    }
    out
}

/// The entry at `path` (with or without a leading `/`); panics listing the image if missing.
pub fn node<'a>(t: &'a Tree, path: &str) -> &'a Node {
    t.get(path.trim_start_matches('/'))
        .unwrap_or_else(|| panic!("{path} is missing; the image has:\n{}", listing(t)))
}

/// The contents of file `path`.
pub fn text(t: &Tree, path: &str) -> String {
    let n = node(t, path);
    assert_eq!(n.kind, 'f', "{path} is not a file");
    n.text()
}

/// (mode, uid, gid) of a path.
pub fn meta(t: &Tree, path: &str) -> (u32, u64, u64) {
    let n = node(t, path);
    (n.mode, n.uid, n.gid)
}

/// Panics if `path` is in the image.
pub fn absent(t: &Tree, path: &str) {
    assert!(
        !t.contains_key(path.trim_start_matches('/')),
        "{path} should not be in the image:\n{}",
        listing(t)
    );
}
