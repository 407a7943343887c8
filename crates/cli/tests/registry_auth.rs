//! Access control end to end (issue 9), against real peers: Debian's dockerd with the docker
//! CLI, skopeo, podman, CNCF Distribution trusting berth's tokens, htpasswd files made by
//! Apache's `htpasswd -B`, and berth's own client — all against `berth registry serve` in
//! `token` (and `basic`) mode, administered with `berth registry user|grant|token …`.
//!
//! Every test has its own data root, ports, credential files and daemons, so they run in
//! parallel. Test images are built offline (busybox-static + umoci, or a `docker import`), or
//! come from a `--samples` registry.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::auth::{
    Dockerd, Peers, Site, TokenDistribution, assert_no_secrets, base64, busybox_image, has_record,
    have, must, must_fail, p, run_with, tail, text,
};
use common::{Env, Registry, client};

const SERVICE: &str = "berth-registry";

/// A bearer token from berth's `/token` for `scope`, with Basic credentials.
fn bearer(reg: &Registry, user: &str, password: &str, scope: &str) -> String {
    let resp = client()
        .get(reg.u(&format!("/token?service={SERVICE}&scope={scope}")))
        .basic_auth(user, Some(password))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "token for {user} on {scope}");
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    v["token"].as_str().expect("token").to_string()
}

/// The `Docker-Content-Digest` of a manifest, read with a token for `user`.
fn served_digest(reg: &Registry, user: &str, password: &str, repo: &str, tag: &str) -> String {
    let token = bearer(reg, user, password, &format!("repository:{repo}:pull"));
    let resp = client()
        .head(reg.u(&format!("/v2/{repo}/manifests/{tag}")))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{repo}:{tag} as {user}");
    resp.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The status of a manifest HEAD with a pull token for `user`.
fn manifest_status(reg: &Registry, user: &str, password: &str, repo: &str, tag: &str) -> u16 {
    let token = bearer(reg, user, password, &format!("repository:{repo}:pull"));
    client()
        .head(reg.u(&format!("/v2/{repo}/manifests/{tag}")))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// An anonymous manifest GET is refused with exactly the challenge naming the pull scope.
fn assert_anonymous_pull_challenged(reg: &Registry, repo: &str, tag: &str) {
    let resp = client()
        .get(reg.u(&format!("/v2/{repo}/manifests/{tag}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401, "anonymous pull of {repo}:{tag}");
    assert_eq!(
        resp.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            "Bearer realm=\"{}/token\",service=\"{SERVICE}\",scope=\"repository:{repo}:pull\"",
            reg.url
        )
    );
}

/// The digest `skopeo inspect` reports for `image` (`docker://…`) with `creds`.
fn skopeo_digest(peers: &Peers, reg_log: &str, creds: &str, image: &str) -> String {
    let out = must(
        &mut peers.skopeo(&["inspect", "--tls-verify=false", "--creds", creds, image]),
        None,
        reg_log,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Digest"].as_str().expect("Digest").to_string()
}

/// The manifest digest an OCI layout holds for `tag`.
fn layout_digest(oci_ref: &str) -> String {
    let rest = oci_ref.strip_prefix("oci:").unwrap();
    let (layout, tag) = rest.rsplit_once(':').unwrap();
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(layout).join("index.json")).unwrap(),
    )
    .unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("{tag} not in {layout}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A `berth` failure reported as one `berth: error:` line; returns it.
fn one_line_error(what: &str, out: &std::process::Output) -> String {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{what} should fail");
    assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
    assert!(err.starts_with("berth: error: "), "{what}: {err}");
    err.trim().to_string()
}

/// Whether the Docker-style credential file `config_json` holds a login for `addr`.
fn stored_login(config_json: &Path, addr: &str) -> bool {
    std::fs::read_to_string(config_json)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .is_some_and(|v| v["auths"].get(addr).is_some())
}

// ---------------------------------------------------------------------------------------------
// 1. The docker CLI through Debian's dockerd.

const DORA_PW: &str = "dora-Pw-4kq7z1x";

#[test]
fn docker_login_push_pull_through_dockerd_in_token_mode() {
    if !have(&["dockerd", "docker"]) {
        return;
    }
    let site = Site::new();
    site.add_user("dora", DORA_PW, false);
    site.grant("dora", "writer", "dora/**");
    let reg = site.serve(&[]);
    let d = Dockerd::start();
    let addr = reg.addr.as_str();

    // A busybox image from a tarball (no network).
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let tarball = work.path().join("bb.tar");
    must(
        Command::new("tar")
            .arg("-C")
            .arg(work.path().join("rootfs"))
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
        None,
        "",
    );
    let image = format!("{addr}/dora/bb:1");
    must(&mut d.docker(&["import", p(&tarball), &image]), None, "");

    // Not logged in: the push is refused.
    let err = must_fail(&mut d.docker(&["push", &image]), None);
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );

    let config = d.config_dir().join("config.json");
    let login = ["login", "-u", "dora", "--password-stdin", addr];
    let err = must_fail(&mut d.docker(&login), Some("not-doras-password\n"));
    assert!(!err.contains("Login Succeeded"), "{err}");
    assert!(
        !stored_login(&config, addr),
        "a refused login is not stored"
    );

    let out = must(
        &mut d.docker(&login),
        Some(&format!("{DORA_PW}\n")),
        &reg.logs(),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
    assert!(stored_login(&config, addr));

    let pushed = must(&mut d.docker(&["push", &image]), None, &reg.logs());
    let digest = pushed
        .split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("docker push prints a digest: {pushed}"))
        .to_string();
    assert_eq!(served_digest(&reg, "dora", DORA_PW, "dora/bb", "1"), digest);
    assert_anonymous_pull_challenged(&reg, "dora/bb", "1");

    // Pull it back (by digest) and run it.
    must(&mut d.docker(&["rmi", &image]), None, "");
    let by_digest = format!("{addr}/dora/bb@{digest}");
    let pulled = must(&mut d.docker(&["pull", &by_digest]), None, &reg.logs());
    assert!(pulled.contains(&digest), "{pulled}");
    let out = must(
        &mut d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &by_digest,
            "/bin/busybox",
            "echo",
            "pulled-with-a-token",
        ]),
        None,
        &d.logs(),
    );
    assert_eq!(out.trim(), "pulled-with-a-token");

    // A robot token logs the daemon in, for its scope only.
    let robot = site.robot("dora", "ci", &["dora/ci:pull,push"]);
    let out = must(
        &mut d.docker(&login),
        Some(&format!("{}\n", robot.secret)),
        &reg.logs(),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
    let ci_image = format!("{addr}/dora/ci:1");
    must(&mut d.docker(&["tag", &by_digest, &ci_image]), None, "");
    let pushed = must(&mut d.docker(&["push", &ci_image]), None, &reg.logs());
    assert!(pushed.contains(&digest), "{pushed}");
    let other = format!("{addr}/dora/other:1");
    must(&mut d.docker(&["tag", &by_digest, &other]), None, "");
    must_fail(&mut d.docker(&["push", &other]), None);
    must(&mut d.docker(&["rmi", &ci_image, &other]), None, "");

    // Logged out, the daemon cannot pull it any more.
    must(&mut d.docker(&["rmi", &by_digest]), None, "");
    must(&mut d.docker(&["logout", addr]), None, "");
    let err = must_fail(&mut d.docker(&["pull", &by_digest]), None);
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );

    let audit = site.audit();
    assert!(
        has_record(&audit, "manifest.push", true, Some("dora"), Some("dora/bb")),
        "{audit:#?}"
    );
    assert!(
        has_record(&audit, "login", false, Some("dora"), None),
        "{audit:#?}"
    );
    site.assert_no_secrets(
        &reg,
        &[
            ("dora", DORA_PW),
            ("dora", "not-doras-password"),
            ("dora", &robot.secret),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 2. skopeo with --dest-creds / --src-creds.

const SAM_PW: &str = "sam-Pw-8w2n5v3c";
const RITA_PW: &str = "rita-Pw-1m9b6t0e";

#[test]
fn skopeo_copies_in_and_out_with_credentials() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let site = Site::new();
    site.add_user("sam", SAM_PW, false);
    site.add_user("rita", RITA_PW, false);
    site.grant("sam", "writer", "sam/*");
    site.grant("rita", "reader", "sam/*");
    let reg = site.serve(&[]);
    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "s1");
    let dest = format!("docker://{}/sam/img:1", reg.addr);
    let copy_in = |creds: Option<&str>, to: &str| {
        let mut args = vec!["copy", "-q", "--dest-tls-verify=false"];
        if let Some(c) = creds {
            args.extend(["--dest-creds", c]);
        }
        args.extend([img.as_str(), to]);
        peers.skopeo(&args)
    };

    let err = must_fail(&mut copy_in(None, &dest), None);
    assert!(
        err.contains("denied") || err.contains("unauthorized"),
        "{err}"
    );
    let wrong = "sam:not-sams-password";
    let err = must_fail(&mut copy_in(Some(wrong), &dest), None);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    // A reader may not push.
    let rita = format!("rita:{RITA_PW}");
    let err = must_fail(&mut copy_in(Some(&rita), &dest), None);
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("403"),
        "{err}"
    );
    assert_anonymous_pull_challenged(&reg, "sam/img", "1");
    assert_eq!(
        manifest_status(&reg, "sam", SAM_PW, "sam/img", "1"),
        404,
        "nothing was pushed"
    );

    let sam = format!("sam:{SAM_PW}");
    must(&mut copy_in(Some(&sam), &dest), None, &reg.logs());
    assert_eq!(
        served_digest(&reg, "sam", SAM_PW, "sam/img", "1"),
        layout_digest(&img)
    );

    // Out again, as the reader.
    let out_layout = peers.path("out");
    let out_ref = format!("oci:{}:back", p(&out_layout));
    let copy_out = |creds: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--src-creds",
            creds,
            &dest,
            &out_ref,
        ])
    };
    let err = must_fail(&mut copy_out("rita:not-ritas-password"), None);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    assert!(layout_missing(&out_ref), "nothing copied out");
    must(&mut copy_out(&rita), None, &reg.logs());
    assert_eq!(
        layout_digest(&out_ref),
        layout_digest(&img),
        "the same manifest came back"
    );

    let audit = site.audit();
    assert!(
        has_record(&audit, "manifest.push", true, Some("sam"), Some("sam/img")),
        "{audit:#?}"
    );
    site.assert_no_secrets(
        &reg,
        &[
            ("sam", SAM_PW),
            ("rita", RITA_PW),
            ("sam", "not-sams-password"),
            ("rita", "not-ritas-password"),
        ],
    );
}

/// Whether an OCI layout lacks the tag (a failed copy may leave an empty layout behind).
fn layout_missing(oci_ref: &str) -> bool {
    let rest = oci_ref.strip_prefix("oci:").unwrap();
    let (layout, tag) = rest.rsplit_once(':').unwrap();
    let Ok(s) = std::fs::read_to_string(Path::new(layout).join("index.json")) else {
        return true;
    };
    !s.contains(&format!("\"{tag}\""))
}

// ---------------------------------------------------------------------------------------------
// 3. podman login + push.

const PAT_PW: &str = "pat-Pw-3j8d2s6r";

fn podman(store: &Path, conf: &Path) -> Command {
    let mut c = common::auth::timed("podman");
    c.env("CONTAINERS_CONF", conf)
        .arg("--root")
        .arg(store.join("root"))
        .arg("--runroot")
        .arg(store.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
    c
}

#[test]
fn podman_login_and_push_in_token_mode() {
    if !have(&["podman", "skopeo", "umoci"]) {
        return;
    }
    let site = Site::new();
    site.add_user("pat", PAT_PW, false);
    site.grant("pat", "writer", "pat/*");
    let reg = site.serve(&[]);
    let addr = reg.addr.as_str();
    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "pod");
    let conf = peers.path("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n\
         [engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    let store = peers.path("podman");
    let local = "localhost/pat/pod:1";
    let storage = format!(
        "containers-storage:[vfs@{}+{}]{local}",
        p(&store.join("root")),
        p(&store.join("run"))
    );
    must(&mut peers.skopeo(&["copy", "-q", &img, &storage]), None, "");

    let authfile = peers.path("podman-auth.json");
    let login = |pw: &str| {
        let mut c = podman(&store, &conf);
        c.args(["login", "--tls-verify=false", "--authfile", p(&authfile)])
            .args(["-u", "pat", "--password-stdin", addr]);
        run_with(&mut c, Some(&format!("{pw}\n")))
    };
    let out = login("not-pats-password");
    assert!(
        !out.status.success(),
        "podman login with a wrong password: {}",
        text(&out.stdout)
    );
    assert!(
        !stored_login(&authfile, addr),
        "a refused login is not stored"
    );
    let out = login(PAT_PW);
    assert!(
        out.status.success(),
        "podman login: {}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        tail(&reg.logs(), 30)
    );
    assert!(
        text(&out.stdout).contains("Login Succeeded"),
        "{}",
        text(&out.stdout)
    );
    assert!(stored_login(&authfile, addr));

    let push = |tag: &str| {
        let mut c = podman(&store, &conf);
        c.args([
            "push",
            "--tls-verify=false",
            "--authfile",
            p(&authfile),
            local,
        ])
        .arg(format!("docker://{addr}/pat/pod:{tag}"));
        c
    };
    must(&mut push("1"), None, &reg.logs());
    let digest = skopeo_digest(
        &peers,
        &reg.logs(),
        &format!("pat:{PAT_PW}"),
        &format!("docker://{addr}/pat/pod:1"),
    );
    assert_eq!(served_digest(&reg, "pat", PAT_PW, "pat/pod", "1"), digest);
    assert_anonymous_pull_challenged(&reg, "pat/pod", "1");
    // Outside its grant the push is refused.
    let mut c = podman(&store, &conf);
    c.args([
        "push",
        "--tls-verify=false",
        "--authfile",
        p(&authfile),
        local,
    ])
    .arg(format!("docker://{addr}/elsewhere/pod:1"));
    must_fail(&mut c, None);

    // Logged out, podman cannot push.
    let mut c = podman(&store, &conf);
    c.args(["logout", "--authfile", p(&authfile), addr]);
    must(&mut c, None, "");
    must_fail(&mut push("2"), None);

    let audit = site.audit();
    assert!(
        has_record(&audit, "manifest.push", true, Some("pat"), Some("pat/pod")),
        "{audit:#?}"
    );
    site.assert_no_secrets(&reg, &[("pat", PAT_PW), ("pat", "not-pats-password")]);
}

// ---------------------------------------------------------------------------------------------
// 4. berth login + push + pull, and robot tokens.

const BERT_PW: &str = "bert-Pw-6x1c4h9u";

#[test]
fn berth_login_push_pull_and_robot_tokens() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let samples = Registry::start_args(&["--samples"]);
    let site = Site::new();
    site.add_user("bert", BERT_PW, false);
    site.grant("bert", "writer", "bert/*");
    let reg = site.serve(&[]);
    let addr = reg.addr.as_str();

    let env = Env::new(&samples.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    let target = format!("{addr}/bert/hello:1");
    env.ok(&["tag", "hello-world", &target]);

    let push = ["push", target.as_str()];
    let err = one_line_error("push without a login", &env.run(&push));
    assert!(err.contains("berth login"), "{err}");

    let login = ["login", "-u", "bert", "--password-stdin", addr];
    let out = env.run_stdin(&login, "not-berts-password\n");
    let err = one_line_error("login with a wrong password", &out);
    assert!(err.contains(addr), "{err}");
    assert!(!text(&out.stdout).contains("Login Succeeded"));
    assert!(!stored_login(&env.docker_config(), addr), "nothing stored");

    let out = env.run_stdin(&login, format!("{BERT_PW}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.docker_config()).unwrap()).unwrap();
    assert_eq!(
        doc["auths"][addr]["auth"],
        base64(format!("bert:{BERT_PW}").as_bytes())
    );

    let out = env.ok(&push);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    let pushed = env.inspect("hello-world")["Descriptor"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        served_digest(&reg, "bert", BERT_PW, "bert/hello", "1"),
        pushed
    );

    // Another client pulls it with the login, and not without.
    let other = Env::new(addr);
    let pull = ["pull", "-q", target.as_str()];
    let err = one_line_error("pull without a login", &other.run(&pull));
    assert!(err.contains("berth login"), "{err}");
    std::fs::create_dir_all(other.docker_config().parent().unwrap()).unwrap();
    std::fs::copy(env.docker_config(), other.docker_config()).unwrap();
    other.ok(&pull);
    assert_eq!(
        other.inspect(&target)["Id"],
        env.inspect("hello-world")["Id"]
    );

    // A robot token for bert/ci only, although bert may push to all of bert/*.
    let robot = site.robot("bert", "ci", &["bert/ci:pull,push"]);
    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "ci");
    let creds = format!("{}:{}", robot.user, robot.secret);
    let skopeo_push = |creds: &str, repo: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &img,
            &format!("docker://{addr}/{repo}"),
        ])
    };
    must(&mut skopeo_push(&creds, "bert/ci:1"), None, &reg.logs());
    assert_eq!(
        skopeo_digest(
            &peers,
            &reg.logs(),
            &creds,
            &format!("docker://{addr}/bert/ci:1")
        ),
        layout_digest(&img)
    );
    let err = must_fail(&mut skopeo_push(&creds, "bert/other:1"), None);
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("403"),
        "{err}"
    );

    // The robot logs berth in; it pushes within its scope only.
    let ci = Env::new(addr);
    let robot_login = ["login", "-u", "bert", "--password-stdin", addr];
    let out = ci.run_stdin(&robot_login, format!("{}\n", robot.secret));
    assert!(out.status.success(), "robot login: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    // It may not even pull what bert pushed elsewhere.
    let out = ci.run(&["pull", "-q", &target]);
    let err = one_line_error("robot pull outside its scope", &out);
    assert!(err.contains("denied"), "{err}");
    let sample = format!("{}/library/hello-world", samples.addr);
    ci.ok(&["pull", "-q", &sample]);
    let ci_tag = format!("{addr}/bert/ci:2");
    ci.ok(&["tag", &sample, &ci_tag]);
    let out = ci.ok(&["push", &ci_tag]);
    assert!(out.contains("2: digest: sha256:"), "{out}");
    let elsewhere = format!("{addr}/bert/other:2");
    ci.ok(&["tag", &sample, &elsewhere]);
    let out = ci.run(&["push", &elsewhere]);
    let err = one_line_error("robot push outside its scope", &out);
    assert!(err.contains("bert/other"), "{err}");

    let ls: serde_json::Value =
        serde_json::from_str(&site.ok(&["token", "ls", "--user", "bert", "--json"])).unwrap();
    let row = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == robot.id.as_str())
        .expect("token ls lists the robot");
    assert_eq!(row["state"], "active");
    assert!(row["last_used"].is_string(), "last use recorded: {row}");
    assert!(
        !row.to_string().contains(&robot.secret),
        "token ls shows no secret"
    );

    // Revoked: refused at once, by every client — and so is a bearer token issued before.
    let issued = bearer(&reg, "bert", &robot.secret, "repository:bert/ci:pull");
    let head = |token: &str| {
        client()
            .head(reg.u("/v2/bert/ci/manifests/1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(head(&issued), 200);
    site.ok(&["token", "revoke", &robot.id]);
    assert_eq!(head(&issued), 401, "a token issued to a revoked robot");
    let err = must_fail(&mut skopeo_push(&creds, "bert/ci:3"), None);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    let out = ci.run(&["push", &ci_tag]);
    one_line_error("push with a revoked robot token", &out);
    let fresh = Env::new(addr);
    let out = fresh.run_stdin(&robot_login, format!("{}\n", robot.secret));
    one_line_error("login with a revoked robot token", &out);
    assert!(!stored_login(&fresh.docker_config(), addr));
    let ls: serde_json::Value =
        serde_json::from_str(&site.ok(&["token", "ls", "--user", "bert", "--json"])).unwrap();
    assert_eq!(ls[0]["state"], "revoked", "{ls}");

    let audit = site.audit();
    assert!(
        has_record(
            &audit,
            "manifest.push",
            true,
            Some("bert"),
            Some("bert/hello")
        ),
        "{audit:#?}"
    );
    assert!(
        has_record(&audit, "manifest.push", true, None, Some("bert/ci")),
        "{audit:#?}"
    );
    site.assert_no_secrets(
        &reg,
        &[
            ("bert", BERT_PW),
            ("bert", "not-berts-password"),
            ("bert", &robot.secret),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 5. htpasswd users.

const HUGO_PW: &str = "hugo-Pw-2r7f5k8a";
const IDA_PW: &str = "ida-Pw-9p3w1y6q";
const HUGO_PW2: &str = "hugo-Pw2-6d4s1a0z";
const BEA_PW: &str = "bea-Pw-3n7m1q8r";
const BEA_PW2: &str = "bea-Pw2-5e2w9t4y";

/// `htpasswd -B -b [-c] FILE USER PASSWORD` (Debian's apache2-utils).
fn htpasswd(file: &Path, user: &str, password: &str, create: bool) {
    let mut c = Command::new("htpasswd");
    c.arg("-B").arg("-b");
    if create {
        c.arg("-c");
    }
    must(c.arg(file).arg(user).arg(password), None, "");
    let line = std::fs::read_to_string(file).unwrap();
    assert!(
        line.contains(&format!("{user}:$2y$")),
        "a bcrypt entry: {line}"
    );
}

/// A site whose config names an htpasswd file holding hugo (the administrative commands see
/// the file only through `--config`).
fn htpasswd_site() -> (Site, std::path::PathBuf) {
    let mut site = Site::new();
    let file = site.path("htpasswd");
    htpasswd(&file, "hugo", HUGO_PW, true);
    let cfg = site.path("registry.toml");
    std::fs::write(&cfg, format!("[auth]\nhtpasswd = \"{}\"\n", p(&file))).unwrap();
    site.config = Some(cfg);
    (site, file)
}

#[test]
fn htpasswd_users_log_in_with_skopeo_and_berth_in_token_mode() {
    if !have(&["htpasswd", "skopeo", "umoci"]) {
        return;
    }
    let (site, file) = htpasswd_site();
    site.grant("hugo", "writer", "hugo/*");
    let reg = site.serve(&["--htpasswd", p(&file)]);
    let addr = reg.addr.as_str();
    let v2 = client().get(reg.u("/v2/")).send().unwrap();
    assert_eq!(v2.status(), 401);
    assert!(
        v2.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer "),
        "token mode by default with an htpasswd file"
    );

    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "h1");
    let push = |creds: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &img,
            &format!("docker://{addr}/hugo/img:1"),
        ])
    };
    must_fail(&mut push("hugo:not-hugos-password"), None);
    must(&mut push(&format!("hugo:{HUGO_PW}")), None, &reg.logs());
    assert_eq!(
        served_digest(&reg, "hugo", HUGO_PW, "hugo/img", "1"),
        layout_digest(&img)
    );

    let env = Env::new(addr);
    let login = ["login", "-u", "hugo", "--password-stdin", addr];
    one_line_error(
        "berth login, wrong password",
        &env.run_stdin(&login, "not-hugos-password\n"),
    );
    let out = env.run_stdin(&login, format!("{HUGO_PW}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    let image = format!("{addr}/hugo/img:1");
    env.ok(&["pull", "-q", &image]);
    assert_eq!(
        env.inspect(&image)["Descriptor"]["digest"],
        layout_digest(&img)
    );

    // The file is re-read when it changes: a user added now logs in.
    htpasswd(&file, "ida", IDA_PW, false);
    site.grant("ida", "reader", "hugo/*");
    let ida = format!("ida:{IDA_PW}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run_with(
            &mut peers.skopeo(&[
                "inspect",
                "--tls-verify=false",
                "--creds",
                &ida,
                &format!("docker://{image}"),
            ]),
            None,
        );
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ida, added to the htpasswd file, cannot log in: {}",
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let audit = site.audit();
    assert!(
        has_record(
            &audit,
            "manifest.push",
            true,
            Some("hugo"),
            Some("hugo/img")
        ),
        "{audit:#?}"
    );
    assert!(
        has_record(&audit, "login", true, Some("ida"), None),
        "{audit:#?}"
    );
    site.assert_no_secrets(
        &reg,
        &[
            ("hugo", HUGO_PW),
            ("ida", IDA_PW),
            ("hugo", "not-hugos-password"),
        ],
    );
}

#[test]
fn htpasswd_users_in_basic_mode() {
    if !have(&["htpasswd", "skopeo", "umoci"]) {
        return;
    }
    let (site, file) = htpasswd_site();
    site.grant("hugo", "writer", "hugo/*");
    site.add_user("bea", BEA_PW, false);
    site.grant("bea", "reader", "hugo/*");
    let reg = site.serve(&["--auth", "basic", "--htpasswd", p(&file)]);
    let addr = reg.addr.as_str();
    let v2 = client().get(reg.u("/v2/")).send().unwrap();
    assert_eq!(v2.status(), 401);
    let challenge = v2.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let v2 = client()
        .get(reg.u("/v2/"))
        .basic_auth("hugo", Some(HUGO_PW))
        .send()
        .unwrap();
    assert_eq!(v2.status(), 200);
    let v2 = client()
        .get(reg.u("/v2/"))
        .basic_auth("hugo", Some("not-hugos-password"))
        .send()
        .unwrap();
    assert_eq!(v2.status(), 401);

    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "b1");
    let push = |creds: &str, repo: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &img,
            &format!("docker://{addr}/{repo}"),
        ])
    };
    let hugo = format!("hugo:{HUGO_PW}");
    must_fail(&mut push("hugo:not-hugos-password", "hugo/img:1"), None);
    must(&mut push(&hugo, "hugo/img:1"), None, &reg.logs());
    must_fail(&mut push(&hugo, "ungranted/img:1"), None);
    assert_eq!(
        skopeo_digest(
            &peers,
            &reg.logs(),
            &hugo,
            &format!("docker://{addr}/hugo/img:1")
        ),
        layout_digest(&img)
    );
    let anon = client()
        .get(reg.u("/v2/hugo/img/manifests/1"))
        .send()
        .unwrap();
    assert_eq!(anon.status(), 401);

    let env = Env::new(addr);
    let login = ["login", "-u", "hugo", "--password-stdin", addr];
    one_line_error(
        "berth login, wrong password",
        &env.run_stdin(&login, "not-hugos-password\n"),
    );
    assert!(!stored_login(&env.docker_config(), addr));
    let out = env.run_stdin(&login, format!("{HUGO_PW}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    let image = format!("{addr}/hugo/img:1");
    env.ok(&["pull", "-q", &image]);
    assert_eq!(
        env.inspect(&image)["Descriptor"]["digest"],
        layout_digest(&img)
    );

    // Verified Basic credentials may be cached, but a password change takes effect at once:
    // for berth's own user…
    let status = |user: &str, password: &str| {
        client()
            .head(reg.u("/v2/hugo/img/manifests/1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .basic_auth(user, Some(password))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status("bea", BEA_PW), 200);
    must(
        &mut site.cmd(&["user", "passwd", "bea", "--password-stdin"]),
        Some(&format!("{BEA_PW2}\n")),
        "",
    );
    assert_eq!(
        status("bea", BEA_PW),
        401,
        "bea's old password right after passwd"
    );
    assert_eq!(status("bea", BEA_PW2), 200);
    // …and for a user of the htpasswd file, once the file changes.
    assert_eq!(status("hugo", HUGO_PW), 200);
    htpasswd(&file, "hugo", HUGO_PW2, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while status("hugo", HUGO_PW) != 401 {
        assert!(
            Instant::now() < deadline,
            "hugo's old password still works after the htpasswd file changed"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(status("hugo", HUGO_PW2), 200);

    let audit = site.audit();
    assert!(
        has_record(
            &audit,
            "manifest.push",
            true,
            Some("hugo"),
            Some("hugo/img")
        ),
        "{audit:#?}"
    );
    assert!(
        has_record(&audit, "login", false, Some("hugo"), None),
        "{audit:#?}"
    );
    site.assert_no_secrets(
        &reg,
        &[
            ("hugo", HUGO_PW),
            ("hugo", HUGO_PW2),
            ("bea", BEA_PW),
            ("bea", BEA_PW2),
            ("hugo", "not-hugos-password"),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 6. CNCF Distribution trusting berth as its token server.

const DINA_PW: &str = "dina-Pw-5t8g2b4n";

#[test]
fn distribution_accepts_a_push_authorised_by_berths_token() {
    if !have(&["docker-registry", "skopeo", "umoci"]) {
        return;
    }
    let site = Site::new();
    site.add_user("dina", DINA_PW, false);
    site.grant("dina", "writer", "dist/*");
    let reg = site.serve(&[]);
    let cert = site.ok(&["auth", "cert"]);
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    let dist = TokenDistribution::start(
        &format!("{}/token", reg.url),
        SERVICE,
        "berth-registry",
        &cert,
    );

    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "d1");
    let push = |creds: &str, repo: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &img,
            &format!("docker://{}/{repo}", dist.addr),
        ])
    };
    let dina = format!("dina:{DINA_PW}");
    let ctx = || {
        format!(
            "{}\n--- Distribution\n{}",
            tail(&reg.logs(), 30),
            tail(&dist.logs(), 30)
        )
    };
    must(&mut push(&dina, "dist/img:1"), None, &ctx());
    assert_eq!(
        skopeo_digest(
            &peers,
            &ctx(),
            &dina,
            &format!("docker://{}/dist/img:1", dist.addr)
        ),
        layout_digest(&img)
    );
    // Distribution refuses what berth did not grant, and wrong or no credentials.
    must_fail(&mut push(&dina, "other/img:1"), None);
    must_fail(&mut push("dina:not-dinas-password", "dist/img:2"), None);
    let anon = client()
        .get(format!("http://{}/v2/dist/img/manifests/1", dist.addr))
        .send()
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(
        anon.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            "Bearer realm=\"{}/token\",service=\"{SERVICE}\",scope=\"repository:dist/img:pull\"",
            reg.url
        )
    );
    // A token berth issued for dist/img works at Distribution directly.
    let token = bearer(&reg, "dina", DINA_PW, "repository:dist/img:pull");
    let ok = client()
        .get(format!("http://{}/v2/dist/img/manifests/1", dist.addr))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", tail(&dist.logs(), 20));

    let audit = site.audit();
    assert!(
        audit.iter().any(|r| r["action"] == "token.issue"
            && r["actor"] == "dina"
            && r["detail"]
                .as_str()
                .is_some_and(|d| d.contains("repository:dist/img:") && d.contains("push"))),
        "{audit:#?}"
    );
    site.assert_no_secrets(&reg, &[("dina", DINA_PW), ("dina", "not-dinas-password")]);
}

// ---------------------------------------------------------------------------------------------
// 7. No secret in any log; the audit log records who did what from where.

const LENA_PW: &str = "lena-Pw-7c3v9m2k";

#[test]
fn logs_hold_no_secrets_and_audit_records_logins_tokens_and_pushes() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let site = Site::new();
    site.add_user("lena", LENA_PW, false);
    site.grant("lena", "writer", "lena/*");
    let robot = site.robot("lena", "ci", &["lena/robot:pull,push"]);
    let reg = site.serve(&[]);
    let addr = reg.addr.as_str();
    let peers = Peers::new();
    let img = busybox_image(peers.dir.path(), "l1");
    let wrong_pw = "not-lenas-password";
    let wrong_robot = format!("berth_{}_{}", robot.id, "A".repeat(43));

    // Failures: a wrong password through berth login and /token, a wrong robot secret.
    let env = Env::new(addr);
    let login = ["login", "-u", "lena", "--password-stdin", addr];
    one_line_error(
        "wrong password",
        &env.run_stdin(&login, format!("{wrong_pw}\n")),
    );
    let resp = client()
        .get(reg.u(&format!(
            "/token?service={SERVICE}&scope=repository:lena/img:pull"
        )))
        .basic_auth("lena", Some(&wrong_robot))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Successes: berth login, skopeo with the password and with the robot, OAuth2 POST /token
    // with a refresh token.
    let out = env.run_stdin(&login, format!("{LENA_PW}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = |creds: &str, repo: &str| {
        peers.skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &img,
            &format!("docker://{addr}/{repo}"),
        ])
    };
    must(
        &mut copy(&format!("lena:{LENA_PW}"), "lena/img:1"),
        None,
        &reg.logs(),
    );
    let robot_creds = format!("lena:{}", robot.secret);
    must(&mut copy(&robot_creds, "lena/robot:1"), None, &reg.logs());
    env.ok(&["pull", "-q", &format!("{addr}/lena/img:1")]);
    let resp = client()
        .post(reg.u("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&service={SERVICE}&client_id=berth-test&access_type=offline\
             &scope=repository%3Alena%2Fimg%3Apull&username=lena&password={LENA_PW}"
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    let refresh = v["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let access = v["access_token"]
        .as_str()
        .expect("an access token")
        .to_string();

    let secrets: Vec<(&str, &str)> = vec![
        ("lena", LENA_PW),
        ("lena", wrong_pw),
        ("lena", &robot.secret),
        ("lena", &wrong_robot),
        ("lena", &refresh),
        ("lena", &access),
    ];
    let server_log = reg.logs();
    assert!(
        server_log.contains("/token"),
        "the log records requests: {}",
        tail(&server_log, 5)
    );
    assert_no_secrets("the server log", &server_log, &secrets);

    let file_text = std::fs::read_to_string(&site.audit_file).unwrap();
    assert_no_secrets("the audit JSON lines", &file_text, &secrets);
    let cli_text = site.ok(&["audit", "--json"]);
    assert_no_secrets("berth registry audit --json", &cli_text, &secrets);
    let table = site.ok(&["audit"]);
    assert_no_secrets("berth registry audit", &table, &secrets);

    for (what, records) in [
        ("--audit-log", common::auth::json_lines(&file_text)),
        ("audit --json", common::auth::json_lines(&cli_text)),
    ] {
        for r in &records {
            for field in ["action", "success"] {
                assert!(!r[field].is_null(), "{what}: {field} in {r}");
            }
        }
        assert!(
            has_record(&records, "login", false, Some("lena"), None),
            "{what}: failed login: {records:#?}"
        );
        assert!(
            has_record(&records, "login", true, Some("lena"), None),
            "{what}: login: {records:#?}"
        );
        assert!(
            has_record(&records, "token.issue", true, Some("lena"), None),
            "{what}: token issue: {records:#?}"
        );
        assert!(
            has_record(
                &records,
                "manifest.push",
                true,
                Some("lena"),
                Some("lena/img")
            ),
            "{what}: push by lena: {records:#?}"
        );
        assert!(
            records.iter().any(|r| r["action"] == "manifest.push"
                && r["success"] == true
                && r["repo"] == "lena/robot"
                && r["actor"]
                    .as_str()
                    .is_some_and(|a| a.contains(&robot.id) || a == "lena")
                && r["client"].is_string()),
            "{what}: push by the robot: {records:#?}"
        );
    }
    let cli = common::auth::json_lines(&cli_text);
    for r in &cli {
        assert!(r["time"].is_string(), "audit --json has a time: {r}");
    }
    // Filters.
    let by_repo = common::auth::json_lines(&site.ok(&["audit", "--json", "--repo", "lena/robot"]));
    assert!(
        !by_repo.is_empty() && by_repo.iter().all(|r| r["repo"] == "lena/robot"),
        "{by_repo:#?}"
    );
    let limited = common::auth::json_lines(&site.ok(&["audit", "--json", "--limit", "2"]));
    assert_eq!(limited.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 8. No access control on a non-loopback address only when asked for.

/// Lines of stderr that are not tracing log lines (`2026-…Z  INFO …`).
fn non_log_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            let b = l.as_bytes();
            !(b.len() > 20
                && b[..4].iter().all(u8::is_ascii_digit)
                && b[4] == b'-'
                && b[10] == b'T')
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn non_loopback_address_needs_access_control_or_explicit_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut child = common::berth()
        .args(["registry", "serve", "--addr", "0.0.0.0:0", "--root"])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve on 0.0.0.0 without users did not exit: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        !text(&out.stdout).contains("listening"),
        "{}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    let errors = non_log_lines(&stderr);
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(errors[0].starts_with("berth: error: "), "{stderr}");
    assert!(errors[0].contains("0.0.0.0"), "{stderr}");
    assert!(errors[0].contains("--auth none"), "it says how: {stderr}");

    // Explicitly without access control: it starts and warns.
    let mut open = Registry::start_at(&root, "0.0.0.0:0", &["--auth", "none"]);
    let port = open.addr.rsplit(':').next().unwrap().to_string();
    let v2 = client()
        .get(format!("http://127.0.0.1:{port}/v2/"))
        .send()
        .unwrap();
    assert_eq!(v2.status(), 200);
    let logs = open.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("anyone")),
        "a warning that anyone can push: {logs}"
    );
    open.kill();
    drop(open);

    // With a user it starts there in token mode.
    let site = Site::new();
    site.add_user("olga", "olga-Pw-0z8x7c6v", true);
    let exposed = Registry::start_at(&site.root, "0.0.0.0:0", &[]);
    let port = exposed.addr.rsplit(':').next().unwrap().to_string();
    let v2 = client()
        .get(format!("http://127.0.0.1:{port}/v2/"))
        .send()
        .unwrap();
    assert_eq!(v2.status(), 401);
    assert!(
        v2.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer "),
        "token mode"
    );
    assert!(!exposed.logs().contains("WARN"), "{}", exposed.logs());
}
