//! The [`Engine`] value: what every operation works on — the configuration, the local store
//! (images and container records), and through them the data root's [`Layout`].
//! Opening it brings an older data root up to date (store schema migrations, then container
//! record migration).

use berth_client::config::Config;
use berth_client::credentials::CredentialStore;
use berth_client::registry::Client;
use berth_oci::Reference;
use berth_store::{Image, Layout, Store};

use crate::error::{Context as _, Error, Result};

/// The engine: configuration and store, opened once per process (or per command).
pub struct Engine {
    /// Client configuration (data root, default registry, mirrors...).
    pub config: Config,
    /// The local image store and container records.
    pub store: Store,
    /// One runtime for every container instead of each one's own (see [`Engine::with_runtime`]).
    pub(crate) runtime_override: Option<std::sync::Arc<dyn berth_runtime::engine::Runtime>>,
}

impl Engine {
    /// Load the configuration from the environment and open the engine on it.
    pub async fn open() -> Result<Engine> {
        let config = Config::load().map_err(|e| Error::InvalidArgument(e.to_string()))?;
        Engine::with_config(config).await
    }

    /// Open the engine with configuration `config`.
    pub async fn with_config(config: Config) -> Result<Engine> {
        let store = Store::open(&config.root).await.context(|| {
            format!(
                "cannot open the image store under {}",
                config.root.display()
            )
        })?;
        let migrated = crate::model::migrate_records(&store).await?;
        for (id, why) in &migrated.unreadable {
            tracing::warn!(id, why, "container record left in its old format");
        }
        Ok(Engine {
            config,
            store,
            runtime_override: None,
        })
    }

    /// This engine with `runtime` running and acting on every container, whatever its record
    /// names: the in-memory fake in tests, or one runtime for an embedding.
    pub fn with_runtime(
        mut self,
        runtime: std::sync::Arc<dyn berth_runtime::engine::Runtime>,
    ) -> Engine {
        self.runtime_override = Some(runtime);
        self
    }

    /// The paths of the data root.
    pub fn layout(&self) -> &Layout {
        self.store.layout()
    }

    /// A registry client with the user's credentials.
    pub fn client(&self) -> Result<Client> {
        Client::new(&self.config, CredentialStore::from_env())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Parse a reference the way Docker does, against the configured default registry.
    pub fn reference(&self, s: &str) -> Result<Reference> {
        Reference::parse_with_default(s, &self.config.default_registry)
            .map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    /// `name[:tag]` for display (default registry and `library/` dropped).
    pub fn familiar(&self, name: &str, tag: &str) -> String {
        format!("{}:{tag}", self.familiar_name(name))
    }

    /// A full repository name for display.
    pub fn familiar_name(&self, name: &str) -> String {
        match self.reference(name) {
            Ok(r) => r.familiar_name(&self.config.default_registry),
            Err(_) => name.to_string(),
        }
    }

    /// Find a local image by `name[:tag]`, `name@digest`, or (short) image id.
    pub async fn find_image(&self, query: &str) -> Result<Image> {
        if let Some(img) = self.store.by_id_prefix(query).await? {
            return Ok(img);
        }
        if let Ok(r) = self.reference(query) {
            let found = match &r.digest {
                Some(d) => self.store.by_repo_digest(&r.name(), d).await?,
                None => self.store.by_name(&r.name(), r.tag_or_latest()).await?,
            };
            if let Some(img) = found {
                return Ok(img);
            }
        }
        Err(Error::NotFound {
            what: "image",
            name: query.to_string(),
        })
    }
}

/// The host's platform as OCI names it: (os, architecture, variant).
pub fn host_platform() -> (String, String, Option<String>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    ("linux".into(), arch.into(), None)
}

/// Parse `os/arch[/variant]`.
pub fn parse_platform(s: &str) -> Result<(String, String, Option<String>)> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => {
            Ok((os.to_string(), arch.to_string(), None))
        }
        [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
            Ok((os.to_string(), arch.to_string(), Some(v.to_string())))
        }
        _ => Err(Error::InvalidArgument(format!(
            "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(
            parse_platform("linux/arm64/v8").unwrap().2.as_deref(),
            Some("v8")
        );
        assert!(parse_platform("linux").is_err());
        assert_eq!(host_platform().0, "linux");
    }
}
