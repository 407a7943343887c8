//! Parsed structure of every instruction, form and flag.

use super::*;
use std::time::Duration;

fn df(text: &str) -> Dockerfile {
    parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"))
}

/// The instructions of a one-stage Dockerfile whose body is `body`.
fn steps(body: &str) -> Vec<Step> {
    df(&format!("FROM scratch\n{body}"))
        .stages
        .remove(0)
        .instructions
}

fn one(body: &str) -> Instruction {
    let mut s = steps(body);
    assert_eq!(s.len(), 1, "{s:?}");
    s.remove(0).instruction
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn from_forms() {
    let d =
        df("FROM alpine:3.20\nFROM --platform=$BUILDPLATFORM golang AS Build\nfrom build as final");
    assert_eq!(d.stages.len(), 3);
    assert_eq!(
        d.stages[0].from,
        From {
            image: "alpine:3.20".into(),
            platform: None
        }
    );
    assert_eq!(d.stages[0].name, None);
    assert_eq!(d.stages[1].from.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(d.stages[1].name.as_deref(), Some("build"));
    assert_eq!(
        (d.stages[2].from.image.as_str(), d.stages[2].line),
        ("build", 3)
    );
    assert_eq!(d.stages[2].original, "from build as final");
}

#[test]
fn stage_lookup_by_name_or_index() {
    let d = df("FROM a AS one\nFROM b AS two\nFROM c");
    assert_eq!(d.stage("TWO").map(|(i, _)| i), Some(1));
    assert_eq!(d.stage("2").map(|(_, s)| s.from.image.as_str()), Some("c"));
    assert!(d.stage("three").is_none());
    assert_eq!(Stage::find(&d.stages, "one").map(|(i, _)| i), Some(0));
}

#[test]
fn global_args_and_stage_args() {
    let d = df("ARG BASE=alpine VERSION\nARG X=\"a b\"\nFROM $BASE\nARG VERSION");
    let names: Vec<(&str, Option<&str>, usize)> = d
        .global_args
        .iter()
        .map(|g| (g.arg.name.as_str(), g.arg.default.as_deref(), g.line))
        .collect();
    assert_eq!(
        names,
        [
            ("BASE", Some("alpine"), 1),
            ("VERSION", None, 1),
            ("X", Some("\"a b\""), 2)
        ]
    );
    assert_eq!(
        d.stages[0].instructions[0].instruction,
        Instruction::Arg(vec![ArgDecl {
            name: "VERSION".into(),
            default: None
        }])
    );
}

#[test]
fn directives_are_recorded() {
    let d = df("# syntax=docker/dockerfile:1.7\n# check=error=true\nFROM x");
    assert_eq!(
        d.directives,
        Directives {
            syntax: Some("docker/dockerfile:1.7".into()),
            escape: '\\',
            check: Some("error=true".into())
        }
    );
}

#[test]
fn run_shell_and_exec() {
    assert_eq!(
        one("RUN apt-get update && apt-get install -y curl"),
        Instruction::Run(Run {
            command: Command::Shell("apt-get update && apt-get install -y curl".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    let Instruction::Run(run) = one(r#"RUN ["/bin/sh", "-c", "echo \"hi\""]"#) else {
        panic!()
    };
    assert_eq!(
        run.command,
        Command::Exec(strings(&["/bin/sh", "-c", "echo \"hi\""]))
    );
}

#[test]
fn invalid_json_falls_back_to_shell_form() {
    assert_eq!(
        one("CMD [\"a\", 'b']"),
        Instruction::Cmd(Command::Shell("[\"a\", 'b']".into()))
    );
    assert_eq!(
        one("RUN [ -f x ] && echo y"),
        Instruction::Run(Run {
            command: Command::Shell("[ -f x ] && echo y".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
}

#[test]
fn run_flags() {
    let Instruction::Run(run) = one(
        "RUN --network=none --security=insecure --mount=type=cache,target=/var/cache/apt --mount=type=secret,id=npm make",
    ) else {
        panic!()
    };
    assert_eq!(run.network, Some(Network::None));
    assert_eq!(run.security, Some(Security::Insecure));
    assert_eq!(run.mounts.len(), 2);
    assert_eq!(run.mounts[0].kind, MountType::Cache);
    assert_eq!(run.mounts[1].id.as_deref(), Some("npm"));
    assert_eq!(run.command, Command::Shell("make".into()));
    let Instruction::Run(run) = one("RUN --network=host true") else {
        panic!()
    };
    assert_eq!(run.network, Some(Network::Host));
    let Instruction::Run(run) = one("RUN --network=default true") else {
        panic!()
    };
    assert_eq!(run.network, Some(Network::Default));
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD [\"nginx\", \"-g\", \"daemon off;\"]"),
        Instruction::Cmd(Command::Exec(strings(&["nginx", "-g", "daemon off;"])))
    );
    assert_eq!(
        one("CMD echo $HOME"),
        Instruction::Cmd(Command::Shell("echo $HOME".into()))
    );
    assert_eq!(
        one("ENTRYPOINT [\"/docker-entrypoint.sh\"]"),
        Instruction::Entrypoint(Command::Exec(strings(&["/docker-entrypoint.sh"])))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        one("ENTRYPOINT exec top -b"),
        Instruction::Entrypoint(Command::Shell("exec top -b".into()))
    );
    assert_eq!(
        one("SHELL [\"powershell\", \"-command\"]"),
        Instruction::Shell(strings(&["powershell", "-command"]))
    );
}

#[test]
fn env_forms() {
    assert_eq!(
        one("ENV a=1 b=\"two words\" c=three\\ words"),
        Instruction::Env(vec![
            kv("a", "1"),
            kv("b", "\"two words\""),
            kv("c", "three\\ words")
        ])
    );
    assert_eq!(
        one("ENV MY_NAME John Doe"),
        Instruction::Env(vec![kv("MY_NAME", "John Doe")])
    );
    assert_eq!(one("ENV k="), Instruction::Env(vec![kv("k", "")]));
    assert_eq!(one("ENV k='a=b'"), Instruction::Env(vec![kv("k", "'a=b'")]));
}

#[test]
fn label_forms() {
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0 description=\"multi\\\n  line\""),
        Instruction::Label(vec![
            kv("\"com.example.vendor\"", "\"ACME\""),
            kv("version", "1.0"),
            kv("description", "\"multi  line\"")
        ])
    );
    assert_eq!(
        one("LABEL legacy value here"),
        Instruction::Label(vec![kv("legacy", "value here")])
    );
}

#[test]
fn expose_workdir_user_volume_stopsignal_maintainer() {
    assert_eq!(
        one("EXPOSE 80 80/tcp 53/udp 8000-8010 $PORT"),
        Instruction::Expose(strings(&["80", "80/tcp", "53/udp", "8000-8010", "$PORT"]))
    );
    assert_eq!(
        one("WORKDIR /app dir"),
        Instruction::Workdir("/app dir".into())
    );
    assert_eq!(one("USER app:staff"), Instruction::User("app:staff".into()));
    assert_eq!(
        one("VOLUME /data /logs"),
        Instruction::Volume(strings(&["/data", "/logs"]))
    );
    assert_eq!(
        one("VOLUME [\"/my data\"]"),
        Instruction::Volume(strings(&["/my data"]))
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <j@example.com>"),
        Instruction::Maintainer("Jane <j@example.com>".into())
    );
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("healthcheck none"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one(
            "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=1s --retries=5 CMD curl -f http://localhost/"
        ),
        Instruction::Healthcheck(Healthcheck::Check {
            command: Command::Shell("curl -f http://localhost/".into()),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_secs(10)),
            start_period: Some(Duration::from_secs(5)),
            start_interval: Some(Duration::from_secs(1)),
            retries: Some(5),
        })
    );
    let Instruction::Healthcheck(Healthcheck::Check {
        command,
        interval,
        retries,
        ..
    }) = one("HEALTHCHECK CMD [\"true\"]")
    else {
        panic!()
    };
    assert_eq!(
        (command, interval, retries),
        (Command::Exec(strings(&["true"])), None, None)
    );
}

#[test]
fn onbuild_wraps_an_instruction() {
    let Instruction::Onbuild(ob) = one("ONBUILD COPY --chown=app . /src") else {
        panic!()
    };
    assert_eq!(ob.expression, "COPY --chown=app . /src");
    let Instruction::Copy(copy) = ob.instruction else {
        panic!()
    };
    assert_eq!(copy.chown.as_deref(), Some("app"));
    let Instruction::Onbuild(ob) = one("onbuild run make") else {
        panic!()
    };
    assert_eq!(ob.instruction.keyword(), "RUN");
}

#[test]
fn copy_flags_and_forms() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=app:app --chmod=755 --link --parents --exclude=*.md --exclude=tmp a b /dst/",
    ) else {
        panic!()
    };
    assert_eq!(
        (c.from.as_deref(), c.chown.as_deref(), c.chmod.as_deref()),
        (Some("build"), Some("app:app"), Some("755"))
    );
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, strings(&["*.md", "tmp"]));
    assert_eq!(
        c.files.sources,
        vec![Source::Path("a".into()), Source::Path("b".into())]
    );
    assert_eq!((c.files.dest.as_str(), c.files.json), ("/dst/", false));
    let Instruction::Copy(c) = one("COPY [\"my file\", \"/my dir/\"]") else {
        panic!()
    };
    assert_eq!(
        (c.files.sources, c.files.dest, c.files.json),
        (
            vec![Source::Path("my file".into())],
            "/my dir/".into(),
            true
        )
    );
    let Instruction::Copy(c) = one("COPY --link=false a b") else {
        panic!()
    };
    assert!(!c.link);
}

#[test]
fn add_flags() {
    let Instruction::Add(a) = one(
        "ADD --checksum=sha256:abc --keep-git-dir --chown=1 --chmod=644 --link --exclude=x https://example.com/a.tgz /",
    ) else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir && a.link);
    assert_eq!(
        (a.chown.as_deref(), a.chmod.as_deref(), a.excludes.clone()),
        (Some("1"), Some("644"), strings(&["x"]))
    );
    assert_eq!(
        a.files.sources,
        vec![Source::Path("https://example.com/a.tgz".into())]
    );
}

#[test]
fn case_insensitive_keywords_and_originals() {
    let s = steps("  run   echo hi  \nWorkDir /x");
    assert_eq!(s[0].original, "run   echo hi");
    assert_eq!((s[0].line, s[1].line), (2, 3));
    assert_eq!(s[1].instruction, Instruction::Workdir("/x".into()));
}

#[test]
fn continuations_and_lines() {
    let s = steps(
        "RUN apt-get update && \\\n    # a comment inside\n\n    apt-get install -y \\   \n      curl\nCMD x",
    );
    assert_eq!(
        s[0].instruction,
        Instruction::Run(Run {
            command: Command::Shell("apt-get update &&     apt-get install -y       curl".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    assert_eq!((s[0].line, s[0].end_line, s[1].line), (2, 6, 7));
}

#[test]
fn backtick_escape() {
    let d = df(
        "# escape=`\nFROM mcr.microsoft.com/windows\nCOPY testfile.txt c:\\ `\n  c:\\dest\\\nRUN dir c:\\",
    );
    let steps = &d.stages[0].instructions;
    let Instruction::Copy(c) = &steps[0].instruction else {
        panic!()
    };
    assert_eq!(
        c.files.sources,
        vec![
            Source::Path("testfile.txt".into()),
            Source::Path("c:\\".into())
        ]
    );
    assert_eq!(c.files.dest, "c:\\dest\\");
    assert_eq!(
        steps[1].instruction,
        Instruction::Run(Run {
            command: Command::Shell("dir c:\\".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None
        })
    );
    assert_eq!(d.directives.escape, '`');
}

#[test]
fn empty_lines_comments_and_crlf() {
    let d = df("\r\n# comment\r\n  # indented comment\r\nFROM a\r\n\r\nRUN x # not a comment\r\n");
    assert_eq!(
        d.stages[0].instructions[0].original,
        "RUN x # not a comment"
    );
    assert_eq!(d.stages[0].line, 4);
}
