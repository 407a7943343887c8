//! berth's container model: Docker's `Config` and `HostConfig` as serde types (what the
//! Engine API receives and `inspect` shows), and the [`Record`] stored for each container —
//! those two plus what `create` resolved (mount points, layers). The runtime spec a container
//! runs with is derived from the record at every start ([`Record::spec`]), as Docker does.

use serde::{Deserialize, Deserializer};

mod config;
mod host;
mod legacy;
mod migrate;
mod record;
mod spec;

pub use spec::{SecurityOptions, cap_name, security_options};

pub use config::{ContainerConfig, Empty, HealthConfig, Set};
pub use host::{
    DeviceMapping, HostConfig, LogConfig, LogDriver, Mount, MountType, NamespaceMode, NetworkMode,
    PortBinding, Resources, RestartPolicy, RestartPolicyName, ThrottleDevice, TmpfsOptions, Ulimit,
    VolumeOptions, WeightDevice,
};
pub use migrate::{Migrated, migrate_records};
pub use record::{MountPoint, RECORD_VERSION, Record};

/// Docker sends `null` for empty lists and maps: read it as empty.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
