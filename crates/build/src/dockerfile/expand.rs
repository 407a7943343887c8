//! Variable substitution with the rules of BuildKit's shell lexer.
//!
//! The parser keeps raw words; the builder substitutes them at build time, when the values of
//! `ARG`/`--build-arg` and the stage's `ENV` are known. Rules, as in BuildKit:
//!
//! - `$NAME` and `${NAME}`; a name is letters, digits and `_` (a leading digit run such as `$1`,
//!   or one of `@*#?-$!0`, is a special parameter, which is never set);
//! - `${NAME:-word}` / `${NAME-word}`: `word` if unset (or empty, with `:`);
//! - `${NAME:+word}` / `${NAME+word}`: `word` if set (and non-empty, with `:`), else empty;
//! - `${NAME:?msg}` / `${NAME?msg}`: an error if unset (or empty, with `:`);
//! - `${NAME#pat}`, `${NAME##pat}`, `${NAME%pat}`, `${NAME%%pat}`: remove the shortest/longest
//!   prefix/suffix matching a glob (`*`, `?`, `[...]`);
//! - `${NAME/pat/repl}`, `${NAME//pat/repl}`: replace the first/every match of a glob;
//! - the escape character (`\` or the `# escape=` one) makes the next character literal;
//! - single quotes keep everything literal; double quotes keep everything literal except `$`
//!   and the escape character before `"`, `$` or itself;
//! - quotes are removed from the result.
//!
//! This module calls nothing outside the crate.

use super::glob::Glob;

/// Looks a variable up: `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Substitutes variables in `word` and removes quotes and escapes, keeping whitespace: the
/// expansion of one argument such as a `WORKDIR` path, an `ENV` value or a `COPY` source.
///
/// Errors (`${X:?msg}`, a missing `}` or quote, an unsupported modifier) are returned as a
/// message without position: the caller knows the instruction.
pub fn expand(word: &str, escape: char, lookup: Lookup<'_>) -> Result<String, String> {
    Lexer::new(escape, lookup).word(word)
}

/// Substitutes variables in `text` and splits the result into words at unquoted whitespace,
/// including whitespace that comes from a variable's value: the expansion of lists such as
/// `EXPOSE` ports.
pub fn expand_words(text: &str, escape: char, lookup: Lookup<'_>) -> Result<Vec<String>, String> {
    Lexer::new(escape, lookup).words(text)
}

fn no_variables(_: &str) -> Option<String> {
    None
}

/// The shell-word lexer with BuildKit's switches, for heredoc detection inside the parser.
pub(crate) struct Lexer<'a> {
    escape: char,
    lookup: Lookup<'a>,
    /// Keep quote characters in the result.
    pub(crate) raw_quotes: bool,
    /// Keep escape characters in the result.
    pub(crate) raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub(crate) skip_unset: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(escape: char, lookup: Lookup<'a>) -> Self {
        Lexer {
            escape,
            lookup,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// A lexer without variables (every reference is unset).
    pub(crate) fn without_variables(escape: char) -> Lexer<'static> {
        Lexer::new(escape, &no_variables)
    }

    pub(crate) fn word(&self, text: &str) -> Result<String, String> {
        let mut scan = Scan {
            lx: self,
            chars: text.chars().collect(),
            pos: 0,
            raw_escapes: self.raw_escapes,
        };
        scan.stop_on(None).map(|(word, _)| word)
    }

    pub(crate) fn words(&self, text: &str) -> Result<Vec<String>, String> {
        let mut scan = Scan {
            lx: self,
            chars: text.chars().collect(),
            pos: 0,
            raw_escapes: self.raw_escapes,
        };
        scan.stop_on(None).map(|(_, words)| words.finish())
    }
}

/// Words being accumulated: whitespace from unquoted text or variable values splits them.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            // As in BuildKit, an empty quoted word is only kept if something follows it.
            if self.in_word && !self.word.is_empty() {
                self.done.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.done.push(self.word);
        }
        self.done
    }
}

struct Scan<'l, 'a> {
    lx: &'l Lexer<'a>,
    chars: Vec<char>,
    pos: usize,
    raw_escapes: bool,
}

impl Scan<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.lx.lookup)(name)
    }

    /// Reads up to `stop` (consumed) or the end; `None` means the end is the normal stop.
    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Words), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words));
            }
            match ch {
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.pos += 1;
                    let mut c = ch;
                    if ch == self.lx.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // An escape character at the very end is dropped.
                        match self.next() {
                            Some(n) => c = n,
                            None => break,
                        }
                        words.add_raw_char(c);
                    } else {
                        words.add_char(c);
                    }
                    result.push(c);
                }
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((result, words)),
        }
    }

    fn with_raw_escapes<T>(&mut self, raw: bool, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.raw_escapes, raw);
        let out = f(self);
        self.raw_escapes = saved;
        out
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.lx.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lx.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.lx.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lx.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == self.lx.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lx.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            // Any other escape stays literal, as in sh.
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lx.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut modifier = ch.to_string();
        let value = self.lookup(&name);
        match ch {
            '}' => {
                return Ok(match value {
                    Some(v) => v,
                    None if self.lx.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            '/' => return self.replace(&name, value),
            _ => {}
        }
        let null_is_unset = ch == ':';
        if null_is_unset {
            ch = self.next().ok_or("syntax error: missing '}'")?;
            modifier.push(ch);
        }
        if !matches!(ch, '+' | '-' | '?' | '#' | '%') || (null_is_unset && matches!(ch, '#' | '%'))
        {
            return Err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        let pattern = matches!(ch, '#' | '%');
        let word = self
            .with_raw_escapes(pattern, |s| s.stop_on(Some('}')))
            .map_err(|_| "syntax error: missing '}'")?
            .0;
        let Some(value) = value else {
            if self.lx.skip_unset {
                return Ok(format!("${{{name}{modifier}{word}}}"));
            }
            return match ch {
                '-' => Ok(word),
                '?' => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                _ => Ok(String::new()),
            };
        };
        let null = null_is_unset && value.is_empty();
        match ch {
            '-' => Ok(if null { word } else { value }),
            '+' => Ok(if null { String::new() } else { word }),
            '?' if null => Err(format!(
                "{name}: {}",
                if word.is_empty() {
                    "is not allowed to be empty"
                } else {
                    &word
                }
            )),
            '?' => Ok(value),
            _ => {
                let (longest, pat) = match word.strip_prefix(ch) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let glob = Glob::new(pat, self.lx.escape);
                Ok(if ch == '#' {
                    glob.trim_prefix(&value, longest)
                } else {
                    glob.trim_suffix(&value, longest)
                })
            }
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`.
    fn replace(&mut self, name: &str, value: Option<String>) -> Result<String, String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self
            .with_raw_escapes(true, |s| s.stop_on(Some('/')))
            .map_err(|_| "syntax error: missing '/' in ${}")?
            .0;
        let replacement = self
            .with_raw_escapes(true, |s| s.stop_on(Some('}')))
            .map_err(|_| "syntax error: missing '}'")?
            .0;
        let Some(value) = value else {
            if self.lx.skip_unset {
                return Ok(format!(
                    "${{{name}/{}{pattern}/{replacement}}}",
                    if all { "/" } else { "" }
                ));
            }
            return Ok(String::new());
        };
        Ok(Glob::new(&pattern, self.lx.escape).replace(&value, &replacement, all))
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
