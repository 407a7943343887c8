//! `berth build` against the Dockerfile reference (BuildKit's behaviour), one small rule per
//! test, as root on a busybox base image (`bb:1`): COPY's source and destination rules, ARG and
//! ENV scope, WORKDIR, USER, the config instructions' interplay, RUN's layers and
//! `.dockerignore`.

mod common;
#[path = "build/tree.rs"]
mod tree;
use tree::{absent, meta, node, text};

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Output;

use common::Env;
use common::containers::{busybox, needs_busybox};
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

/// Write a context `name` with `dockerfile` and `files` (path, contents; mode 0644).
fn context(env: &Env, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (path, contents) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir
}

/// `berth build -t TAG ARGS DIR`.
fn build_in(env: &Env, dir: &std::path::Path, tag: &str, args: &[&str]) -> Output {
    let mut all = vec!["build", "-t", tag];
    all.extend_from_slice(args);
    all.push(dir.to_str().unwrap());
    env.run(&all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Build `dockerfile` with `files` as `NAME:1`; it must succeed.
fn build_ok(env: &Env, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let dir = context(env, name, dockerfile, files);
    let out = build_in(env, &dir, &format!("{name}:1"), &[]);
    assert!(out.status.success(), "build {name}: {}", stderr(&out));
    stderr(&out)
}

/// Build `dockerfile`; it must fail; returns its stderr.
fn build_err(env: &Env, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let dir = context(env, name, dockerfile, files);
    let out = build_in(env, &dir, &format!("{name}:1"), &[]);
    assert!(!out.status.success(), "build {name} should fail");
    stderr(&out)
}

fn config(env: &Env, image: &str) -> Value {
    env.inspect(image)["Config"].clone()
}

fn image_tree(env: &Env, image: &str) -> Tree {
    let file = env.path(&format!("{}.oci.tar", image.replace([':', '/'], "-")));
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        file.to_str().unwrap(),
        image,
    ]);
    tree::read_oci_archive(&std::fs::read(&file).unwrap()).1
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

fn env_list(cfg: &Value) -> Vec<String> {
    cfg["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

// COPY

#[test]
fn copy_follows_a_named_symlink_but_keeps_links_inside_directories() {
    let Some(env) = setup() else { return };
    let dir = context(
        &env,
        "symlinks",
        "FROM bb:1\nCOPY link.txt /got\nCOPY d /d\nCOPY linkdir /viadir\n",
        &[("real.txt", "real\n"), ("d/f.txt", "f\n")],
    );
    std::os::unix::fs::symlink("real.txt", dir.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("../real.txt", dir.join("d/l")).unwrap();
    std::os::unix::fs::symlink("d", dir.join("linkdir")).unwrap();
    let out = build_in(&env, &dir, "symlinks:1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let t = image_tree(&env, "symlinks:1");
    assert_eq!(text(&t, "/got"), "real\n");
    let l = node(&t, "/d/l");
    assert_eq!((l.kind, l.text().as_str()), ('l', "../real.txt"));
    assert_eq!(text(&t, "/viadir/f.txt"), "f\n");
    assert_eq!(node(&t, "/viadir/l").kind, 'l');
}

#[test]
fn copy_a_file_onto_an_existing_directory_goes_inside_it() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "ontodir",
        "FROM bb:1\nRUN mkdir /existing\nCOPY a.txt /existing\n",
        &[("a.txt", "a\n")],
    );
    let t = image_tree(&env, "ontodir:1");
    assert_eq!(text(&t, "/existing/a.txt"), "a\n");
}

#[test]
fn copy_follows_symlinks_in_the_destination_inside_the_image() {
    // As on merged-/usr distributions (`/lib -> usr/lib`).
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "destlink",
        "FROM bb:1\nRUN mkdir -p /usr/lib /real && busybox ln -s usr/lib /lib && \
         busybox ln -s /real /abs\n\
         COPY a.txt /lib/a.txt\nCOPY dir /lib/\nCOPY a.txt /abs/\nWORKDIR /lib/w\n",
        &[("a.txt", "a\n"), ("dir/d.txt", "d\n")],
    );
    let t = image_tree(&env, "destlink:1");
    let l = node(&t, "/lib");
    assert_eq!((l.kind, l.text().as_str()), ('l', "usr/lib"));
    assert_eq!(text(&t, "/usr/lib/a.txt"), "a\n");
    assert_eq!(text(&t, "/usr/lib/d.txt"), "d\n");
    assert_eq!(text(&t, "/real/a.txt"), "a\n");
    assert_eq!(node(&t, "/abs").kind, 'l');
    assert_eq!(node(&t, "/usr/lib/w").kind, 'd');
}

#[test]
fn copy_below_an_existing_file_fails() {
    let Some(env) = setup() else { return };
    let err = build_err(
        &env,
        "belowfile",
        "FROM bb:1\nRUN echo x > /file\nCOPY a.txt /file/a.txt\n",
        &[("a.txt", "a\n")],
    );
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn copy_a_directory_onto_an_existing_file_fails() {
    let Some(env) = setup() else { return };
    let err = build_err(
        &env,
        "dirontofile",
        "FROM bb:1\nRUN echo x > /file\nCOPY dir /file\n",
        &[("dir/a.txt", "a\n")],
    );
    assert!(err.contains("Dockerfile:3"), "{err}");
}

#[test]
fn copy_several_sources_needs_a_destination_ending_in_a_slash() {
    let Some(env) = setup() else { return };
    let err = build_err(
        &env,
        "several",
        "FROM bb:1\nRUN mkdir /dest\nCOPY a.txt b.txt /dest\n",
        &[("a.txt", "a\n"), ("b.txt", "b\n")],
    );
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(
        err.contains(
            "When using COPY with more than one source file, the destination must be a \
             directory and end with a /"
        ),
        "{err}"
    );
}

#[test]
fn copy_to_dot_and_relative_destinations_start_at_the_workdir() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "dot",
        "FROM bb:1\nWORKDIR /app\nCOPY a.txt b.txt .\nCOPY a.txt sub/\nCOPY b.txt renamed\n\
         WORKDIR /fresh\nCOPY a.txt ./\n",
        &[("a.txt", "a\n"), ("b.txt", "b\n")],
    );
    let t = image_tree(&env, "dot:1");
    assert_eq!(text(&t, "/app/a.txt"), "a\n");
    assert_eq!(text(&t, "/app/b.txt"), "b\n");
    assert_eq!(text(&t, "/app/sub/a.txt"), "a\n");
    assert_eq!(text(&t, "/app/renamed"), "b\n");
    assert_eq!(text(&t, "/fresh/a.txt"), "a\n");
}

#[test]
fn copy_a_wildcard_matching_nothing_fails() {
    let Some(env) = setup() else { return };
    let err = build_err(
        &env,
        "noglob",
        "FROM bb:1\nCOPY *.nothing /x/\n",
        &[("a.txt", "a\n")],
    );
    assert!(err.contains("Dockerfile:2"), "{err}");
}

#[test]
fn copy_chmod_applies_to_directories_too() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "chmoddir",
        "FROM bb:1\nCOPY --chmod=750 dir /d\n",
        &[("dir/sub/x.txt", "x\n"), ("dir/top.txt", "t\n")],
    );
    let t = image_tree(&env, "chmoddir:1");
    assert_eq!(meta(&t, "/d/top.txt"), (0o750, 0, 0));
    assert_eq!(meta(&t, "/d/sub"), (0o750, 0, 0));
    assert_eq!(meta(&t, "/d/sub/x.txt"), (0o750, 0, 0));
}

#[test]
fn copy_creates_missing_parents_as_0755_directories() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "parents",
        "FROM bb:1\nCOPY a.txt /p/q/a.txt\nCOPY --chown=5:6 a.txt /o/r/a.txt\n",
        &[("a.txt", "a\n")],
    );
    let t = image_tree(&env, "parents:1");
    assert_eq!(meta(&t, "/p"), (0o755, 0, 0));
    assert_eq!(meta(&t, "/p/q"), (0o755, 0, 0));
    assert_eq!(meta(&t, "/p/q/a.txt"), (0o644, 0, 0));
    // BuildKit creates the parents of a `--chown` copy with that owner.
    assert_eq!(meta(&t, "/o/r"), (0o755, 5, 6));
    assert_eq!(meta(&t, "/o/r/a.txt"), (0o644, 5, 6));
}

#[test]
fn copy_keeps_mode_bits_and_mtime_from_the_context() {
    let Some(env) = setup() else { return };
    let dir = context(
        &env,
        "modes",
        "FROM bb:1\nCOPY run.sh private.txt /m/\n",
        &[("run.sh", "#!/bin/sh\necho ran\n"), ("private.txt", "p\n")],
    );
    let set = |p: &str, mode: u32| {
        std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(p))
            .unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
        f.set_modified(when).unwrap();
    };
    set("run.sh", 0o755);
    set("private.txt", 0o640);
    let out = env
        .cmd(&["build", "-t", "modes:1", dir.to_str().unwrap()])
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let t = image_tree(&env, "modes:1");
    assert_eq!(meta(&t, "/m/run.sh"), (0o755, 0, 0));
    assert_eq!(meta(&t, "/m/private.txt"), (0o640, 0, 0));
    assert_eq!(sh(&env, "modes:1", "/m/run.sh"), "ran\n");
    assert_eq!(
        sh(
            &env,
            "modes:1",
            "busybox stat -c %Y /m/run.sh /m/private.txt"
        ),
        "1500000000\n1500000000\n"
    );
}

// ARG and ENV

#[test]
fn arg_scope_ends_with_its_stage() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "argscope",
        "FROM bb:1 AS first\nARG X=one\nRUN echo \"[$X]\" > /x\n\
         FROM first\nRUN echo \"[$X]\" > /y\n",
        &[],
    );
    let t = image_tree(&env, "argscope:1");
    assert_eq!(text(&t, "/x"), "[one]\n");
    assert_eq!(text(&t, "/y"), "[]\n");
}

#[test]
fn a_global_arg_is_seen_only_once_declared_in_the_stage() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "globalarg",
        "ARG G=global\nFROM bb:1\nRUN echo \"[$G]\" > /before\nARG G\nRUN echo \"[$G]\" > /after\n",
        &[],
    );
    let t = image_tree(&env, "globalarg:1");
    assert_eq!(text(&t, "/before"), "[]\n");
    assert_eq!(text(&t, "/after"), "[global]\n");
}

#[test]
fn env_overrides_an_arg_of_the_same_name() {
    let Some(env) = setup() else { return };
    let dir = context(
        &env,
        "envwins",
        "FROM bb:1\nARG V=arg\nENV V=env\nRUN echo \"$V\" > /v\nARG V=again\nRUN echo \"$V\" > /w\n",
        &[],
    );
    let out = build_in(&env, &dir, "envwins:1", &["--build-arg", "V=cli"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let t = image_tree(&env, "envwins:1");
    assert_eq!(text(&t, "/v"), "env\n");
    assert_eq!(text(&t, "/w"), "env\n");
    assert!(env_list(&config(&env, "envwins:1")).contains(&"V=env".to_string()));
}

#[test]
fn an_undeclared_build_arg_is_ignored_with_a_warning() {
    let Some(env) = setup() else { return };
    let dir = context(
        &env,
        "undeclared",
        "FROM bb:1\nRUN echo \"[$NOPE]\" > /n\n",
        &[],
    );
    let out = build_in(&env, &dir, "undeclared:1", &["--build-arg", "NOPE=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.contains("NOPE") && l.to_lowercase().contains("warn")),
        "{err}"
    );
    let t = image_tree(&env, "undeclared:1");
    assert_eq!(text(&t, "/n"), "[]\n");
}

#[test]
fn args_are_in_runs_environment_but_not_in_the_image() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "argenv",
        "FROM bb:1\nARG BUILD_ONLY=yes\nRUN echo \"$BUILD_ONLY\" > /seen\n",
        &[],
    );
    let t = image_tree(&env, "argenv:1");
    assert_eq!(text(&t, "/seen"), "yes\n");
    let cfg = config(&env, "argenv:1");
    assert!(
        env_list(&cfg).iter().all(|e| !e.starts_with("BUILD_ONLY=")),
        "{cfg}"
    );
    assert_eq!(
        sh(&env, "argenv:1", "echo \"[$BUILD_ONLY]\""),
        "[]\n",
        "a container of the image does not see the ARG"
    );
}

#[test]
fn env_on_one_line_uses_the_values_from_before_it() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "envline",
        "FROM bb:1\nENV X=old\nENV X=new Y=$X\n",
        &[],
    );
    let vars = env_list(&config(&env, "envline:1"));
    assert!(vars.contains(&"X=new".to_string()), "{vars:?}");
    assert!(vars.contains(&"Y=old".to_string()), "{vars:?}");
}

#[test]
fn env_path_extends_the_base_path() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "pathx",
        "FROM bb:1 AS base\nENV PATH=/usr/bin:/bin\nFROM base\nENV PATH=$PATH:/x\n",
        &[],
    );
    let vars = env_list(&config(&env, "pathx:1"));
    assert_eq!(vars, ["PATH=/usr/bin:/bin:/x"]);
}

#[test]
fn path_is_always_set_in_the_image() {
    // BuildKit adds the default PATH to an image whose base has none (scratch, an import).
    let Some(env) = setup() else { return };
    let default = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    build_ok(&env, "defpath", "FROM bb:1\nENV A=1\n", &[]);
    let vars = env_list(&config(&env, "defpath:1"));
    assert_eq!(vars, [default, "A=1"]);
    build_ok(&env, "scratchpath", "FROM scratch\nLABEL x=1\n", &[]);
    assert_eq!(env_list(&config(&env, "scratchpath:1")), [default]);
}

// WORKDIR

#[test]
fn workdir_chains_relative_paths_with_variables_and_creates_them() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "workdirs",
        "FROM bb:1\nENV D=data\nWORKDIR a\nWORKDIR b\nWORKDIR $D\nRUN pwd > /pwd\n",
        &[],
    );
    let t = image_tree(&env, "workdirs:1");
    assert_eq!(text(&t, "/pwd"), "/a/b/data\n");
    assert_eq!(meta(&t, "/a/b/data"), (0o755, 0, 0));
    assert_eq!(config(&env, "workdirs:1")["WorkingDir"], "/a/b/data");
}

#[test]
fn workdir_is_created_for_the_current_user() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "workdiruser",
        "FROM bb:1\nUSER 1000:1000\nWORKDIR /home/app\nRUN echo mine > owned.txt\n",
        &[],
    );
    let t = image_tree(&env, "workdiruser:1");
    assert_eq!(meta(&t, "/home/app"), (0o755, 1000, 1000));
    assert_eq!(meta(&t, "/home"), (0o755, 1000, 1000));
    assert_eq!(meta(&t, "/home/app/owned.txt").1, 1000);
}

// USER

#[test]
fn numeric_user_runs_without_a_passwd_file() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "numeric",
        "FROM bb:1\nRUN mkdir /out && busybox chmod 777 /out\nUSER 1000:1001\n\
         RUN id -u > /out/ids && id -g >> /out/ids\n",
        &[],
    );
    let t = image_tree(&env, "numeric:1");
    assert_eq!(text(&t, "/out/ids"), "1000\n1001\n");
    assert_eq!(meta(&t, "/out/ids").1, 1000);
}

#[test]
fn a_user_name_missing_from_passwd_fails_run() {
    let Some(env) = setup() else { return };
    let err = build_err(&env, "nouser", "FROM bb:1\nUSER ghost\nRUN true\n", &[]);
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("ghost"), "{err}");
}

// CMD, ENTRYPOINT, SHELL, HEALTHCHECK, LABEL

#[test]
fn shell_applies_to_cmd_and_entrypoint_shell_forms() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "shellcmd",
        "FROM bb:1\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo hi\nENTRYPOINT echo entry\n",
        &[],
    );
    let cfg = config(&env, "shellcmd:1");
    assert_eq!(cfg["Entrypoint"], json!(["/bin/sh", "-ec", "echo entry"]));
    // CMD set earlier in the same stage survives the ENTRYPOINT.
    assert_eq!(cfg["Cmd"], json!(["/bin/sh", "-ec", "echo hi"]));
}

#[test]
fn entrypoint_cmd_interplay_across_stages() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "entry",
        "FROM bb:1 AS base\nENTRYPOINT [\"/bin/echo\", \"base\"]\nCMD [\"arg\"]\n\
         FROM base AS keep\nCMD [\"other\"]\n\
         FROM base AS cleared\nENTRYPOINT []\n",
        &[],
    );
    let cfg = config(&env, "entry:1");
    assert!(
        cfg["Entrypoint"].is_null() || cfg["Entrypoint"] == json!([]),
        "{cfg}"
    );
    assert!(cfg["Cmd"].is_null(), "{cfg}");
    let dir = env.path("entry");
    let out = build_in(&env, &dir, "entry:keep", &["--target", "keep"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cfg = config(&env, "entry:keep");
    assert_eq!(cfg["Entrypoint"], json!(["/bin/echo", "base"]));
    assert_eq!(cfg["Cmd"], json!(["other"]));
    assert_eq!(env.ok(&["run", "--rm", "entry:keep"]), "base other\n");
}

#[test]
fn healthcheck_is_inherited_and_none_disables_it() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "health",
        "FROM bb:1 AS base\nHEALTHCHECK --retries=2 CMD true\n\
         FROM base AS child\nENV C=1\n\
         FROM child\nHEALTHCHECK NONE\n",
        &[],
    );
    assert_eq!(
        config(&env, "health:1")["Healthcheck"],
        json!({"Test": ["NONE"]})
    );
    let dir = env.path("health");
    let out = build_in(&env, &dir, "health:child", &["--target", "child"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        config(&env, "health:child")["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Retries": 2})
    );
}

#[test]
fn label_overrides_the_base_images_label() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "labels",
        "FROM bb:1 AS base\nLABEL a=1 b=2\nFROM base\nLABEL a=3\n",
        &[],
    );
    assert_eq!(
        config(&env, "labels:1")["Labels"],
        json!({"a": "3", "b": "2"})
    );
}

#[test]
fn onbuild_triggers_are_not_passed_to_grandchildren() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "ob-parent",
        "FROM bb:1\nONBUILD RUN echo x >> /count\n",
        &[],
    );
    build_ok(&env, "ob-child", "FROM ob-parent:1\n", &[]);
    build_ok(&env, "ob-grandchild", "FROM ob-child:1\nENV G=1\n", &[]);
    let t = image_tree(&env, "ob-grandchild:1");
    assert_eq!(text(&t, "/count"), "x\n");
}

// RUN

#[test]
fn run_tmpfs_mount_is_writable_and_left_out_of_the_layer() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "tmpfs",
        "FROM bb:1\nRUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && \
         cat /scratch/f > /seen && busybox grep -c ' /scratch tmpfs' /proc/mounts > /mounts\n",
        &[],
    );
    let t = image_tree(&env, "tmpfs:1");
    assert_eq!(text(&t, "/seen"), "t\n");
    assert_eq!(text(&t, "/mounts"), "1\n");
    absent(&t, "/scratch");
}

#[test]
fn run_changing_only_a_mode_carries_it_in_the_layer() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "chmodonly",
        "FROM bb:1\nCOPY s.sh /s.sh\nRUN busybox chmod 700 /s.sh && busybox chown 3:4 /s.sh\n",
        &[("s.sh", "#!/bin/sh\necho s\n")],
    );
    let t = image_tree(&env, "chmodonly:1");
    assert_eq!(meta(&t, "/s.sh"), (0o700, 3, 4));
    assert_eq!(text(&t, "/s.sh"), "#!/bin/sh\necho s\n");
}

#[test]
fn run_hard_links_stay_one_file() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "hardlinks",
        "FROM bb:1\nRUN echo h > /a && busybox ln /a /b\n",
        &[],
    );
    let t = image_tree(&env, "hardlinks:1");
    assert_eq!(text(&t, "/b"), "h\n");
    let out = sh(&env, "hardlinks:1", "busybox stat -c '%h %i' /a /b");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1], "{out}");
    assert!(lines[0].starts_with("2 "), "{out}");
}

#[test]
fn run_deleting_a_lower_directory_then_recreating_it_hides_the_old_contents() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "opaque",
        "FROM bb:1\nRUN mkdir -p /d/sub && echo old > /d/old && echo s > /d/sub/s\n\
         RUN busybox rm -r /d && mkdir /d && echo new > /d/new\n",
        &[],
    );
    assert_eq!(
        sh(&env, "opaque:1", "busybox find /d | busybox sort"),
        "/d\n/d/new\n"
    );
}

#[test]
fn run_failure_names_the_exit_code() {
    let Some(env) = setup() else { return };
    let err = build_err(&env, "exitcode", "FROM bb:1\nRUN echo out; exit 7\n", &[]);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("Dockerfile:2"), "{err}");
    assert!(errors[0].contains("exit code: 7"), "{err}");
    assert!(err.contains("out"), "the RUN's output is shown: {err}");
}

// .dockerignore

#[test]
fn dockerignore_can_exclude_the_dockerfile_and_itself() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "ignoreself",
        "FROM bb:1\nCOPY . /ctx/\n",
        &[
            (".dockerignore", "Dockerfile\n.dockerignore\n"),
            ("kept.txt", "k\n"),
        ],
    );
    let t = image_tree(&env, "ignoreself:1");
    assert_eq!(text(&t, "/ctx/kept.txt"), "k\n");
    absent(&t, "/ctx/Dockerfile");
    absent(&t, "/ctx/.dockerignore");
}

#[test]
fn dockerignore_exceptions_and_the_last_matching_line_wins() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "ignorebang",
        "FROM bb:1\nCOPY . /ctx/\n",
        &[
            (".dockerignore", "*.txt\n!keep*.txt\nkeep-not.txt\n"),
            ("a.txt", "a\n"),
            ("keep1.txt", "1\n"),
            ("keep-not.txt", "n\n"),
            ("other.md", "o\n"),
        ],
    );
    let t = image_tree(&env, "ignorebang:1");
    absent(&t, "/ctx/a.txt");
    absent(&t, "/ctx/keep-not.txt");
    assert_eq!(text(&t, "/ctx/keep1.txt"), "1\n");
    assert_eq!(text(&t, "/ctx/other.md"), "o\n");
    // Without an ignore line, the Dockerfile and .dockerignore are part of the context.
    assert_eq!(text(&t, "/ctx/Dockerfile"), "FROM bb:1\nCOPY . /ctx/\n");
    assert_eq!(node(&t, "/ctx/.dockerignore").kind, 'f');
}

#[test]
fn invalid_json_cmd_is_a_shell_form() {
    let Some(env) = setup() else { return };
    build_ok(&env, "badjson", "FROM bb:1\nCMD [echo, hi]\n", &[]);
    assert_eq!(
        config(&env, "badjson:1")["Cmd"],
        json!(["/bin/sh", "-c", "[echo, hi]"])
    );
}

#[test]
fn env_from_arg_empty_values_and_port_protocol_case() {
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "misc",
        "FROM bb:1\nARG V=from-arg\nENV E=$V EMPTY=\nEXPOSE 80/TCP\n",
        &[],
    );
    let cfg = config(&env, "misc:1");
    let vars = env_list(&cfg);
    assert!(vars.contains(&"E=from-arg".to_string()), "{vars:?}");
    assert!(vars.contains(&"EMPTY=".to_string()), "{vars:?}");
    assert_eq!(cfg["ExposedPorts"], json!({"80/tcp": {}}));
}

#[test]
fn run_changes_below_a_volume_are_kept_and_copy_ignores_user() {
    // BuildKit keeps what RUN writes below a VOLUME (the classic builder discarded it), and
    // COPY files belong to root whatever the USER.
    let Some(env) = setup() else { return };
    build_ok(
        &env,
        "volume",
        "FROM bb:1\nRUN mkdir /data\nVOLUME /data\nRUN echo kept > /data/f\nUSER 1000\nCOPY a.txt /a.txt\n",
        &[("a.txt", "a\n")],
    );
    let t = image_tree(&env, "volume:1");
    assert_eq!(text(&t, "/data/f"), "kept\n");
    assert_eq!(meta(&t, "/a.txt"), (0o644, 0, 0));
}

#[test]
fn created_directories_get_the_build_time_without_source_date_epoch() {
    let Some(env) = setup() else { return };
    let dir = context(&env, "dirtime", "FROM bb:1\nWORKDIR /made\n", &[]);
    let out = env
        .cmd(&["build", "-t", "dirtime:1", dir.to_str().unwrap()])
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let secs: i64 = sh(&env, "dirtime:1", "busybox stat -c %Y /made")
        .trim()
        .parse()
        .unwrap();
    assert!(secs > 1_700_000_000, "mtime {secs}");
}
