//! Substitution cases, including the Dockerfile reference's examples.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "FOO" => Some("/bar".into()),
        "EMPTY" => Some(String::new()),
        "string" => Some("foobarbaz".into()),
        "SPACED" => Some("a b  c".into()),
        "abc" => Some("hello".into()),
        _ => None,
    }
}

fn x(word: &str) -> Result<String, String> {
    expand(word, '\\', &env)
}

#[test]
fn plain_and_braced() {
    assert_eq!(x("$FOO").unwrap(), "/bar");
    assert_eq!(x("${FOO}/x").unwrap(), "/bar/x");
    assert_eq!(x("a${FOO}b$FOO.c").unwrap(), "a/barb/bar.c");
    assert_eq!(x("$UNSET-x").unwrap(), "-x");
    assert_eq!(x("$").unwrap(), "$");
    assert_eq!(x("$/x").unwrap(), "$/x");
    assert_eq!(x("$1x").unwrap(), "x");
}

#[test]
fn reference_examples() {
    // WORKDIR ${foo}, ADD . $foo, COPY \$foo /quux from the reference, with foo=/bar.
    assert_eq!(x("${FOO}").unwrap(), "/bar");
    assert_eq!(x("$FOO").unwrap(), "/bar");
    assert_eq!(x(r"\$FOO").unwrap(), "$FOO");
    assert_eq!(x(r"\${FOO}").unwrap(), "${FOO}");
    // The pattern table, with string=foobarbaz.
    assert_eq!(x("${string#f*b}").unwrap(), "arbaz");
    assert_eq!(x("${string##f*b}").unwrap(), "az");
    assert_eq!(x("${string%b*}").unwrap(), "foobar");
    assert_eq!(x("${string%%b*}").unwrap(), "foo");
    assert_eq!(x("${string/ba/fo}").unwrap(), "fooforbaz");
    assert_eq!(x("${string//ba/fo}").unwrap(), "fooforfoz");
}

#[test]
fn default_and_alternative() {
    assert_eq!(x("${UNSET:-word}").unwrap(), "word");
    assert_eq!(x("${EMPTY:-word}").unwrap(), "word");
    assert_eq!(x("${EMPTY-word}").unwrap(), "");
    assert_eq!(x("${UNSET-word}").unwrap(), "word");
    assert_eq!(x("${FOO:-word}").unwrap(), "/bar");
    assert_eq!(x("${FOO:+word}").unwrap(), "word");
    assert_eq!(x("${EMPTY:+word}").unwrap(), "");
    assert_eq!(x("${EMPTY+word}").unwrap(), "word");
    assert_eq!(x("${UNSET+word}").unwrap(), "");
    assert_eq!(x("${UNSET:-$FOO/x}").unwrap(), "/bar/x");
    assert_eq!(x("${UNSET:-'a b'}").unwrap(), "a b");
}

#[test]
fn required_variables() {
    assert_eq!(
        x("${UNSET:?}").unwrap_err(),
        "UNSET: is not allowed to be unset"
    );
    assert_eq!(x("${UNSET?must be set}").unwrap_err(), "UNSET: must be set");
    assert_eq!(
        x("${EMPTY:?}").unwrap_err(),
        "EMPTY: is not allowed to be empty"
    );
    assert_eq!(x("${EMPTY?}").unwrap(), "");
    assert_eq!(x("${FOO:?x}").unwrap(), "/bar");
}

#[test]
fn syntax_errors() {
    assert_eq!(x("${FOO").unwrap_err(), "syntax error: missing '}'");
    assert_eq!(x("${").unwrap_err(), "syntax error: missing '}'");
    assert_eq!(x("${}").unwrap_err(), "syntax error: bad substitution");
    assert_eq!(x("${:x}").unwrap_err(), "syntax error: bad substitution");
    assert_eq!(x("${FOO:-x").unwrap_err(), "syntax error: missing '}'");
    assert_eq!(
        x("${FOO!x}").unwrap_err(),
        "unsupported modifier (!) in substitution"
    );
    assert_eq!(
        x("${FOO:#x}").unwrap_err(),
        "unsupported modifier (:#) in substitution"
    );
    assert!(x("'abc").unwrap_err().contains("single-quote"));
    assert!(x("\"abc").unwrap_err().contains("double-quote"));
}

#[test]
fn quotes() {
    assert_eq!(x("'$FOO'").unwrap(), "$FOO");
    assert_eq!(x("\"$FOO\"").unwrap(), "/bar");
    assert_eq!(x("\"a 'b' $FOO\"").unwrap(), "a 'b' /bar");
    assert_eq!(x(r#""a \" \$FOO \\ \x""#).unwrap(), r#"a " $FOO \ \x"#);
    assert_eq!(x(r"'a\b'").unwrap(), r"a\b");
    assert_eq!(x("a\"b\"'c'").unwrap(), "abc");
}

#[test]
fn escapes() {
    assert_eq!(x(r"a\ b").unwrap(), "a b");
    assert_eq!(x(r"a\\b").unwrap(), r"a\b");
    assert_eq!(x(r"a\'b").unwrap(), "a'b");
    assert_eq!(x("a\\").unwrap(), "a");
    assert_eq!(
        expand("`$FOO and $FOO", '`', &env).unwrap(),
        "$FOO and /bar"
    );
    assert_eq!(expand(r"c:\dir\$FOO", '`', &env).unwrap(), r"c:\dir\/bar");
}

#[test]
fn words_split_after_substitution() {
    let w = |t: &str| expand_words(t, '\\', &env).unwrap();
    assert_eq!(w("a  b"), ["a", "b"]);
    assert_eq!(w("$SPACED"), ["a", "b", "c"]);
    assert_eq!(w("\"$SPACED\" x"), ["a b  c", "x"]);
    assert_eq!(w("'a b' c\\ d"), ["a b", "c d"]);
    assert_eq!(w("x \"\""), ["x", ""]);
    assert_eq!(w("80/tcp ${UNSET:-443}"), ["80/tcp", "443"]);
    assert!(w("$UNSET").is_empty());
}

#[test]
fn env_line_sees_previous_values() {
    // ENV abc=bye def=$abc: def gets the value from before the line.
    assert_eq!(x("$abc").unwrap(), "hello");
}

#[test]
fn skip_unset_keeps_references() {
    let mut lexer = Lexer::new('\\', &env);
    lexer.skip_unset = true;
    assert_eq!(
        lexer.word("$X ${Y} ${Z:-d} $FOO").unwrap(),
        "$X ${Y} ${Z:-d} /bar"
    );
}

#[test]
fn glob_classes_and_replace_all() {
    assert_eq!(x("${string#[a-f]o}").unwrap(), "obarbaz");
    assert_eq!(x("${string%?}").unwrap(), "foobarba");
    assert_eq!(x("${string//[ab]/_}").unwrap(), "foo__r__z");
    assert_eq!(x("${UNSET/a/b}").unwrap(), "");
    assert_eq!(x("${string/x/y}").unwrap(), "foobarbaz");
}
