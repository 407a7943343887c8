//! The credential store against real files: Docker's `config.json` format, credential helpers
//! (a fake `docker-credential-berthtest` script), and the installed `docker` CLI when present.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use berth_client::Error;
use berth_client::credentials::{Credential, CredentialStore, DOCKER_HUB_KEY};
use serde_json::{Value, json};

fn cred(user: &str, secret: &str) -> Credential {
    Credential {
        username: user.into(),
        secret: secret.into(),
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn round_trip_creates_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/.docker/config.json");
    let store = CredentialStore::at(path.clone());
    assert_eq!(store.get("reg.io:5000").unwrap(), None);
    assert!(!store.erase("reg.io:5000").unwrap());
    assert!(!path.exists(), "get and erase must not create the file");

    store.store("reg.io:5000", &cred("alice", "pa:ss")).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    // base64("alice:pa:ss"), under the bare host:port key.
    let doc = read_json(&path);
    assert_eq!(doc["auths"]["reg.io:5000"]["auth"], "YWxpY2U6cGE6c3M=");
    assert_eq!(
        store.get("reg.io:5000").unwrap(),
        Some(cred("alice", "pa:ss"))
    );
    assert_eq!(store.get("reg.io").unwrap(), None);

    store.store("reg.io:5000", &cred("bob", "new")).unwrap();
    assert_eq!(store.get("reg.io:5000").unwrap(), Some(cred("bob", "new")));
    assert!(store.erase("reg.io:5000").unwrap());
    assert_eq!(store.get("reg.io:5000").unwrap(), None);
    assert!(!store.erase("reg.io:5000").unwrap());
    assert_eq!(mode(&path), 0o600);
    // No temporary files are left behind.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn other_keys_are_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let original = json!({
        "auths": {"other.io": {"auth": "dTpw", "email": "u@example.com"}},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "currentContext": "remote",
        "plugins": {"x": {"k": [1, 2, {"deep": null}]}}
    });
    std::fs::write(&path, original.to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = CredentialStore::at(path.clone());
    store.store("reg.io", &cred("u", "p")).unwrap();
    store.store("tok.io", &cred("<token>", "refresh")).unwrap();

    let mut doc = read_json(&path);
    assert_eq!(mode(&path), 0o600, "credential files are kept private");
    assert_eq!(doc["auths"]["tok.io"], json!({"identitytoken": "refresh"}));
    let token = store.get("tok.io").unwrap().unwrap();
    assert!(token.is_identity_token() && token.secret == "refresh");
    let auths = doc["auths"].as_object_mut().unwrap();
    auths.remove("reg.io").unwrap();
    auths.remove("tok.io").unwrap();
    assert_eq!(doc, original);
    assert!(store.erase("reg.io").unwrap());
    let mut doc = read_json(&path);
    doc["auths"].as_object_mut().unwrap().remove("tok.io");
    assert_eq!(doc, original);
}

#[test]
fn docker_hub_and_url_form_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = CredentialStore::at(path.clone());
    store
        .store("docker.io", &cred("hubuser", "hubpass"))
        .unwrap();
    let doc = read_json(&path);
    assert_eq!(doc["auths"].as_object().unwrap().len(), 1);
    assert!(doc["auths"][DOCKER_HUB_KEY]["auth"].is_string());
    for alias in [
        "docker.io",
        "index.docker.io",
        "https://index.docker.io/v1/",
    ] {
        assert_eq!(store.get(alias).unwrap(), Some(cred("hubuser", "hubpass")));
    }

    std::fs::write(
        &path,
        json!({"auths": {
            "https://reg.io/": {"auth": "YTpi"},
            "http://reg2.io:5000": {"username": "c", "password": "d"},
            "https://reg2.io:5000/v2/": {"auth": "eDp5"},
            "docker.io": {"auth": "aDpo"}
        }})
        .to_string(),
    )
    .unwrap();
    assert_eq!(store.get("reg.io").unwrap(), Some(cred("a", "b")));
    assert!(store.get("reg2.io:5000").unwrap().is_some());
    assert_eq!(store.get("docker.io").unwrap(), Some(cred("h", "h")));
    // Storing replaces every other spelling of the registry with the canonical key.
    store.store("reg.io", &cred("new", "pw")).unwrap();
    let doc = read_json(&path);
    assert!(doc["auths"].get("https://reg.io/").is_none());
    assert_eq!(
        store.get("https://reg.io").unwrap(),
        Some(cred("new", "pw"))
    );
    // Erasing removes every spelling.
    assert!(store.erase("reg2.io:5000").unwrap());
    let doc = read_json(&path);
    let keys: Vec<&String> = doc["auths"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["docker.io", "reg.io"]);
}

#[test]
fn invalid_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, "{not json").unwrap();
    let store = CredentialStore::at(path.clone());
    let e = store.get("reg.io").unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(store.store("reg.io", &cred("u", "p")).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");

    std::fs::write(&path, r#"{"auths": {"reg.io": {"auth": "???"}}}"#).unwrap();
    let e = store.get("reg.io").unwrap_err().to_string();
    assert!(e.contains("reg.io") && e.contains("auth"), "{e}");
    // An empty file counts as an empty config, as in Docker.
    std::fs::write(&path, "").unwrap();
    assert_eq!(store.get("reg.io").unwrap(), None);
}

#[test]
fn writes_go_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, "{}").unwrap();
    let link = dir.path().join("config.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    CredentialStore::at(link.clone())
        .store("reg.io", &cred("u", "p"))
        .unwrap();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(read_json(&real)["auths"]["reg.io"]["auth"].is_string());
}

/// A helper that keeps one credential in `store.json` beside itself and logs its verbs.
const HELPER: &str = r#"#!/bin/sh
d=$(dirname "$0")
input=$(cat)
echo "$1 $input" >> "$d/calls.log"
case "$1" in
get)
    if [ -f "$d/store.json" ] && grep -qF "\"ServerURL\":\"$input\"" "$d/store.json"; then
        cat "$d/store.json"
    else
        echo "credentials not found in native keychain"; exit 1
    fi ;;
store) printf '%s' "$input" > "$d/store.json" ;;
erase)
    if [ -f "$d/store.json" ]; then rm "$d/store.json"
    else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown verb"; exit 1 ;;
esac
"#;

#[test]
fn credential_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, HELPER).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let broken = bin.join("docker-credential-broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'keychain locked'\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();

    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        json!({"credHelpers": {"reg.io": "berthtest"}, "auths": {"plain.io": {"auth": "dTpw"}}})
            .to_string(),
    )
    .unwrap();
    let store = CredentialStore::at(path.clone()).with_helper_dir(bin.clone());
    assert_eq!(
        store.helper_for("reg.io").unwrap().as_deref(),
        Some("berthtest")
    );
    assert_eq!(store.helper_for("plain.io").unwrap(), None);

    assert_eq!(
        store.get("reg.io").unwrap(),
        None,
        "not found means no login"
    );
    store.store("reg.io", &cred("alice", "s3cret")).unwrap();
    let saved = read_json(&bin.join("store.json"));
    assert_eq!(
        saved,
        json!({"ServerURL": "reg.io", "Username": "alice", "Secret": "s3cret"})
    );
    // The file keeps an empty entry, as Docker does, and never the secret.
    let doc = read_json(&path);
    assert_eq!(doc["auths"]["reg.io"], json!({}));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));
    assert_eq!(store.get("reg.io").unwrap(), Some(cred("alice", "s3cret")));
    // Registries without a helper still use the file.
    assert_eq!(store.get("plain.io").unwrap(), Some(cred("u", "p")));

    assert!(store.erase("reg.io").unwrap());
    assert!(!bin.join("store.json").exists());
    assert!(read_json(&path)["auths"].get("reg.io").is_none());
    assert!(!store.erase("reg.io").unwrap());
    let calls = std::fs::read_to_string(bin.join("calls.log")).unwrap();
    let verbs: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(verbs, ["get", "store", "get", "erase", "erase"]);

    // credsStore applies to every registry without its own helper; failures name the helper.
    std::fs::write(&path, json!({"credsStore": "broken"}).to_string()).unwrap();
    match store.get("any.io").unwrap_err() {
        Error::CredentialHelper { helper, reason } => {
            assert_eq!(helper, "broken");
            assert!(reason.contains("keychain locked"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    std::fs::write(&path, json!({"credsStore": "absent"}).to_string()).unwrap();
    let e = store.get("any.io").unwrap_err().to_string();
    assert!(e.contains("docker-credential-absent"), "{e}");
}

/// Files berth writes are read by the installed Docker CLI: it parses them without complaint
/// (`context ls` needs no daemon), and `docker logout` finds and removes berth's keys.
#[test]
fn docker_cli_reads_our_file() {
    let found = Command::new("docker").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipping: docker CLI not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = CredentialStore::at(path.clone());
    store
        .store("127.0.0.1:5999", &cred("alice", "s3cret"))
        .unwrap();
    store.store("docker.io", &cred("hub", "pw")).unwrap();
    store.store("keep.io", &cred("k", "v")).unwrap();

    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .arg("--config")
            .arg(dir.path())
            .args(args)
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("WARNING"), "docker {args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    docker(&["context", "ls"]);
    let out = docker(&["logout", "127.0.0.1:5999"]);
    assert!(
        out.contains("Removing login credentials for 127.0.0.1:5999"),
        "{out}"
    );
    docker(&["logout"]);
    // Docker rewrote the file; berth reads what it wrote.
    assert_eq!(store.get("127.0.0.1:5999").unwrap(), None);
    assert_eq!(store.get("docker.io").unwrap(), None);
    assert_eq!(store.get("keep.io").unwrap(), Some(cred("k", "v")));
}
