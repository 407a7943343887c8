//! `berth save`, `berth load` and `berth import`: images in and out of tar archives, in the
//! formats `docker save`/`docker load`/`docker import` use. The work is the engine's
//! ([`berth_engine::images::archive`]); these commands parse the arguments, open the input
//! (a file or stdin) or the output, and print what docker prints.

pub mod import;
pub mod load;
pub mod save;

use std::fs::File;
use std::io::{self, IsTerminal, Read};

use anyhow::{Context as _, Result, bail};

/// Open `path` (`None` or `-` for stdin) as it is (the engine undoes gzip compression).
/// `what` names the input in errors ("archive", "rootfs tarball").
pub fn open_input(path: Option<&str>, what: &str) -> Result<Box<dyn Read + Send>> {
    Ok(match path {
        None | Some("-") => {
            if io::stdin().is_terminal() {
                bail!("requested to read the {what} from stdin, but stdin is a terminal");
            }
            Box::new(io::stdin())
        }
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {p}"))?),
    })
}

#[cfg(test)]
mod tests {
    use crate::commands::context::{format_rfc3339 as rfc3339, parse_rfc3339};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_round_trips() {
        for secs in [0u64, 951_782_400, 1_735_689_600, 4_102_444_799] {
            let s = rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_rfc3339(&s), Some(secs as i64), "{s}");
        }
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::new(1_735_689_600, 5)),
            "2025-01-01T00:00:00.000000005Z"
        );
    }
}
