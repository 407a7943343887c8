//! The engine's event journal: what happened to containers, images, volumes and networks, in
//! Docker's event shape, kept on disk so that a later process can read past events
//! (`berth events --since/--until/--filter`).
//!
//! The journal is two JSON-lines segments in one directory: `events.jsonl` (being appended to)
//! and `events.1.jsonl` (the previous one). When the current segment passes its size limit it
//! is renamed over the previous one, so the journal is bounded to about twice that size and
//! keeps the newest events. Appends and rotations from any number of processes are serialised by
//! an `flock` on `events.lock`; each event is one `write` of one line, so a crash leaves at most
//! a torn last line, which readers skip.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who an event is about: its ID and attributes (`name`, `image`, labels, `exitCode`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// The object's ID (a container ID, an image reference, a volume name).
    #[serde(rename = "ID")]
    pub id: String,
    /// Its attributes.
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as the Docker Engine API's `/events` sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `stop`, `destroy`, `oom`, `exec_start`, `health_status`,
    /// `pull`, `push`, `tag`, `untag`, `delete`, `load`, `save`, `mount`…
    #[serde(rename = "Action")]
    pub action: String,
    /// What it is about.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event happening now.
    pub fn now(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }
}

/// Which events to read: Docker's `--since`, `--until` and `--filter key=value` (values of one
/// key are alternatives; different keys must all match).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// Only events at or after this Unix nanosecond.
    pub since_nano: Option<i64>,
    /// Only events at or before this Unix nanosecond.
    pub until_nano: Option<i64>,
    /// `key` → accepted values (`type`, `event`, `container`, `image`, `volume`, `network`,
    /// `label`, `scope`).
    pub filters: BTreeMap<String, Vec<String>>,
}

impl EventFilter {
    /// Add `key=value` (a `--filter` argument); an unknown key is an error, as in Docker.
    pub fn add(&mut self, arg: &str) -> Result<()> {
        let (k, v) = arg.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("bad format of filter (expected name=value): {arg}"))
        })?;
        const KEYS: [&str; 8] = [
            "type",
            "event",
            "container",
            "image",
            "volume",
            "network",
            "label",
            "scope",
        ];
        if !KEYS.contains(&k) {
            return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
        }
        self.filters
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
        Ok(())
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        if self.since_nano.is_some_and(|s| e.time_nano < s)
            || self.until_nano.is_some_and(|u| e.time_nano > u)
        {
            return false;
        }
        let name = e.actor.attributes.get("name").map(String::as_str);
        self.filters.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                "type" => e.kind == *v,
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "scope" => e.scope == *v,
                "label" => match v.split_once('=') {
                    Some((k, val)) => e.actor.attributes.get(k).is_some_and(|x| x == val),
                    None => e.actor.attributes.contains_key(v.as_str()),
                },
                "container" | "volume" | "network" => {
                    e.kind == *key
                        && (name == Some(v.as_str())
                            || (!v.is_empty() && e.actor.id.starts_with(v.as_str())))
                }
                "image" => {
                    let img = e.actor.attributes.get("image").map(String::as_str);
                    img == Some(v.as_str())
                        || (e.kind == "image" && (e.actor.id == *v || name == Some(v.as_str())))
                }
                _ => false,
            })
        })
    }
}

/// The journal in a directory.
pub struct Journal {
    dir: PathBuf,
    segment_bytes: u64,
}

/// The default size of a segment: the journal keeps between one and two of them.
pub const SEGMENT_BYTES: u64 = 4 << 20;

impl Journal {
    /// The journal in `dir` (created on first append), segments of `segment_bytes`.
    pub fn new(dir: &Path, segment_bytes: u64) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
        }
    }

    fn current(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    fn previous(&self) -> PathBuf {
        self.dir.join("events.1.jsonl")
    }

    /// Hold the journal's lock (exclusive) while `f` runs.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.dir.join("events.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock on a descriptor we own; released when `lock` is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(&path, std::io::Error::last_os_error()));
        }
        f()
    }

    /// Append `event`, rotating first when the current segment is full.
    pub fn append(&self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event).map_err(|e| Error::Internal(e.to_string()))?;
        line.push(b'\n');
        self.locked(|| {
            let cur = self.current();
            if std::fs::metadata(&cur).is_ok_and(|m| m.len() >= self.segment_bytes) {
                std::fs::rename(&cur, self.previous()).map_err(|e| Error::io(&cur, e))?;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&cur)
                .map_err(|e| Error::io(&cur, e))?;
            f.write_all(&line).map_err(|e| Error::io(&cur, e))
        })
    }

    /// The events that pass `filter`, oldest first.
    pub fn read(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for path in [self.previous(), self.current()] {
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, e)),
            };
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| Error::io(&path, e))?;
                // A torn last line (a crash mid-write) or a foreign line is skipped.
                if let Ok(e) = serde_json::from_str::<Event>(&line)
                    && filter.matches(&e)
                {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }
}

/// The journal of data root `root`.
pub fn journal(root: &std::path::Path) -> Journal {
    Journal::new(&berth_store::Layout::new(root).events(), SEGMENT_BYTES)
}

/// Record an event in `root`'s journal; a failure to record is logged, never fatal to the
/// operation.
pub fn emit(
    root: &std::path::Path,
    kind: &str,
    action: &str,
    id: &str,
    attributes: &[(&str, String)],
) {
    let attrs: BTreeMap<String, String> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if let Err(e) = journal(root).append(&Event::now(kind, action, id, attrs)) {
        tracing::warn!(error = %e, "cannot record the {kind} {action} event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, name: &str, nano: i64) -> Event {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        if kind == "container" {
            attrs.insert("image".to_string(), "busybox".to_string());
        }
        attrs.insert("com.example.team".to_string(), "a".to_string());
        Event {
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: attrs,
            },
            scope: "local".into(),
            time: nano / 1_000_000_000,
            time_nano: nano,
        }
    }

    #[test]
    fn docker_shape_on_the_wire() {
        let e = ev(
            "container",
            "start",
            "abc123",
            "web",
            1_700_000_000_123_456_789,
        );
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["Actor"]["ID"], "abc123");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["time"], 1_700_000_000);
        assert_eq!(v["timeNano"], 1_700_000_000_123_456_789i64);
        assert_eq!(v["scope"], "local");
        let now = Event::now("image", "pull", "busybox:latest", BTreeMap::new());
        assert!(now.time_nano / 1_000_000_000 == now.time && now.time > 1_700_000_000);
    }

    #[test]
    fn filters_as_docker_reads_them() {
        let start = ev("container", "start", "abc123", "web", 10);
        let die = ev("container", "die", "abc123", "web", 20);
        let pull = ev("image", "pull", "busybox:latest", "busybox:latest", 30);
        let exec = ev("container", "exec_start: sh -c true", "abc123", "web", 40);
        let f = |args: &[&str], since: Option<i64>, until: Option<i64>| {
            let mut f = EventFilter {
                since_nano: since,
                until_nano: until,
                ..Default::default()
            };
            for a in args {
                f.add(a).unwrap();
            }
            [&start, &die, &pull, &exec]
                .iter()
                .filter(|e| f.matches(e))
                .map(|e| e.time_nano)
                .collect::<Vec<_>>()
        };
        assert_eq!(f(&[], None, None), [10, 20, 30, 40]);
        assert_eq!(f(&["type=container"], None, None), [10, 20, 40]);
        assert_eq!(f(&["event=start", "event=die"], None, None), [10, 20]);
        assert_eq!(
            f(&["event=exec_start"], None, None),
            [40],
            "exec_start matches its prefix"
        );
        assert_eq!(f(&["container=web", "event=die"], None, None), [20]);
        assert_eq!(f(&["container=abc"], None, None), [10, 20, 40], "ID prefix");
        assert_eq!(f(&["image=busybox"], None, None), [10, 20, 40]);
        assert_eq!(f(&["image=busybox:latest"], None, None), [30]);
        assert_eq!(
            f(&["label=com.example.team=a", "type=image"], None, None),
            [30]
        );
        assert_eq!(f(&[], Some(20), Some(30)), [20, 30]);
        let mut bad = EventFilter::default();
        assert!(bad.add("colour=red").is_err());
        assert!(bad.add("container").is_err());
    }

    #[test]
    fn journal_is_bounded_keeps_the_newest_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), 2_000);
        for i in 0..100 {
            j.append(&ev("container", "start", &format!("id{i}"), "web", i))
                .unwrap();
        }
        let all = j.read(&EventFilter::default()).unwrap();
        assert!(all.len() < 100, "old segments were dropped: {}", all.len());
        assert_eq!(all.last().unwrap().time_nano, 99, "the newest is kept");
        let times: Vec<i64> = all.iter().map(|e| e.time_nano).collect();
        assert!(
            times.windows(2).all(|w| w[0] + 1 == w[1]),
            "contiguous and in order: {times:?}"
        );
        let size = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        assert!(size("events.jsonl") + size("events.1.jsonl") <= 2 * 2_000 + 400);

        // A crash mid-write leaves a torn line: it is skipped, later appends still read.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.jsonl"))
            .unwrap();
        f.write_all(b"{\"Type\":\"contai").unwrap();
        f.write_all(b"\n").unwrap();
        j.append(&ev("volume", "create", "v1", "v1", 100)).unwrap();
        let last = j.read(&EventFilter::default()).unwrap();
        assert_eq!(last.last().unwrap().time_nano, 100);
        assert_eq!(last.len(), all.len() + 1);
    }

    #[test]
    fn appends_from_many_threads_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let j = Journal::new(&path, SEGMENT_BYTES);
                    for i in 0..50 {
                        j.append(&ev(
                            "container",
                            "start",
                            &format!("t{t}"),
                            "web",
                            t * 1000 + i,
                        ))
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = Journal::new(&path, SEGMENT_BYTES)
            .read(&EventFilter::default())
            .unwrap();
        assert_eq!(all.len(), 200);
    }
}
