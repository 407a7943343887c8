//! Container operations: the lifecycle (pause, and — moving here from the CLI — create,
//! start, stop, kill, wait, rm, restart, rename, update), liveness reconciliation and the
//! container events.

pub mod commit;
pub mod cp;
pub mod create;
pub mod exec;
pub mod health;
pub mod lifecycle;
pub mod liveness;
pub mod logfile;
pub mod mounts;
pub mod pause;
pub mod rename;
pub mod start;
pub mod stats;
pub mod top;
pub mod update;

use crate::Engine;

impl Engine {
    /// Record a container event with its `name` and `image` attributes (and `extra` ones).
    pub async fn emit_container(&self, action: &str, id: &str, extra: &[(&str, String)]) {
        let mut attrs: Vec<(&str, String)> = match self.store.container(id).await {
            Ok(Some(c)) => vec![("name", c.name), ("image", c.image)],
            _ => vec![],
        };
        attrs.extend(extra.iter().cloned());
        crate::events::emit(self.layout().root(), "container", action, id, &attrs);
    }
}
