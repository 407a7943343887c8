//! `--filter` and `--format` of `berth ps`, `images` and `history`, with exact output: filter
//! keys (values of one key OR'd, keys AND'ed), `-n`/`-l`/`-s`/`--no-trunc`, Go templates with
//! the `table` prefix, functions and Docker's errors.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

/// `berth build -q -t TAG` (no tag when empty) of `dockerfile`; returns the image id.
fn build(env: &Env, tag: &str, dockerfile: &str) -> String {
    let ctx = env.path(&format!("ctx-{}", tag.replace(':', "-")));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let mut args = vec!["build", "-q"];
    if !tag.is_empty() {
        args.extend(["-t", tag]);
    }
    args.push(ctx.to_str().unwrap());
    env.ok(&args).trim().to_string()
}

/// The failure message of `berth ARGS`, which must fail.
fn err(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn ps_filters_limits_and_templates() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    build(&env, "bb:2", "FROM bb:1\nLABEL tier=web\n");
    // `berth run` exits with the container's code.
    env.run(&["run", "--name", "one", "bb:1", "sh", "-c", "exit 3"]);
    env.ok(&["run", "--name", "two", "bb:1", "sh", "-c", "exit 0"]);
    env.run(&["run", "--name", "three", "bb:2", "sh", "-c", "exit 3"]);
    env.ok(&[
        "run",
        "--name",
        "writer",
        "bb:1",
        "sh",
        "-c",
        "echo hello > /f",
    ]);
    env.ok(&["run", "-d", "--name", "up", "bb:1", "sleep", "100"]);
    let names = |extra: &[&str]| {
        let mut args = vec!["ps", "--format", "{{.Names}}"];
        args.extend(extra);
        env.ok(&args)
    };

    assert_eq!(names(&[]), "up\n");
    assert_eq!(names(&["-a"]), "up\nwriter\nthree\ntwo\none\n");
    assert_eq!(names(&["-a", "-f", "name=t"]), "writer\nthree\ntwo\n");
    assert_eq!(
        names(&["-a", "--filter", "name=o", "-f", "name=up"]),
        "up\ntwo\none\n"
    );
    assert_eq!(
        names(&["-a", "-f", "name=o", "-f", "status=exited"]),
        "two\none\n"
    );
    assert_eq!(names(&["-f", "status=running"]), "up\n");
    // A status filter lists stopped containers without -a, as Docker does.
    assert_eq!(
        names(&["-f", "status=exited", "-f", "exited=3"]),
        "three\none\n"
    );
    assert_eq!(names(&["-a", "-f", "exited=0"]), "writer\ntwo\n");
    assert_eq!(names(&["-f", "exited=3"]), "", "exited alone needs -a");
    assert_eq!(names(&["-f", "before=two"]), "one\n");
    assert_eq!(names(&["-f", "since=two"]), "up\nwriter\nthree\n");
    assert_eq!(
        names(&["-f", "since=one", "-f", "before=writer"]),
        "three\ntwo\n"
    );
    assert_eq!(names(&["-a", "-f", "ancestor=bb:2"]), "three\n");
    assert_eq!(
        names(&["-a", "-f", "ancestor=bb:1", "-f", "status=exited"]),
        "writer\ntwo\none\n"
    );
    assert_eq!(names(&["-a", "-f", "ancestor=nothere:1"]), "");
    assert_eq!(names(&["-a", "-f", "label=tier"]), "three\n");
    assert_eq!(names(&["-a", "-f", "label=tier=web"]), "three\n");
    assert_eq!(names(&["-a", "-f", "label=tier=db"]), "");
    assert_eq!(names(&["-n", "2"]), "up\nwriter\n");
    assert_eq!(
        names(&["-n", "2", "-f", "status=exited"]),
        "writer\nthree\n"
    );
    assert_eq!(names(&["-l"]), "up\n");

    let one = env.ok(&["ps", "-aq", "-f", "name=one"]);
    assert_eq!(one.trim().len(), 12, "{one}");
    let full = env.ok(&["ps", "-aq", "--no-trunc", "-f", "name=one"]);
    assert_eq!(full.trim().len(), 64);
    assert!(full.starts_with(one.trim()));
    assert_eq!(names(&["-a", "-f", &format!("id={}", &one[..6])]), "one\n");

    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "-f",
            "name=one",
            "--format",
            "{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Ports}}|{{.Networks}}"
        ]),
        format!("{} bb:1 \"sh -c exit 3\" exited |none\n", one.trim())
    );
    assert_eq!(
        env.ok(&["ps", "-f", "name=writer", "-a", "--format", "{{.Command}}"]),
        "\"sh -c echo hello > …\"\n"
    );
    assert_eq!(
        env.ok(&[
            "ps",
            "-f",
            "name=writer",
            "-a",
            "--no-trunc",
            "--format",
            "{{.Command}}"
        ]),
        "\"sh -c echo hello > /f\"\n"
    );
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "-f",
            "name=t",
            "--format",
            r"table {{.Names}}\t{{.State}}\t{{.Labels}}"
        ]),
        "NAMES     STATE     LABELS\nwriter    exited    \nthree     exited    tier=web\ntwo       exited    \n"
    );
    assert_eq!(
        env.ok(&[
            "ps", "-a", "-f", "name=three", "--format",
            r#"{{json .Names}} {{upper .Names}} {{lower .State}} {{truncate .Names 3}} {{.Names | printf "%-7s"}}|"#
        ]),
        "\"three\" THREE exited thr three  |\n"
    );
    let json = env.ok(&["ps", "-f", "name=up", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Names"], "up");
    assert_eq!(v["State"], "running");
    assert!(v["Status"].as_str().unwrap().starts_with("Up "), "{v}");
    assert_eq!(
        env.ok(&["ps", "-f", "name=up", "--format", "{{json .}}"]),
        json,
        "--format json is {{{{json .}}}}"
    );

    // Sizes: the writable layer (the 6-byte /f), then with the image.
    let sized = env.ok(&["ps", "-a", "-f", "name=writer", "--format", "{{.Size}}"]);
    assert!(sized.starts_with("6B (virtual 1."), "{sized}");
    let table = env.ok(&["ps", "-s", "-a", "-f", "name=writer"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].ends_with("NAMES    SIZE"), "{table}");
    assert!(
        lines[1].ends_with(&format!("writer   {}", sized.trim())),
        "{table}"
    );

    assert_eq!(
        err(&env, &["ps", "--format", "{{.Names}} {{.Nope}}"]),
        "berth: error: template: :1:13: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
    );
    assert_eq!(
        err(&env, &["ps", "--format", "{{nope .Names}}"]),
        "berth: error: template: :1: function \"nope\" not defined"
    );
    assert_eq!(
        err(&env, &["ps", "-f", "status=sleepy"]),
        "berth: error: invalid filter 'status=sleepy'"
    );
    assert_eq!(
        err(&env, &["ps", "-f", "colour=red"]),
        "berth: error: invalid filter 'colour'"
    );
    assert_eq!(
        err(&env, &["ps", "-f", "before=ghost"]),
        "berth: error: No such container: ghost"
    );
    env.ok(&["rm", "-f", "up"]);
}

#[test]
fn images_filters_and_templates() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    // A RUN step gives each build its own creation time (to the second, hence the pauses),
    // which `before`, `since` and the listing's order go by.
    let pause = || std::thread::sleep(std::time::Duration::from_millis(1100));
    pause();
    let web = build(
        &env,
        "web:1",
        "FROM bb:1\nRUN echo web > /w\nLABEL tier=web\n",
    );
    pause();
    let dangling = build(&env, "", "FROM bb:1\nRUN echo db > /d\nLABEL tier=db\n");
    env.ok(&["tag", "web:1", "web:latest"]);
    let bb = env.inspect("bb:1")["Id"].as_str().unwrap().to_string();
    let short = |id: &str| id.trim_start_matches("sha256:")[..12].to_string();
    let rows = |extra: &[&str]| {
        let mut args = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        args.extend(extra);
        env.ok(&args)
    };

    // Newest first, as Docker sorts them.
    assert_eq!(rows(&[]), "<none>:<none>\nweb:1\nweb:latest\nbb:1\n");
    assert_eq!(rows(&["-f", "dangling=true"]), "<none>:<none>\n");
    assert_eq!(rows(&["-f", "dangling=false"]), "web:1\nweb:latest\nbb:1\n");
    assert_eq!(rows(&["-f", "reference=web"]), "web:1\nweb:latest\n");
    assert_eq!(rows(&["-f", "reference=*:1"]), "web:1\nbb:1\n");
    assert_eq!(
        rows(&["-f", "reference=w?b:l*", "-f", "reference=bb"]),
        "web:latest\nbb:1\n"
    );
    assert_eq!(
        rows(&["-f", "label=tier"]),
        "<none>:<none>\nweb:1\nweb:latest\n"
    );
    assert_eq!(rows(&["-f", "label=tier=db"]), "<none>:<none>\n");
    assert_eq!(
        rows(&["-f", "label=tier=web", "-f", "reference=*:1"]),
        "web:1\n"
    );
    assert_eq!(rows(&["-f", "before=web:1"]), "bb:1\n");
    assert_eq!(
        rows(&["-f", "since=bb:1"]),
        "<none>:<none>\nweb:1\nweb:latest\n"
    );
    assert_eq!(
        rows(&["-f", &format!("since={}", short(&web))]),
        "<none>:<none>\n"
    );
    assert_eq!(
        env.ok(&["images", "-q", "-f", "dangling=true"]),
        format!("{}\n", short(&dangling))
    );

    assert_eq!(
        env.ok(&[
            "images",
            "-f",
            "reference=bb",
            "--format",
            "{{.ID}} {{.Digest}} {{.Size}}"
        ]),
        format!("{} <none> 1.29MB\n", short(&bb))
    );
    assert_eq!(
        env.ok(&[
            "images",
            "-f",
            "reference=bb",
            "--no-trunc",
            "--format",
            "{{.ID}}"
        ]),
        format!("{bb}\n")
    );
    assert_eq!(
        env.ok(&[
            "images",
            "-f",
            "dangling=false",
            "--format",
            r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}"
        ]),
        format!(
            "REPOSITORY   TAG       IMAGE ID\nweb          1         {w}\nweb          latest    {w}\nbb           1         {b}\n",
            w = short(&web),
            b = short(&bb)
        )
    );
    let json = env.ok(&["images", "-f", "reference=bb", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (v["Repository"].as_str(), v["Tag"].as_str()),
        (Some("bb"), Some("1"))
    );
    assert!(
        v["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{v}"
    );
    assert!(v["CreatedSince"].as_str().unwrap().ends_with(" ago"), "{v}");

    assert_eq!(
        err(&env, &["images", "--format", "{{.Repository}}\\t{{.Nope}}"]),
        "berth: error: template: :1:18: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext"
    );
    assert_eq!(
        err(&env, &["images", "-f", "dangling=maybe"]),
        "berth: error: invalid filter 'dangling=maybe'"
    );
    assert_eq!(
        err(&env, &["images", "-f", "dangling"]),
        "berth: error: bad format of filter (expected name=value)"
    );
}

#[test]
fn history_templates() {
    if !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let id = build(
        &env,
        "hist:1",
        "FROM bb:1\nLABEL note=\"a label long enough to be cut short in the table\"\n",
    );
    let id = &id.trim_start_matches("sha256:")[..12];
    assert_eq!(
        env.ok(&[
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "hist:1"
        ]),
        format!(
            "{id}|LABEL note=\"a label long enough to be cut sh…|0B|berth build\n<missing>|berth import|1.29MB|\n"
        )
    );
    assert_eq!(
        env.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "hist:1"
        ]),
        "LABEL note=\"a label long enough to be cut short in the table\"\nberth import\n"
    );
    assert_eq!(
        env.ok(&[
            "history",
            "--format",
            r"table {{.ID}}\t{{.Size}}\t{{lower .Comment}}",
            "hist:1"
        ]),
        format!(
            "IMAGE          SIZE      COMMENT\n{id}   0B        berth build\n<missing>      1.29MB    \n"
        )
    );
    let json = env.ok(&["history", "--format", "json", "hist:1"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["ID"], id);
    assert!(
        first["CreatedAt"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
    assert_eq!(
        err(&env, &["history", "--format", "{{.Tag}}", "hist:1"]),
        "berth: error: template: :1:2: executing \"\" at <.Tag>: can't evaluate field Tag in type *image.historyContext"
    );
}

/// `berth ARGS` writing into a pipe whose reader is gone ends quietly, as docker does
/// (issue 11: `berth ps -a | head -c 10` used to panic with exit 101): exit 0 or SIGPIPE.
fn assert_quiet_on_broken_pipe(env: &Env, args: &[&str], read: usize) {
    use std::io::Read as _;
    use std::os::unix::process::ExitStatusExt as _;
    let mut c = env.cmd(args);
    c.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let (mut reader, writer) = std::io::pipe().unwrap();
    if read == 0 {
        // Gone before berth writes anything: its first write fails.
        drop(reader);
        let out = c.stdout(writer).output().unwrap();
        check_quiet(args, out.status, &out.stderr);
        return;
    }
    let child = c.stdout(writer).spawn().unwrap();
    // `head -c N`: a few bytes, then the reader goes.
    let mut head = vec![0; read];
    reader.read_exact(&mut head).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    check_quiet(args, out.status, &out.stderr);

    fn check_quiet(args: &[&str], status: std::process::ExitStatus, stderr: &[u8]) {
        let stderr = String::from_utf8_lossy(stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            status.code() == Some(0) || status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {status:?} {stderr}"
        );
    }
}

#[test]
fn broken_pipe_ends_quietly() {
    let env = Env::new("127.0.0.1:9");
    for args in [
        &["ps", "-a"][..],
        &["images"],
        &["version"],
        &["volume", "ls"],
    ] {
        assert_quiet_on_broken_pipe(&env, args, 0);
    }
    if !needs_busybox() {
        return;
    }
    busybox(&env);
    for args in [&["inspect", "bb:1"][..], &["images"], &["history", "bb:1"]] {
        assert_quiet_on_broken_pipe(&env, args, 0);
    }
    // More than a pipe holds, cut after 10 bytes.
    assert_quiet_on_broken_pipe(&env, &["save", "bb:1"], 10);
}
