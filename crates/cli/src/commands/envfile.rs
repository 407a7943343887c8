//! `--env-file` and `-e` as Docker reads them: `KEY=VALUE` lines (the value verbatim, quotes
//! and all), `#` comments and blank lines skipped, and a bare `KEY` copying the caller's
//! variable when it is set.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// The variables of an env file, in order.
pub fn parse_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("{}: invalid utf8 bytes", path.display()))?;
    parse_env_lines(&text, |k| std::env::var(k).ok())
        .with_context(|| format!("invalid env file {}", path.display()))
}

/// The variables of env-file `text`; `lookup` resolves bare names.
fn parse_env_lines(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        if name.is_empty() {
            bail!("no variable name on line {}: {line:?}", n + 1);
        }
        if name.chars().any(char::is_whitespace) {
            bail!("variable {name:?} contains whitespaces");
        }
        match value {
            Some(value) => out.push(format!("{name}={value}")),
            None => out.extend(lookup(name).map(|v| format!("{name}={v}"))),
        }
    }
    Ok(out)
}

/// Set `KEY=VALUE` in `env`, replacing an earlier value of `KEY` in place (as Docker lets
/// `-e` override the image's `Env`).
pub fn set_env(env: &mut Vec<String>, entry: String) {
    let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
    match env
        .iter()
        .position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(i) => env[i] = entry,
        None => env.push(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_env_lines, set_env};

    #[test]
    fn env_files_read_as_docker_reads_them() {
        let text =
            "\u{feff}# a comment\nA=1\n\n  B=two words \nC=\"quoted\"\nHOME_X\nUNSET_X\nD=x=y\n";
        let lookup = |k: &str| (k == "HOME_X").then(|| "/root".to_string());
        assert_eq!(
            parse_env_lines(text, lookup).unwrap(),
            [
                "A=1",
                "B=two words ",
                "C=\"quoted\"",
                "HOME_X=/root",
                "D=x=y"
            ]
        );
        assert!(parse_env_lines("=x\n", |_| None).is_err());
        assert!(parse_env_lines("A B=x\n", |_| None).is_err());
    }

    #[test]
    fn later_values_replace_earlier_ones() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A=2".into());
        set_env(&mut env, "B=3".into());
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
    }
}
