//! One path pattern in Go `filepath.Match` syntax, optionally with Docker's `**`.
//!
//! `.dockerignore` patterns (moby/patternmatcher) and COPY source globs (one path segment at a
//! time, plain `filepath.Match`) share this matcher. Patterns are compiled to a token list and
//! matched by backtracking: patterns are short, so this stays cheap and needs no regex crate.

use std::fmt;

/// Why a pattern does not compile: Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go's wording, so users searching for it find the Docker documentation.
        f.write_str("syntax error in pattern")
    }
}

/// One compiled pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A literal character (also an escaped one).
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` (or `**/`) followed by more pattern: nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end of the pattern: anything at all.
    AnyTail,
    /// `[...]`: one character in (or, with `^`, not in) the ranges. It may match `/`, as both
    /// Go's `filepath.Match` and patternmatcher's regex do.
    Class {
        /// `[^...]`.
        negated: bool,
        /// Inclusive ranges; a single character is a range of one.
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// patternmatcher's "suffix match": a pattern that is `**` followed by literal text matches
    /// any path ending in that text (so `**.go` matches `a/b.go`), or the text without its
    /// leading `/` (so `**/foo` matches `foo`). Kept because Docker behaves this way.
    Suffix(String),
    /// Everything else.
    Tokens(Vec<Token>),
}

impl Pattern {
    /// Compile `pattern`. With `double_star`, `**` spans directories as in `.dockerignore`;
    /// without it, `**` is two `*` (plain `filepath.Match`).
    pub(crate) fn compile(pattern: &str, double_star: bool) -> Result<Pattern, BadPattern> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if double_star && chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() {
                        Token::AnyTail
                    } else {
                        Token::AnyDirs
                    });
                }
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '\\' => {
                    let escaped = *chars.get(i).ok_or(BadPattern)?;
                    i += 1;
                    tokens.push(Token::Lit(escaped));
                }
                '[' => {
                    let (token, next) = class(&chars, i)?;
                    tokens.push(token);
                    i = next;
                }
                c => tokens.push(Token::Lit(c)),
            }
        }
        if double_star
            && let Some(rest) = pattern.strip_prefix("**")
            && !rest.contains(['*', '?', '[', ']', '\\'])
        {
            return Ok(Pattern::Suffix(rest.to_string()));
        }
        Ok(Pattern::Tokens(tokens))
    }

    /// Whether the whole of `path` matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| s == path)
            }
            Pattern::Tokens(tokens) => {
                let chars: Vec<char> = path.chars().collect();
                run(tokens, &chars, false)
            }
        }
    }

    /// Whether some path starting with `prefix` could match: used to decide whether an
    /// excluded directory must still be walked for exceptions below it.
    pub(crate) fn may_match_with_prefix(&self, prefix: &str) -> bool {
        match self {
            Pattern::Suffix(_) => true,
            Pattern::Tokens(tokens) => {
                let chars: Vec<char> = prefix.chars().collect();
                run(tokens, &chars, true)
            }
        }
    }
}

/// Parse a character class whose `[` is just before `chars[start]`, following Go's
/// `filepath.Match` rules: optional `^`, then at least one item (`c`, `\c` or `lo-hi`), where
/// an unescaped `-` or `]` cannot start an item. Returns the token and the index after `]`.
fn class(chars: &[char], start: usize) -> Result<(Token, usize), BadPattern> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        match chars.get(i) {
            None => return Err(BadPattern),
            Some(']') if !ranges.is_empty() => {
                return Ok((Token::Class { negated, ranges }, i + 1));
            }
            Some(_) => {
                let (lo, next) = class_char(chars, i)?;
                i = next;
                let mut hi = lo;
                if chars.get(i) == Some(&'-') {
                    let (h, next) = class_char(chars, i + 1)?;
                    hi = h;
                    i = next;
                }
                ranges.push((lo, hi));
            }
        }
    }
}

/// One character of a class item (Go's `getEsc`).
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match chars.get(i) {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => chars.get(i + 1).map(|c| (*c, i + 2)).ok_or(BadPattern),
        Some(c) => Ok((*c, i + 1)),
    }
}

/// Backtracking matcher. With `prefix`, running out of input counts as success: the rest of
/// the pattern could still match whatever follows.
fn run(tokens: &[Token], s: &[char], prefix: bool) -> bool {
    if prefix && s.is_empty() {
        return true;
    }
    let Some((token, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match token {
        Token::Lit(c) => s.first() == Some(c) && run(rest, &s[1..], prefix),
        Token::One => s.first().is_some_and(|c| *c != '/') && run(rest, &s[1..], prefix),
        Token::Class { negated, ranges } => s.first().is_some_and(|c| {
            let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
            inside != *negated && run(rest, &s[1..], prefix)
        }),
        Token::Star => {
            for k in 0..=s.len() {
                if run(rest, &s[k..], prefix) {
                    return true;
                }
                if k < s.len() && s[k] == '/' {
                    break;
                }
            }
            false
        }
        Token::AnyDirs => {
            run(rest, s, prefix)
                || (0..s.len()).any(|k| s[k] == '/' && run(rest, &s[k + 1..], prefix))
        }
        Token::AnyTail => true,
    }
}

/// Go's `path.Clean`: collapse slashes, drop `.`, resolve `..` lexically (a rooted path cannot
/// climb above `/`), and turn the empty result into `.`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// Whether `pattern` uses any `filepath.Match` metacharacter (BuildKit's `containsWildcards`:
/// a `\` hides the character after it).
pub(crate) fn has_wildcards(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// The literal text of a wildcard-free pattern: escapes removed.
pub(crate) fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::compile(pattern, false).unwrap().matches(path)
    }

    #[test]
    fn go_filepath_match_cases() {
        // A selection of Go's own `filepath.Match` test table.
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(m(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn go_bad_patterns() {
        for bad in [
            "[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "\\", "[\\", "[a-",
        ] {
            assert_eq!(Pattern::compile(bad, false), Err(BadPattern), "{bad}");
        }
        // `[!a]` is not negation in Go: it is the set `!`, `a`.
        assert!(m("[!a]", "!"));
        assert!(m("[!a]", "a"));
        assert!(!m("[!a]", "b"));
    }

    #[test]
    fn double_star_and_prefixes() {
        let p = Pattern::compile("a/**/b", true).unwrap();
        assert!(p.matches("a/b") && p.matches("a/x/y/b") && !p.matches("a/xb"));
        let p = Pattern::compile("dir/**", true).unwrap();
        assert!(p.matches("dir/x/y") && !p.matches("dir"));
        assert!(p.may_match_with_prefix("dir/"));
        assert!(!p.may_match_with_prefix("other/"));
        let p = Pattern::compile("a/*/keep", true).unwrap();
        assert!(p.may_match_with_prefix("a/b/") && !p.may_match_with_prefix("b/"));
    }

    #[test]
    fn go_clean() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("./a/./b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("..", ".."),
            ("a/..", "."),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(has_wildcards("a*") && has_wildcards("[ab]") && has_wildcards("?"));
        assert!(!has_wildcards("a\\*b") && !has_wildcards("plain/path"));
        assert_eq!(unescape("a\\*b"), "a*b");
    }
}
