//! `berth run` (and `berth create`, once berth has it) takes every flag of the docker CLI's
//! `docker run` (`docker create`) that means something on Linux: the long flags of
//! `docker run --help` must all be in `berth run --help`, except those listed below with the
//! reason berth leaves them out.

use std::process::Command;

/// Docker flags berth does not take, each with its reason: Windows-only flags, and features
/// berth does not have.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    ("--cpu-count", "Windows only"),
    ("--cpu-percent", "Windows only"),
    ("--io-maxbandwidth", "Windows only"),
    ("--io-maxiops", "Windows only"),
    ("--isolation", "Windows only (process or Hyper-V isolation)"),
    (
        "--gpus",
        "berth has no GPU support (no NVIDIA container toolkit hook)",
    ),
    (
        "--kernel-memory",
        "deprecated by Docker; cgroup v2 has no separate kernel memory limit",
    ),
    (
        "--cpu-rt-period",
        "needs the real-time CPU cgroup controller, which cgroup v2 does not have",
    ),
    (
        "--cpu-rt-runtime",
        "needs the real-time CPU cgroup controller, which cgroup v2 does not have",
    ),
    (
        "--disable-content-trust",
        "Docker Content Trust is Notary v1 image signing, which berth does not implement",
    ),
];

/// The long flags of an option list as the docker CLI and clap print them: lines indented at
/// most 6 spaces that start with `--flag` or `-f, --flag` (deeper lines continue a
/// description).
fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .lines()
        .filter(|l| l.len() - l.trim_start().len() <= 6)
        .filter_map(|l| {
            let l = l.trim_start();
            let l = match l.as_bytes() {
                [b'-', c, b',', b' ', ..] if *c != b'-' => &l[4..],
                _ => l,
            };
            let name = l.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(name.len());
            (end > 0).then(|| format!("--{}", &name[..end]))
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// `program args…`'s stdout, if it ran and succeeded.
fn help(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("DOCKER_CLI_HINTS", "false")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Docker's flags for `command` that berth's `help` lacks and the list does not excuse.
fn missing(docker: &[String], berth: &[String]) -> Vec<String> {
    docker
        .iter()
        .filter(|f| !berth.contains(f))
        .filter(|f| !NOT_APPLICABLE.iter().any(|(n, _)| n == f))
        .cloned()
        .collect()
}

#[test]
fn run_and_create_take_every_linux_docker_flag() {
    let Some(version) = help("docker", &["--version"]) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the docker CLI is not installed, but .ci/run should have installed it");
        }
        eprintln!("skipping: the docker CLI is not installed");
        return;
    };
    eprintln!("comparing with {}", version.trim());
    let berth = env!("CARGO_BIN_EXE_berth");
    for command in ["run", "create"] {
        let docker = long_flags(
            &help("docker", &[command, "--help"])
                .unwrap_or_else(|| panic!("docker {command} --help failed")),
        );
        assert!(
            docker.len() > 80 && docker.contains(&"--publish".to_string()),
            "docker {command} --help did not list its flags as expected: {docker:?}"
        );
        for (flag, reason) in NOT_APPLICABLE {
            assert!(
                docker.contains(&flag.to_string()),
                "{flag} ({reason}) is no longer a docker {command} flag: drop it from the list"
            );
        }
        let Some(ours) = help(berth, &[command, "--help"]) else {
            assert_ne!(command, "run", "berth run --help failed");
            eprintln!("skipping berth {command}: berth has no `{command}` command yet");
            continue;
        };
        let ours = long_flags(&ours);
        let missing = missing(&docker, &ours);
        assert!(
            missing.is_empty(),
            "berth {command} lacks these docker {command} flags: {}",
            missing.join(" ")
        );
    }
}

#[test]
fn long_flags_are_read_from_both_help_formats() {
    let docker = "Options:\n      --add-host list                    Add a custom host-to-IP \
                  mapping\n                                         (host:ip)\n  -a, --attach \
                  list                      Attach to STDIN\n  -h, --hostname string     \
                  Container host name\n                                         '--not-a-flag'\n";
    assert_eq!(long_flags(docker), ["--add-host", "--attach", "--hostname"]);
    let clap = "Options:\n  -l, --label <KEY=VALUE>\n          Set a label\n      \
                --sig-proxy[=<SIG_PROXY>]\n          Pass signals (`--sig-proxy=false`)\n  \
                -P, --publish-all\n  -h, --help\n";
    assert_eq!(
        long_flags(clap),
        ["--help", "--label", "--publish-all", "--sig-proxy"]
    );
    assert_eq!(
        missing(
            &["--gpus".into(), "--label".into(), "--pull".into()],
            &["--label".into()]
        ),
        ["--pull"]
    );
}
