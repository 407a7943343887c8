//! `import`: a root filesystem tarball (plain or gzip) becomes a one-layer image, as
//! `docker import` makes it.
//!
//! The tarball is read once: the bytes are hashed (the diff_id is the sha256 of the tar exactly
//! as given), gzip-compressed at a fast level with a fixed header (so the same tar always gives
//! the same layer digest) into a staging file, and walked as a tar, so a damaged or truncated one
//! is refused. The layer then enters the store through its verifying `Ingest`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::time::SystemTime;

use berth_oci::media_type as mt;
use berth_oci::{Algorithm, Digest, Hasher};
use berth_store::NewImage;
use berth_store::blobs::BlobDir;
use serde_json::{Map, json};

use super::{Staging, apply_change, bad, decompress, ingest_file, store_error, tar_error, within};
use crate::Engine;
use crate::engine::{host_platform, parse_platform};
use crate::error::{Context as _, Result};
use crate::util::format_rfc3339;

/// What [`Engine::import`] makes of the tarball.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name for the image: `REPOSITORY[:TAG]`.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to the config (see [`apply_change`]).
    pub changes: Vec<String>,
    /// The history comment.
    pub message: Option<String>,
    /// Platform of the image (`os/arch[/variant]`); the host's by default.
    pub platform: Option<String>,
}

/// The checked options: the name, the config and the platform.
struct Checked {
    name: Option<(String, String)>,
    config: Map<String, serde_json::Value>,
    platform: (String, String, Option<String>),
}

/// gzip level for new layers: levels above 3 cost far more time than they save space.
const GZIP_LEVEL: u32 = 1;

impl ImportOptions {
    /// Check the options without reading anything: what [`Engine::import`] refuses first.
    pub fn check(&self, engine: &Engine) -> Result<()> {
        self.checked(engine).map(|_| ())
    }

    fn checked(&self, engine: &Engine) -> Result<Checked> {
        let name = match &self.reference {
            Some(r) => {
                let r = engine.reference(r)?;
                if r.digest.is_some() {
                    return Err(bad(format!(
                        "refusing to create a tag with a digest reference: {r}"
                    )));
                }
                Some((r.name(), r.tag_or_latest().to_string()))
            }
            None => None,
        };
        let mut config = Map::new();
        for c in &self.changes {
            apply_change(&mut config, c).map_err(|e| within(e, format_args!("--change {c:?}")))?;
        }
        let platform = match &self.platform {
            Some(p) => parse_platform(p)?,
            None => host_platform(),
        };
        Ok(Checked {
            name,
            config,
            platform,
        })
    }
}

impl Engine {
    /// Make a one-layer image of the root filesystem tarball (plain or gzip) `source` reads;
    /// returns its id. A damaged tarball is [`crate::Error::InvalidArgument`] and leaves nothing
    /// behind. Emits an `import` image event.
    pub async fn import(
        &self,
        source: impl Read + Send + 'static,
        options: &ImportOptions,
    ) -> Result<Digest> {
        let Checked {
            name,
            config,
            platform: (os, arch, variant),
        } = options.checked(self)?;
        let blobs = self.store.blobs().clone();
        let layer = tokio::task::spawn_blocking(move || layer(source, &blobs)).await??;

        let mut written = Vec::new();
        if layer.new {
            written.push(layer.digest.clone());
        }
        let result = async {
            let created = format_rfc3339(SystemTime::now());
            let mut history = json!({"created": created, "created_by": "berth import"});
            if let Some(m) = &options.message {
                history["comment"] = json!(m);
            }
            let mut cfg = json!({
                "architecture": arch,
                "os": os,
                "created": created,
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                "history": [history],
            });
            if let Some(v) = &variant {
                cfg["variant"] = json!(v);
            }
            let cfg_bytes = serde_json::to_vec(&cfg)?;
            let cfg_digest = Digest::sha256(&cfg_bytes);
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": mt::OCI_MANIFEST,
                "config": {"mediaType": mt::OCI_CONFIG, "digest": cfg_digest, "size": cfg_bytes.len()},
                "layers": [{"mediaType": mt::OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
            }))?;
            let manifest_digest = Digest::sha256(&manifest);
            for (d, data) in [(&cfg_digest, &cfg_bytes), (&manifest_digest, &manifest)] {
                if self.store.blobs().size(d).is_none() {
                    self.store.blobs().put(d, data)?;
                    written.push(d.clone());
                }
            }
            let image = NewImage {
                id: cfg_digest.clone(),
                manifest: manifest_digest.clone(),
                manifest_media_type: mt::OCI_MANIFEST.into(),
                os: os.clone(),
                architecture: arch.clone(),
                variant: variant.clone(),
                created: Some(created),
                size: cfg_bytes.len() as u64 + layer.size,
                blobs: vec![manifest_digest, cfg_digest, layer.digest.clone()],
            };
            self.store
                .add_image(
                    &image,
                    name.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                    None,
                )
                .await?;
            Ok::<Digest, crate::Error>(image.id)
        }
        .await;
        if result.is_err() {
            let _ = self.store.discard_unreferenced(&written).await;
        }
        let id = result?;
        let shown = name
            .as_ref()
            .map_or_else(|| id.to_string(), |(n, t)| self.familiar(n, t));
        crate::events::emit(
            self.layout().root(),
            "image",
            "import",
            &id.to_string(),
            &[("name", shown)],
        );
        Ok(id)
    }
}

/// The stored layer of an import.
struct Layer {
    /// Digest of the compressed blob.
    digest: Digest,
    /// Its size.
    size: u64,
    /// sha256 of the tar as given.
    diff_id: Digest,
    /// Whether the store did not have it before.
    new: bool,
}

/// Everything read from the input goes to a hasher (the diff_id) and the gzip encoder.
struct Tee<R, W> {
    inner: R,
    hasher: Hasher,
    out: W,
    len: u64,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.out.write_all(&buf[..n])?;
        self.len += n as u64;
        Ok(n)
    }
}

/// A file writer that hashes what it writes (the compressed layer's digest).
struct HashingFile {
    file: BufWriter<File>,
    hasher: Hasher,
    len: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Compress, hash and check the tarball, then put the layer into the store.
fn layer(input: impl Read + Send + 'static, blobs: &BlobDir) -> Result<Layer> {
    let reader = decompress(input, "rootfs tarball")?;
    let staging = Staging::new("import")?;
    let staged = staging.path("layer.tar.gz");
    let file = File::create(&staged).context(|| format!("cannot create {}", staged.display()))?;
    let encoder = flate2::write::GzEncoder::new(
        HashingFile {
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Hasher::new(Algorithm::Sha256),
            len: 0,
        },
        flate2::Compression::new(GZIP_LEVEL),
    );
    let mut tee = Tee {
        inner: reader,
        hasher: Hasher::new(Algorithm::Sha256),
        out: encoder,
        len: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut tee);
        let entries = archive
            .entries()
            .map_err(|e| tar_error("cannot read the rootfs tarball", e))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| tar_error("the rootfs tarball is not a valid tar file", e))?;
            let size = entry.size();
            let copied = io::copy(&mut entry, &mut io::sink())
                .map_err(|e| tar_error("cannot read the rootfs tarball", e))?;
            if copied != size {
                return Err(bad(format!(
                    "the rootfs tarball is truncated: {} ends after {copied} of {size} bytes",
                    String::from_utf8_lossy(&entry.path_bytes())
                )));
            }
        }
    }
    // The end-of-archive blocks and any padding belong to the layer as given.
    io::copy(&mut tee, &mut io::sink())
        .map_err(|e| tar_error("cannot read the rootfs tarball", e))?;
    if tee.len == 0 {
        return Err(bad("the rootfs tarball is empty"));
    }
    let diff_id = tee.hasher.finish();
    let mut out = tee
        .out
        .finish()
        .context(|| "cannot compress the layer".into())?;
    out.flush()
        .context(|| format!("cannot write {}", staged.display()))?;
    let digest = out.hasher.finish();
    let size = out.len;
    drop(out.file);
    let new = ingest_file(blobs, &digest, &staged).map_err(store_error)?;
    Ok(Layer {
        digest,
        size,
        diff_id,
        new,
    })
}
