//! `berth save | load | import` end to end: round trips between isolated berth roots, the
//! archives checked by skopeo, umoci and podman, skopeo's legacy docker-archive loaded with its
//! layers verified against the config, rootfs tarballs imported, and damaged or hostile archives
//! refused without touching the store.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, Registry, sha256};
use serde_json::Value;

impl Env {
    /// The stored manifest of `image`.
    fn manifest(&self, image: &str) -> Value {
        let d = self.inspect(image)["Descriptor"]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        serde_json::from_slice(&self.blob(&d)).unwrap()
    }

    /// `berth images` without the times: repository, tag and id of each row.
    fn listing(&self) -> Vec<String> {
        self.ok(&["images"])
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Every stored blob, sorted.
    fn blobs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root().join("images/v1/blobs/sha256"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Fails with exactly one readable line on stderr; returns it.
    fn fails(&self, args: &[&str], input: Option<&[u8]>) -> String {
        let out = match input {
            Some(i) => self.run_stdin(args, i),
            None => self.run(args),
        };
        assert!(!out.status.success(), "berth {args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("berth: error: "), "{err}");
        err
    }
}

fn have(tools: &[&str]) -> bool {
    tools.iter().all(|t| common::require_tool(t))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Run a peer tool; panic with its output unless it succeeds.
fn tool(prog: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["-k", "10", "300", prog])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (path, mtime, content) of every entry.
fn tar_entries(archive: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let mtime = e.header().mtime().unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, mtime, data)
        })
        .collect()
}

fn entry<'a>(entries: &'a [(String, u64, Vec<u8>)], path: &str) -> &'a [u8] {
    &entries
        .iter()
        .find(|e| e.0 == path)
        .unwrap_or_else(|| panic!("no {path} in the archive"))
        .2
}

/// The archive rewritten entry by entry (headers kept), with `edit` deciding for each regular
/// file: `None` drops it, `Some(data)` keeps it with that content.
fn rewrite(archive: &[u8], mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let mut h = e.header().clone();
        if e.header().entry_type().is_file() {
            let Some(edited) = edit(&path, data) else {
                continue;
            };
            data = edited;
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.append(&h, data.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn save_then_load_into_an_empty_root_keeps_id_tag_and_config() {
    let r = Registry::start_args(&["--samples"]);
    let a = Env::new(&r.addr);
    a.ok(&["pull", "-q", "hello-world"]);
    let original = a.inspect("hello-world");

    let file = a.path("hello.tar");
    a.ok(&["save", "-o", p(&file), "hello-world"]);
    let bytes = std::fs::read(&file).unwrap();
    // Streaming to stdout gives the same bytes: the archive is deterministic.
    let streamed = a.cmd(&["save", "hello-world"]).output().unwrap();
    assert!(streamed.status.success());
    assert!(streamed.stdout == bytes, "stdout and -o archives differ");

    let entries = tar_entries(&bytes);
    let paths: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted");
    assert!(entries.iter().all(|e| e.1 == 0), "mtimes are 0");
    assert_eq!(
        entry(&entries, "oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: Value = serde_json::from_slice(entry(&entries, "index.json")).unwrap();
    let m = &index["manifests"][0];
    assert_eq!(m["digest"], original["Descriptor"]["digest"]);
    assert_eq!(
        m["annotations"]["io.containerd.image.name"],
        format!("{}/library/hello-world:latest", r.addr)
    );
    assert_eq!(
        m["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let docker: Value = serde_json::from_slice(entry(&entries, "manifest.json")).unwrap();
    let id_hex = original["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    assert_eq!(docker[0]["Config"], format!("blobs/sha256/{id_hex}"));
    assert_eq!(
        docker[0]["RepoTags"],
        serde_json::json!(["hello-world:latest"])
    );
    let layers = docker[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    for (path, _, data) in entries
        .iter()
        .filter(|e| e.0.starts_with("blobs/sha256/") && e.0.len() > 13)
    {
        assert_eq!(
            sha256(data),
            format!("sha256:{}", &path[13..]),
            "blob {path}"
        );
    }

    let b = Env::new(&r.addr);
    let out = b.ok(&["load", "-i", p(&file)]);
    assert_eq!(out.trim(), "Loaded image: hello-world:latest");
    let loaded = b.inspect("hello-world");
    assert_eq!(loaded["Id"], original["Id"]);
    assert_eq!(loaded["RepoTags"], original["RepoTags"]);
    assert_eq!(loaded["Config"], original["Config"]);
    assert_eq!(loaded["Descriptor"], original["Descriptor"]);
    assert_eq!(loaded["RootFS"], original["RootFS"]);
    // Loading again changes nothing; a gzip-compressed archive on stdin loads too.
    b.ok(&["load", "-q", "-i", p(&file)]);
    assert_eq!(b.ok(&["images"]).lines().count(), 2);
    let c = Env::new(&r.addr);
    let out = c.ok_stdin(&["load"], gzip(&bytes));
    assert_eq!(out.trim(), "Loaded image: hello-world:latest");
    assert_eq!(c.inspect("hello-world")["Id"], original["Id"]);

    // Saved by id, the image carries no name and loads as an id.
    let by_id = a.path("by-id.tar");
    a.ok(&["save", "-o", p(&by_id), &id_hex[..12]]);
    let d = Env::new(&r.addr);
    let out = d.ok(&["load", "-i", p(&by_id)]);
    assert_eq!(out.trim(), format!("Loaded image ID: sha256:{id_hex}"));
    assert_eq!(d.ok(&["images", "-q"]).trim(), &id_hex[..12]);

    // docker refuses to write an archive to a terminal, and so does berth.
    if have(&["script"]) {
        let cmdline = format!("{} save hello-world", common::berth_bin());
        let tty = Command::new("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .env("BERTH_ROOT", a.root())
            .env("BERTH_DEFAULT_REGISTRY", &a.registry)
            .env("BERTH_CONFIG", a.path("config.toml"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&tty.stdout);
        assert!(
            text.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
            "{text}"
        );
    }
}

#[test]
fn oci_format_is_a_layout_umoci_and_skopeo_read_byte_identically() {
    if !have(&["umoci", "skopeo"]) {
        return;
    }
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let info = env.inspect("hello-world");
    let file = env.path("oci.tar");
    env.ok(&["save", "--format", "oci", "-o", p(&file), "hello-world"]);
    let bytes = std::fs::read(&file).unwrap();
    let entries = tar_entries(&bytes);
    assert!(
        !entries.iter().any(|e| e.0 == "manifest.json"),
        "no docker manifest.json in the oci format"
    );
    let layout = env.path("layout");
    std::fs::create_dir_all(&layout).unwrap();
    tar::Archive::new(bytes.as_slice()).unpack(&layout).unwrap();

    let refs = tool("umoci", &["ls", "--layout", p(&layout)]);
    assert_eq!(refs.trim(), "latest");
    let inspected: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("oci:{}:latest", p(&layout))],
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], info["Descriptor"]["digest"]);

    let copy = env.path("copy");
    tool(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            &format!("oci:{}:latest", p(&layout)),
            &format!("dir:{}", p(&copy)),
        ],
    );
    let manifest_digest = info["Descriptor"]["digest"].as_str().unwrap();
    assert!(
        std::fs::read(copy.join("manifest.json")).unwrap() == env.blob(manifest_digest),
        "skopeo copied the manifest unchanged"
    );
    let manifest = env.manifest("hello-world");
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    for l in manifest["layers"].as_array().unwrap() {
        digests.push(l["digest"].as_str().unwrap().to_string());
    }
    for d in digests {
        let copied = std::fs::read(copy.join(d.trim_start_matches("sha256:"))).unwrap();
        assert!(copied == env.blob(&d), "blob {d} is byte-identical");
    }
}

#[test]
fn docker_format_is_read_by_skopeo_and_podman() {
    if !have(&["skopeo"]) {
        return;
    }
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let info = env.inspect("hello-world");
    let file = env.path("docker.tar");
    env.ok(&["save", "-o", p(&file), "hello-world"]);
    let inspected: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{}", p(&file))],
    ))
    .unwrap();
    assert_eq!(inspected["Layers"], info["RootFS"]["Layers"], "{inspected}");
    assert_eq!(inspected["Architecture"], info["Architecture"]);
    assert_eq!(inspected["Env"], info["Config"]["Env"]);

    if !have(&["podman"]) {
        return;
    }
    let conf = env.path("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n\
         [engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    let podman = |args: &[&str]| -> String {
        let root = env.path("podman");
        let mut full = vec![
            "--root".to_string(),
            p(&root.join("root")).to_string(),
            "--runroot".into(),
            p(&root.join("run")).to_string(),
            "--storage-driver".into(),
            "vfs".into(),
            "--events-backend".into(),
            "none".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        let out = Command::new("timeout")
            .args(["-k", "10", "300", "podman"])
            .args(&full)
            .env("CONTAINERS_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = podman(&["load", "-i", p(&file)]);
    assert!(out.contains("hello-world:latest"), "{out}");
    let images: Value = serde_json::from_str(&podman(&["images", "--format", "json"])).unwrap();
    let id = info["Id"].as_str().unwrap().trim_start_matches("sha256:");
    assert_eq!(images[0]["Id"], id, "podman sees the same image id");
    // podman saves the docker-archive of old (layers uncompressed, `<id>/layer.tar` links);
    // berth loads that back as the same image.
    let name = images[0]["Names"][0].as_str().unwrap().to_string();
    let back = env.path("podman.tar");
    podman(&["save", "-o", p(&back), &name]);
    let fresh = Env::new(&r.addr);
    let out = fresh.ok(&["load", "-i", p(&back)]);
    assert_eq!(out.trim(), "Loaded image: hello-world:latest");
    let loaded = fresh.inspect("hello-world");
    assert_eq!(loaded["Id"], info["Id"]);
    assert_eq!(loaded["Config"], info["Config"]);
}

/// busybox-static as a one-layer image in a new OCI layout, built with umoci.
fn busybox_layout(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|c| Path::new(c).exists())
        .expect("busybox-static");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "echo"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let layout = dir.join("layout");
    let image = format!("{}:test", p(&layout));
    tool("umoci", &["init", "--layout", p(&layout)]);
    tool("umoci", &["new", "--image", &image]);
    tool("umoci", &["insert", "--image", &image, p(&rootfs), "/"]);
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.cmd",
            "/bin/sh",
            "--config.env",
            "PATH=/bin",
            "--architecture",
            "amd64",
            "--os",
            "linux",
        ],
    );
    layout
}

#[test]
fn legacy_docker_archive_from_skopeo_loads_with_verified_layers() {
    if !have(&["umoci", "skopeo"]) {
        return;
    }
    let env = Env::new("docker.io");
    let layout = busybox_layout(env.dir.path());
    let file = env.path("legacy.tar");
    tool(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            &format!("oci:{}:test", p(&layout)),
            &format!("docker-archive:{}:busybox:test", p(&file)),
        ],
    );
    let bytes = std::fs::read(&file).unwrap();
    let entries = tar_entries(&bytes);
    assert!(
        !entries.iter().any(|e| e.0 == "index.json"),
        "a legacy archive"
    );
    let legacy: Value = serde_json::from_slice(entry(&entries, "manifest.json")).unwrap();
    let config_path = legacy[0]["Config"].as_str().unwrap().to_string();

    let out = env.ok(&["load", "-i", p(&file)]);
    assert_eq!(out.trim(), "Loaded image: busybox:test");
    let info = env.inspect("busybox:test");
    assert_eq!(info["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(
        info["Id"],
        sha256(entry(&entries, &config_path)),
        "id = config digest"
    );
    let manifest = env.manifest("busybox:test");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer_digests: Vec<Value> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar");
            l["digest"].clone()
        })
        .collect();
    assert_eq!(
        Value::Array(layer_digests),
        info["RootFS"]["Layers"],
        "uncompressed layer digests are the diff_ids"
    );
    // The stored layer is the uncompressed tar of the original gzip layer.
    let oci_manifest: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{}:test", p(&layout))],
    ))
    .unwrap();
    let gz = std::fs::read(
        layout.join("blobs/sha256").join(
            oci_manifest["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        ),
    )
    .unwrap();
    let diff = info["RootFS"]["Layers"][0].as_str().unwrap();
    assert!(gunzip(&gz) == env.blob(diff));

    // Saved again by berth, skopeo reads it back as the same image.
    let again = env.path("again.tar");
    env.ok(&["save", "-o", p(&again), "busybox:test"]);
    let inspected: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{}", p(&again))],
    ))
    .unwrap();
    assert_eq!(inspected["Layers"], info["RootFS"]["Layers"]);

    // Docker before 25 names layers `<id>/layer.tar`, often as links to one shared file: the
    // same archive with manifest.json pointing at skopeo's `<id>/layer.tar` symlinks loads alike.
    let mut links = Vec::new();
    let mut a = tar::Archive::new(bytes.as_slice());
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Symlink {
            let target = e
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            links.push((path, target));
        }
    }
    assert!(!links.is_empty(), "skopeo writes <id>/layer.tar links");
    let via_links = rewrite(&bytes, |path, data| {
        if path != "manifest.json" {
            return Some(data);
        }
        let mut text = String::from_utf8(data).unwrap();
        for (link, target) in &links {
            let target = target.trim_start_matches("../");
            text = text.replace(&format!("\"{target}\""), &format!("\"{link}\""));
        }
        assert!(text.contains("/layer.tar"), "{text}");
        Some(text.into_bytes())
    });
    let linked = Env::new("docker.io");
    let out = linked.ok_stdin(&["load"], &via_links);
    assert_eq!(out.trim(), "Loaded image: busybox:test");
    assert_eq!(linked.inspect("busybox:test")["RootFS"], info["RootFS"]);

    // A layer altered in the archive no longer matches its diff_id: refused, nothing recorded.
    let fresh = Env::new("docker.io");
    let mut flipped = false;
    let tampered = rewrite(&bytes, |path, mut data| {
        if path.ends_with(".tar") && !flipped && data.len() > 600 {
            data[600] ^= 0xff;
            flipped = true;
        }
        Some(data)
    });
    assert!(flipped);
    let tampered_file = env.path("tampered.tar");
    std::fs::write(&tampered_file, tampered).unwrap();
    let err = fresh.fails(&["load", "-i", p(&tampered_file)], None);
    assert!(err.contains("does not match diff_id"), "{err}");
    assert_eq!(fresh.ok(&["images"]).lines().count(), 1);
    assert!(
        fresh.blobs().is_empty(),
        "nothing left behind: {:?}",
        fresh.blobs()
    );
}

/// A rootfs tarball of a few files, made with the tar crate.
fn rootfs_tar(dir: &Path) -> Vec<u8> {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/hostname"), "imported\n").unwrap();
    std::fs::write(src.join("hello.txt"), "hello from an imported rootfs\n").unwrap();
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/tool"), vec![7u8; 5000]).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", &src).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn import_makes_a_one_layer_image_with_the_tar_as_diff_id() {
    let env = Env::new("registry.invalid");
    let tar_bytes = rootfs_tar(env.dir.path());
    let file = env.path("rootfs.tar");
    std::fs::write(&file, &tar_bytes).unwrap();

    let out = env.ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/tool", "--serve"]"#,
        "-c",
        "ENV MODE=imported",
        "-m",
        "made by a test",
        p(&file),
        "myimg:1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let images = env.ok(&["images"]);
    let row: Vec<&str> = images.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["myimg", "1", &id[7..19]], "{images}");

    let info = env.inspect("myimg:1");
    assert_eq!(info["Id"], id);
    assert_eq!(
        info["RootFS"]["Layers"],
        serde_json::json!([sha256(&tar_bytes)])
    );
    assert_eq!(
        info["Config"]["Cmd"],
        serde_json::json!(["/bin/tool", "--serve"])
    );
    assert_eq!(info["Config"]["Env"], serde_json::json!(["MODE=imported"]));
    assert_eq!(info["Comment"], "made by a test");
    assert_eq!(info["Os"], "linux");
    let manifest = env.manifest("myimg:1");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_digest = layers[0]["digest"].as_str().unwrap().to_string();
    let layer = env.blob(&layer_digest);
    assert_eq!(sha256(&layer), layer_digest);
    assert!(gunzip(&layer) == tar_bytes, "the layer is the tar as given");
    let cfg: Value = serde_json::from_slice(&env.blob(id)).unwrap();
    assert_eq!(cfg["history"][0]["created_by"], "berth import");

    // The same tar again, gzip-compressed, and on stdin: same diff_id and the same layer blob.
    let gz = env.path("rootfs.tar.gz");
    std::fs::write(&gz, gzip(&tar_bytes)).unwrap();
    env.ok(&["import", p(&gz), "myimg:gz"]);
    env.ok_stdin(&["import", "-", "myimg:stdin"], &tar_bytes);
    env.ok(&["import", p(&file)]);
    for tag in ["myimg:gz", "myimg:stdin"] {
        let m = env.manifest(tag);
        assert_eq!(m["layers"][0]["digest"], layer_digest.as_str(), "{tag}");
        assert_eq!(env.inspect(tag)["RootFS"], info["RootFS"]);
    }
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 4, "four imports");

    // An imported image saves and loads like any other.
    let saved = env.path("saved.tar");
    env.ok(&["save", "-o", p(&saved), "myimg:1"]);
    let other = Env::new("registry.invalid");
    assert_eq!(
        other.ok(&["load", "-i", p(&saved)]).trim(),
        "Loaded image: myimg:1"
    );
    assert_eq!(other.inspect("myimg:1")["Config"], info["Config"]);
}

/// A tar whose `index.json` is a symlink climbing out of the archive.
fn escaping_link() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "sub/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "sub/index.json", "../../../etc/passwd")
        .unwrap();
    b.into_inner().unwrap()
}

/// A tar whose single entry has the raw name `name` (the tar crate refuses to write `..`).
fn tar_with_raw_name(name: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(5);
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"evil\n"[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn hostile_and_damaged_archives_are_refused_and_change_nothing() {
    let r = Registry::start_args(&["--samples"]);
    let source = Env::new(&r.addr);
    source.ok(&["pull", "-q", "hello-world"]);
    let good = source.path("good.tar");
    source.ok(&["save", "-o", p(&good), "hello-world"]);
    let good = std::fs::read(&good).unwrap();
    let manifest = source.manifest("hello-world");
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // The target holds one imported image; none of the loads below may change it.
    let env = Env::new(&r.addr);
    let rootfs = rootfs_tar(env.dir.path());
    env.ok_stdin(&["import", "-", "kept:1"], &rootfs);
    let images_before = env.listing();
    assert_eq!(images_before.len(), 1);
    let blobs_before = env.blobs();

    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let mut corrupt_config = good.clone();
    let blob_mismatch = rewrite(&good, |path, mut data| {
        if path.ends_with(&hex(&config)) {
            let i = data.iter().position(|&b| b == b'/').unwrap();
            data[i] = b'_';
        }
        Some(data)
    });
    let missing_layer = rewrite(&good, |path, data| {
        (!path.ends_with(&hex(&layer))).then_some(data)
    });
    // Cut inside the data of the first blob (after two directory headers and its own header).
    corrupt_config.truncate(3 * 512 + 100);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dot-dot path", tar_with_raw_name(b"../evil"), "\"..\""),
        (
            "absolute path",
            tar_with_raw_name(b"/tmp/evil"),
            "absolute path",
        ),
        ("truncated", corrupt_config, "truncated"),
        (
            "blob not matching its digest",
            blob_mismatch,
            "does not match",
        ),
        ("missing layer", missing_layer, "lacks blob"),
        (
            "not a tar",
            b"this is not an archive at all\n".repeat(40),
            "tar",
        ),
        ("empty", Vec::new(), "empty"),
        (
            "link out of the archive",
            escaping_link(),
            "outside the archive",
        ),
    ];
    for (what, archive, expect) in cases {
        let file = env.path("bad.tar");
        std::fs::write(&file, &archive).unwrap();
        let err = env.fails(&["load", "-i", p(&file)], None);
        assert!(err.contains(expect), "{what}: {err}");
        let err = env.fails(&["load"], Some(&archive));
        assert!(err.contains(expect), "{what} on stdin: {err}");
        assert_eq!(env.listing(), images_before, "{what}");
        assert_eq!(env.blobs(), blobs_before, "{what}: no blob left behind");
    }

    // import refuses what is not a whole tar.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(5000);
    h.set_mode(0o644);
    b.append_data(&mut h, "big.bin", &[1u8; 5000][..]).unwrap();
    let mut truncated = b.into_inner().unwrap();
    truncated.truncate(512 + 100);
    for (what, input, expect) in [
        ("truncated", truncated, "truncated"),
        (
            "not a tar",
            b"plain text, no tar header here\n".repeat(40),
            "not a valid tar",
        ),
        ("bzip2", b"BZh91AY&SY".to_vec(), "bzip2"),
    ] {
        let err = env.fails(&["import", "-", "broken:1"], Some(&input));
        assert!(err.contains(expect), "import {what}: {err}");
        assert_eq!(env.listing(), images_before, "import {what}");
        assert_eq!(
            env.blobs(),
            blobs_before,
            "import {what}: no blob left behind"
        );
    }
    let err = env.fails(&["import", p(&env.path("nope.tar"))], None);
    assert!(err.contains("nope.tar"), "{err}");
}
