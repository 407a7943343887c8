//! `berth run`'s option values: sizes, volumes (and the image's), tmpfs mounts, security
//! options.

use anyhow::{Context as _, Result, bail};
use berth_runtime::spec::SeccompProfile;

/// `32m`, `1g`, `512k`, `100b` or `100` (bytes), as Docker's `--memory` takes them.
pub(super) fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (number, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(format!("invalid size {s:?}: use a b, k, m or g suffix")),
    };
    let n: u64 = number.parse().map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// Write the container's id to `--cidfile PATH` (created, never overwritten).
pub(super) fn write_cidfile(path: &str, id: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot write the container id to {path}"))?;
    f.write_all(id.as_bytes())?;
    Ok(())
}

/// What `--security-opt` asks for, on top of Docker's defaults.
pub(super) struct SecurityOptions {
    /// A seccomp filter at all (off with `seccomp=unconfined`).
    pub seccomp: bool,
    /// `seccomp=PROFILE.json`: this profile instead of the default one.
    pub seccomp_profile: Option<SeccompProfile>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// The values as the record keeps them: a profile by content, as the docker CLI sends it.
    pub stored: Vec<String>,
}

/// `--security-opt` values; a profile file is read and checked here, so a bad one fails
/// before anything is set up.
pub(super) fn security_options(opts: &[String]) -> Result<SecurityOptions> {
    let mut o = SecurityOptions {
        seccomp: true,
        seccomp_profile: None,
        no_new_privileges: false,
        stored: vec![],
    };
    for opt in opts {
        // Docker also accepts the old `key:value` spelling.
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => {
                o.seccomp = false;
                o.seccomp_profile = None;
                o.stored.push("seccomp=unconfined".into());
            }
            ("seccomp", "") => bail!("--security-opt seccomp needs a profile or 'unconfined'"),
            ("seccomp", path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("--security-opt seccomp: cannot read {path}"))?;
                o.seccomp = true;
                o.seccomp_profile = Some(SeccompProfile::parse(path, &text)?);
                let text = String::from_utf8(text)
                    .with_context(|| format!("--security-opt seccomp: {path} is not UTF-8"))?;
                o.stored.push(format!("seccomp={text}"));
            }
            ("no-new-privileges", "" | "true") => {
                o.no_new_privileges = true;
                o.stored.push("no-new-privileges=true".into());
            }
            ("no-new-privileges", "false") => {
                o.no_new_privileges = false;
                o.stored.push("no-new-privileges=false".into());
            }
            _ => bail!("unsupported --security-opt {opt:?}"),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, security_options};

    #[test]
    pub(super) fn security_options_parse() {
        let opts = |v: &[&str]| {
            security_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|o| (o.seccomp, o.no_new_privileges))
        };
        assert_eq!(opts(&[]).unwrap(), (true, false));
        assert_eq!(opts(&["seccomp=unconfined"]).unwrap(), (false, false));
        assert_eq!(
            opts(&["seccomp:unconfined", "no-new-privileges"]).unwrap(),
            (false, true)
        );
        assert!(opts(&["seccomp=/tmp/profile.json"]).is_err());
        assert!(opts(&["apparmor=unconfined"]).is_err());
    }

    #[test]
    fn security_options_read_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let arg = format!("seccomp={}", path.display());
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
        let o = security_options(std::slice::from_ref(&arg)).unwrap();
        assert!(o.seccomp);
        let profile = o.seccomp_profile.unwrap();
        assert_eq!(profile.name(), path.to_str().unwrap());
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
        let err = security_options(std::slice::from_ref(&arg)).err().unwrap();
        assert!(format!("{err:#}").contains("SCMP_ACT_NOTIFY"), "{err:#}");
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_LOG"}"#).unwrap();
        let o = security_options(&[arg, "seccomp=unconfined".into()]).unwrap();
        assert!(!o.seccomp && o.seccomp_profile.is_none());
    }

    #[test]
    fn sizes_take_docker_suffixes() {
        assert_eq!(parse_bytes("32m"), Ok(32 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("100b"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("m").is_err());
    }
}
