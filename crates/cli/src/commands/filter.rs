//! Docker's `--filter KEY=VALUE` for listings: values of one key are OR'd, different keys
//! AND'ed; plus the matchers the filters share (Go's `path.Match` globs, `label=K[=V]`).
//! Calls nothing else in berth.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// Parsed `--filter` arguments: key → values.
#[derive(Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parse `KEY=VALUE` arguments; keys outside `allowed` fail as Docker's do.
    pub fn parse(args: &[String], allowed: &[&str]) -> Result<Filters> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            let k = k.trim().to_lowercase();
            if !allowed.contains(&k.as_str()) {
                bail!("invalid filter '{k}'");
            }
            map.entry(k).or_default().push(v.to_string());
        }
        Ok(Filters(map))
    }

    /// The values given for `key`.
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// True when `key` was not given or one of its values satisfies `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        !self.has(key) || self.get(key).iter().any(|v| pred(v))
    }

    /// `key`'s values that are not in `valid`, as Docker's error for the first.
    pub fn check(&self, key: &str, valid: impl Fn(&str) -> bool) -> Result<()> {
        if let Some(v) = self.get(key).iter().find(|v| !valid(v)) {
            bail!("invalid filter '{key}={v}'");
        }
        Ok(())
    }
}

/// Whether `labels` satisfy `label=K` (present) or `label=K=V` (equal).
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(filter),
    }
}

/// The `Labels` object of an image config (or a container's), sorted.
pub fn labels_of(config: &serde_json::Value) -> BTreeMap<String, String> {
    config["config"]["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Go's `path.Match`: `*` and `?` match within one `/`-separated part, `[…]` a class
/// (`[^…]` negated, ranges with `-`), `\` quotes.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len())
            .take_while(|&i| i == 0 || n[i - 1] != '/')
            .any(|i| glob_at(&p[1..], &n[i..])),
        Some('?') => n.first().is_some_and(|&c| c != '/') && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(&c) = n.first() else { return false };
            let Some(end) = p.iter().skip(2).position(|&x| x == ']').map(|e| e + 2) else {
                return false;
            };
            let (negate, class) = match p[1] {
                '^' => (true, &p[2..end]),
                _ => (false, &p[1..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_at(&p[end + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_or_within_and_across() {
        let args = [
            "name=a".to_string(),
            "name=b".into(),
            "status=exited".into(),
        ];
        let f = Filters::parse(&args, &["name", "status"]).unwrap();
        assert!(f.any("name", |v| v == "b"));
        assert!(!f.any("status", |v| v == "running"));
        assert!(f.any("id", |_| false), "absent keys pass");
        let e = Filters::parse(&["nope=1".into()], &["name"]).err().unwrap();
        assert_eq!(e.to_string(), "invalid filter 'nope'");
        let e = Filters::parse(&["name".into()], &["name"]).err().unwrap();
        assert_eq!(e.to_string(), "bad format of filter (expected name=value)");
        let e = f.check("status", |v| v == "running").unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'status=exited'");
    }

    #[test]
    fn globs_match_like_go_path_match() {
        assert!(glob("bb*", "bb:1"));
        assert!(glob("*:1", "bb:1"));
        assert!(!glob("*", "library/bb"));
        assert!(glob("*/bb", "library/bb"));
        assert!(glob("b?:[0-9]", "bb:1"));
        assert!(!glob("b?:[^0-9]", "bb:1"));
        assert!(!glob("bb", "bb:1"));
    }

    #[test]
    fn labels_by_key_or_key_and_value() {
        let l = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(label_matches(&l, "a"));
        assert!(label_matches(&l, "a=1"));
        assert!(!label_matches(&l, "a=2"));
        assert!(!label_matches(&l, "b"));
    }
}
