//! `berth registry serve` as an operator meets it: flags, config file, TLS, samples, signals, and
//! one-line errors for bad input.

mod common;

use std::process::Command;

use common::{Registry, berth, client, require_tool, sha256};

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut r = Registry::start();
    assert_eq!(client().get(r.u("/v2/")).send().unwrap().status(), 200);
    let status = r.stop().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(r.logs().contains("SIGTERM received"));
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("berth.toml");
    std::fs::write(
        &cfg,
        "addr = \"127.0.0.1:1\"\ndelete_enabled = false\nlog_format = \"json\"\n",
    )
    .unwrap();
    let r = Registry::start_args(&["--config", cfg.to_str().unwrap()]);
    let c = client();
    let data = b"config test blob".to_vec();
    let d = sha256(&data);
    let put = c
        .post(r.u(&format!("/v2/cfg/blobs/uploads/?digest={d}")))
        .body(data)
        .send()
        .unwrap();
    assert_eq!(put.status(), 201);
    let del = c.delete(r.u(&format!("/v2/cfg/blobs/{d}"))).send().unwrap();
    assert_eq!(del.status(), 405, "delete_enabled = false refuses deletes");
    let body: serde_json::Value = del.json().unwrap();
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
    let log = r.logs();
    let line = log
        .lines()
        .find(|l| l.contains("registry ready"))
        .expect("ready line");
    let json: serde_json::Value =
        serde_json::from_str(line).expect("log_format = json gives JSON lines");
    assert_eq!(json["level"], "INFO");
}

#[test]
fn bad_config_is_one_readable_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "adress = \"x\"\n").unwrap();
    let out = berth()
        .args(["registry", "serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("berth: error:") && err.contains("adress"),
        "{err}"
    );

    let out = berth()
        .args([
            "registry",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--root",
            "/proc/nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("berth: error:") && err.contains("/proc/nope"),
        "{err}"
    );
}

#[test]
fn tls_with_a_certificate_of_our_own() {
    if !require_tool("openssl") || !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let r = Registry::start_args(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(r.url.starts_with("https://"), "{}", r.url);
    for proto in ["--http1.1", "--http2"] {
        let out = Command::new("curl")
            .args(["-sS", proto, "-D", "-", "--cacert"])
            .arg(&cert)
            .arg(r.u("/v2/"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(" 200") && text.contains("docker-distribution-api-version: registry/2.0"),
            "{text}"
        );
    }
    // Plain HTTP to the TLS port gets nowhere.
    let plain = client().get(format!("http://{}/v2/", r.addr)).send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[test]
fn samples_serve_a_two_platform_hello_world() {
    let r = Registry::start_args(&["--samples"]);
    let c = client();
    let resp = c
        .get(r.u("/v2/library/hello-world/manifests/latest"))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index: serde_json::Value = resp.json().unwrap();
    let mut platforms = vec![];
    for m in index["manifests"].as_array().unwrap() {
        platforms.push(m["platform"]["architecture"].as_str().unwrap().to_string());
        let d = m["digest"].as_str().unwrap();
        let man = c
            .get(r.u(&format!("/v2/library/hello-world/manifests/{d}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .unwrap();
        assert_eq!(man.status(), 200);
        let man: serde_json::Value = man.json().unwrap();
        assert_eq!(
            man["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        let mut descs = vec![man["config"].clone()];
        descs.extend(man["layers"].as_array().unwrap().iter().cloned());
        for desc in descs {
            let d = desc["digest"].as_str().unwrap();
            let blob = c
                .get(r.u(&format!("/v2/library/hello-world/blobs/{d}")))
                .send()
                .unwrap();
            assert_eq!(blob.status(), 200);
            let bytes = blob.bytes().unwrap();
            assert_eq!(sha256(&bytes), d);
            assert_eq!(bytes.len() as u64, desc["size"].as_u64().unwrap());
        }
    }
    platforms.sort();
    assert_eq!(platforms, ["amd64", "arm64"]);
    // A client that only takes single manifests gets the linux/amd64 one.
    let resp = c
        .get(r.u("/v2/library/hello-world/manifests/latest"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[test]
fn samples_are_not_added_twice() {
    let mut r = Registry::start_args(&["--samples"]);
    let dir = r.take_dir().unwrap();
    let first = client()
        .head(r.u("/v2/library/hello-world/manifests/latest"))
        .send()
        .unwrap();
    let d1 = first.headers()["docker-content-digest"].clone();
    r.stop();
    let r2 = Registry::start_at(&r.root, "127.0.0.1:0", &["--samples"]);
    let second = client()
        .head(r2.u("/v2/library/hello-world/manifests/latest"))
        .send()
        .unwrap();
    assert_eq!(second.headers()["docker-content-digest"], d1);
    // Both servers append to the same log: the samples were added once, by the first.
    assert_eq!(
        r2.logs().matches("added sample image").count(),
        1,
        "{}",
        r2.logs()
    );
    drop(dir);
}

#[test]
fn sparse_manifests_are_refused_by_default_and_accepted_when_configured() {
    let missing = sha256(b"a layer nobody pushed");
    let config = b"{}".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": missing, "size": 5}],
    })
    .to_string();
    for (args, want) in [(&[][..], 400u16), (&["--sparse-manifests"][..], 201)] {
        let r = Registry::start_args(args);
        let c = client();
        let d = sha256(&config);
        let put = c
            .post(r.u(&format!("/v2/sparse/blobs/uploads/?digest={d}")))
            .body(config.clone())
            .send()
            .unwrap();
        assert_eq!(put.status(), 201);
        let resp = c
            .put(r.u("/v2/sparse/manifests/v1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{args:?}");
        if want == 400 {
            let body: serde_json::Value = resp.json().unwrap();
            assert_eq!(body["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
        }
    }
}
