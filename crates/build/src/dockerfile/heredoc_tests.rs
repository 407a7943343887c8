//! Heredocs on `RUN`, `COPY`, `ADD` and `ONBUILD` lines, and build-time substitution.

use super::*;

fn one(body: &str) -> Step {
    let mut d =
        parse(&format!("FROM scratch\n{body}"), "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        d.stages[0].instructions.len(),
        1,
        "{:?}",
        d.stages[0].instructions
    );
    d.stages[0].instructions.remove(0)
}

fn doc(name: &str, content: &str, expand: bool, strip_tabs: bool, end_line: usize) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        strip_tabs,
        fd: 0,
        end_line,
    }
}

#[test]
fn run_heredoc_script() {
    let step = one("RUN <<EOF\napt-get update\napt-get install -y vim\nEOF\n");
    let Instruction::Run(run) = &step.instruction else {
        panic!()
    };
    assert_eq!(run.command, Command::Shell("<<EOF".into()));
    assert_eq!(
        run.heredocs,
        vec![doc(
            "EOF",
            "apt-get update\napt-get install -y vim\n",
            true,
            false,
            5
        )]
    );
    assert_eq!(
        run.script().as_deref(),
        Some("apt-get update\napt-get install -y vim\n")
    );
    assert_eq!(
        (step.line, step.end_line, step.original.as_str()),
        (2, 5, "RUN <<EOF")
    );
}

#[test]
fn strip_tabs_and_quoted_delimiters() {
    let Instruction::Run(run) = one("RUN <<-EOT\n\techo $HOME\n\t\tnested\n\tEOT\n").instruction
    else {
        panic!()
    };
    assert_eq!(
        run.heredocs,
        vec![doc("EOT", "echo $HOME\nnested\n", true, true, 5)]
    );
    let Instruction::Run(run) = one("RUN <<\"EOT\"\n\techo $HOME\nEOT").instruction else {
        panic!()
    };
    assert_eq!(
        run.heredocs,
        vec![doc("EOT", "\techo $HOME\n", false, false, 4)]
    );
    let Instruction::Run(run) = one("RUN <<'EOT'\nx\nEOT").instruction else {
        panic!()
    };
    assert!(!run.heredocs[0].expand);
}

#[test]
fn several_heredocs_on_one_line() {
    let Instruction::Run(run) = one(
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2",
    )
    .instruction
    else {
        panic!()
    };
    assert_eq!(
        run.heredocs,
        vec![
            doc("FILE1", "I am\nfirst\n", true, false, 5),
            doc("FILE2", "I am\nsecond\n", true, false, 8)
        ]
    );
    assert_eq!(
        run.script().unwrap(),
        "<<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2"
    );
}

#[test]
fn heredoc_with_interpreter_and_fd() {
    let Instruction::Run(run) = one("RUN python3 <<EOF\nprint('hi')\nEOF").instruction else {
        panic!()
    };
    assert_eq!(run.script().unwrap(), "python3 <<EOF\nprint('hi')\nEOF");
    let Instruction::Run(run) = one("RUN cat 3<<EOF\nx\nEOF").instruction else {
        panic!()
    };
    assert_eq!(run.heredocs[0].fd, 3);
}

#[test]
fn copy_heredocs_become_sources() {
    let Instruction::Copy(c) = one("COPY <<EOF /etc/motd\nhello $USER\nEOF").instruction else {
        panic!()
    };
    assert_eq!(
        c.files.sources,
        vec![Source::Heredoc(doc("EOF", "hello $USER\n", true, false, 4))]
    );
    assert_eq!(c.files.dest, "/etc/motd");
    let Instruction::Copy(c) = one("COPY <<a.txt <<b.txt /dir/\nA\na.txt\nB\nb.txt\n").instruction
    else {
        panic!()
    };
    let names: Vec<&str> = c
        .files
        .sources
        .iter()
        .map(|s| match s {
            Source::Heredoc(h) => h.name.as_str(),
            Source::Path(p) => p.as_str(),
        })
        .collect();
    assert_eq!(names, ["a.txt", "b.txt"]);
    assert_eq!(c.files.heredocs.len(), 2);
}

#[test]
fn add_and_onbuild_heredocs() {
    let Instruction::Add(a) = one("ADD <<EOF /x\ny\nEOF").instruction else {
        panic!()
    };
    assert!(matches!(&a.files.sources[0], Source::Heredoc(h) if h.content == "y\n"));
    let step = one("ONBUILD RUN <<EOF\ntrue\nEOF\n");
    let Instruction::Onbuild(ob) = &step.instruction else {
        panic!()
    };
    let Instruction::Run(run) = &ob.instruction else {
        panic!()
    };
    assert_eq!(run.heredocs[0].content, "true\n");
    assert_eq!(step.end_line, 4);
}

#[test]
fn heredocs_only_in_shell_form_of_run_copy_add() {
    let d = parse(
        "FROM a\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nCMD cat <<EOF\nLABEL a=b",
        "Dockerfile",
    )
    .unwrap();
    assert_eq!(d.stages[0].instructions.len(), 3);
    let d = parse("FROM a\nRUN echo '<<EOF' \"<<X\"\nRUN true", "Dockerfile").unwrap();
    assert_eq!(d.stages[0].instructions.len(), 2);
}

#[test]
fn heredoc_after_continuation() {
    let step = one("RUN --network=none \\\n  cat <<EOF\nbody\nEOF");
    let Instruction::Run(run) = &step.instruction else {
        panic!()
    };
    assert_eq!(run.heredocs[0].content, "body\n");
    assert_eq!(run.network, Some(Network::None));
}

fn vars(name: &str) -> Option<String> {
    match name {
        "DIR" => Some("/app".into()),
        "PORTS" => Some("80 443/udp".into()),
        "USER" => Some("me".into()),
        "a" => Some("old".into()),
        _ => None,
    }
}

#[test]
fn instruction_expansion_follows_docker() {
    let x = |body: &str| one(body).instruction.expand('\\', &vars).unwrap();
    assert_eq!(
        x("WORKDIR ${DIR}/src"),
        Instruction::Workdir("/app/src".into())
    );
    assert_eq!(
        x("ENV a=new b=$a c=\"x y\""),
        Instruction::Env(vec![
            KeyValue {
                key: "a".into(),
                value: "new".into()
            },
            KeyValue {
                key: "b".into(),
                value: "old".into()
            },
            KeyValue {
                key: "c".into(),
                value: "x y".into()
            }
        ])
    );
    assert_eq!(
        x("EXPOSE $PORTS 8080"),
        Instruction::Expose(vec!["80".into(), "443/udp".into(), "8080".into()])
    );
    assert_eq!(x("RUN echo $DIR"), one("RUN echo $DIR").instruction);
    assert_eq!(x("CMD echo $DIR"), one("CMD echo $DIR").instruction);
    let Instruction::Copy(c) = x("COPY --chown=$USER --from=${STAGE:-build} \\$DIR $DIR/ ${DIR}")
    else {
        panic!()
    };
    assert_eq!(
        (c.chown.as_deref(), c.from.as_deref()),
        (Some("me"), Some("build"))
    );
    assert_eq!(
        c.files.sources,
        vec![Source::Path("$DIR".into()), Source::Path("/app/".into())]
    );
    assert_eq!(c.files.dest, "/app");
    let Instruction::Copy(c) = x("COPY <<EOF <<'RAW' /d/\n$USER\nEOF\n$USER\nRAW") else {
        panic!()
    };
    let contents: Vec<&str> = c
        .files
        .sources
        .iter()
        .map(|s| match s {
            Source::Heredoc(h) => h.content.as_str(),
            Source::Path(p) => p.as_str(),
        })
        .collect();
    assert_eq!(contents, ["me\n", "$USER\n"]);
    let Instruction::Run(run) = x("RUN --mount=type=cache,target=$DIR/cache true") else {
        panic!()
    };
    assert_eq!(run.mounts[0].target.as_deref(), Some("/app/cache"));
    let from = From {
        image: "alpine:${V:-3}".into(),
        platform: Some("$P".into()),
    };
    assert_eq!(
        from.expand('\\', &vars).unwrap(),
        From {
            image: "alpine:3".into(),
            platform: Some(String::new())
        }
    );
}

#[test]
fn expansion_errors_are_messages() {
    assert_eq!(
        one("USER ${NOPE:?set a user}")
            .instruction
            .expand('\\', &vars)
            .unwrap_err(),
        "NOPE: set a user"
    );
}
