//! Heredoc openers on `RUN`, `COPY` and `ADD` lines (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`),
//! recognised as BuildKit does: a shell word (quotes kept) matching `^(\d*)<<(-?)([^<]*)$`
//! whose rest is one word.
//!
//! This module calls only the crate's lexer.

use super::expand::Lexer;

/// A heredoc opener.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Opener {
    /// The delimiter, quotes removed.
    pub(crate) name: String,
    /// False if any part of the delimiter was quoted.
    pub(crate) expand: bool,
    /// `<<-`.
    pub(crate) strip_tabs: bool,
    /// The digits before `<<`.
    pub(crate) fd: u32,
}

/// Recognises one word as a heredoc opener.
pub(crate) fn parse_word(word: &str) -> Option<Opener> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = if digits == 0 {
        0
    } else {
        word[..digits].parse().ok()?
    };
    let mut lexer = Lexer::without_variables('\\');
    lexer.skip_unset = true;
    let words = lexer.words(rest).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    lexer.raw_quotes = true;
    let raw = lexer.words(rest).ok()?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '"' || c == '\'').count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Some(Opener {
        name: name.clone(),
        expand,
        strip_tabs,
        fd,
    })
}

/// The heredoc openers of a line, in order, each with the character offset of its word.
pub(crate) fn openers(line: &str) -> Vec<(Opener, usize)> {
    if !line.contains("<<") {
        return Vec::new();
    }
    let mut lexer = Lexer::without_variables('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    let Ok(words) = lexer.words(line) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut from = 0;
    for word in words {
        let Some(opener) = parse_word(&word) else {
            continue;
        };
        // Raw words are the source text, so the word can be found after the previous one.
        let offset = line[from..].find(word.as_str()).map_or(from, |i| from + i);
        from = offset + word.len();
        found.push((opener, line[..offset].chars().count()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opener(name: &str, expand: bool, strip_tabs: bool, fd: u32) -> Opener {
        Opener {
            name: name.into(),
            expand,
            strip_tabs,
            fd,
        }
    }

    #[test]
    fn plain_chomped_quoted_and_fd() {
        assert_eq!(parse_word("<<EOF"), Some(opener("EOF", true, false, 0)));
        assert_eq!(parse_word("<<-EOF"), Some(opener("EOF", true, true, 0)));
        assert_eq!(
            parse_word("<<\"EOF\""),
            Some(opener("EOF", false, false, 0))
        );
        assert_eq!(parse_word("<<'EOF'"), Some(opener("EOF", false, false, 0)));
        assert_eq!(
            parse_word("<<E\"O\"F"),
            Some(opener("EOF", false, false, 0))
        );
        assert_eq!(parse_word("3<<EOF"), Some(opener("EOF", true, false, 3)));
        assert_eq!(
            parse_word("<<file.txt"),
            Some(opener("file.txt", true, false, 0))
        );
    }

    #[test]
    fn not_openers() {
        for word in ["<<", "<<-", "a<<EOF", "<<<EOF", "\"<<EOF\"", "<<EOF<<X"] {
            assert_eq!(parse_word(word), None, "{word}");
        }
    }

    #[test]
    fn openers_on_a_line_with_offsets() {
        let found = openers("RUN <<A cat <<-\"B\" > x");
        assert_eq!(
            found,
            vec![
                (opener("A", true, false, 0), 4),
                (opener("B", false, true, 0), 12)
            ]
        );
        assert!(openers("RUN echo '<<EOF'").is_empty());
        assert!(openers("RUN echo hi").is_empty());
    }
}
