//! Progress of a pull or a push as typed events, modelled on the Docker Engine API's JSON
//! progress messages (`{"status": …, "id": …, "progressDetail": {"current": …, "total": …}}`).
//! The engine reports them through a callback and never prints: the CLI draws bars or lines
//! from them, the Engine API streams [`Progress::to_json`].

use berth_oci::Digest;
use serde_json::{Value, json};

/// One progress event of [`crate::Engine::pull`] or [`crate::Engine::push`]. `id` fields are
/// a blob's short id (12 hex digits), as Docker shows layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Pull: no tag nor digest was given (`Using default tag: latest`).
    UsingDefaultTag,
    /// Pull: `TAG: Pulling from REPOSITORY` (`tag` is the tag, or the digest pulled by).
    PullingFrom {
        /// The tag (or digest) being pulled.
        tag: String,
        /// The repository's path in its registry (`library/busybox`).
        repository: String,
    },
    /// Pull: a blob is about to be downloaded.
    PullingFsLayer {
        /// The blob's short id.
        id: String,
    },
    /// Pull: the store already holds this blob.
    AlreadyExists {
        /// The blob's short id.
        id: String,
    },
    /// Pull: bytes of a blob are in the store (`current` of `total`; a restarted download goes
    /// back to 0).
    Downloading {
        /// The blob's short id.
        id: String,
        /// Bytes in the store so far.
        current: u64,
        /// The blob's size.
        total: u64,
    },
    /// Pull: the blob is downloaded and verified.
    DownloadComplete {
        /// The blob's short id.
        id: String,
    },
    /// Pull: the blob is committed to the store.
    PullComplete {
        /// The blob's short id.
        id: String,
    },
    /// Pull: `Digest: sha256:…`, the digest of the manifest (or index) pulled.
    Digest {
        /// That digest.
        digest: Digest,
    },
    /// Pull: `Status: Downloaded newer image for REFERENCE`.
    DownloadedNewer {
        /// The familiar reference pulled (`busybox:latest`).
        reference: String,
    },
    /// Pull: `Status: Image is up to date for REFERENCE` (nothing was downloaded).
    UpToDate {
        /// The familiar reference pulled.
        reference: String,
    },
    /// Push: `The push refers to repository [NAME]`.
    PushRefersTo {
        /// The full repository name (`localhost:5000/app`).
        repository: String,
    },
    /// Push: a blob is about to be checked and uploaded.
    Preparing {
        /// The blob's short id.
        id: String,
    },
    /// Push: bytes of a blob uploaded so far.
    Pushing {
        /// The blob's short id.
        id: String,
        /// Bytes uploaded.
        current: u64,
        /// The blob's size.
        total: u64,
    },
    /// Push: the blob is uploaded.
    Pushed {
        /// The blob's short id.
        id: String,
    },
    /// Push: the repository already has the blob.
    LayerAlreadyExists {
        /// The blob's short id.
        id: String,
    },
    /// Push: the registry mounted the blob from another of its repositories.
    MountedFrom {
        /// The blob's short id.
        id: String,
        /// The repository it was mounted from.
        from: String,
    },
    /// Push: `TAG: digest: sha256:… size: N`, the manifest pushed.
    PushedManifest {
        /// The tag pushed.
        tag: String,
        /// The manifest's digest.
        digest: Digest,
        /// The manifest's size in bytes.
        size: usize,
    },
}

impl Progress {
    /// The `id` of Docker's message: a blob's short id, or the tag for `Pulling from`.
    pub fn id(&self) -> Option<&str> {
        use Progress::*;
        match self {
            PullingFrom { tag, .. } => Some(tag),
            PullingFsLayer { id }
            | AlreadyExists { id }
            | Downloading { id, .. }
            | DownloadComplete { id }
            | PullComplete { id }
            | Preparing { id }
            | Pushing { id, .. }
            | Pushed { id }
            | LayerAlreadyExists { id }
            | MountedFrom { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The `status` of Docker's message.
    pub fn status(&self) -> String {
        use Progress::*;
        match self {
            UsingDefaultTag => "Using default tag: latest".into(),
            PullingFrom { repository, .. } => format!("Pulling from {repository}"),
            PullingFsLayer { .. } => "Pulling fs layer".into(),
            AlreadyExists { .. } => "Already exists".into(),
            Downloading { .. } => "Downloading".into(),
            DownloadComplete { .. } => "Download complete".into(),
            PullComplete { .. } => "Pull complete".into(),
            Digest { digest } => format!("Digest: {digest}"),
            DownloadedNewer { reference } => {
                format!("Status: Downloaded newer image for {reference}")
            }
            UpToDate { reference } => format!("Status: Image is up to date for {reference}"),
            PushRefersTo { repository } => {
                format!("The push refers to repository [{repository}]")
            }
            Preparing { .. } => "Preparing".into(),
            Pushing { .. } => "Pushing".into(),
            Pushed { .. } => "Pushed".into(),
            LayerAlreadyExists { .. } => "Layer already exists".into(),
            MountedFrom { from, .. } => format!("Mounted from {from}"),
            PushedManifest { tag, digest, size } => {
                format!("{tag}: digest: {digest} size: {size}")
            }
        }
    }

    /// `(current, total)` of a transfer in progress.
    pub fn detail(&self) -> Option<(u64, u64)> {
        match self {
            Progress::Downloading { current, total, .. }
            | Progress::Pushing { current, total, .. } => Some((*current, *total)),
            _ => None,
        }
    }

    /// The message as a line of text: `ID: STATUS`, or `STATUS` when it has no blob id
    /// (`TAG: Pulling from REPO` has the tag as its id).
    pub fn line(&self) -> String {
        match self.id() {
            Some(id) => format!("{id}: {}", self.status()),
            None => self.status(),
        }
    }

    /// Docker's JSON progress message.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "status": self.status() });
        if let Some(id) = self.id() {
            v["id"] = json!(id);
        }
        if let Some((current, total)) = self.detail() {
            v["progressDetail"] = json!({ "current": current, "total": total });
        }
        v
    }
}

/// A blob's short id as progress shows it: its first 12 hex digits.
pub fn short_id(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json_messages() {
        let p = Progress::Downloading {
            id: "0123456789ab".into(),
            current: 5,
            total: 10,
        };
        assert_eq!(
            p.to_json(),
            json!({"status": "Downloading", "id": "0123456789ab",
                   "progressDetail": {"current": 5, "total": 10}})
        );
        let from = Progress::PullingFrom {
            tag: "latest".into(),
            repository: "library/busybox".into(),
        };
        assert_eq!(from.line(), "latest: Pulling from library/busybox");
        assert_eq!(
            Progress::UpToDate {
                reference: "busybox:latest".into()
            }
            .to_json(),
            json!({"status": "Status: Image is up to date for busybox:latest"})
        );
    }
}
