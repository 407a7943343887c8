//! Creating a container, as Docker's daemon does for `POST /containers/create`: the image's
//! configuration merged with what was asked, the image's layers unpacked (once, shared), the
//! mounts resolved (volumes made), everything checked by deriving the runtime spec, and the
//! record written under a unique name. Nothing runs yet; `create` is the only event.

use berth_oci::ParsedManifest;
use berth_runtime::rootfs::LayerCache;
use berth_store::Image;
use berth_store::containers::random_name;

use super::mounts;
use crate::Engine;
use crate::error::{Error, Result};
use crate::model::{
    ContainerConfig, HealthConfig, HostConfig, MountPoint, NetworkMode, RECORD_VERSION, Record,
};
use crate::util::random_hex;

/// What to create. Empty fields of `config` take the image's values, as with Docker's API.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The name (`None`: a random `adjective_surname`).
    pub name: Option<String>,
    /// Docker's `Config` as asked: `Image` as the user named it, `Env` entries replacing the
    /// image's of the same keys, `Labels` over the image's, `Healthcheck` fields over the
    /// image's check; empty `Cmd`, `WorkingDir`, `User`, `StopSignal`: the image's.
    pub config: ContainerConfig,
    /// `Some`: replaces the image's entrypoint (empty: none), and then the image's `Cmd` is
    /// not used either (`--entrypoint`).
    pub entrypoint: Option<Vec<String>>,
    /// Docker's `HostConfig`.
    pub host_config: HostConfig,
}

/// A created container.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its record.
    pub record: Record,
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Replace the entry of `entry`'s key in `env`, or add it.
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

fn text(c: Option<&serde_json::Value>, key: &str) -> String {
    c.and_then(|c| c.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// `asked` merged over the image's configuration `c` (Docker's merge).
fn merge(
    asked: &ContainerConfig,
    entrypoint: &Option<Vec<String>>,
    c: Option<&serde_json::Value>,
) -> ContainerConfig {
    let mut config = asked.clone();
    config.env = strings(c.and_then(|c| c.get("Env")));
    for e in &asked.env {
        set_env(&mut config.env, e.clone());
    }
    match entrypoint {
        Some(e) => config.entrypoint = e.clone(),
        None => {
            config.entrypoint = strings(c.and_then(|c| c.get("Entrypoint")));
            if asked.cmd.is_empty() {
                config.cmd = strings(c.and_then(|c| c.get("Cmd")));
            }
        }
    }
    for (field, key) in [
        (&mut config.working_dir, "WorkingDir"),
        (&mut config.user, "User"),
    ] {
        if field.is_empty() {
            *field = text(c, key);
        }
    }
    if config.stop_signal.as_deref().is_none_or(str::is_empty) {
        config.stop_signal = Some(text(c, "StopSignal")).filter(|s| !s.is_empty());
    }
    let mut labels: std::collections::BTreeMap<String, String> = c
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.as_object())
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    labels.extend(asked.labels.clone());
    config.labels = labels;
    for (set, key) in [
        (&mut config.volumes, "Volumes"),
        (&mut config.exposed_ports, "ExposedPorts"),
    ] {
        if let Some(o) = c.and_then(|c| c.get(key)).and_then(|v| v.as_object()) {
            set.extend(o.keys().map(|k| (k.clone(), Default::default())));
        }
    }
    let image_check: Option<HealthConfig> = c
        .and_then(|c| c.get("Healthcheck"))
        .filter(|h| !h.is_null())
        .and_then(|h| serde_json::from_value(h.clone()).ok());
    config.healthcheck = match (asked.healthcheck.clone(), image_check) {
        (None, image) => image,
        (Some(mut h), Some(image)) => {
            if h.test.is_empty() {
                h.test = image.test;
            }
            for (mine, theirs) in [
                (&mut h.interval, image.interval),
                (&mut h.timeout, image.timeout),
                (&mut h.start_period, image.start_period),
                (&mut h.start_interval, image.start_interval),
                (&mut h.retries, image.retries),
            ] {
                if *mine == 0 {
                    *mine = theirs;
                }
            }
            Some(h)
        }
        (Some(h), None) => Some(h),
    };
    config
}

impl Engine {
    /// Create a container from local image `image` (see the module doc).
    pub async fn create(&self, image: &Image, req: CreateRequest) -> Result<Created> {
        let cfg: serde_json::Value =
            serde_json::from_slice(&self.store.blobs().read(&image.record.id)?)?;
        let id = random_hex(32);
        let mut config = merge(&req.config, &req.entrypoint, cfg.get("config"));
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        if config.argv().is_empty() {
            return Err(Error::InvalidArgument("no command specified".into()));
        }
        if let Some(s) = &config.stop_signal {
            super::lifecycle::parse_signal(s)?;
        }
        let mut host = req.host_config;
        if !matches!(
            host.network_mode,
            NetworkMode::None | NetworkMode::Host | NetworkMode::Default
        ) {
            return Err(Error::InvalidArgument(format!(
                "--network {}: berth has no container networks yet (use none or host)",
                host.network_mode
            )));
        }
        if host.runtime.is_empty() {
            host.runtime = "berth".into();
        }

        // Layers, unpacked once and shared.
        let manifest = self.store.blobs().read(&image.record.manifest)?;
        let parsed = ParsedManifest::parse(&manifest, &image.record.manifest_media_type)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let cache = LayerCache::open(self.layout().root())?;
        let mut layers = vec![];
        for l in &parsed.blobs[1..] {
            let (cache, digest, blob) = (
                cache.clone(),
                l.digest.clone(),
                self.store.blobs().path(&l.digest),
            );
            layers.push(tokio::task::spawn_blocking(move || cache.ensure(&digest, &blob)).await??);
        }

        let root = self.layout().root().to_path_buf();
        let mut points: Vec<MountPoint> = vec![];
        let made = async {
            for v in &host.binds {
                points.push(mounts::parse_volume(&root, v)?);
            }
            for (target, options) in &host.tmpfs {
                let spec = if options.is_empty() {
                    target.clone()
                } else {
                    format!("{target}:{options}")
                };
                points.push(mounts::parse_tmpfs(&spec)?);
            }
            for m in &host.mounts {
                points.push(mounts::mount_point(&root, m)?);
            }
            for from in &host.volumes_from {
                points.extend(mounts::volumes_from(self, from).await?);
            }
            let image_config = cfg.get("config");
            let from_image = mounts::image_volumes(&root, image_config, &points)?;
            points.extend(from_image);
            Ok::<(), Error>(())
        }
        .await;
        let record = Record {
            version: RECORD_VERSION,
            config,
            host_config: host,
            mount_points: points,
            layers,
        };
        // Checked now (cpus, seccomp profile, namespaces), so that nothing is recorded that
        // cannot start; the anonymous volumes made for it would be nobody's.
        let checked = made.and_then(|()| {
            record
                .spec(&id, std::path::PathBuf::new())
                .map(drop)
                .map_err(Error::InvalidArgument)
        });
        let discard = |record: &Record| {
            let _ = crate::volumes::remove_anonymous(&root, &record.volumes(), &[]);
        };
        if let Err(e) = checked {
            discard(&record);
            return Err(e);
        }
        let json = record.to_json();
        let argv = record.config.argv();
        let mut name = req
            .name
            .clone()
            .unwrap_or_else(|| random_name(u64::from_str_radix(&id[..15], 16).unwrap()));
        loop {
            let made = self
                .store
                .create_container(
                    &id,
                    &name,
                    &record.config.image,
                    &image.record.id.to_string(),
                    &argv,
                    &json,
                )
                .await;
            match made {
                Err(berth_store::Error::NameInUse(_)) if req.name.is_none() => {
                    name = random_name(u64::from_str_radix(&random_hex(7), 16).unwrap());
                }
                Err(e) => {
                    discard(&record);
                    return Err(e.into());
                }
                Ok(_) => break,
            }
        }
        self.emit_container("create", &id, &[]).await;
        Ok(Created { id, name, record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_image_config_is_merged_as_docker_merges_it() {
        let image = json!({
            "Env": ["PATH=/bin", "A=1"], "Entrypoint": ["/entry"], "Cmd": ["default"],
            "WorkingDir": "/w", "User": "nobody", "Labels": {"a": "image", "b": "image"},
            "Volumes": {"/data": {}}, "ExposedPorts": {"80/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2},
        });
        let mut asked = ContainerConfig {
            env: vec!["A=2".into(), "B=3".into()],
            labels: [("b".to_string(), "mine".to_string())].into(),
            healthcheck: Some(HealthConfig {
                interval: 9,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = merge(&asked, &None, Some(&image));
        assert_eq!(c.env, ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(c.argv(), ["/entry", "default"]);
        assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/w", "nobody"));
        assert_eq!(c.labels["a"], "image");
        assert_eq!(c.labels["b"], "mine");
        assert!(c.volumes.contains_key("/data") && c.exposed_ports.contains_key("80/tcp"));
        let h = c.healthcheck.unwrap();
        assert_eq!((h.test[1].as_str(), h.interval, h.retries), ("true", 9, 2));
        asked.cmd = vec!["mine".into()];
        assert_eq!(
            merge(&asked, &None, Some(&image)).argv(),
            ["/entry", "mine"]
        );
        // --entrypoint "": no entrypoint, and the image's Cmd goes too.
        asked.cmd.clear();
        assert!(merge(&asked, &Some(vec![]), Some(&image)).argv().is_empty());
        asked.cmd = vec!["x".into()];
        assert_eq!(
            merge(&asked, &Some(vec!["/e".into()]), Some(&image)).argv(),
            ["/e", "x"]
        );
    }
}
