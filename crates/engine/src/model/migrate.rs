//! The record migration: container records still in the first release's format are rewritten
//! in the current one, in place, once. Each rewrite replaces the record only if it is still
//! the one read, so a concurrent change is never lost; a record that cannot be read is left
//! as it is (and reported), never dropped.

use berth_store::Store;

use super::Record;

/// What [`migrate_records`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Records rewritten in the current format.
    pub rewritten: usize,
    /// Records left alone because they could not be read: `(id, why)`.
    pub unreadable: Vec<(String, String)>,
}

/// Rewrite every record of `store` that is not in the current format.
pub async fn migrate_records(store: &Store) -> Result<Migrated, berth_store::Error> {
    let mut done = Migrated::default();
    // Records are written with `Version` first: the others are the candidates.
    for c in store.containers_config_without("{\"Version\":").await? {
        let versioned = serde_json::from_str::<serde_json::Value>(&c.config)
            .is_ok_and(|v| v.get("Version").is_some());
        if versioned {
            continue;
        }
        match Record::parse(&c.config) {
            Ok(record) => {
                if store
                    .replace_container_config(&c.id, &c.config, &record.to_json())
                    .await?
                {
                    done.rewritten += 1;
                }
            }
            Err(e) => done.unreadable.push((c.id.clone(), e)),
        }
    }
    Ok(done)
}
