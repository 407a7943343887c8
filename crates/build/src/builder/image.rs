//! The image a stage is building: its OCI config (as JSON, so fields berth does not know
//! survive from the base image) and its layers; loaded from the store for `FROM`, committed to
//! it at the end.

use berth_oci::media_type as mt;
use berth_oci::{Digest, ParsedManifest};
use berth_store::{NewImage, Store};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// One layer of the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Digest of the compressed blob in the store.
    pub digest: Digest,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
}

/// A stage's image as the build goes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageState {
    /// The whole OCI image config (`architecture`, `os`, `config`, `rootfs`, `history`…).
    pub config: Value,
    /// The layers, bottom first; `config.rootfs.diff_ids` follows them on commit.
    pub layers: Vec<Layer>,
}

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

impl ImageState {
    /// `FROM scratch`: no layers, an empty config for `platform` (os, arch, variant).
    pub fn scratch(platform: &(String, String, Option<String>)) -> ImageState {
        let mut config = json!({
            "architecture": platform.1,
            "os": platform.0,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(v) = &platform.2 {
            config["variant"] = json!(v);
        }
        ImageState {
            config,
            layers: Vec::new(),
        }
    }

    /// The image `id` of the store.
    pub async fn load(store: &Store, id: &Digest) -> Result<ImageState> {
        let image = store
            .image(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| store_error(format!("image {id} is not in the store")))?;
        let config: Value = serde_json::from_slice(&store.blobs().read(id).map_err(store_error)?)
            .map_err(store_error)?;
        let manifest = store
            .blobs()
            .read(&image.record.manifest)
            .map_err(store_error)?;
        let parsed = ParsedManifest::parse(&manifest, &image.record.manifest_media_type)
            .map_err(store_error)?;
        let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str()?.parse().ok())
            .collect();
        let blobs = &parsed.blobs[1..];
        if blobs.len() != diff_ids.len() {
            return Err(store_error(format!(
                "image {id}: {} layers but {} diff_ids",
                blobs.len(),
                diff_ids.len()
            )));
        }
        let layers = blobs
            .iter()
            .zip(diff_ids)
            .map(|(b, diff_id)| Layer {
                digest: b.digest.clone(),
                diff_id,
                size: b.size.max(0) as u64,
                media_type: b.media_type.clone(),
            })
            .collect();
        Ok(ImageState { config, layers })
    }

    /// The `config` object (Env, Cmd…), created when missing.
    pub fn container_config(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("an object")
    }

    /// The environment as `KEY=value` strings.
    pub fn env(&self) -> Vec<String> {
        self.config["config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// The value of environment variable `key`.
    pub fn env_var(&self, key: &str) -> Option<String> {
        self.env().into_iter().find_map(|e| {
            let (k, v) = e.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    }

    /// Set environment variable `key`, replacing an earlier value in place.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        let entry = format!("{key}={value}");
        match env
            .iter()
            .position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(i) => env[i] = entry,
            None => env.push(entry),
        }
        self.container_config().insert("Env".into(), json!(env));
    }

    /// A string field of `config` (`WorkingDir`, `User`…), empty when unset.
    pub fn string(&self, field: &str) -> String {
        self.config["config"][field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The `created` time of the last history entry.
    pub fn last_created(&self) -> Option<String> {
        self.config["history"]
            .as_array()?
            .last()?
            .get("created")?
            .as_str()
            .map(str::to_string)
    }

    /// Add a layer and its history entry.
    pub fn push_layer(&mut self, layer: Layer, created: &str, created_by: &str) {
        self.layers.push(layer);
        self.history(created, created_by, false);
    }

    /// Add a history entry (`empty_layer` for instructions that change only the config).
    pub fn history(&mut self, created: &str, created_by: &str, empty_layer: bool) {
        let mut entry =
            json!({"created": created, "created_by": created_by, "comment": "berth build"});
        if empty_layer {
            entry["empty_layer"] = json!(true);
        }
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        self.config["history"]
            .as_array_mut()
            .expect("an array")
            .push(entry);
    }

    /// Write the config and manifest to the store and record the image, tagged with `tags`
    /// (name, tag); returns the image id (the config's digest). The image's `created` is
    /// its last history entry's (else `created`).
    pub async fn commit(
        &mut self,
        store: &Store,
        created: &str,
        tags: &[(String, String)],
    ) -> Result<Digest> {
        let created = self.last_created().unwrap_or_else(|| created.to_string());
        let created = created.as_str();
        self.config["created"] = json!(created);
        self.config["rootfs"] = json!({
            "type": "layers",
            "diff_ids": self.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        });
        let config = serde_json::to_vec(&self.config).map_err(store_error)?;
        let config_digest = Digest::sha256(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": self.layers.iter().map(|l| json!({
                "mediaType": l.media_type, "digest": l.digest, "size": l.size,
            })).collect::<Vec<_>>(),
        }))
        .map_err(store_error)?;
        let manifest_digest = Digest::sha256(&manifest);
        for (d, data) in [(&config_digest, &config), (&manifest_digest, &manifest)] {
            if store.blobs().size(d).is_none() {
                store.blobs().put(d, data).map_err(store_error)?;
            }
        }
        let mut blobs = vec![manifest_digest.clone(), config_digest.clone()];
        blobs.extend(self.layers.iter().map(|l| l.digest.clone()));
        let image = NewImage {
            id: config_digest.clone(),
            manifest: manifest_digest,
            manifest_media_type: mt::OCI_MANIFEST.into(),
            os: self.config["os"].as_str().unwrap_or("linux").to_string(),
            architecture: self.config["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            variant: self.config["variant"].as_str().map(str::to_string),
            created: Some(created.to_string()),
            size: config.len() as u64 + self.layers.iter().map(|l| l.size).sum::<u64>(),
            blobs,
        };
        let mut tags = tags.iter();
        let first = tags.next();
        store
            .add_image(&image, first.map(|(n, t)| (n.as_str(), t.as_str())), None)
            .await
            .map_err(store_error)?;
        for (name, tag) in tags {
            store
                .tag(&config_digest, name, tag)
                .await
                .map_err(store_error)?;
        }
        Ok(config_digest)
    }
}
