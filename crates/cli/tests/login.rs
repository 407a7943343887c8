//! `berth login` / `berth logout` end to end: the real binary against berth's registry in
//! `token` mode (users made with `berth registry user add` before it starts), with
//! `DOCKER_CONFIG` in a temporary directory. The registry checks passwords: a wrong one is a
//! one-line error and stores nothing; the right one prints `Login Succeeded` and is stored.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::auth::Site;
use common::{Registry, berth};

/// `berth ARGS` with a private Docker config and berth config, `stdin` fed to it.
fn run(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd: Command = berth();
    cmd.args(args)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("BERTH_ROOT", home.join("berth"))
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_DEFAULT_REGISTRY")
        .env_remove("BERTH_INSECURE_REGISTRIES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn berth");
    // berth may exit without reading stdin (a refused login): a broken pipe here is expected.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn docker_config(home: &Path) -> serde_json::Value {
    let path = home.join("docker/config.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A registry in token mode with users `u` (password `s3cret-pass`) and `v` (`pw-of-v-9`).
fn registry_with_users() -> (Site, Registry) {
    let site = Site::new();
    site.add_user("u", "s3cret-pass", false);
    site.add_user("v", "pw-of-v-9", false);
    let reg = site.serve(&[]);
    (site, reg)
}

#[test]
fn login_then_logout() {
    let (_site, reg) = registry_with_users();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let out = run(
        h,
        &["login", "--password-stdin", "-u", "u", &reg.addr],
        "s3cret-pass\n",
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    assert!(text(&out.stderr).contains("stored unencrypted"));
    let doc = docker_config(h);
    // base64("u:s3cret-pass")
    assert_eq!(doc["auths"][&reg.addr]["auth"], "dTpzM2NyZXQtcGFzcw==");
    let mode = std::fs::metadata(h.join("docker/config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // -p works too, with Docker's warning; a URL-form name is the same registry.
    let url = format!("http://{}/", reg.addr);
    let out = run(h, &["login", "-u", "v", "-p", "pw-of-v-9", &url], "");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("WARNING! Using --password via the CLI is insecure"));
    assert_eq!(text(&out.stdout).trim(), "Login Succeeded");
    assert_eq!(docker_config(h)["auths"].as_object().unwrap().len(), 1);
    // base64("v:pw-of-v-9")
    assert_eq!(
        docker_config(h)["auths"][&reg.addr]["auth"],
        "djpwdy1vZi12LTk="
    );

    let out = run(h, &["logout", &reg.addr], "");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("Removing login credentials for {}", reg.addr)
    );
    assert!(docker_config(h)["auths"].get(&reg.addr).is_none());
    let out = run(h, &["logout", &reg.addr], "");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("Not logged in to {}", reg.addr)
    );
}

/// The registry refuses a wrong password (and an unknown user): one error line, no
/// `Login Succeeded`, nothing stored — and a login already stored is left as it was.
#[test]
fn wrong_password_is_refused_and_stores_nothing() {
    let (_site, reg) = registry_with_users();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let refused = |user: &str, password: &str| {
        let out = run(
            h,
            &["login", "--password-stdin", "-u", user, &reg.addr],
            &format!("{password}\n"),
        );
        assert!(!out.status.success(), "{user}/{password} logged in");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("berth: error: login to"), "{stderr}");
        assert!(stderr.contains(&reg.addr), "{stderr}");
        assert!(!text(&out.stdout).contains("Login Succeeded"));
        assert!(
            !stderr.contains(password),
            "the error shows no password: {stderr}"
        );
    };

    refused("u", "wrong-password");
    refused("nobody", "s3cret-pass");
    assert!(
        !h.join("docker/config.json").exists()
            || docker_config(h)["auths"].get(&reg.addr).is_none(),
        "nothing stored"
    );
    let out = run(h, &["login", "-u", "v", "-p", "wrong-pw-1", &reg.addr], "");
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim().lines().count(),
        2,
        "the -p warning and one error"
    );

    // With a login stored, a refused one leaves it alone.
    let out = run(
        h,
        &["login", "--password-stdin", "-u", "u", &reg.addr],
        "s3cret-pass\n",
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    refused("u", "wrong-again");
    assert_eq!(
        docker_config(h)["auths"][&reg.addr]["auth"],
        "dTpzM2NyZXQtcGFzcw==",
        "the stored login is unchanged"
    );
}

#[test]
fn unreachable_registry_stores_nothing() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["login", "--password-stdin", "-u", "u", &addr],
        "pw",
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("berth: error: login to"), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(!out.stdout.windows(5).any(|w| w == b"Login"));
    assert!(!home.path().join("docker/config.json").exists());
}

#[test]
fn refuses_interactive_login_without_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["login", "-u", "u", "127.0.0.1:1"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot perform an interactive login from a non TTY device"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        home.path(),
        &["login", "--password-stdin", "127.0.0.1:1"],
        "pw",
    );
    assert!(text(&out.stderr).contains("Must provide --username with --password-stdin"));
    assert!(!home.path().join("docker/config.json").exists());
}

#[test]
fn docker_hub_names_are_one_registry() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let doc = r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}, "psFormat": "x"}"#;
    std::fs::write(dir.join("config.json"), doc).unwrap();
    let out = run(home.path(), &["logout", "index.docker.io"], "");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "Removing login credentials for https://index.docker.io/v1/"
    );
    let doc = docker_config(home.path());
    assert_eq!(doc["auths"].as_object().unwrap().len(), 0);
    assert_eq!(doc["psFormat"], "x");
    let out = run(home.path(), &["logout"], "");
    assert_eq!(
        text(&out.stdout).trim(),
        "Not logged in to https://index.docker.io/v1/"
    );
}
