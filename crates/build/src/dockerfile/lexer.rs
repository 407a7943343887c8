//! From text to logical lines: parser directives, comments, empty lines and line continuations,
//! with BuildKit's rules; heredoc bodies are read from here on the parser's request.
//!
//! This module calls nothing outside the crate.

use super::Directives;

/// A directive problem, reported by the parser with the line it comes from.
#[derive(Debug)]
pub(crate) struct DirectiveError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// One instruction's text with continuations joined, and where each piece came from.
#[derive(Debug)]
pub(crate) struct LogicalLine {
    /// The text: leading whitespace of the first line and the escape characters of
    /// continuations removed, continuation lines appended as they are.
    pub(crate) text: String,
    /// 1-based line of the last piece.
    pub(crate) end_line: usize,
    /// `(char offset in text, line, column)` of each piece's start.
    pieces: Vec<(usize, usize, usize)>,
}

impl LogicalLine {
    /// The line and 1-based column of a character offset in `text`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let &(start, line, column) = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.0 <= offset)
            .unwrap_or(&self.pieces[0]);
        (line, column + offset - start)
    }

    /// The position of the first character.
    pub(crate) fn start(&self) -> (usize, usize) {
        self.position(0)
    }
}

/// Reads a Dockerfile's lines.
pub(crate) struct Reader<'t> {
    lines: Vec<&'t str>,
    next: usize,
    escape: char,
}

/// `# name = value`: the parts of a line shaped like a directive.
fn directive_parts(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_end..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

impl<'t> Reader<'t> {
    /// Splits `text` into lines and reads the parser directives at its top.
    pub(crate) fn new(text: &'t str) -> Result<(Reader<'t>, Directives), DirectiveError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        let mut directives = Directives::default();
        let mut seen: Vec<String> = Vec::new();
        for (i, raw) in lines.iter().enumerate() {
            let Some((name, value)) = directive_parts(raw.trim_start()) else {
                break;
            };
            let name = name.to_ascii_lowercase();
            let column = raw.len() - raw.trim_start().len() + 1;
            let error = |message: String| DirectiveError {
                line: i + 1,
                column,
                message,
            };
            // An unknown directive is a comment, and ends the directives.
            if !matches!(name.as_str(), "syntax" | "escape" | "check") {
                break;
            }
            if seen.contains(&name) {
                return Err(error(format!(
                    "only one {name} parser directive can be used"
                )));
            }
            match name.as_str() {
                "escape" => {
                    directives.escape = match value {
                        "\\" => '\\',
                        "`" => '`',
                        other => {
                            return Err(error(format!(
                                "invalid escape token '{other}' does not match ` or \\"
                            )));
                        }
                    }
                }
                "syntax" => directives.syntax = Some(value.to_string()),
                _ => directives.check = Some(value.to_string()),
            }
            seen.push(name);
        }
        let escape = directives.escape;
        Ok((
            Reader {
                lines,
                next: 0,
                escape,
            },
            directives,
        ))
    }

    /// Strips a continuation (the escape character, then only blanks) from the end of `line`.
    fn continuation<'l>(&self, line: &'l str) -> Option<&'l str> {
        line.trim_end_matches([' ', '\t']).strip_suffix(self.escape)
    }

    /// The next instruction's text, skipping comments and empty lines.
    pub(crate) fn next_logical(&mut self) -> Option<LogicalLine> {
        loop {
            let raw = *self.lines.get(self.next)?;
            self.next += 1;
            if is_comment(raw) {
                continue;
            }
            let first = raw.trim_start();
            let column = raw[..raw.len() - first.len()].chars().count() + 1;
            let mut cont = self.continuation(first);
            let head = cont.unwrap_or(first);
            if cont.is_none() && head.is_empty() {
                continue;
            }
            let mut logical = LogicalLine {
                text: head.to_string(),
                end_line: self.next,
                pieces: vec![(0, self.next, column)],
            };
            while cont.is_some() {
                let Some(&raw) = self.lines.get(self.next) else {
                    break;
                };
                self.next += 1;
                // Comments and blank lines inside a continuation are skipped.
                if is_comment(raw) || raw.trim().is_empty() {
                    continue;
                }
                cont = self.continuation(raw);
                logical
                    .pieces
                    .push((logical.text.chars().count(), self.next, 1));
                logical.text.push_str(cont.unwrap_or(raw));
                logical.end_line = self.next;
            }
            return Some(logical);
        }
    }

    /// Reads a heredoc's body up to its terminator line (compared after removing leading tabs
    /// when `strip_tabs`); `None` if the text ends first. Returns the body with a newline after
    /// each line, tabs stripped from its lines when `strip_tabs`, and the terminator's line.
    pub(crate) fn heredoc_body(
        &mut self,
        terminator: &str,
        strip_tabs: bool,
    ) -> Option<(String, usize)> {
        let mut body = String::new();
        loop {
            let raw = *self.lines.get(self.next)?;
            self.next += 1;
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line == terminator {
                return Some((body, self.next));
            }
            body.push_str(line);
            body.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(text: &str) -> Vec<(String, usize, usize)> {
        let (mut reader, _) = Reader::new(text).unwrap();
        std::iter::from_fn(|| reader.next_logical())
            .map(|l| (l.text.clone(), l.start().0, l.end_line))
            .collect()
    }

    #[test]
    fn directives_case_and_spacing() {
        for text in ["#escape=`", "# escape =`", "#\tescape= `", "# EsCaPe = ` "] {
            let (_, d) = Reader::new(text).unwrap();
            assert_eq!(d.escape, '`', "{text}");
        }
        let (_, d) = Reader::new("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM x").unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn directives_end_at_first_other_line() {
        for text in [
            "\n# escape=`",
            "# comment\n# escape=`",
            "# unknown=x\n# escape=`",
            "FROM x\n# escape=`",
            "# escape=`x`\\",
        ] {
            let result = Reader::new(text);
            if text.ends_with('\\') {
                assert!(result.is_err());
                continue;
            }
            assert_eq!(result.unwrap().1.escape, '\\', "{text:?}");
        }
    }

    #[test]
    fn duplicate_and_invalid_directives() {
        let err = Reader::new("# escape=`\n# escape=\\").err().unwrap();
        assert_eq!(
            (err.line, err.column, err.message.as_str()),
            (2, 1, "only one escape parser directive can be used")
        );
        let err = Reader::new("# escape=x").err().unwrap();
        assert_eq!(
            err.message,
            "invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let text = "RUN a \\\n  b \\\n# comment\n\n   \n  c\n\n  # c2\nCMD d";
        assert_eq!(
            logical(text),
            [("RUN a   b   c".into(), 1, 6), ("CMD d".into(), 9, 9)]
        );
    }

    #[test]
    fn whitespace_after_escape_still_continues() {
        assert_eq!(logical("RUN a \\  \t\nb"), [("RUN a b".into(), 1, 2)]);
    }

    #[test]
    fn backtick_escape_continues_and_backslash_does_not() {
        let text = "# escape=`\nRUN dir c:\\ `\n  /w\nCOPY a\\\nb";
        let (mut reader, _) = Reader::new(text).unwrap();
        let l: Vec<String> = std::iter::from_fn(|| reader.next_logical())
            .map(|l| l.text)
            .collect();
        assert_eq!(l, ["RUN dir c:\\   /w", "COPY a\\", "b"]);
    }

    #[test]
    fn crlf_bom_and_positions() {
        let (mut reader, _) = Reader::new("\u{feff}  FROM x\r\nRUN a \\\r\n    b\r\n").unwrap();
        let first = reader.next_logical().unwrap();
        assert_eq!((first.text.as_str(), first.start()), ("FROM x", (1, 3)));
        let run = reader.next_logical().unwrap();
        assert_eq!(run.text, "RUN a     b");
        assert_eq!(run.position(10), (3, 5));
    }

    #[test]
    fn heredoc_bodies() {
        let (mut reader, _) = Reader::new("RUN <<EOF\n\techo hi\n  EOF\n\tEOF\nX").unwrap();
        reader.next_logical();
        assert_eq!(
            reader.heredoc_body("EOF", true),
            Some(("echo hi\n  EOF\n".into(), 4))
        );
        assert!(reader.heredoc_body("END", false).is_none());
    }
}
