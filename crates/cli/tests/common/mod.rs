//! Shared harness for berth's end-to-end tests: starts the real `berth` binary as a registry on a
//! free loopback port with a fresh data root, and finds the peer tools installed by `.ci/run`.
#![allow(dead_code)]

pub mod auth;
pub mod containers;
pub mod terminal;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of the berth binary under test.
pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// A `berth` command with a clean environment for logging.
pub fn berth() -> Command {
    let mut c = Command::new(berth_bin());
    c.env_remove("RUST_LOG");
    c
}

/// Whether an external tool is on PATH. In CI (`CI` set) a missing tool is a test failure, since
/// `.ci/run` installs every peer; elsewhere the calling test is skipped with a message.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is not installed, but .ci/run should have installed it");
        }
        eprintln!("skipping: {name} is not installed");
    }
    found
}

/// A running `berth registry serve` process.
pub struct Registry {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The data root (`--root`).
    pub root: PathBuf,
    /// Where the server's stderr (its logs) goes.
    pub log: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Registry {
    /// Start a registry on a fresh temporary data root.
    pub fn start() -> Registry {
        Self::start_args(&[])
    }

    /// Start a registry on a fresh temporary data root with extra `registry serve` arguments.
    pub fn start_args(extra: &[&str]) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        let mut r = Self::start_at(&root, "127.0.0.1:0", extra);
        r.dir = Some(dir);
        r
    }

    /// Start a registry on `root` (kept across restarts) listening on `addr`.
    pub fn start_at(root: &Path, addr: &str, extra: &[&str]) -> Registry {
        let log = root.with_extension(format!("log.{}", std::process::id()));
        std::fs::create_dir_all(root.parent().unwrap()).unwrap();
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = berth()
            .args(["registry", "serve", "--addr", addr, "--root"])
            .arg(root)
            .args(extra)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(logfile)
            .spawn()
            .expect("spawn berth registry serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
        });
        let prefix = "berth registry listening on ";
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        break rest.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let logs = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!("registry did not start; its log:\n{logs}");
                }
            }
        };
        let addr = url.split("://").nth(1).unwrap().to_string();
        Registry {
            child: Some(child),
            url,
            addr,
            root: root.to_path_buf(),
            log,
            dir: None,
        }
    }

    /// Full URL of a path such as `/v2/`.
    pub fn u(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// SIGKILL the server and wait for it (a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the server and wait for it to exit; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        Some(c.wait().expect("wait"))
    }

    /// Server process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Take ownership of the temporary directory so it outlives this server (for restarts).
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self.dir.take()
    }

    /// The server's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// `sha512:<hex>` of `data`.
pub fn sha512(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

/// A blocking HTTP client that never follows redirects (so `Location` can be checked).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// A running CNCF Distribution (Debian's `docker-registry`) on a free loopback port.
pub struct Distribution {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Its log file.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Start one with a config of our own (filesystem storage, delete enabled, no auth).
    pub fn start() -> Distribution {
        Self::launch(None)
    }

    /// Start one that demands Basic auth against this one htpasswd line (bcrypt).
    pub fn start_with_htpasswd(line: &str) -> Distribution {
        Self::launch(Some(line))
    }

    fn launch(htpasswd: Option<&str>) -> Distribution {
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            let mut yaml = format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            );
            if let Some(line) = htpasswd {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{line}\n")).unwrap();
                yaml.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                ));
            }
            std::fs::write(&config, yaml).unwrap();
            let log = dir.path().join("registry.log");
            let logfile = std::fs::File::create(&log).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(logfile.try_clone().unwrap())
                .stderr(logfile)
                .spawn()
                .expect("spawn docker-registry");
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let ok = client()
                    .get(format!("http://{addr}/v2/"))
                    .send()
                    .map(|r| r.status() == 200 || (htpasswd.is_some() && r.status() == 401))
                    .unwrap_or(false);
                if ok {
                    return Distribution {
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
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An isolated berth client environment: its own data root, client config (an empty file), XDG
/// and Docker config directories, with `registry` as the default registry.
pub struct Env {
    /// Holds everything; removed on drop.
    pub dir: tempfile::TempDir,
    /// The default registry (`BERTH_DEFAULT_REGISTRY`).
    pub registry: String,
}

impl Env {
    /// A fresh environment whose unqualified names resolve to `registry`.
    pub fn new(registry: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "").unwrap();
        Env {
            dir,
            registry: registry.to_string(),
        }
    }

    /// The data root (`BERTH_ROOT`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path inside the environment's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Docker's credential file as berth writes it.
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker/config.json")
    }

    /// The environment berth runs with, for data root `root`.
    pub fn vars(&self, root: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
        let d = self.dir.path();
        vec![
            ("BERTH_ROOT", root.into()),
            ("BERTH_DEFAULT_REGISTRY", self.registry.clone().into()),
            ("BERTH_CONFIG", d.join("config.toml").into()),
            ("XDG_CONFIG_HOME", d.join("xdg").into()),
            ("DOCKER_CONFIG", d.join("docker").into()),
        ]
    }

    /// `berth ARGS` with data root `root`.
    pub fn cmd_at(&self, root: &Path, args: &[&str]) -> Command {
        let mut c = berth();
        c.args(args)
            .envs(self.vars(root))
            .env_remove("BERTH_INSECURE_REGISTRIES");
        c
    }

    /// `berth ARGS` in this environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_at(&self.root(), args)
    }

    /// Run with data root `root` and no stdin.
    pub fn run_at(&self, root: &Path, args: &[&str]) -> std::process::Output {
        self.cmd_at(root, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Run with no stdin.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_at(&self.root(), args)
    }

    /// Run with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: impl AsRef<[u8]>) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.as_ref().to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    /// Run with data root `root`; it must succeed; returns stdout.
    pub fn ok_at(&self, root: &Path, args: &[&str]) -> String {
        check_ok(args, self.run_at(root, args))
    }

    /// Run; it must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        check_ok(args, self.run(args))
    }

    /// Run with `input` on stdin; it must succeed; returns stdout.
    pub fn ok_stdin(&self, args: &[&str], input: impl AsRef<[u8]>) -> String {
        check_ok(args, self.run_stdin(args, input))
    }

    /// `berth inspect IMAGE`'s one object.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", image])).unwrap();
        v[0].clone()
    }

    /// A blob of the local store.
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        std::fs::read(self.root().join("images/v1/blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("{digest} is not in the local store: {e}"))
    }
}

/// `out` of `berth ARGS` must be a success; returns its stdout.
pub fn check_ok(args: &[&str], out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
