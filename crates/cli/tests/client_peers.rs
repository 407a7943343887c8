//! berth's client against real peers: what `berth push` uploads, skopeo copies back byte for
//! byte; what skopeo pushes (OCI, Docker v2 schema 2, multi-platform indexes and manifest
//! lists, built offline with umoci from busybox-static), `berth pull` fetches with the right
//! platform; and `berth login` with Basic auth against CNCF Distribution's htpasswd.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, Registry, client, require_tool, sha256};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// A failure reported as one `berth: error:` line; returns it.
fn one_line_error(args: &[&str], out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "berth {args:?} should fail");
    assert_eq!(err.trim().lines().count(), 1, "berth {args:?}: {err}");
    assert!(err.starts_with("berth: error: "), "berth {args:?}: {err}");
    eprintln!("berth {args:?}: {}", err.trim());
    err.trim().to_string()
}

/// Run a peer tool; panics with its output when it fails.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn skopeo(args: &[&str]) -> String {
    let mut all = vec!["--insecure-policy"];
    all.extend_from_slice(args);
    tool("skopeo", &all)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The layer digests of an image manifest.
fn layers(manifest: &[u8]) -> Vec<String> {
    json(manifest)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// GET a manifest as the registry stores it: (bytes, digest of the bytes, media type).
fn registry_manifest(addr: &str, repo: &str, reference: &str) -> (Vec<u8>, String, String) {
    let accept = "application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json";
    let resp = client()
        .get(format!("http://{addr}/v2/{repo}/manifests/{reference}"))
        .header("accept", accept)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{addr}/{repo}:{reference}");
    let media_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = resp.bytes().unwrap().to_vec();
    let digest = sha256(&bytes);
    (bytes, digest, media_type)
}

// ---------------------------------------------------------------------------------------------
// Offline test images.

/// An OCI layout built with umoci from busybox-static: `amd` (linux/amd64, one layer), `arm`
/// (linux/arm64, that layer plus one more) and `multi`, an index of both.
struct Layout {
    dir: tempfile::TempDir,
    amd: String,
    arm: String,
}

impl Layout {
    fn path(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    fn oci(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.path().display())
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(self.path().join("blobs/sha256").join(hex)).unwrap()
    }

    fn build() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for cmd in ["sh", "ls", "cat", "echo", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(cmd)).unwrap();
        }
        let marker = dir.path().join("arch");
        std::fs::write(&marker, "arm64\n").unwrap();
        let layout = dir.path().join("layout");
        let (l, r, m) = (
            layout.to_str().unwrap(),
            rootfs.to_str().unwrap(),
            marker.to_str().unwrap(),
        );
        let amd_ref = format!("{l}:amd");
        let arm_ref = format!("{l}:arm");
        tool("umoci", &["init", "--layout", l]);
        tool("umoci", &["new", "--image", &amd_ref]);
        tool("umoci", &["insert", "--image", &amd_ref, r, "/"]);
        tool(
            "umoci",
            &[
                "config",
                "--image",
                &amd_ref,
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
        tool(
            "umoci",
            &[
                "config",
                "--image",
                &amd_ref,
                "--tag",
                "arm",
                "--architecture",
                "arm64",
            ],
        );
        tool("umoci", &["insert", "--image", &arm_ref, m, "/etc/arch"]);

        let index_path = layout.join("index.json");
        let mut index = json(&std::fs::read(&index_path).unwrap());
        let entry = |tag: &str| {
            index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap()
                .clone()
        };
        let (amd, arm) = (entry("amd"), entry("arm"));
        let platform = |e: &serde_json::Value, arch: &str| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": e["digest"], "size": e["size"],
                "platform": {"architecture": arch, "os": "linux"},
            })
        };
        let multi = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [platform(&amd, "amd64"), platform(&arm, "arm64")],
        }))
        .unwrap();
        let multi_digest = sha256(&multi);
        std::fs::write(
            layout
                .join("blobs/sha256")
                .join(multi_digest.trim_start_matches("sha256:")),
            &multi,
        )
        .unwrap();
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": multi_digest, "size": multi.len(),
                "annotations": {"org.opencontainers.image.ref.name": "multi"},
            }));
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        Layout {
            amd: amd["digest"].as_str().unwrap().to_string(),
            arm: arm["digest"].as_str().unwrap().to_string(),
            dir,
        }
    }
}

/// What `berth pull` must have stored for one platform.
struct Expect<'a> {
    arch: &'a str,
    /// The platform manifest as the registry serves it.
    manifest: Vec<u8>,
    manifest_digest: String,
    /// Layer digests as pushed.
    layers: Vec<String>,
}

/// Pull `reference` (with `--platform` when given) into a fresh store and check what landed.
fn pull_and_check(addr: &str, reference: &str, platform: Option<&str>, want: &Expect) {
    let env = Env::new(addr);
    let mut args = vec!["pull", "-q"];
    if let Some(p) = platform {
        args.extend(["--platform", p]);
    }
    args.push(reference);
    env.ok(&args);
    let inspect = env.inspect(reference);
    assert_eq!(
        inspect["Architecture"], want.arch,
        "{reference} {platform:?}"
    );
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(
        inspect["Descriptor"]["digest"], want.manifest_digest,
        "{reference} {platform:?}: the platform's manifest"
    );
    let stored = env.blob(&want.manifest_digest);
    assert_eq!(stored, want.manifest, "the manifest is kept byte for byte");
    assert_eq!(layers(&stored), want.layers, "{reference}: layers");
    for l in &want.layers {
        assert_eq!(&sha256(&env.blob(l)), l);
    }
    let config = json(&stored)["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(inspect["Id"], config);
    assert_eq!(inspect["Config"]["Cmd"][0], "/bin/sh");
}

// ---------------------------------------------------------------------------------------------

#[test]
fn what_berth_pushes_skopeo_copies_back_byte_identical() {
    if !require_tool("skopeo") || !require_tool("docker-registry") {
        return;
    }
    let samples = Registry::start_args(&["--samples"]);
    let dist = common::Distribution::start();
    let plain = Registry::start();
    let env = Env::new(&samples.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let inspect = env.inspect("hello-world");
    let manifest_digest = inspect["Descriptor"]["digest"].as_str().unwrap();
    let manifest = env.blob(manifest_digest);
    let m = json(&manifest);
    let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    blobs.extend(layers(&manifest));

    for addr in [&dist.addr, &plain.addr] {
        let target = format!("{addr}/copied/hello:1");
        env.ok(&["tag", "hello-world", &target]);
        let out = env.ok(&["push", &target]);
        assert!(
            out.contains(&format!("1: digest: {manifest_digest}")),
            "{out}"
        );
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy");
        skopeo(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{target}"),
            &format!("dir:{}", dest.display()),
        ]);
        let copied = std::fs::read(dest.join("manifest.json")).unwrap();
        assert_eq!(copied, manifest, "{addr}: manifest bytes");
        let mut files: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n != "manifest.json" && n != "version")
            .collect();
        files.sort();
        let mut want: Vec<String> = blobs
            .iter()
            .map(|d| d.trim_start_matches("sha256:").to_string())
            .collect();
        want.sort();
        assert_eq!(files, want, "{addr}: config and layers");
        for d in &blobs {
            let hex = d.trim_start_matches("sha256:");
            assert_eq!(
                std::fs::read(dest.join(hex)).unwrap(),
                env.blob(d),
                "{addr}: blob {d}"
            );
        }
    }
}

#[test]
fn what_skopeo_pushes_berth_pulls_with_the_right_platform() {
    if !require_tool("skopeo") || !require_tool("umoci") {
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipping: busybox-static is not installed");
        return;
    }
    let layout = Layout::build();
    let amd_layers = layers(&layout.blob(&layout.amd));
    let arm_layers = layers(&layout.blob(&layout.arm));
    assert_eq!(arm_layers.len(), 2);
    assert_eq!(arm_layers[0], amd_layers[0]);

    let berth_reg = Registry::start();
    let dist = require_tool("docker-registry").then(common::Distribution::start);
    let mut addrs = vec![berth_reg.addr.clone()];
    addrs.extend(dist.iter().map(|d| d.addr.clone()));
    for addr in &addrs {
        let push = |src: &str, repo: &str, extra: &[&str]| {
            let mut args = vec!["copy", "-q", "--dest-tls-verify=false"];
            args.extend_from_slice(extra);
            let dest = format!("docker://{addr}/{repo}:1");
            args.extend([src, dest.as_str()]);
            skopeo(&args);
            format!("{addr}/{repo}:1")
        };

        // Single platform, OCI as built and converted to Docker v2 schema 2.
        for (repo, extra) in [("bb/oci", &[][..]), ("bb/v2s2", &["--format", "v2s2"][..])] {
            let r = push(&layout.oci("amd"), repo, extra);
            let (manifest, manifest_digest, media_type) = registry_manifest(addr, repo, "1");
            let want_type = if extra.is_empty() {
                "application/vnd.oci.image.manifest.v1+json"
            } else {
                "application/vnd.docker.distribution.manifest.v2+json"
            };
            assert_eq!(media_type, want_type);
            if extra.is_empty() {
                assert_eq!(manifest_digest, layout.amd, "skopeo kept the OCI manifest");
            }
            let want = Expect {
                arch: "amd64",
                manifest,
                manifest_digest,
                layers: amd_layers.clone(),
            };
            pull_and_check(addr, &r, None, &want);
            pull_and_check(addr, &r, Some("linux/amd64"), &want);
        }

        // Two platforms: an OCI index as built, and as a Docker manifest list.
        for (repo, extra) in [
            ("bb/index", &["--all"][..]),
            ("bb/list", &["--all", "--format", "v2s2"][..]),
        ] {
            let r = push(&layout.oci("multi"), repo, extra);
            let (index, _, _) = registry_manifest(addr, repo, "1");
            let index = json(&index);
            let child = |arch: &str| -> (Vec<u8>, String, String) {
                let d = index["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["platform"]["architecture"] == arch)
                    .unwrap_or_else(|| panic!("{repo}: no {arch} entry"))["digest"]
                    .as_str()
                    .unwrap()
                    .to_string();
                registry_manifest(addr, repo, &d)
            };
            for (arch, platform, want_layers) in [
                ("amd64", None, &amd_layers),
                ("arm64", Some("linux/arm64"), &arm_layers),
            ] {
                let (manifest, manifest_digest, _) = child(arch);
                let want = Expect {
                    arch,
                    manifest,
                    manifest_digest,
                    layers: want_layers.clone(),
                };
                pull_and_check(addr, &r, platform, &want);
            }
            let env = Env::new(addr);
            let out = env.run(&["pull", "--platform", "linux/s390x", &r]);
            let err = one_line_error(&["pull", "--platform", "linux/s390x"], &out);
            assert!(err.contains("linux/s390x"), "{err}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Basic auth.

/// `alice:s3cret`, bcrypt (cost 5), made with libxcrypt's `crypt(3)` through perl.
const HTPASSWD: &str = "alice:$2b$05$berthtestsaltberthtesuw0hUSUIGDvObwrVK3m3mN3E16TwpC66";

#[test]
fn basic_auth_through_berth_login_with_distribution() {
    if !require_tool("docker-registry") {
        return;
    }
    let samples = Registry::start_args(&["--samples"]);
    let dist = common::Distribution::start_with_htpasswd(HTPASSWD);
    let addr = dist.addr.as_str();
    let env = Env::new(&samples.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let target = format!("{addr}/secret/hello:1");
    env.ok(&["tag", "hello-world", &target]);

    // No login: refused, and the error says what to do.
    let args = ["push", target.as_str()];
    let err = one_line_error(&args, &env.run(&args));
    assert!(err.contains("berth login"), "{err}");
    assert!(err.contains(addr), "{err}");

    // A wrong password: one line, nothing stored.
    let login = ["login", "-u", "alice", "--password-stdin", addr];
    let out = env.run_stdin(&login, "wrong\n");
    let err = one_line_error(&login, &out);
    assert!(err.contains(addr), "{err}");
    assert!(!text(&out.stdout).contains("Login Succeeded"));
    let stored = std::fs::read_to_string(env.docker_config()).unwrap_or_default();
    assert!(!stored.contains(addr), "nothing stored: {stored}");

    // The right one.
    let out = env.run_stdin(&login, "s3cret\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    let doc = json(&std::fs::read(env.docker_config()).unwrap());
    assert_eq!(
        doc["auths"][addr]["auth"], "YWxpY2U6czNjcmV0",
        "base64(alice:s3cret)"
    );

    let out = env.ok(&["push", &target]);
    assert!(out.contains("1: digest: sha256:"), "{out}");

    // Another client: pulling needs the login too.
    let other = Env::new(addr);
    let args = ["pull", "-q", target.as_str()];
    let err = one_line_error(&args, &other.run(&args));
    assert!(err.contains("berth login"), "{err}");
    std::fs::create_dir_all(other.docker_config().parent().unwrap()).unwrap();
    std::fs::copy(env.docker_config(), other.docker_config()).unwrap();
    other.ok(&args);
    assert_eq!(
        other.inspect(&target)["Id"],
        env.inspect("hello-world")["Id"]
    );

    // Logout forgets it, and the registry refuses again.
    let out = env.ok(&["logout", addr]);
    assert_eq!(out.trim(), format!("Removing login credentials for {addr}"));
    let doc = json(&std::fs::read(env.docker_config()).unwrap());
    assert!(doc["auths"].get(addr).is_none(), "{doc}");
    let again = format!("{addr}/secret/hello:2");
    env.ok(&["tag", "hello-world", &again]);
    let args = ["push", again.as_str()];
    let err = one_line_error(&args, &env.run(&args));
    assert!(err.contains("berth login"), "{err}");
}
