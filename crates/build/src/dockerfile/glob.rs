//! Shell glob patterns for `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`.
//!
//! This module calls nothing outside the crate.

/// A shell glob: `*`, `?`, `[...]` (with `!` or `^` negation) and escaped literals.
pub(crate) struct Glob {
    items: Vec<GlobItem>,
}

enum GlobItem {
    Literal(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub(crate) fn new(pattern: &str, escape: char) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => items.push(GlobItem::Star),
                '?' => items.push(GlobItem::Any),
                '[' => match Self::class(&chars[i..]) {
                    Some((item, used)) => {
                        items.push(item);
                        i += used;
                    }
                    None => items.push(GlobItem::Literal('[')),
                },
                c if c == escape && i < chars.len() => {
                    items.push(GlobItem::Literal(chars[i]));
                    i += 1;
                }
                c => items.push(GlobItem::Literal(c)),
            }
        }
        Glob { items }
    }

    /// Parses a class after `[`; returns it and the characters used, `None` if unclosed.
    fn class(chars: &[char]) -> Option<(GlobItem, usize)> {
        let mut i = 0;
        let negated = matches!(chars.first(), Some('!' | '^'));
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        let start = i;
        while i < chars.len() {
            let c = chars[i];
            if c == ']' && i > start {
                return Some((GlobItem::Class { negated, ranges }, i + 1));
            }
            if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
                ranges.push((c, chars[i + 2]));
                i += 3;
            } else {
                ranges.push((c, c));
                i += 1;
            }
        }
        None
    }

    fn matches(&self, text: &[char]) -> bool {
        Self::match_from(&self.items, text)
    }

    fn match_from(items: &[GlobItem], text: &[char]) -> bool {
        let Some((first, rest)) = items.split_first() else {
            return text.is_empty();
        };
        match first {
            GlobItem::Star => (0..=text.len()).any(|k| Self::match_from(rest, &text[k..])),
            other => match text.split_first() {
                Some((&c, tail)) => Self::matches_one(other, c) && Self::match_from(rest, tail),
                None => false,
            },
        }
    }

    fn matches_one(item: &GlobItem, c: char) -> bool {
        match item {
            GlobItem::Literal(l) => *l == c,
            GlobItem::Any | GlobItem::Star => true,
            GlobItem::Class { negated, ranges } => {
                ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated
            }
        }
    }

    pub(crate) fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut cuts: Vec<usize> = (0..=chars.len()).collect();
        if longest {
            cuts.reverse();
        }
        match cuts.into_iter().find(|&k| self.matches(&chars[..k])) {
            Some(k) => chars[k..].iter().collect(),
            None => value.to_string(),
        }
    }

    pub(crate) fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut cuts: Vec<usize> = (0..=chars.len()).rev().collect();
        if longest {
            cuts.reverse();
        }
        match cuts.into_iter().find(|&k| self.matches(&chars[k..])) {
            Some(k) => chars[..k].iter().collect(),
            None => value.to_string(),
        }
    }

    /// Replaces the leftmost (longest) match, or every non-overlapping match.
    pub(crate) fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= chars.len() {
            if !replaced || all {
                let end = (i..=chars.len())
                    .rev()
                    .find(|&e| self.matches(&chars[i..e]));
                // Empty matches are not replaced.
                if let Some(e) = end.filter(|&e| e > i) {
                    out.push_str(replacement);
                    replaced = true;
                    i = e;
                    continue;
                }
            }
            if let Some(&c) = chars.get(i) {
                out.push(c);
            }
            i += 1;
        }
        out
    }
}
