//! Every path below berth's data root (the client and runtime side, `/var/lib/berth` by default),
//! built by one [`Layout`] value: code elsewhere asks it for a path instead of joining names by
//! hand, so the tree below is the whole truth.
//!
//! Each area carries its own version directory (`v1`) so that it can change format on its own.
//! ```text
//! <root>/
//!   images/v1/                          the image store (this crate)
//!     blobs/<alg>/<hex>                   verified content (layers, configs, manifests), never modified
//!     ingest/<alg>-<hex>                  a partial download, resumed by the next pull
//!     ingest/<alg>-<hex>.lock             one writer per blob across processes (flock)
//!     images.db                           SQLite: images, names, image→blob references, containers
//!     store.lock                          serialises removals against new references (flock)
//!   layers/v1/                          the runtime's shared cache of unpacked layers
//!     <alg>-<hex>/                        one unpacked layer (overlay whiteouts), used by every container
//!     <alg>-<hex>.lock                    one unpacker per layer across processes (flock)
//!     <alg>-<hex>.tmp-<pid>/              a layer being unpacked, renamed into place when complete
//!   containers/v1/<id>/                 one container (its record is in images.db)
//!     upper/                              the container's own changes (overlay upper directory)
//!     work/                               overlay work directory
//!     merged/                             the mounted root filesystem: the container's `/`
//!     empty/                              the lower directory of an image without layers
//!     <id>-json.log                       its output, in docker's json-file format
//!     hostname, hosts, resolv.conf        bound over the container's /etc files
//!   volumes/v1/<name>/                  one named or anonymous volume
//!     _data/                              what containers mount
//!     meta.json                           driver, labels, options, creation time
//!   build/                              the builder's files (all of it is build cache)
//!     cache/v1/<key>.json                 the stage state after a step, under the step's chained key
//!     cache-mounts/v1/<key>/              `RUN --mount=type=cache` directories
//!     tmp/                                scratch files (contexts from stdin, layers being written)
//!   runtime-state/                      an external OCI runtime's state (its `--root`)
//!   bundles/<id>/                       the OCI bundle given to an external runtime
//!     config.json, runtime.log, runtime.pid
//!   events/                             the engine's event journal (berth-engine's `events`)
//!     events.jsonl, events.1.jsonl        the current and the previous segment (JSON lines)
//!     events.lock                         serialises appends and rotations (flock)
//! ```
//! A registry served by `berth registry serve` has its own data root and layout (see the
//! registry crate); the two never share a directory.

use std::path::{Path, PathBuf};

use berth_oci::Digest;

/// The paths below one data root. Cheap to clone; it only holds the root.
///
/// ```
/// use berth_store::Layout;
/// let layout = Layout::new("/var/lib/berth");
/// assert_eq!(
///     layout.container_log("c0ffee"),
///     std::path::Path::new("/var/lib/berth/containers/v1/c0ffee/c0ffee-json.log"),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

/// `<alg>-<hex>`: how a digest names a file in a flat directory.
fn flat(d: &Digest) -> String {
    format!("{}-{}", d.algorithm().as_str(), d.hex())
}

impl Layout {
    /// The layout below data root `root`. Nothing is created.
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The data root itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    // The image store.

    /// `<root>/images/v1`: the image store's directory.
    pub fn images(&self) -> PathBuf {
        self.root.join("images").join("v1")
    }

    /// `<root>/images/v1/blobs/<alg>`: the blobs of one digest algorithm.
    pub fn blobs(&self, algorithm: &str) -> PathBuf {
        self.images().join("blobs").join(algorithm)
    }

    /// `<root>/images/v1/blobs/<alg>/<hex>`: where blob `d` lives.
    pub fn blob(&self, d: &Digest) -> PathBuf {
        self.blobs(d.algorithm().as_str()).join(d.hex())
    }

    /// `<root>/images/v1/ingest`: partial downloads.
    pub fn ingest_dir(&self) -> PathBuf {
        self.images().join("ingest")
    }

    /// `<root>/images/v1/ingest/<alg>-<hex>`: the partial download of blob `d`.
    pub fn ingest(&self, d: &Digest) -> PathBuf {
        self.ingest_dir().join(flat(d))
    }

    /// `<root>/images/v1/ingest/<alg>-<hex>.lock`: held by the one writer of blob `d`.
    pub fn ingest_lock(&self, d: &Digest) -> PathBuf {
        self.ingest_dir().join(format!("{}.lock", flat(d)))
    }

    /// `<root>/images/v1/images.db`: the store's SQLite database.
    pub fn database(&self) -> PathBuf {
        self.images().join("images.db")
    }

    /// `<root>/images/v1/store.lock`: the store-wide lock.
    pub fn store_lock(&self) -> PathBuf {
        self.images().join("store.lock")
    }

    // The runtime's layer cache.

    /// `<root>/layers/v1`: the shared cache of unpacked layers.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers").join("v1")
    }

    /// `<root>/layers/v1/<alg>-<hex>`: the unpacked layer `d`.
    pub fn layer(&self, d: &Digest) -> PathBuf {
        self.layers().join(flat(d))
    }

    /// `<root>/layers/v1/<alg>-<hex>.lock`: held by the one unpacker of layer `d`.
    pub fn layer_lock(&self, d: &Digest) -> PathBuf {
        self.layers().join(format!("{}.lock", flat(d)))
    }

    /// `<root>/layers/v1/<alg>-<hex>.tmp-<pid>`: layer `d` being unpacked by process `pid`.
    pub fn layer_tmp(&self, d: &Digest, pid: u32) -> PathBuf {
        self.layers().join(format!("{}.tmp-{pid}", flat(d)))
    }

    // Containers.

    /// `<root>/containers/v1`: every container's directory.
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers").join("v1")
    }

    /// `<root>/containers/v1/<id>`: container `id`'s directory.
    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    /// `<root>/containers/v1/<id>/upper`: the container's own changes.
    pub fn container_upper(&self, id: &str) -> PathBuf {
        self.container(id).join("upper")
    }

    /// `<root>/containers/v1/<id>/work`: overlayfs's work directory.
    pub fn container_work(&self, id: &str) -> PathBuf {
        self.container(id).join("work")
    }

    /// `<root>/containers/v1/<id>/merged`: the container's mounted `/`.
    pub fn container_merged(&self, id: &str) -> PathBuf {
        self.container(id).join("merged")
    }

    /// `<root>/containers/v1/<id>/empty`: the lower directory of an image without layers.
    pub fn container_empty(&self, id: &str) -> PathBuf {
        self.container(id).join("empty")
    }

    /// `<root>/containers/v1/<id>/<id>-json.log`: the container's output.
    pub fn container_log(&self, id: &str) -> PathBuf {
        self.container(id).join(format!("{id}-json.log"))
    }

    // Volumes.

    /// `<root>/volumes/v1`: every volume.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes").join("v1")
    }

    /// `<root>/volumes/v1/<name>`: volume `name`'s directory.
    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }

    /// `<root>/volumes/v1/<name>/_data`: what containers mount for volume `name`.
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume(name).join("_data")
    }

    /// `<root>/volumes/v1/<name>/meta.json`: volume `name`'s settings.
    pub fn volume_meta(&self, name: &str) -> PathBuf {
        self.volume(name).join("meta.json")
    }

    // The builder.

    /// `<root>/build`: everything the builder keeps (`system df` counts it as build cache).
    pub fn build(&self) -> PathBuf {
        self.root.join("build")
    }

    /// `<root>/build/cache/v1`: step records.
    pub fn build_cache(&self) -> PathBuf {
        self.build().join("cache").join("v1")
    }

    /// `<root>/build/cache-mounts/v1/<key>`: the `RUN --mount=type=cache` directory `key`.
    pub fn build_cache_mount(&self, key: &str) -> PathBuf {
        self.build().join("cache-mounts").join("v1").join(key)
    }

    /// `<root>/build/tmp`: the builder's scratch directory.
    pub fn build_tmp(&self) -> PathBuf {
        self.build().join("tmp")
    }

    // External OCI runtimes.

    /// `<root>/runtime-state`: an external runtime's state directory (its `--root`).
    pub fn runtime_state(&self) -> PathBuf {
        self.root.join("runtime-state")
    }

    /// `<root>/bundles`: the OCI bundles written for an external runtime.
    pub fn bundles(&self) -> PathBuf {
        self.root.join("bundles")
    }

    /// `<root>/events`: the engine's event journal (`berth events`).
    pub fn events(&self) -> PathBuf {
        self.root.join("events")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// The paths are those berth wrote before `Layout` existed: existing data roots keep working.
    #[test]
    fn paths_are_the_version_1_tree() {
        let l = Layout::new("/r");
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(l.root(), Path::new("/r"));

        assert_eq!(l.images(), p("/r/images/v1"));
        assert_eq!(l.blobs("sha512"), p("/r/images/v1/blobs/sha512"));
        assert_eq!(l.blob(&d), p(&format!("/r/images/v1/blobs/sha256/{HEX}")));
        assert_eq!(l.ingest_dir(), p("/r/images/v1/ingest"));
        assert_eq!(
            l.ingest(&d),
            p(&format!("/r/images/v1/ingest/sha256-{HEX}"))
        );
        assert_eq!(
            l.ingest_lock(&d),
            p(&format!("/r/images/v1/ingest/sha256-{HEX}.lock"))
        );
        assert_eq!(l.database(), p("/r/images/v1/images.db"));
        assert_eq!(l.store_lock(), p("/r/images/v1/store.lock"));

        assert_eq!(l.layers(), p("/r/layers/v1"));
        assert_eq!(l.layer(&d), p(&format!("/r/layers/v1/sha256-{HEX}")));
        assert_eq!(
            l.layer_lock(&d),
            p(&format!("/r/layers/v1/sha256-{HEX}.lock"))
        );
        assert_eq!(
            l.layer_tmp(&d, 42),
            p(&format!("/r/layers/v1/sha256-{HEX}.tmp-42"))
        );

        assert_eq!(l.containers(), p("/r/containers/v1"));
        assert_eq!(l.container("abc"), p("/r/containers/v1/abc"));
        assert_eq!(l.container_upper("abc"), p("/r/containers/v1/abc/upper"));
        assert_eq!(l.container_work("abc"), p("/r/containers/v1/abc/work"));
        assert_eq!(l.container_merged("abc"), p("/r/containers/v1/abc/merged"));
        assert_eq!(l.container_empty("abc"), p("/r/containers/v1/abc/empty"));
        assert_eq!(
            l.container_log("abc"),
            p("/r/containers/v1/abc/abc-json.log")
        );

        assert_eq!(l.volumes(), p("/r/volumes/v1"));
        assert_eq!(l.volume("v"), p("/r/volumes/v1/v"));
        assert_eq!(l.volume_data("v"), p("/r/volumes/v1/v/_data"));
        assert_eq!(l.volume_meta("v"), p("/r/volumes/v1/v/meta.json"));

        assert_eq!(l.build(), p("/r/build"));
        assert_eq!(l.build_cache(), p("/r/build/cache/v1"));
        assert_eq!(l.build_cache_mount("k"), p("/r/build/cache-mounts/v1/k"));
        assert_eq!(l.build_tmp(), p("/r/build/tmp"));

        assert_eq!(l.runtime_state(), p("/r/runtime-state"));
        assert_eq!(l.bundles(), p("/r/bundles"));
    }

    /// The layer cache's lock and scratch names are the ones `with_extension` made from the
    /// layer directory (a digest has no dot, so nothing of it was replaced).
    #[test]
    fn layer_siblings_match_with_extension() {
        let l = Layout::new("/r");
        let d: Digest = format!("sha512:{}", HEX.repeat(2)).parse().unwrap();
        assert_eq!(l.layer_lock(&d), l.layer(&d).with_extension("lock"));
        assert_eq!(l.layer_tmp(&d, 7), l.layer(&d).with_extension("tmp-7"));
        assert_eq!(l.ingest_lock(&d), l.ingest(&d).with_extension("lock"));
    }
}
