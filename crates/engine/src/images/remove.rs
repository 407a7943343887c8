//! `rmi`: untag and delete local images with Docker's in-use rules ([`Engine::remove_image`]).

use berth_oci::Digest;
use berth_store::State;

use crate::Engine;
use crate::containers::liveness;
use crate::error::{Error, Result};
use crate::images::progress::short_id;

/// One thing [`Engine::remove_image`] did, as Docker's `DELETE /images/{name}` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A name went: `name:tag` or `name@digest`, familiar (`Untagged: …`).
    Untagged(String),
    /// The image went: its id (`Deleted: sha256:…`).
    Deleted(Digest),
}

impl Engine {
    /// Remove image `query`: by `name[:tag]`, only that name goes (and the image with its last
    /// name); by id or digest, the image with all its names. Docker's rules: no `force` deletes
    /// an image a running container uses (its last name may go; it stays, dangling); without
    /// `force` an image used by a stopped container, or (by id) one with several names, is
    /// refused. `prune` is Docker's `noprune=false` (delete untagged parents): berth images have
    /// no parent images, so there is nothing more to do either way.
    pub async fn remove_image(
        &self,
        query: &str,
        force: bool,
        prune: bool,
    ) -> Result<Vec<Removed>> {
        let _ = prune;
        let img = self.find_image(query).await?;
        let id = img.record.id.to_string();
        let by_name = self.reference(query).ok().filter(|r| {
            r.digest.is_none()
                && img
                    .names
                    .iter()
                    .any(|(n, t)| *n == r.name() && t == r.tag_or_latest())
        });
        let mut remaining = img.names.len();
        let users = self.store.image_in_use(&id).await?;
        // Docker's hard conflict: no `force` deletes an image a running container uses.
        let mut running = None;
        for c in &users {
            if let Some(c) = self.store.container(c).await?
                && let Some(c) = liveness::reconcile(self, c).await?
                && (c.state == State::Running || c.restarting)
            {
                running = Some(c.id);
                break;
            }
        }
        let image = short_id(&img.record.id);
        let mut out = Vec::new();
        let mut untag = |name: String| {
            crate::events::emit(
                &self.config.root,
                "image",
                "untag",
                &id,
                &[("name", name.clone())],
            );
            out.push(Removed::Untagged(name));
        };
        if let Some(r) = by_name {
            if remaining <= 1
                && !force
                && let Some(c) = users.first()
            {
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference {query:?} (must force) - container {} is using its referenced image {image}",
                    &c[..12]
                )));
            }
            self.store.untag(&r.name(), r.tag_or_latest()).await?;
            untag(self.familiar(&r.name(), r.tag_or_latest()));
            remaining -= 1;
            // Other names keep it; so does a running container (as Docker, the image stays,
            // dangling, and only its name goes).
            if remaining > 0 || running.is_some() {
                return Ok(out);
            }
        } else {
            if let Some(c) = &running {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {image} (cannot be forced) - image is being used by running container {}",
                    &c[..12]
                )));
            }
            if remaining > 1 && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {image} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            if !force && let Some(c) = users.first() {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {image} (must be forced) - image is being used by stopped container {}",
                    &c[..12]
                )));
            }
            for (n, t) in &img.names {
                untag(self.familiar(n, t));
            }
        }
        for (n, d) in &img.repo_digests {
            untag(format!("{}@{d}", self.familiar_name(n)));
        }
        let deleted = self.store.remove(&img.record.id).await?;
        // The unpacked layers too, unless a container (kept with `force`) still stands on them.
        if users.is_empty() {
            let cache = berth_runtime::rootfs::LayerCache::open(&self.config.root)?;
            for d in &deleted {
                cache.remove(d)?;
            }
        }
        crate::events::emit(
            &self.config.root,
            "image",
            "delete",
            &id,
            &[("name", id.clone())],
        );
        out.push(Removed::Deleted(img.record.id));
        Ok(out)
    }
}
