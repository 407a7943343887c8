//! Helpers for access-control tests (issue 9): a registry data root administered with
//! `berth registry user|grant|token …` before and while `berth registry serve` runs on it, real
//! peers (skopeo, podman, Distribution) with credentials isolated in a temporary directory, a
//! small offline test image, and a check that no secret shows in a log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Registry, berth, client};

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Standard base64 (for `Authorization: Basic` and Docker's `auth` field).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Run `c` with `input` on stdin (none when `None`), under a 10-minute `timeout`.
pub fn run_with(c: &mut Command, input: Option<&str>) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        // A refusing program may exit without reading: a broken pipe is fine.
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().unwrap()
}

/// `prog` under `timeout`, so a stuck peer fails the test instead of hanging the suite.
pub fn timed(prog: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "10", "600", prog]);
    c
}

/// Run; it must succeed; returns stdout. `ctx` (e.g. a server log) is shown on failure.
pub fn must(c: &mut Command, input: Option<&str>, ctx: &str) -> String {
    let out = run_with(c, input);
    assert!(
        out.status.success(),
        "command failed ({}): {c:?}\n--- stdout\n{}\n--- stderr\n{}\n--- context\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr),
        tail(ctx, 40)
    );
    text(&out.stdout)
}

/// Run; it must fail; returns stdout + stderr.
pub fn must_fail(c: &mut Command, input: Option<&str>) -> String {
    let out = run_with(c, input);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{c:?} should have failed:\n{all}");
    all
}

pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A registry data root to administer and serve, in its own temporary directory, with an
/// audit JSON-lines file next to it and, optionally, a TOML config given to every command.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    /// The `--audit-log` file `serve` writes.
    pub audit_file: PathBuf,
    /// `--config FILE`, for `serve` and the administrative commands alike.
    pub config: Option<PathBuf>,
}

/// A robot token as `token create --json` printed it.
pub struct Robot {
    pub id: String,
    pub user: String,
    pub secret: String,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::Builder::new()
            .prefix("berth-auth-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("data");
        let audit_file = dir.path().join("audit.jsonl");
        Site {
            dir,
            root,
            audit_file,
            config: None,
        }
    }

    /// A site whose commands all take `--config` with this TOML text.
    pub fn with_config(toml: &str) -> Site {
        let mut s = Site::new();
        let path = s.dir.path().join("registry.toml");
        std::fs::write(&path, toml).unwrap();
        s.config = Some(path);
        s
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `berth registry ARGS --root ROOT [--config FILE]`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth();
        c.arg("registry").args(args).arg("--root").arg(&self.root);
        if let Some(cfg) = &self.config {
            c.arg("--config").arg(cfg);
        }
        c
    }

    /// Run `berth registry ARGS`; it must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        must(&mut self.cmd(args), None, "")
    }

    /// `berth registry user add NAME --password-stdin [--admin]`.
    pub fn add_user(&self, name: &str, password: &str, admin: bool) {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let out = must(&mut self.cmd(&args), Some(&format!("{password}\n")), "");
        assert!(out.contains(name), "{out}");
    }

    /// `berth registry grant SUBJECT ROLE SCOPE`.
    pub fn grant(&self, subject: &str, role: &str, scope: &str) {
        let out = self.ok(&["grant", subject, role, scope]);
        assert!(out.contains("Granted"), "{out}");
    }

    /// `berth registry token create --user USER --name NAME --scope S… --json`.
    pub fn robot(&self, user: &str, name: &str, scopes: &[&str]) -> Robot {
        let mut args = vec!["token", "create", "--user", user, "--name", name, "--json"];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let v: serde_json::Value = serde_json::from_str(&self.ok(&args)).unwrap();
        let robot = Robot {
            id: v["id"].as_str().expect("id").to_string(),
            user: v["user"].as_str().expect("user").to_string(),
            secret: v["token"].as_str().expect("token").to_string(),
        };
        assert_eq!(robot.user, user);
        assert!(
            robot.secret.starts_with(&format!("berth_{}_", robot.id)),
            "{}",
            robot.secret
        );
        robot
    }

    /// Serve the root on a free loopback port with `--audit-log` (and `--config`) and `extra`.
    pub fn serve(&self, extra: &[&str]) -> Registry {
        let mut args = vec!["--audit-log", p(&self.audit_file)];
        if let Some(cfg) = &self.config {
            args.extend(["--config", p(cfg)]);
        }
        args.extend_from_slice(extra);
        Registry::start_at(&self.root, "127.0.0.1:0", &args)
    }

    /// `berth registry audit --json`, one object per line.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        json_lines(&self.ok(&["audit", "--json"]))
    }

    /// Panics if a secret shows in the server's log, the `--audit-log` file or `berth registry
    /// audit` (JSON and table).
    pub fn assert_no_secrets(&self, reg: &Registry, secrets: &[(&str, &str)]) {
        assert_no_secrets("the server log", &reg.logs(), secrets);
        let file = std::fs::read_to_string(&self.audit_file).unwrap_or_default();
        assert!(
            !file.is_empty(),
            "serve wrote audit records to {}",
            self.audit_file.display()
        );
        assert_no_secrets("the --audit-log file", &file, secrets);
        assert_no_secrets(
            "berth registry audit --json",
            &self.ok(&["audit", "--json"]),
            secrets,
        );
        assert_no_secrets("berth registry audit", &self.ok(&["audit"]), secrets);
    }

    /// The audit JSON-lines file `serve` wrote.
    pub fn audit_file_records(&self) -> Vec<serde_json::Value> {
        json_lines(&std::fs::read_to_string(&self.audit_file).unwrap_or_default())
    }
}

pub fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
        .collect()
}

/// Whether some record has this action, success, actor, repository (`None`: any) and a client
/// address.
pub fn has_record(
    records: &[serde_json::Value],
    action: &str,
    success: bool,
    actor: Option<&str>,
    repo: Option<&str>,
) -> bool {
    records.iter().any(|r| {
        r["action"] == action
            && r["success"] == success
            && actor.is_none_or(|a| r["actor"] == a)
            && repo.is_none_or(|x| r["repo"] == x)
            && r["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1"))
    })
}

/// Panics if any secret (as such, or as base64 of `user:secret`, or as the secret part of a
/// robot token) appears in `what`.
pub fn assert_no_secrets(label: &str, what: &str, secrets: &[(&str, &str)]) {
    for (user, secret) in secrets {
        let mut needles = vec![
            secret.to_string(),
            base64(format!("{user}:{secret}").as_bytes()),
        ];
        // A robot token `berth_<id>_<secret>`: its secret part alone.
        if let Some(rest) = secret.strip_prefix("berth_")
            && let Some((_, s)) = rest.split_once('_')
        {
            needles.push(s.to_string());
        }
        for n in needles {
            if let Some(line) = what.lines().find(|l| l.contains(&n)) {
                panic!("{label} shows a secret of {user} ({n:?}): {line}");
            }
        }
    }
    for hash_prefix in ["$argon2id$", "$2y$", "$2b$"] {
        if let Some(line) = what.lines().find(|l| l.contains(hash_prefix)) {
            panic!("{label} shows a password hash: {line}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Peers with private credential stores.

/// A client-side directory for peers: auth files and configs that no other test shares.
pub struct Peers {
    pub dir: tempfile::TempDir,
}

impl Peers {
    pub fn new() -> Peers {
        Peers {
            dir: tempfile::Builder::new()
                .prefix("berth-peer-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `skopeo --insecure-policy` with a private (empty) auth file.
    pub fn skopeo(&self, args: &[&str]) -> Command {
        let mut c = timed("skopeo");
        c.env("REGISTRY_AUTH_FILE", self.path("skopeo-auth.json"))
            .env("DOCKER_CONFIG", self.path("skopeo-docker"))
            .arg("--insecure-policy")
            .args(args);
        c
    }
}

/// Whether all these tools are installed (under CI a missing one fails the test).
pub fn have(tools: &[&str]) -> bool {
    let mut all = true;
    for t in tools {
        all &= super::require_tool(t);
    }
    all &= if Path::new("/bin/busybox").exists() {
        true
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "/bin/busybox (busybox-static) is not installed, but .ci/run should have installed it"
        );
    } else {
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
        false
    };
    all
}

/// A one-layer busybox-static image built offline with umoci: returns `oci:LAYOUT:TAG`.
pub fn busybox_image(dir: &Path, tag: &str) -> String {
    let work = dir.join(format!("img-{tag}"));
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(rootfs.join("tag"), format!("{tag}\n")).unwrap();
    let layout = dir.join("layout");
    let umoci = |args: &[&str]| {
        must(timed("umoci").args(args), None, "");
    };
    if !layout.join("index.json").exists() {
        umoci(&["init", "--layout", p(&layout)]);
    }
    let image = format!("{}:{tag}", p(&layout));
    umoci(&["new", "--image", &image]);
    umoci(&["insert", "--image", &image, p(&rootfs), "/"]);
    umoci(&[
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
    ]);
    std::fs::remove_dir_all(&work).unwrap();
    format!("oci:{image}")
}

/// A free loopback port (bound, noted, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CNCF Distribution (Debian's `docker-registry`) trusting a token server: `auth: token` with
/// this realm, service, issuer and root certificate bundle.
pub struct TokenDistribution {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenDistribution {
    pub fn start(realm: &str, service: &str, issuer: &str, cert_pem: &str) -> TokenDistribution {
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let addr = format!("127.0.0.1:{}", free_port());
            let bundle = dir.path().join("berth-token.crt");
            std::fs::write(&bundle, cert_pem).unwrap();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: debug\nstorage:\n  filesystem:\n    \
                     rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n\
                     auth:\n  token:\n    realm: {realm}\n    service: {service}\n    \
                     issuer: {issuer}\n    rootcertbundle: {}\n",
                    dir.path().join("data").display(),
                    bundle.display()
                ),
            )
            .unwrap();
            let log = dir.path().join("registry.log");
            let logfile = std::fs::File::create(&log).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(logfile.try_clone().unwrap())
                .stderr(logfile)
                .spawn()
                .expect("spawn docker-registry");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let challenge = client()
                    .get(format!("http://{addr}/v2/"))
                    .send()
                    .ok()
                    .filter(|r| r.status() == 401)
                    .and_then(|r| {
                        r.headers()
                            .get("www-authenticate")
                            .map(|v| v.to_str().unwrap().to_string())
                    });
                if let Some(c) = challenge {
                    assert!(c.starts_with("Bearer "), "Distribution's challenge: {c}");
                    return TokenDistribution {
                        child,
                        addr,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("docker-registry did not start; last log:\n{last}");
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TokenDistribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private dockerd (its own data root, exec root, pid file and socket under a short /tmp
/// path; no iptables or bridge); stopped on drop, even when the test panics.
pub struct Dockerd {
    child: Child,
    socket: String,
    dir: tempfile::TempDir,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("bda")
            .tempdir_in("/tmp")
            .unwrap();
        let q = |n: &str| dir.path().join(n).display().to_string();
        let socket = q("s");
        let child = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=overlay2",
            ])
            .args(["--data-root", &q("d"), "--exec-root", &q("e")])
            .args(["--pidfile", &q("pid"), "-H", &format!("unix://{socket}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(q("log")).unwrap())
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd { child, socket, dir };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let out = run_with(
                &mut d.docker(&["info", "--format", "{{.ServerVersion}}"]),
                None,
            );
            if out.status.success() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("dockerd did not start:\n{}", tail(&d.logs(), 40));
    }

    /// `docker ARGS` against this daemon, with a private client config directory.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut c = timed("docker");
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket))
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"));
        c
    }

    /// Run `docker ARGS`: its output.
    pub fn output(&self, args: &[&str]) -> Output {
        self.docker(args).output().expect("run docker")
    }

    /// Run `docker ARGS`, which must succeed: its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
