//! Turning an archive name into components below the destination. Leading `/` are dropped (as
//! docker does), empty and `.` components are ignored, and `..` pops the previous component; a
//! `..` with nothing left to pop would climb above the destination and makes the name invalid.
//! The result holds only plain names, so joining it onto the destination stays inside it
//! lexically; symbolic links met on the way are dealt with by [`super::resolve`].

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The plain components of archive name `raw`, or `None` if it climbs above the top.
pub(super) fn normalise(raw: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            name => out.push(OsStr::from_bytes(name).to_os_string()),
        }
    }
    Some(out)
}

/// Whether `name` can name an entry inside a directory (not empty, `.` or `..`, no `/`).
pub(super) fn is_plain_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..") && !name.contains(&b'/') && !name.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<Vec<String>> {
        normalise(s.as_bytes()).map(|v| v.into_iter().map(|c| c.into_string().unwrap()).collect())
    }

    #[test]
    fn plain_and_dotted_names() {
        assert_eq!(norm("a/b/c").unwrap(), ["a", "b", "c"]);
        assert_eq!(norm("./a//b/./c/").unwrap(), ["a", "b", "c"]);
        assert_eq!(norm("a/b/../c").unwrap(), ["a", "c"]);
        assert_eq!(norm("./").unwrap(), Vec::<String>::new());
        assert_eq!(norm("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn absolute_names_become_relative() {
        assert_eq!(norm("/etc/passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(norm("///x").unwrap(), ["x"]);
    }

    #[test]
    fn climbing_above_the_top_is_refused() {
        assert_eq!(norm("../escape"), None);
        assert_eq!(norm("a/../../escape"), None);
        assert_eq!(norm("/abs/../../x"), None);
        assert_eq!(norm("./.."), None);
        assert_eq!(norm("a/.."), Some(vec![]));
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name(b"x"));
        assert!(is_plain_name(b"...")); // an ordinary, if odd, name
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
