//! `.dockerignore` behaviour, checked against what Docker (moby/patternmatcher) does.

use super::*;

fn excluded(patterns: &str, path: &str) -> bool {
    Ignore::parse(patterns).unwrap().is_excluded(path)
}

#[test]
fn single_pattern_table() {
    // (pattern, path, excluded) — the path counts as excluded when the pattern matches it or
    // one of its parent directories.
    let cases = [
        ("**", "file", true),
        ("**/", "file", true),
        ("**", "dir/file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir", false),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir", "a/b/dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "file", true),
        ("**file", "dir/dir/file", true),
        // patternmatcher's suffix shortcut: `**` + literal text is a plain suffix test.
        ("**file", "dir/myfile", true),
        ("**/file", "dir/myfile", false),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[^b-d]e", "aze", true),
        ("a[^b-d]e", "ace", false),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("*", "fileutils.go", true),
        ("*.go", "fileutils.go", true),
        ("*.go", "pkg/fileutils.go", false),
        // `*` stops at `/`, but a match on a parent directory still counts.
        ("a*", "ab/c", true),
        ("docs", "docs/README.md", true),
        ("docs/", "docs/README.md", true),
        ("/docs", "docs/README.md", true),
        ("./docs/../docs", "docs/README.md", true),
        ("docs", "documents", false),
    ];
    for (pattern, path, want) in cases {
        assert_eq!(
            excluded(pattern, path),
            want,
            "pattern {pattern:?} path {path:?}"
        );
    }
}

#[test]
fn exceptions_and_order() {
    assert!(excluded("!fileutils.go\n*.go", "fileutils.go"));
    assert!(!excluded("*.go\n!fileutils.go", "fileutils.go"));
    assert!(!excluded("docs\n!docs/README.md", "docs/README.md"));
    assert!(excluded("docs\n!docs/README.md", "docs/other.md"));
    assert!(excluded("docs\n!docs/README.md", "docs"));
    assert!(!excluded("docs/*\n!docs/README.md", "docs/README.md"));
    assert!(!excluded("**\n!util/docker/web", "util/docker/web/foo"));
    assert!(excluded(
        "**\n!util/docker/web\nutil/docker/web/foo",
        "util/docker/web/foo"
    ));
    assert!(!excluded(
        "**\n!dist/*.whl",
        "dist/x-1.0+g1-py3-none-any.whl"
    ));
    // Last match wins, even when a later exclusion is broader.
    assert!(excluded("!keep\n*", "keep"));
    assert!(!excluded("*\n!keep", "keep"));
    assert!(excluded("*\n!keep\nkeep", "keep"));
}

#[test]
fn file_syntax() {
    let text = "\u{feff}# comment\n\n   \n  target  \r\n! /node_modules/keep \n  # not a comment\n";
    let ignore = Ignore::parse(text).unwrap();
    assert!(ignore.is_excluded("target"));
    assert!(ignore.is_excluded("target/debug/x"));
    assert!(!ignore.is_excluded("node_modules/keep"));
    // The trimmed text `# not a comment` is an ordinary pattern.
    assert!(ignore.is_excluded("# not a comment"));
    assert!(!ignore.is_excluded("src/main.rs"));
    assert!(Ignore::parse("").unwrap().is_empty());
    assert!(!Ignore::parse("# only a comment").unwrap().is_excluded("x"));
}

#[test]
fn root_is_never_excluded() {
    let ignore = Ignore::parse("*\n**\n.").unwrap();
    assert!(!ignore.is_excluded("."));
    assert!(!ignore.is_excluded(""));
    assert!(ignore.is_excluded("anything"));
}

#[test]
fn invalid_patterns_name_their_line() {
    let err = Ignore::parse("ok\n!\n").unwrap_err();
    assert!(matches!(err, Error::Ignore { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("illegal exclusion pattern"));
    let err = Ignore::parse("a\nb\n[\n").unwrap_err();
    assert!(matches!(err, Error::Ignore { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("syntax error in pattern"));
    assert!(matches!(
        Ignore::parse("!  \n"),
        Err(Error::Ignore { line: 1, .. })
    ));
    assert!(matches!(Ignore::parse("x\\"), Err(Error::Ignore { .. })));
    assert!(matches!(Ignore::parse("[]a]"), Err(Error::Ignore { .. })));
}

#[test]
fn walking_into_excluded_directories() {
    let ignore = Ignore::parse("dir\n!dir/sub/keep.txt").unwrap();
    assert!(ignore.is_excluded("dir"));
    assert!(ignore.may_include_below("dir"));
    assert!(ignore.is_excluded("dir/sub"));
    assert!(ignore.may_include_below("dir/sub"));
    assert!(!ignore.may_include_below("dir/other"));
    assert!(!ignore.is_excluded("dir/sub/keep.txt"));
    assert!(ignore.is_excluded("dir/sub/other.txt"));

    let ignore = Ignore::parse("build\n!**/*.keep").unwrap();
    assert!(ignore.may_include_below("build"));
    assert!(!ignore.is_excluded("build/a/b/x.keep"));
    assert!(ignore.is_excluded("build/a/b/x.o"));

    let ignore = Ignore::parse("node_modules").unwrap();
    assert!(!ignore.may_include_below("node_modules"));

    let ignore = Ignore::parse("*\n!src").unwrap();
    assert!(!ignore.may_include_below("target"));
    assert!(ignore.may_include_below("src") || !ignore.is_excluded("src"));
    assert!(!ignore.is_excluded("src/main.rs"));
}
