//! A container's log as its supervisor writes it: Docker's json-file lines (`{"log", "stream",
//! "time"}`) in `<id>-json.log`, rotated as `--log-opt max-size`/`max-file` say
//! (`<id>-json.log.1` the newest rotated file, up to `.{max-file - 1}`), or nothing at all with
//! `--log-driver none`. The `local` driver writes the same format (berth keeps one reader).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::{LogConfig, LogDriver};

/// Docker's `local` driver defaults: 20 MB per file, 5 files.
const LOCAL_MAX_SIZE: u64 = 20 * 1000 * 1000;
const LOCAL_MAX_FILE: u32 = 5;

/// Where a container's log goes.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

/// `10m`, `1g`, `512k`, `100` (bytes; Docker's units for `max-size`: decimal k/m/g).
pub fn parse_size(s: &str) -> Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let scale = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1000,
        "m" => 1000 * 1000,
        "g" => 1000 * 1000 * 1000,
        _ => return Err(Error::InvalidArgument(format!("invalid max-size {s:?}"))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid max-size {s:?}")))
}

/// The rotation limits of `config`: (max size, max files).
fn limits(config: &LogConfig) -> Result<(Option<u64>, u32)> {
    let max_size = config
        .config
        .get("max-size")
        .map(|s| parse_size(s))
        .transpose()?;
    let max_file = match config.config.get("max-file") {
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::InvalidArgument(format!("invalid max-file {n:?}")))?,
        None if config.kind == LogDriver::Local => LOCAL_MAX_FILE,
        None => 1,
    };
    let max_size = match (max_size, config.kind) {
        (None, LogDriver::Local) => Some(LOCAL_MAX_SIZE),
        (m, _) => m,
    };
    Ok((max_size, max_file))
}

impl LogFile {
    /// Open (appending) the log at `path` for `config`; `None` for the `none` driver.
    pub fn open(path: &Path, config: &LogConfig) -> Result<Option<LogFile>> {
        if config.kind == LogDriver::None {
            return Ok(None);
        }
        let (max_size, max_file) = limits(config)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Some(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file,
        }))
    }

    /// Append one line, rotating first when it would pass `max-size`.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + line.len() as u64 > max
        {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_file > 1 {
            for i in (1..self.max_file - 1).rev() {
                let from = numbered(&self.path, i);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The files of the log at `path`, oldest first (rotated ones, then the current one);
/// those that do not exist are left out.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..1000)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    rotated.reverse();
    rotated.extend(Some(path.to_path_buf()).filter(|p| p.exists()));
    rotated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: LogDriver, opts: &[(&str, &str)]) -> LogConfig {
        LogConfig {
            kind,
            config: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn rotation_keeps_max_file_files_of_at_most_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let cfg = config(
            LogDriver::JsonFile,
            &[("max-size", "100"), ("max-file", "3")],
        );
        let mut log = LogFile::open(&path, &cfg).unwrap().unwrap();
        for i in 0..20 {
            log.write_line(format!("{i:02}-{}\n", "x".repeat(36)).as_bytes())
                .unwrap();
        }
        let names = files(&path);
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[2], path);
        for f in &names {
            assert!(std::fs::metadata(f).unwrap().len() <= 100);
        }
        // Oldest first, and the newest lines are the last.
        let all: String = names
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        assert!(all.ends_with(&format!("19-{}\n", "x".repeat(36))), "{all}");
        assert!(
            all.starts_with("14-"),
            "two lines per file, three files: {all}"
        );
    }

    #[test]
    fn one_file_truncates_none_writes_nothing_and_bad_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let cfg = config(LogDriver::JsonFile, &[("max-size", "10")]);
        let mut log = LogFile::open(&path, &cfg).unwrap().unwrap();
        log.write_line(b"0123456789\n").unwrap();
        log.write_line(b"abc\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc\n");
        assert_eq!(files(&path), [path.clone()]);
        assert!(
            LogFile::open(&path, &config(LogDriver::None, &[]))
                .unwrap()
                .is_none()
        );
        assert!(LogFile::open(&path, &config(LogDriver::JsonFile, &[("max-size", "1x")])).is_err());
        assert!(LogFile::open(&path, &config(LogDriver::JsonFile, &[("max-file", "0")])).is_err());
        assert_eq!(parse_size("10m").unwrap(), 10_000_000);
        assert_eq!(parse_size("2kb").unwrap(), 2000);
        let (size, n) = limits(&config(LogDriver::Local, &[])).unwrap();
        assert_eq!((size, n), (Some(LOCAL_MAX_SIZE), LOCAL_MAX_FILE));
    }
}
