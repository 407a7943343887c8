//! `berth rename CONTAINER NEW_NAME`: a new name for a container (running or not), with
//! Docker's name rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading `/`) and errors.

use anyhow::{Result, bail};

use super::context::Context;
use super::liveness;

/// `berth rename`
#[derive(clap::Args)]
pub struct RenameArgs {
    /// The container to rename (name or id).
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// Whether `name` (without its leading `/`) is a valid container name, as Docker's
/// `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$` has it (so at least two characters).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Run `berth rename`.
pub async fn rename(args: RenameArgs) -> Result<()> {
    let new_name = args.new_name.strip_prefix('/').unwrap_or(&args.new_name);
    if args.container.is_empty() || new_name.is_empty() {
        bail!("Neither old nor new names may be empty");
    }
    if !valid_name(new_name) {
        bail!("Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    let ctx = Context::open().await?;
    let c = liveness::find(&ctx, &args.container).await?;
    if c.name == new_name {
        bail!("Renaming a container with the same name as its current name");
    }
    match ctx.store.rename_container(&c.id, new_name).await {
        Err(berth_store::Error::NameInUse(_)) => {
            let owner = ctx
                .store
                .find_container(new_name)
                .await
                .map(|o| o.id)
                .unwrap_or_default();
            bail!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \
                 \"{owner}\". You have to remove (or rename) that container to be able to reuse \
                 that name."
            )
        }
        other => other?,
    }
    let old = format!("/{}", c.name);
    super::events::emit_container(&ctx, "rename", &c.id, &[("oldName", old)]).await;
    Ok(())
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
