//! `rename`: a new name for a container, running or not ([`Engine::rename`]), with Docker's
//! name rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading `/`), its errors and its
//! `rename` event (`oldName` attribute).

use berth_store::Container;

use super::liveness;
use crate::Engine;
use crate::error::{Error, Result};

/// Whether `name` (without its leading `/`) is a valid container name, as Docker's
/// `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$` has it (so at least two characters).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Engine {
    /// Rename container `query` (name, id or id prefix) to `new_name` (a leading `/` is
    /// dropped). Empty or invalid names and the current name are [`Error::InvalidArgument`],
    /// a name another container has is [`Error::Conflict`], an unknown container
    /// [`Error::NotFound`]. Returns the container as it was before.
    pub async fn rename(&self, query: &str, new_name: &str) -> Result<Container> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if query.is_empty() || new_name.is_empty() {
            return Err(Error::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !valid_name(new_name) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let c = liveness::find(self, query).await?;
        if c.name == new_name {
            return Err(Error::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        match self.store.rename_container(&c.id, new_name).await {
            Err(berth_store::Error::NameInUse(_)) => {
                let owner = self
                    .store
                    .find_container(new_name)
                    .await
                    .map(|o| o.id)
                    .unwrap_or_default();
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \
                     \"{owner}\". You have to remove (or rename) that container to be able to \
                     reuse that name."
                )));
            }
            other => other?,
        }
        let old = format!("/{}", c.name);
        self.emit_container("rename", &c.id, &[("oldName", old)])
            .await;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn docker_name_rule() {
        for ok in ["ab", "web-1", "a.b_c", "0x", "X9"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a", "-ab", "_ab", ".ab", "a b", "a/b", "é1", "ab!"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
