//! Splitting an instruction's text the way BuildKit's parser does, before any substitution:
//! leading `--flags`, quote-aware raw words (`ENV`, `LABEL`, `ARG`), whitespace lists and JSON
//! string arrays (the exec form).
//!
//! This module calls nothing outside the crate.

/// Splits `line` into its leading `--flag[=value]` words (quotes and escapes removed) and the
/// rest; a lone `--` ends the flags and is dropped.
pub(crate) fn extract_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("--") {
            return (flags, trimmed);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut chars = trimmed.char_indices();
        let mut end = trimmed.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = i;
                    break;
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        rest = &trimmed[end..];
        if word == "--" {
            return (flags, rest.trim_start());
        }
        flags.push(word);
    }
}

/// Splits at whitespace, keeping quotes and escapes in the words (BuildKit's `parseWords`):
/// whitespace inside quotes or after the escape character does not split.
pub(crate) fn raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
                continue;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                } else if c == escape && q != '\'' {
                    if chars.peek().is_none() {
                        continue;
                    }
                    word.push(c);
                    word.push(chars.next().unwrap_or(c));
                    continue;
                }
            }
        }
        if quote.is_none() && c == escape {
            // An unquoted escape keeps itself and the next character, even a quote.
            let Some(n) = chars.next() else { continue };
            word.push(c);
            word.push(n);
            started = true;
            continue;
        }
        word.push(c);
        started = true;
    }
    if started {
        words.push(word);
    }
    words
}

/// Splits at runs of whitespace, with no quote handling (BuildKit's whitespace-delimited lists).
pub(crate) fn fields(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// What a `[...]` argument turned out to be.
#[derive(Debug, PartialEq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Json {
    /// A valid JSON array of strings: the exec form.
    Strings(Vec<String>),
    /// Not valid JSON, or not an array: the text is the shell form.
    NotJson,
    /// A valid JSON array with a non-string element: an error in Docker.
    NotStrings,
}

/// Parses `text` as a JSON array of strings, the whole text and nothing else.
pub(crate) fn json_array(text: &str) -> Json {
    let text = text.trim();
    if !text.starts_with('[') {
        return Json::NotJson;
    }
    let mut p = JsonParser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let Some(values) = p.array() else {
        return Json::NotJson;
    };
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Json::NotJson;
    }
    match values.into_iter().collect::<Option<Vec<String>>>() {
        Some(strings) => Json::Strings(strings),
        None => Json::NotStrings,
    }
}

/// A small JSON reader: validates any value, keeps strings.
struct JsonParser {
    chars: Vec<char>,
    pos: usize,
}

impl JsonParser {
    fn skip_ws(&mut self) {
        while matches!(self.chars.get(self.pos), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An array's elements: `Some(string)` for strings, `None` for other values.
    fn array(&mut self) -> Option<Vec<Option<String>>> {
        if !self.eat('[') {
            return None;
        }
        let mut values = Vec::new();
        if self.eat(']') {
            return Some(values);
        }
        loop {
            values.push(self.value()?);
            if self.eat(']') {
                return Some(values);
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    /// A value: `Some(Some(s))` for a string, `Some(None)` for another valid value.
    fn value(&mut self) -> Option<Option<String>> {
        self.skip_ws();
        match *self.chars.get(self.pos)? {
            '"' => self.string().map(Some),
            '[' => self.array().map(|_| None),
            '{' => {
                self.pos += 1;
                if self.eat('}') {
                    return Some(None);
                }
                loop {
                    self.skip_ws();
                    self.string()?;
                    if !self.eat(':') {
                        return None;
                    }
                    self.value()?;
                    if self.eat('}') {
                        return Some(None);
                    }
                    if !self.eat(',') {
                        return None;
                    }
                }
            }
            _ => {
                for lit in ["true", "false", "null"] {
                    let end = self.pos + lit.len();
                    if self
                        .chars
                        .get(self.pos..end)
                        .is_some_and(|s| s.iter().copied().eq(lit.chars()))
                    {
                        self.pos = end;
                        return Some(None);
                    }
                }
                self.number().map(|_| None)
            }
        }
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.chars.get(p.pos).is_some_and(char::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos > s
        };
        if self.chars.get(self.pos) == Some(&'-') {
            self.pos += 1;
        }
        if self.chars.get(self.pos) == Some(&'0') {
            self.pos += 1;
        } else if !digits(self) {
            return None;
        }
        if self.chars.get(self.pos) == Some(&'.') {
            self.pos += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.chars.get(self.pos), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.chars.get(self.pos), Some('+' | '-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        (self.pos > start).then_some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let s: String = self.chars.get(self.pos..self.pos + 4)?.iter().collect();
        self.pos += 4;
        u32::from_str_radix(&s, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if self.chars.get(self.pos) != Some(&'"') {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = *self.chars.get(self.pos)?;
            self.pos += 1;
            match c {
                '"' => return Some(out),
                '\\' => {
                    let e = *self.chars.get(self.pos)?;
                    self.pos += 1;
                    out.push(match e {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.chars.get(self.pos..self.pos + 2) == Some(&['\\', 'u'])
                            {
                                self.pos += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return None,
                    });
                }
                c if (c as u32) < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_leading_double_dash_words_with_quotes_removed() {
        let (flags, rest) = extract_flags("--from=build --chown=\"a b\" src dst", '\\');
        assert_eq!(flags, ["--from=build", "--chown=a b"]);
        assert_eq!(rest, "src dst");
    }

    #[test]
    fn double_dash_alone_ends_flags() {
        let (flags, rest) = extract_flags("--link -- --not-a-flag x", '\\');
        assert_eq!(flags, ["--link"]);
        assert_eq!(rest, "--not-a-flag x");
    }

    #[test]
    fn no_flags_keeps_the_line() {
        assert_eq!(extract_flags("echo --x", '\\'), (vec![], "echo --x"));
    }

    #[test]
    fn raw_words_keep_quotes_and_escapes() {
        assert_eq!(
            raw_words(r#"a="b c" d=e\ f g='h i'"#, '\\'),
            [r#"a="b c""#, r"d=e\ f", "g='h i'"]
        );
        assert_eq!(raw_words("  x   y ", '\\'), ["x", "y"]);
        assert_eq!(raw_words("a=`  b", '`'), ["a=` ", "b"]);
    }

    #[test]
    fn json_string_arrays() {
        assert_eq!(
            json_array(r#"["a", "b c", "\u00e9\n"]"#),
            Json::Strings(vec!["a".into(), "b c".into(), "é\n".into()])
        );
        assert_eq!(json_array("[]"), Json::Strings(vec![]));
        assert_eq!(json_array(r#"["a", 1]"#), Json::NotStrings);
        assert_eq!(
            json_array(r#"["a", {"k": [true, null]}]"#),
            Json::NotStrings
        );
    }

    #[test]
    fn invalid_json_is_shell_form() {
        assert_eq!(json_array("[a, b]"), Json::NotJson);
        assert_eq!(json_array(r#"["a"] x"#), Json::NotJson);
        assert_eq!(json_array(r#"['a']"#), Json::NotJson);
        assert_eq!(json_array(r#"["a",]"#), Json::NotJson);
        assert_eq!(json_array("echo"), Json::NotJson);
    }
}
