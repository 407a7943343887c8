//! `berth build` end to end, as root and offline, on a busybox base image (`bb:1`): a corpus of
//! Dockerfiles covering every instruction and flag (`build/corpus.rs`), checked through `berth
//! inspect`, the saved image's file tree and `berth run`; the build cache; `--target`;
//! reproducible builds; bad Dockerfiles; a context on stdin; and the same corpus built by
//! buildah, compared.

#[path = "build/buildah.rs"]
mod buildah;
mod common;
#[path = "build/corpus.rs"]
mod corpus;
#[path = "build/tree.rs"]
mod tree;
use tree::{absent, meta, node, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Env;
use common::containers::{busybox, needs_busybox};
use corpus::Case;
use serde_json::{Value, json};
use tree::Tree;

/// A fresh environment with `bb:1`, or `None` when the test must be skipped.
fn setup() -> Option<Env> {
    if !needs_busybox() {
        return None;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    Some(env)
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `berth build ARGS CONTEXT`.
fn build(env: &Env, context: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    env.run(&all)
}

/// Build `case` (its context written to `<env>/ctx-NAME`) as `NAME:1`; returns the image id
/// and the progress output.
fn build_case(env: &Env, case: &Case, extra: &[&str]) -> (String, String) {
    let dir = env.path(&format!("ctx-{}", case.name));
    if !dir.exists() {
        case.write(&dir);
    }
    let tag = format!("{}:1", case.name);
    let flags = case.arg_flags();
    let mut args: Vec<&str> = vec!["-t", &tag];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let out = build(env, &dir, &args);
    assert!(
        out.status.success(),
        "build of {} failed: {}",
        case.name,
        stderr(&out)
    );
    let err = stderr(&out);
    (image_id(env, &tag), err)
}

fn image_id(env: &Env, image: &str) -> String {
    env.inspect(image)["Id"].as_str().unwrap().to_string()
}

/// The image's config (`config` of the OCI config) as `berth inspect` shows it.
fn config(env: &Env, image: &str) -> Value {
    env.inspect(image)["Config"].clone()
}

/// The image's OCI config and root file system, from `berth save --format oci`.
fn image_tree(env: &Env, image: &str) -> (Value, Tree) {
    let file = env.path(&format!("{}.oci.tar", image.replace([':', '/'], "-")));
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        file.to_str().unwrap(),
        image,
    ]);
    tree::read_oci_archive(&std::fs::read(&file).unwrap())
}

/// `sh -c SCRIPT` in a throwaway container of `image`; returns its stdout.
fn sh(env: &Env, image: &str, script: &str) -> String {
    env.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        image,
        "/bin/sh",
        "-c",
        script,
    ])
}

/// The environment list of a config as a name → value map.
fn env_map(cfg: &Value) -> std::collections::BTreeMap<String, String> {
    cfg["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.as_str()?
                .split_once('=')
                .map(|(k, v)| (k.into(), v.into()))
        })
        .collect()
}

/// The OCI architecture of `bb:1` (the host's).
fn arch(env: &Env) -> String {
    env.inspect("bb:1")["Architecture"]
        .as_str()
        .unwrap()
        .to_string()
}

/// No overlay or bind mount of a build is left under the environment's root.
fn assert_no_mounts(env: &Env) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = env.root();
    let left: Vec<&str> = info
        .lines()
        .filter(|l| l.contains(root.to_str().unwrap()))
        .collect();
    assert!(left.is_empty(), "mounts left behind: {left:#?}");
}

#[test]
fn corpus_syntax_directives_substitution_and_args() {
    let Some(env) = setup() else { return };
    build_case(&env, &corpus::SYNTAX, &[]);
    let cfg = config(&env, "syntax:1");
    let vars = env_map(&cfg);
    assert_eq!(vars["A"], "one");
    assert_eq!(vars["B"], "two words");
    // With the backtick escape, a backslash is an ordinary character.
    assert_eq!(vars["C"], "c\\d");
    assert_eq!(vars["D"], "one-two words");
    // ARGs are not kept in the image.
    for arg in ["GLOBAL", "OVERRIDDEN", "LOCAL", "TARGETARCH"] {
        assert!(!vars.contains_key(arg), "{arg} leaked into Env: {cfg}");
    }
    let labels = &cfg["Labels"];
    assert_eq!(labels["sub.default"], "dflt");
    assert_eq!(labels["sub.set"], "one");
    assert_eq!(labels["sub.alt"], "alt");
    assert_eq!(labels["sub.altunset"], "");
    assert_eq!(labels["arch"], json!(arch(&env)));
    assert_eq!(labels["global"], "global-default");
    assert_eq!(labels["literal"], "$A");
    assert_eq!(cfg["WorkingDir"], "/w/one");
    let (_, t) = image_tree(&env, "syntax:1");
    assert_eq!(text(&t, "/a.txt"), "one\n");
    assert_eq!(text(&t, "/b.txt"), "two words\n");
    assert_eq!(text(&t, "/c.txt"), "c\\d\n");
    assert_eq!(text(&t, "/exec.txt"), "exec-one\n");
    assert_eq!(
        text(&t, "/args.txt"),
        format!(
            "linux/{} global-default from-cli local-global-default\n",
            arch(&env)
        )
    );
    assert_eq!(node(&t, "/w/one").kind, 'd');
}

#[test]
fn corpus_heredocs() {
    let Some(env) = setup() else { return };
    build_case(&env, &corpus::HEREDOC, &[]);
    let (_, t) = image_tree(&env, "heredoc:1");
    assert_eq!(text(&t, "/run-heredoc.txt"), "hello world\nsecond\n");
    assert_eq!(text(&t, "/tabs.txt"), "tabs-stripped\n");
    assert_eq!(text(&t, "/copied.txt"), "hello world\n");
    assert_eq!(text(&t, "/quoted.txt"), "literal $NAME\n");
    assert_eq!(meta(&t, "/script.sh"), (0o755, 0, 0));
    assert_eq!(
        config(&env, "heredoc:1")["Cmd"],
        json!(["/bin/sh", "-c", "echo \"$NAME\""])
    );
    assert_eq!(env.ok(&["run", "--rm", "heredoc:1"]), "world\n");
    assert_eq!(sh(&env, "heredoc:1", "/script.sh"), "script\n");
}

#[test]
fn corpus_config_instructions() {
    let Some(env) = setup() else { return };
    build_case(&env, &corpus::CONFIG, &[]);
    let full = env.inspect("config:1");
    assert_eq!(full["Author"], "Someone <someone@example.com>");
    let cfg = &full["Config"];
    assert_eq!(cfg["Entrypoint"], json!(["/bin/echo", "entry"]));
    // ENTRYPOINT resets the CMD inherited from the base stage.
    assert!(cfg["Cmd"].is_null(), "Cmd: {}", cfg["Cmd"]);
    let vars = env_map(cfg);
    assert_eq!(vars["FROM_BASE"], "1");
    assert_eq!(vars["E1"], "v1");
    assert_eq!(vars["E2"], "v 2");
    assert_eq!(vars["E3"], "old form value");
    assert_eq!(cfg["Labels"], json!({"l1": "replaced", "l 2": "v 2"}));
    assert_eq!(
        cfg["ExposedPorts"],
        json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
    );
    assert_eq!(cfg["WorkingDir"], "/w/sub");
    assert_eq!(
        cfg["Volumes"],
        json!({"/data": {}, "/logs": {}, "/more": {}})
    );
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(
        cfg["Healthcheck"],
        json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000u64,
               "Timeout": 2_000_000_000u64, "StartPeriod": 1_000_000_000u64, "Retries": 3})
    );
    assert_eq!(
        cfg["Shell"],
        json!(["/bin/sh", "-c", "echo \"$0\" > /shell.txt"])
    );
    assert_eq!(cfg["User"], "1000:1001");
    let (_, t) = image_tree(&env, "config:1");
    // The SHELL received the RUN line as its last argument.
    assert_eq!(
        text(&t, "/shell.txt"),
        "this text reaches the shell as its argument zero\n"
    );
    assert_eq!(meta(&t, "/w/sub"), (0o755, 0, 0));
    let out = env.ok(&["run", "--rm", "config:1"]);
    assert_eq!(out, "entry\n");
    let out = env.ok(&["run", "--rm", "config:1", "more", "words"]);
    assert_eq!(out, "entry more words\n");
}

#[test]
fn corpus_copy_add_and_dockerignore() {
    let Some(env) = setup() else { return };
    build_case(&env, &corpus::COPY, &[]);
    let (_, t) = image_tree(&env, "copy:1");
    // Globs.
    assert_eq!(text(&t, "/glob/a.txt"), "a\n");
    assert_eq!(text(&t, "/glob/b.txt"), "b\n");
    absent(&t, "/glob/c.md");
    assert_eq!(text(&t, "/glob-md"), "c\n");
    // A directory source copies its contents, with or without a trailing slash on the dest.
    for d in ["/dircontents", "/slash"] {
        assert_eq!(text(&t, &format!("{d}/top.txt")), "top\n");
        assert_eq!(meta(&t, &format!("{d}/sub/x.txt")), (0o600, 0, 0));
        absent(&t, &format!("{d}/dir"));
    }
    // A file: renamed without a slash, into the directory with one.
    assert_eq!(node(&t, "/renamed").kind, 'f');
    assert_eq!(text(&t, "/intodir/a.txt"), "a\n");
    assert_eq!(text(&t, "/several/b.txt"), "b\n");
    assert_eq!(text(&t, "/several/a.txt"), "a\n");
    // --chown/--chmod; --chown=UID alone sets the group to the same number.
    assert_eq!(meta(&t, "/owned"), (0o600, 1000, 1001));
    assert_eq!(meta(&t, "/owned-uid"), (0o644, 42, 42));
    // --from keeps the stage's owners and modes.
    assert_eq!(meta(&t, "/from-stage.txt"), (0o640, 7, 8));
    assert_eq!(text(&t, "/from-stage.txt"), "from-stage\n");
    assert_eq!(text(&t, "/from-stage-dir/deep/d.txt"), "d\n");
    assert_eq!(meta(&t, "/from-stage-dir/s.txt"), (0o640, 7, 8));
    // A local gzip tarball is extracted by ADD with its owners and modes; a file is copied.
    assert_eq!(meta(&t, "/extracted/t/one.txt"), (0o600, 123, 456));
    assert_eq!(text(&t, "/extracted/t/two/deep.txt"), "deep\n");
    assert_eq!(meta(&t, "/extracted/t/two"), (0o700, 123, 456));
    absent(&t, "/extracted/arch.tar.gz");
    assert_eq!(text(&t, "/added.txt"), "a\n");
    // Context files keep their mode and belong to root; existing directories keep theirs.
    assert_eq!(meta(&t, "/bin/exec.sh"), (0o755, 0, 0));
    assert_eq!(node(&t, "/bin/sh").kind, 'l');
    assert_eq!(text(&t, "/rel/relative.txt"), "a\n");
    // .dockerignore: `**/*.log` with one exception, a directory.
    assert_eq!(text(&t, "/keep/important.log"), "important\n");
    assert_eq!(text(&t, "/keep/notes.txt"), "notes\n");
    absent(&t, "/keep/x.log");
    absent(&t, "/keep/deep/y.log");
    absent(&t, "/ctx/ignored");
    absent(&t, "/ctx/keep/x.log");
    assert_eq!(text(&t, "/ctx/files/c.md"), "c\n");
    assert_eq!(text(&t, "/ctx/keep/important.log"), "important\n");
    assert_eq!(sh(&env, "copy:1", "exec.sh"), "exec\n");
}

#[test]
fn corpus_run_whiteouts_and_mounts() {
    let Some(env) = setup() else { return };
    build_case(&env, &corpus::RUN, &[]);
    let (_, t) = image_tree(&env, "run:1");
    // Deleted from a lower layer: gone (a whiteout), a re-created directory is opaque.
    absent(&t, "/gone.txt");
    absent(&t, "/bin/cat");
    absent(&t, "/dir/old");
    absent(&t, "/dir/keep.txt");
    assert_eq!(text(&t, "/dir/new.txt"), "new\n");
    assert_eq!(text(&t, "/bound.txt"), "from the context\n");
    let listing = text(&t, "/ctx-listing.txt");
    assert!(
        listing.contains("Dockerfile") && listing.contains("files"),
        "{listing}"
    );
    assert_eq!(text(&t, "/cache-log.txt"), "run\n");
    // Mount points the RUN needed are not left in the image.
    for p in ["/cache", "/src", "/ctx", "/proc", "/sys"] {
        absent(&t, p);
    }
    let out = sh(
        &env,
        "run:1",
        "ls /dir; test -e /gone.txt || echo no-gone; test -e /bin/cat || echo no-cat",
    );
    assert_eq!(out, "new.txt\nno-gone\nno-cat\n");
    // The cache mount keeps its files between builds, even with --no-cache.
    build_case(&env, &corpus::RUN, &["--no-cache"]);
    let (_, t) = image_tree(&env, "run:1");
    assert_eq!(text(&t, "/cache-log.txt"), "run\nrun\n");
    assert_no_mounts(&env);
}

#[test]
fn run_network_none_has_only_loopback() {
    let Some(env) = setup() else { return };
    let dir = env.path("net");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb:1\nRUN --network=none cat /proc/net/dev > /none.txt\n",
    )
    .unwrap();
    let out = build(&env, &dir, &["-t", "net:1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, t) = image_tree(&env, "net:1");
    let dev = text(&t, "/none.txt");
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
}

#[test]
fn corpus_scratch_and_platform() {
    let Some(env) = setup() else { return };
    let platform = format!("linux/{}", arch(&env));
    build_case(&env, &corpus::SCRATCH, &["--platform", &platform]);
    let (config, t) = image_tree(&env, "scratch:1");
    let paths: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        ["bin", "bin/sh", "etc", "etc/hello", "made.txt"],
        "{}",
        tree::listing(&t)
    );
    assert_eq!(meta(&t, "/bin/sh"), (0o755, 0, 0));
    assert_eq!(config["architecture"], json!(arch(&env)));
    assert_eq!(config["config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "scratch:1",
            "/bin/sh",
            "-c",
            "echo $PATH; cat /etc/hello /made.txt"
        ]),
        "/bin\nhello\nbuilt\n"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child() {
    let Some(env) = setup() else { return };
    let parent = env.path("parent");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(
        parent.join("Dockerfile"),
        "FROM bb:1\nONBUILD RUN echo triggered > /onbuild.txt\nONBUILD COPY child.txt /\n",
    )
    .unwrap();
    let out = build(&env, &parent, &["-t", "parent:1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        config(&env, "parent:1")["OnBuild"],
        json!(["RUN echo triggered > /onbuild.txt", "COPY child.txt /"])
    );
    let (_, t) = image_tree(&env, "parent:1");
    absent(&t, "/onbuild.txt");
    let child = env.path("child");
    std::fs::create_dir_all(&child).unwrap();
    std::fs::write(child.join("Dockerfile"), "FROM parent:1\nENV CHILD=1\n").unwrap();
    std::fs::write(child.join("child.txt"), "from the child's context\n").unwrap();
    let out = build(&env, &child, &["-t", "child:1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (config, t) = image_tree(&env, "child:1");
    assert_eq!(text(&t, "/onbuild.txt"), "triggered\n");
    assert_eq!(text(&t, "/child.txt"), "from the child's context\n");
    // Triggers run once: the child does not pass them on.
    assert!(config["config"]["OnBuild"].is_null(), "{config}");
}

/// The step lines of a build's progress (`[stage n/m] …`, `CACHED […] …`).
fn steps(progress: &str) -> Vec<String> {
    progress
        .lines()
        .filter(|l| l.starts_with('[') || l.starts_with("CACHED ["))
        .filter(|l| !l.contains(" FROM "))
        .map(str::to_string)
        .collect()
}

#[test]
fn cache_reuses_steps_and_rebuilds_from_a_changed_file() {
    let Some(env) = setup() else { return };
    let case = &corpus::COPY;
    let (first, log) = build_case(&env, case, &[]);
    assert!(
        steps(&log).iter().all(|s| !s.starts_with("CACHED")),
        "{log}"
    );
    let (second, log) = build_case(&env, case, &[]);
    assert_eq!(first, second, "a cached rebuild gives the same image");
    let lines = steps(&log);
    assert!(lines.len() > 10, "{log}");
    assert!(lines.iter().all(|s| s.starts_with("CACHED")), "{log}");
    // Change the file of `COPY dir /dircontents`: steps before it stay cached.
    std::fs::write(env.path("ctx-copy/dir/top.txt"), "changed\n").unwrap();
    let (third, log) = build_case(&env, case, &[]);
    assert_ne!(third, first);
    let lines = steps(&log);
    let at = lines
        .iter()
        .position(|l| l.ends_with("COPY dir /dircontents"))
        .unwrap_or_else(|| panic!("{log}"));
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.starts_with("CACHED"), i < at, "step {i} of\n{log}");
    }
    let (_, t) = image_tree(&env, "copy:1");
    assert_eq!(text(&t, "/dircontents/top.txt"), "changed\n");
    // --no-cache runs every step again.
    let (_, log) = build_case(&env, case, &["--no-cache"]);
    let lines = steps(&log);
    assert!(
        lines.len() > 10 && lines.iter().all(|s| !s.starts_with("CACHED")),
        "{log}"
    );
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let Some(env) = setup() else { return };
    let dir = env.path("stages");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb:1 AS broken\nRUN exit 1\n\
         FROM bb:1 AS needed\nRUN echo needed > /n\n\
         FROM bb:1 AS final\nCOPY --from=needed /n /n2\nRUN echo final > /f\n\
         FROM broken AS last\n",
    )
    .unwrap();
    let out = build(&env, &dir, &["-t", "stages:final", "--target", "final"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("[broken"), "{}", stderr(&out));
    let (_, t) = image_tree(&env, "stages:final");
    assert_eq!(text(&t, "/n2"), "needed\n");
    assert_eq!(text(&t, "/f"), "final\n");
    absent(&t, "/n");
    // Without --target the last stage needs the broken one.
    let out = build(&env, &dir, &["-t", "stages:last"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Dockerfile:2"), "{}", stderr(&out));
    let out = build(&env, &dir, &["--target", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn source_date_epoch_gives_reproducible_images() {
    let Some(env) = setup() else { return };
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let build_at = |root: &Path, case: &Case, extra: &[&str]| -> String {
        let dir = env.path(&format!("ctx-{}", case.name));
        if !dir.exists() {
            case.write(&dir);
        }
        let flags = case.arg_flags();
        let tag = format!("{}:1", case.name);
        let mut args: Vec<&str> = vec!["build", "-q", "-t", &tag];
        args.extend(flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        args.push(dir.to_str().unwrap());
        let out = env
            .cmd_at(root, &args)
            .envs(epoch)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        common::check_ok(&args, out).trim().to_string()
    };
    // A second root with the same base image (`import` stamps the time: saved and loaded).
    let other: PathBuf = env.path("root2");
    let base = env.path("bb-1.saved.tar");
    env.ok(&["save", "-o", base.to_str().unwrap(), "bb:1"]);
    env.ok_at(&other, &["load", "-i", base.to_str().unwrap()]);
    assert_eq!(image_id(&env, "bb:1"), {
        let v: Value = serde_json::from_str(&env.ok_at(&other, &["inspect", "bb:1"])).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    });
    for case in [
        &corpus::COPY,
        &corpus::RUN,
        &corpus::CONFIG,
        &corpus::HEREDOC,
    ] {
        let a = build_at(&env.root(), case, &[]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = build_at(&env.root(), case, &["--no-cache"]);
        let c = build_at(&other, case, &[]);
        assert!(a.starts_with("sha256:"), "{a}");
        if case.name == "run" {
            // Its cache mount has a line more on each build of one root.
            assert_eq!(a, c, "{}: fresh roots", case.name);
            continue;
        }
        assert_eq!(a, b, "{}: --no-cache", case.name);
        assert_eq!(a, c, "{}: fresh roots", case.name);
    }
    // `--timestamp` does what SOURCE_DATE_EPOCH does.
    let dir = env.path("ctx-copy");
    let args = [
        "build",
        "-q",
        "--no-cache",
        "--timestamp",
        "1700000000",
        "-t",
        "ts:1",
        dir.to_str().unwrap(),
    ];
    let out = env
        .cmd(&args)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let ts = common::check_ok(&args, out).trim().to_string();
    assert_eq!(ts, image_id(&env, "copy:1"));
    assert_eq!(env.inspect("ts:1")["Created"], "2023-11-14T22:13:20Z");
}

#[test]
fn bad_dockerfiles_fail_with_their_line_and_tag_nothing() {
    let Some(env) = setup() else { return };
    let before = env.ok(&["images", "-q"]);
    let cases: &[(&str, &str)] = &[
        ("FROM bb:1\nRUN true\nFROBNICATE now\n", "Dockerfile:3"),
        ("FROM bb:1\nRUN <<EOF\necho never ends\n", "Dockerfile:2"),
        (
            "FROM bb:1\nENV A=1\nCOPY --from=missing /x /x\n",
            "Dockerfile:3",
        ),
        ("FROM bb:1\nCOPY nothing-here.txt /x\n", "Dockerfile:2"),
        ("FROM bb:1\nRUN true\n\nRUN exit 3\n", "Dockerfile:4"),
    ];
    for (i, (text, wanted)) in cases.iter().enumerate() {
        let dir = env.path(&format!("bad-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), text).unwrap();
        let out = build(&env, &dir, &["-t", "bad:1"]);
        assert!(!out.status.success(), "{text}");
        let err = stderr(&out);
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "one error line for {text:?}:\n{err}");
        assert!(errors[0].contains(wanted), "{text:?}: {err}");
        eprintln!("{}", errors[0]);
        if text.contains("exit 3") {
            assert!(errors[0].contains("exit code: 3"), "{err}");
        }
    }
    assert_eq!(env.ok(&["images", "-q"]), before);
    assert_no_mounts(&env);
    assert!(!env.run(&["inspect", "bad:1"]).status.success());
}

#[test]
fn context_from_stdin() {
    let Some(env) = setup() else { return };
    let dir = env.path("ctx-stdin");
    corpus::COPY.write(&dir);
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let out = env.run_stdin(&["build", "-t", "x:1", "-"], &tar.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, t) = image_tree(&env, "x:1");
    assert_eq!(text(&t, "/glob/a.txt"), "a\n");
    assert_eq!(meta(&t, "/extracted/t/one.txt"), (0o600, 123, 456));
    absent(&t, "/ctx/ignored");
    assert_eq!(text(&t, "/ctx/keep/important.log"), "important\n");
    // The saved context is removed.
    let tmp = env.root().join("build/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("stdin-")),
        "{left:?}"
    );
}

#[test]
fn buildah_builds_the_same_images() {
    if !common::require_tool("buildah") {
        return;
    }
    let Some(env) = setup() else { return };
    let bh = env.path("buildah");
    std::fs::create_dir_all(bh.join("tmp")).unwrap();
    // The base image goes to buildah as an OCI archive of berth's own.
    let base = env.path("bb-1.oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        base.to_str().unwrap(),
        "bb:1",
    ]);
    let pulled = buildah::ok(&bh, &["pull", &format!("oci-archive:{}", base.display())]);
    buildah::ok(&bh, &["tag", pulled.trim(), "bb:1"]);
    let mut failures = Vec::new();
    for case in corpus::ALL.iter().filter(|c| c.buildah) {
        let (_, _) = build_case(&env, case, &[]);
        let (ours_config, ours) = image_tree(&env, &format!("{}:1", case.name));
        let dir = env.path(&format!("ctx-{}", case.name));
        let mut args = vec![
            "bud",
            "--pull=never",
            "--isolation",
            "chroot",
            "--format",
            "docker",
        ];
        let flags = case.arg_flags();
        args.extend(flags.iter().map(String::as_str));
        let tag = format!("localhost/{}:1", case.name);
        args.extend(["-t", &tag, dir.to_str().unwrap()]);
        buildah::ok(&bh, &args);
        let archive = env.path(&format!("{}.buildah.tar", case.name));
        buildah::ok(
            &bh,
            &["push", &tag, &format!("oci-archive:{}", archive.display())],
        );
        let (their_config, theirs) = tree::read_oci_archive(&std::fs::read(&archive).unwrap());
        let a = buildah::comparable(&ours_config, None);
        let mut b = buildah::comparable(&their_config, Some(&ours_config["config"]["Env"]));
        let mut theirs = theirs;
        buildah::known_differences(&mut b, &mut theirs, &ours);
        if a != b {
            failures.push(format!(
                "{}: config differs\nberth:   {a}\nbuildah: {b}",
                case.name
            ));
        }
        let (la, lb) = (tree::listing(&ours), tree::listing(&theirs));
        let mut diff = String::new();
        for line in la.lines().filter(|l| !lb.lines().any(|m| m == *l)) {
            diff.push_str(&format!("  berth only:   {line}\n"));
        }
        for line in lb.lines().filter(|l| !la.lines().any(|m| m == *l)) {
            diff.push_str(&format!("  buildah only: {line}\n"));
        }
        for (p, n) in &ours {
            if let Some(m) = theirs.get(p)
                && n.kind == 'f'
                && n.data != m.data
            {
                diff.push_str(&format!(
                    "  contents of /{p}: {:?} vs {:?}\n",
                    n.text(),
                    m.text()
                ));
            }
        }
        if !diff.is_empty() {
            failures.push(format!("{}: file trees differ\n{diff}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
