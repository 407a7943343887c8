//! Errors: message, line and column.

use super::*;

fn err(text: &str) -> String {
    parse(text, "Dockerfile")
        .expect_err("should fail")
        .to_string()
}

#[test]
fn unknown_instruction_with_suggestion() {
    assert_eq!(
        err("FROM a\nRUN x\nRUNN y"),
        "Dockerfile:3:1: unknown instruction \"RUNN\" (did you mean RUN?)"
    );
    assert_eq!(
        err("FROM a\n  cpoy a b"),
        "Dockerfile:2:3: unknown instruction \"cpoy\" (did you mean COPY?)"
    );
    assert_eq!(
        err("FROM a\nFROBNICATE x"),
        "Dockerfile:2:1: unknown instruction \"FROBNICATE\""
    );
}

#[test]
fn no_from() {
    assert_eq!(err(""), "Dockerfile:1:1: no FROM instruction");
    assert_eq!(
        err("# just a comment\nARG X=1\n"),
        "Dockerfile:1:1: no FROM instruction"
    );
}

#[test]
fn instruction_before_from() {
    assert_eq!(
        err("ARG A\nRUN x\nFROM a"),
        "Dockerfile:2:1: RUN before the first FROM: only ARG may come before FROM"
    );
}

#[test]
fn flag_errors_point_at_the_instruction() {
    assert_eq!(
        err("FROM a\n\n\n\n\n\nCOPY --from a b"),
        "Dockerfile:7:1: COPY --from needs a value"
    );
    assert_eq!(
        err("FROM a\nCOPY --keep-git-dir a b"),
        "Dockerfile:2:1: unknown flag --keep-git-dir for COPY"
    );
    assert_eq!(
        err("FROM a\nADD --from=x a b"),
        "Dockerfile:2:1: unknown flag --from for ADD"
    );
    assert_eq!(
        err("FROM a\nENV --x=1 a=b"),
        "Dockerfile:2:1: unknown flag --x for ENV"
    );
    assert_eq!(
        err("FROM --plat=x a"),
        "Dockerfile:1:1: unknown flag --plat for FROM"
    );
    assert_eq!(
        err("FROM a\nRUN --network=bridge x"),
        "Dockerfile:2:1: RUN --network: network mode \"bridge\" not supported, expected none, host or default"
    );
    assert_eq!(
        err("FROM a\nRUN --mount=type=cache x"),
        "Dockerfile:2:1: RUN --mount=type=cache: cache mount needs a target"
    );
}

#[test]
fn unterminated_heredoc_points_at_its_start() {
    assert_eq!(
        err("FROM a\n\n\n\nRUN <<EOF\necho hi\n"),
        "Dockerfile:5:5: unterminated heredoc \"EOF\" started here"
    );
    assert_eq!(
        err("FROM a\nCOPY <<A <<B /d/\na\nA\nb\n"),
        "Dockerfile:2:10: unterminated heredoc \"B\" started here"
    );
    assert_eq!(
        err("FROM a\nRUN cat \\\n  <<-X\n"),
        "Dockerfile:3:3: unterminated heredoc \"X\" started here"
    );
}

#[test]
fn stage_name_errors() {
    assert_eq!(
        err("FROM a AS x\nFROM b AS X"),
        "Dockerfile:2:1: duplicate stage name \"x\""
    );
    assert!(err("FROM a AS 1st").starts_with("Dockerfile:1:1: invalid stage name \"1st\""));
    assert!(err("FROM a AS b@c").starts_with("Dockerfile:1:1: invalid stage name"));
    assert_eq!(
        err("FROM a b"),
        "Dockerfile:1:1: FROM takes an image, optionally followed by AS name"
    );
    assert_eq!(err("FROM"), "Dockerfile:1:1: FROM needs an image");
}

#[test]
fn argument_errors() {
    let cases = [
        (
            "SHELL /bin/sh -c",
            "SHELL needs the JSON form: SHELL [\"executable\", \"parameters\"]",
        ),
        ("SHELL []", "SHELL needs at least an executable"),
        ("RUN", "RUN needs a command"),
        (
            "RUN [\"a\", 1]",
            "RUN: a JSON array must contain only strings",
        ),
        ("COPY a", "COPY needs at least one source and a destination"),
        (
            "COPY a <<EOF",
            "COPY cannot take a heredoc as its destination",
        ),
        ("ENV", "ENV needs at least one key=value"),
        ("ENV a", "ENV needs a value: ENV a=value"),
        ("ENV a=1 b", "ENV expects key=value, found \"b\""),
        ("LABEL =x", "LABEL names cannot be blank"),
        ("ARG", "ARG needs at least one name"),
        ("ARG =1", "ARG names cannot be blank"),
        ("EXPOSE", "EXPOSE needs at least one port"),
        (
            "EXPOSE 80/icmp",
            "EXPOSE: invalid protocol \"icmp\" in port \"80/icmp\", expected tcp, udp or sctp",
        ),
        ("WORKDIR", "WORKDIR needs an argument"),
        ("USER", "USER needs an argument"),
        ("VOLUME", "VOLUME needs at least one path"),
        ("VOLUME [\"\"]", "VOLUME paths cannot be empty"),
        ("HEALTHCHECK", "HEALTHCHECK needs NONE or CMD"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        (
            "HEALTHCHECK --retries=1 NONE",
            "HEALTHCHECK NONE takes no arguments",
        ),
        (
            "HEALTHCHECK CHECK x",
            "unknown HEALTHCHECK type \"CHECK\" (expected CMD or NONE)",
        ),
        ("HEALTHCHECK CMD", "HEALTHCHECK CMD needs a command"),
        (
            "HEALTHCHECK --interval=10 CMD x",
            "HEALTHCHECK --interval: invalid duration \"10\"",
        ),
        (
            "HEALTHCHECK --timeout=1us CMD x",
            "HEALTHCHECK --timeout cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --retries=-1 CMD x",
            "HEALTHCHECK --retries cannot be negative",
        ),
        ("ONBUILD", "ONBUILD needs an instruction"),
        (
            "ONBUILD ONBUILD RUN x",
            "chaining ONBUILD via ONBUILD ONBUILD isn't allowed",
        ),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        (
            "ONBUILD maintainer x",
            "MAINTAINER isn't allowed as an ONBUILD trigger",
        ),
        (
            "ONBUILD RUNN x",
            "unknown instruction \"RUNN\" (did you mean RUN?)",
        ),
    ];
    for (line, message) in cases {
        assert_eq!(
            err(&format!("FROM a\n{line}")),
            format!("Dockerfile:2:1: {message}"),
            "{line}"
        );
    }
}

#[test]
fn directive_errors() {
    assert_eq!(
        err("# escape=|\nFROM a"),
        "Dockerfile:1:1: invalid escape token '|' does not match ` or \\"
    );
    assert_eq!(
        err("# syntax=a\n# syntax=b\nFROM a"),
        "Dockerfile:2:1: only one syntax parser directive can be used"
    );
}

#[test]
fn file_name_is_the_given_one() {
    assert_eq!(
        parse("", "build/Dockerfile.dev").unwrap_err().to_string(),
        "build/Dockerfile.dev:1:1: no FROM instruction"
    );
}
