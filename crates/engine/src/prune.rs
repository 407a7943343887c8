//! Giving disk space back, as Docker does, and saying how much: containers not running
//! ([`Engine::prune_containers`]), dangling images or every image no container uses
//! ([`Engine::prune_images`]), unused volumes ([`Engine::prune_volumes`]), the build cache and
//! the layers only it kept ([`Engine::prune_build_cache`]), or all of them
//! ([`Engine::prune_system`]). Docker's prune filters select what goes ([`PruneFilters`]:
//! `until`, `label`, `label!`). Unpacked layers go with the blobs they were unpacked from.
//! Asking first and printing are the front end's.

use std::collections::BTreeMap;

use berth_oci::Digest;
use berth_store::State;
use berth_store::containers::process_identity;

use crate::Engine;
use crate::containers::lifecycle::remove_record;
use crate::containers::liveness;
use crate::error::{Error, Result};
use crate::model::Record;
use crate::util::disk_usage;

/// One `label=KEY[=VALUE]` (or `label!=…`) filter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelFilter {
    key: String,
    value: Option<String>,
    negated: bool,
}

impl LabelFilter {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (&self.value, labels.get(&self.key)) {
            (Some(want), Some(have)) => want == have,
            (None, Some(_)) => true,
            (_, None) => false,
        }
    }
}

/// Docker's prune filters: `until=TIME` (created before; RFC 3339, Unix seconds or a
/// duration before now such as `24h`), `label=KEY[=VALUE]` (every one must match) and
/// `label!=KEY[=VALUE]` (none may match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilters {
    /// Only what was created before this (Unix seconds).
    pub until: Option<i64>,
    labels: Vec<LabelFilter>,
}

impl PruneFilters {
    /// Parse `KEY=VALUE` filters, `until` relative to now.
    pub fn parse(list: &[String]) -> Result<PruneFilters> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Self::parse_at(list, now)
    }

    /// Parse `KEY=VALUE` filters, `until` durations relative to `now` (Unix seconds).
    pub fn parse_at(list: &[String], now: i64) -> Result<PruneFilters> {
        let mut f = PruneFilters::default();
        for item in list {
            let Some((k, v)) = item.split_once('=') else {
                return Err(Error::InvalidArgument(
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            match k {
                "until" => f.until = Some(parse_time(v, now)?),
                "label" | "label!" => {
                    let (key, value) = match v.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (v.to_string(), None),
                    };
                    f.labels.push(LabelFilter {
                        key,
                        value,
                        negated: k == "label!",
                    });
                }
                _ => return Err(Error::InvalidArgument(format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    /// Whether there are label filters (reading labels can then be skipped).
    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// Whether something created at `created` (Unix seconds; unknown: never excluded by
    /// `until`) with `labels` is selected.
    pub fn matches(&self, created: Option<i64>, labels: &BTreeMap<String, String>) -> bool {
        if let (Some(until), Some(t)) = (self.until, created)
            && t >= until
        {
            return false;
        }
        self.labels.iter().all(|l| l.matches(labels) != l.negated)
    }
}

/// `TIME` as Unix seconds: RFC 3339, Unix seconds (a fraction dropped), or a Go-style
/// duration before `now` (`1h30m`, `10m`, `42s`).
pub fn parse_time(s: &str, now: i64) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid time {s:?}: use RFC 3339, Unix seconds or a duration like 10m"
        ))
    };
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return s.split('.').next().unwrap_or(s).parse().map_err(|_| bad());
    }
    let (mut total, mut number) = (0i64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        total += number.parse::<i64>().map_err(|_| bad())? * unit;
        number.clear();
    }
    if !number.is_empty() || total == 0 && s != "0s" {
        return Err(bad());
    }
    Ok(now - total)
}

/// Unix seconds of an RFC 3339 time (`2025-01-01T00:00:00Z`, `…T07:08:09.5+02:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = &frac[frac.bytes().take_while(u8::is_ascii_digit).count()..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// What one kind of pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// What was removed: container ids, volume names, build cache layer digests.
    pub deleted: Vec<String>,
    /// Bytes given back.
    pub bytes: u64,
}

/// One step of removing an image, as Docker's `ImageDeleteResponseItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageDeleted {
    /// A name (`repo:tag` or `repo@digest`, familiar) taken off.
    Untagged(String),
    /// The image (its id) deleted.
    Deleted(String),
}

/// What [`Engine::prune_images`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagesPruned {
    /// Names untagged and images deleted, in order.
    pub deleted: Vec<ImageDeleted>,
    /// Bytes given back (the blobs no other image kept).
    pub bytes: u64,
}

/// What [`Engine::prune_system`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPruned {
    /// Containers not running.
    pub containers: Pruned,
    /// Images.
    pub images: ImagesPruned,
    /// Volumes (when asked for).
    pub volumes: Option<Pruned>,
    /// The build cache.
    pub build_cache: Pruned,
}

impl SystemPruned {
    /// Bytes given back in all.
    pub fn bytes(&self) -> u64 {
        self.containers.bytes
            + self.images.bytes
            + self.volumes.as_ref().map_or(0, |v| v.bytes)
            + self.build_cache.bytes
    }
}

/// Remove the unpacked copies of deleted layer blobs from the layer cache.
pub fn drop_unpacked(engine: &Engine, deleted: &[Digest]) -> Result<()> {
    let cache = berth_runtime::rootfs::LayerCache::open(engine.layout().root())?;
    for d in deleted {
        cache.remove(d)?;
    }
    Ok(())
}

impl Engine {
    /// Remove every container that is not running (nor being started by a live monitor)
    /// and that `filters` select: its directory (changes and log) counts as reclaimed.
    pub async fn prune_containers(&self, filters: &PruneFilters) -> Result<Pruned> {
        let mut out = Pruned::default();
        for c in liveness::all(self).await? {
            let starting = c.state == State::Created
                && c.monitor_pid.is_some_and(|pid| {
                    c.monitor_identity.is_some() && process_identity(pid) == c.monitor_identity
                });
            if c.state == State::Running || starting {
                continue;
            }
            let labels = match filters.has_labels() {
                true => Record::parse(&c.config)
                    .map(|r| r.config.labels)
                    .unwrap_or_default(),
                false => BTreeMap::new(),
            };
            if !filters.matches(Some(c.created_at), &labels) {
                continue;
            }
            let dir = self.layout().container(&c.id);
            // Unmounted first, so the size is the container's own changes and log.
            berth_runtime::rootfs::unmount(&dir)?;
            let size = disk_usage(&dir);
            remove_record(self, &c).await?;
            out.bytes += size;
            out.deleted.push(c.id);
        }
        Ok(out)
    }

    /// The labels of image `id` (its config's `config.Labels`).
    fn image_labels(&self, id: &Digest) -> BTreeMap<String, String> {
        let Ok(bytes) = self.store.blobs().read(id) else {
            return BTreeMap::new();
        };
        let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        config["config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Remove dangling images (with `all`, every image) that no container uses and that
    /// `filters` select (`until` against the image's creation time). `untag` and `delete`
    /// events.
    pub async fn prune_images(&self, all: bool, filters: &PruneFilters) -> Result<ImagesPruned> {
        let mut out = ImagesPruned::default();
        for img in self.store.images().await? {
            if !(img.names.is_empty() || all) {
                continue;
            }
            let created = img.record.created.as_deref().and_then(parse_rfc3339);
            let labels = match filters.has_labels() {
                true => self.image_labels(&img.record.id),
                false => BTreeMap::new(),
            };
            if !filters.matches(created, &labels) {
                continue;
            }
            let id = img.record.id.to_string();
            if !self.store.image_in_use(&id).await?.is_empty() {
                continue;
            }
            let sizes: Vec<(Digest, u64)> = img
                .record
                .blobs
                .iter()
                .map(|d| (d.clone(), self.store.blobs().size(d).unwrap_or(0)))
                .collect();
            let untagged: Vec<String> = img
                .names
                .iter()
                .map(|(n, t)| self.familiar(n, t))
                .chain(
                    img.repo_digests
                        .iter()
                        .map(|(n, d)| format!("{}@{d}", self.familiar_name(n))),
                )
                .collect();
            let deleted = self.store.remove(&img.record.id).await?;
            let root = self.layout().root();
            for name in &untagged {
                crate::events::emit(root, "image", "untag", &id, &[("name", name.clone())]);
                out.deleted.push(ImageDeleted::Untagged(name.clone()));
            }
            crate::events::emit(root, "image", "delete", &id, &[("name", id.clone())]);
            drop_unpacked(self, &deleted)?;
            out.bytes += sizes
                .iter()
                .filter(|(d, _)| deleted.contains(d))
                .map(|(_, s)| s)
                .sum::<u64>();
            out.deleted.push(ImageDeleted::Deleted(id));
        }
        Ok(out)
    }

    /// Remove the volumes no container (in any state) uses: anonymous ones, or every one
    /// with `all`, that `filters` select (`label`, `label!`; `until` is refused, as Docker
    /// does). `destroy` events.
    pub async fn prune_volumes(&self, all: bool, filters: &PruneFilters) -> Result<Pruned> {
        if filters.until.is_some() {
            return Err(Error::InvalidArgument("invalid filter 'until'".into()));
        }
        let root = self.layout().root();
        let containers = self.store.containers().await?;
        let mut out = Pruned::default();
        for v in crate::volumes::list(root)? {
            if (all || v.anonymous())
                && filters.matches(None, &v.labels)
                && crate::volumes::users(&containers, &v.name).is_empty()
            {
                out.bytes += crate::volumes::remove(root, &v.name)?;
                out.deleted.push(v.name);
            }
        }
        Ok(out)
    }

    /// Forget the build cache and delete the layers only it kept.
    pub async fn prune_build_cache(&self) -> Result<Pruned> {
        let (layers, mut bytes) = berth_build::builder::prune_cache(self.layout().root());
        let sizes: Vec<u64> = layers
            .iter()
            .map(|d| self.store.blobs().size(d).unwrap_or(0))
            .collect();
        let deleted = self.store.discard_unreferenced(&layers).await?;
        for (d, size) in layers.iter().zip(sizes) {
            if deleted.contains(d) {
                bytes += size;
            }
        }
        drop_unpacked(self, &deleted)?;
        Ok(Pruned {
            deleted: deleted.iter().map(|d| d.to_string()).collect(),
            bytes,
        })
    }

    /// `system prune`: stopped containers, then unused images (every unused one with
    /// `all`), then (with `volumes`) unused volumes, then the build cache.
    pub async fn prune_system(
        &self,
        all: bool,
        volumes: bool,
        filters: &PruneFilters,
    ) -> Result<SystemPruned> {
        let containers = self.prune_containers(filters).await?;
        let images = self.prune_images(all, filters).await?;
        let volumes = match volumes {
            true => {
                let labels_only = PruneFilters {
                    until: None,
                    ..filters.clone()
                };
                Some(self.prune_volumes(all, &labels_only).await?)
            }
            false => None,
        };
        let build_cache = self.prune_build_cache().await?;
        Ok(SystemPruned {
            containers,
            images,
            volumes,
            build_cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_times() {
        let now = 1_700_000_000;
        assert_eq!(parse_time("1h30m", now).unwrap(), now - 5400);
        assert_eq!(parse_time("1600000000.5", now).unwrap(), 1_600_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000
        );
        assert!(parse_time("soon", now).is_err());
        let list = ["until=1h", "label=env=prod", "label!=keep"].map(String::from);
        let f = PruneFilters::parse_at(&list, now).unwrap();
        let prod = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        assert!(f.matches(Some(now - 7200), &prod));
        assert!(!f.matches(Some(now - 60), &prod), "too recent");
        let mut kept = prod.clone();
        kept.insert("keep".into(), String::new());
        assert!(!f.matches(None, &kept), "label! excludes");
        assert!(!f.matches(None, &BTreeMap::new()), "label required");
        assert!(PruneFilters::parse(&["dangling".into()]).is_err());
        assert!(PruneFilters::parse(&["bogus=1".into()]).is_err());
    }
}
