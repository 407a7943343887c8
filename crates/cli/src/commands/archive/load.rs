//! `berth load [-i FILE] [-q]`: images from a tar archive (plain or gzip) into the local store.
//!
//! Two formats are read: an OCI image layout (`index.json`, nested indexes followed, the name
//! taken from the `io.containerd.image.name` or `org.opencontainers.image.ref.name` annotation),
//! which is what `docker save` of Docker 25+ and `berth save` write; and, when there is no
//! `index.json`, the docker-archive of older Docker and of skopeo (`manifest.json`, see
//! [`super::legacy`]).
//!
//! The archive is read once, front to back. `blobs/<alg>/<hex>` entries stream straight into the
//! store through its verifying `Ingest`; small files are kept in memory and other files (legacy
//! layers) are staged in a private temporary directory until their digest is known. Paths with
//! `..` or a leading `/` are refused, and links may only point inside the archive. Images are
//! recorded only once every blob they need is verified; on failure nothing is recorded and blobs
//! this load wrote that no image uses are deleted again.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use berth_oci::manifest::Descriptor;
use berth_oci::media_type as mt;
use berth_oci::{Digest, ManifestKind, ParsedManifest};
use berth_store::NewImage;
use berth_store::blobs::BlobDir;

use super::{
    CONTAINERD_NAME, OCI_REF_NAME, Staging, ingest_file, open_input, safe_path, tar_error,
};
use crate::commands::context::{Context, host_platform};

/// `berth load`
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from this tar archive (plain or gzip) instead of stdin.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress progress output (berth prints none; accepted for docker compatibility).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Files up to this size are kept in memory; bigger ones are staged on disk.
const IN_MEMORY: u64 = 1 << 20;
/// At most this much is kept in memory in all.
const MEMORY_BUDGET: u64 = 64 << 20;
/// Metadata files (JSON) larger than this are refused.
pub(super) const MAX_METADATA: u64 = 64 << 20;

/// Where an archive path's content went.
pub(super) enum Source {
    /// A blob now in the store (written by this load or already there).
    Blob(Digest),
    /// A small file.
    Memory(Vec<u8>),
    /// A file in the staging directory.
    Staged(PathBuf),
    /// A symbolic or hard link to another archive path (normalised).
    Link(String),
}

/// The archive's content, once read.
pub(super) struct Unpacked {
    pub(super) files: HashMap<String, Source>,
    /// Keeps the staged files until the load is done.
    pub(super) _staging: Staging,
}

/// An image ready to record, with the names it was saved under (as written in the archive).
pub(super) struct Planned {
    pub(super) image: NewImage,
    pub(super) names: Vec<String>,
}

/// Run `berth load`.
pub async fn run(args: LoadArgs) -> Result<()> {
    let _ = args.quiet;
    let ctx = Context::open().await?;
    let blobs = ctx.store.blobs().clone();
    let input = args.input.clone();
    let (planned, written) = tokio::task::spawn_blocking(move || {
        let mut written = Vec::new();
        let planned = plan(input.as_deref(), &blobs, &mut written);
        (planned, written)
    })
    .await?;
    let result = match planned {
        Ok(images) => record(&ctx, &images).await,
        Err(e) => Err(e),
    };
    // Blobs written for images that were not recorded must not linger.
    let discarded = ctx.store.discard_unreferenced(&written).await;
    result?;
    discarded?;
    Ok(())
}

/// Read the archive and work out the images in it; every blob they need is in the store when
/// this returns. Blobs this call added to the store are pushed to `written`.
fn plan(input: Option<&str>, blobs: &BlobDir, written: &mut Vec<Digest>) -> Result<Vec<Planned>> {
    let reader = open_input(input, "archive")?;
    let unpacked = unpack(reader, blobs, written)?;
    let images = if unpacked.files.contains_key("index.json") {
        oci_images(&unpacked, blobs, written)?
    } else if unpacked.files.contains_key("manifest.json") {
        super::legacy::images(&unpacked, blobs, written)?
    } else {
        bail!("the archive has neither index.json nor manifest.json: it is not an image archive");
    };
    if images.is_empty() {
        bail!("the archive holds no image");
    }
    Ok(images)
}

/// Record the planned images and their names; prints what docker prints.
async fn record(ctx: &Context, images: &[Planned]) -> Result<()> {
    // Check every name first, so a bad one records nothing.
    let mut named = Vec::new();
    for p in images {
        let mut refs = Vec::new();
        for n in &p.names {
            let r = ctx
                .reference(n)
                .with_context(|| format!("invalid image name {n:?} in the archive"))?;
            if r.digest.is_some() {
                continue;
            }
            refs.push(r);
        }
        named.push((p, refs));
    }
    for (p, refs) in named {
        let first = refs
            .first()
            .map(|r| (r.name(), r.tag_or_latest().to_string()));
        ctx.store
            .add_image(
                &p.image,
                first.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                None,
            )
            .await?;
        for r in refs.iter().skip(1) {
            ctx.store
                .tag(&p.image.id, &r.name(), r.tag_or_latest())
                .await?;
        }
        if refs.is_empty() {
            println!("Loaded image ID: {}", p.image.id);
        }
        for r in &refs {
            println!(
                "Loaded image: {}",
                ctx.familiar(&r.name(), r.tag_or_latest())
            );
        }
        let id = p.image.id.to_string();
        let name = refs.first().map_or_else(
            || id.clone(),
            |r| ctx.familiar(&r.name(), r.tag_or_latest()),
        );
        crate::commands::events::emit(&ctx.config.root, "image", "load", &id, &[("name", name)]);
    }
    Ok(())
}

/// Copy exactly `size` bytes of a tar entry into `sink`; a short entry means a truncated archive.
fn copy_entry(
    entry: &mut impl Read,
    size: u64,
    path: &str,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(size.max(1) as usize)];
    let mut done = 0u64;
    while done < size {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("archive entry {path}")),
        };
        sink(&buf[..n])?;
        done += n as u64;
    }
    if done != size {
        bail!("the archive is truncated: {path} ends after {done} of {size} bytes");
    }
    Ok(())
}

/// `blobs/<alg>/<hex>` names a blob.
fn blob_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

/// Read the whole archive (see the module docs).
fn unpack(reader: impl Read, blobs: &BlobDir, written: &mut Vec<Digest>) -> Result<Unpacked> {
    let staging = Staging::new("load")?;
    let mut files = HashMap::new();
    let mut in_memory = 0u64;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| tar_error("cannot read the archive", e))?;
    for (i, entry) in entries.enumerate() {
        let mut entry =
            entry.map_err(|e| tar_error("cannot read the archive (is it a tar file?)", e))?;
        let path = safe_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        let size = entry.size();
        let source = match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = std::str::from_utf8(&target)
                    .with_context(|| format!("archive entry {path}: link target is not UTF-8"))?;
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                Source::Link(
                    super::normalise(dir, target)
                        .with_context(|| format!("archive entry {path} links to {target:?}"))?,
                )
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                Source::Link(safe_path(&target).with_context(|| format!("hard link {path}"))?)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(d) = blob_digest(&path) {
                    if blobs.size(&d).is_some() {
                        copy_entry(&mut entry, size, &path, |_| Ok(()))?;
                    } else {
                        let mut ingest = blobs.ingest(&d)?;
                        if ingest.offset() != 0 {
                            ingest.restart()?;
                        }
                        copy_entry(&mut entry, size, &path, |c| Ok(ingest.write(c)?))?;
                        ingest
                            .commit()
                            .with_context(|| format!("archive entry {path}"))?;
                        written.push(d.clone());
                    }
                    Source::Blob(d)
                } else if size <= IN_MEMORY && in_memory + size <= MEMORY_BUDGET {
                    in_memory += size;
                    let mut data = Vec::with_capacity(size as usize);
                    copy_entry(&mut entry, size, &path, |c| {
                        data.extend_from_slice(c);
                        Ok(())
                    })?;
                    Source::Memory(data)
                } else {
                    let staged = staging.path(&i.to_string());
                    let mut f = File::create(&staged)
                        .with_context(|| format!("cannot create {}", staged.display()))?;
                    copy_entry(&mut entry, size, &path, |c| {
                        io::Write::write_all(&mut f, c)
                            .with_context(|| format!("cannot write {}", staged.display()))
                    })?;
                    Source::Staged(staged)
                }
            }
            // Devices, fifos and the like have no place in an image archive; skip them.
            other => {
                tracing::debug!(path, ?other, "skipping archive entry");
                continue;
            }
        };
        files.insert(path, source);
    }
    Ok(Unpacked {
        files,
        _staging: staging,
    })
}

impl Unpacked {
    /// The content behind `path`, links followed.
    pub(super) fn resolve(&self, path: &str) -> Result<Option<&Source>> {
        let mut p = path.to_string();
        for _ in 0..32 {
            match self.files.get(&p) {
                Some(Source::Link(t)) => p = t.clone(),
                other => return Ok(other),
            }
        }
        bail!("archive entry {path}: too many levels of links")
    }

    /// The whole content of a (metadata) file.
    pub(super) fn bytes(&self, path: &str, blobs: &BlobDir) -> Result<Vec<u8>> {
        match self.resolve(path)? {
            None => bail!("the archive lacks {path}"),
            Some(Source::Memory(b)) => Ok(b.clone()),
            Some(Source::Blob(d)) => Ok(blobs.read(d)?),
            Some(Source::Staged(p)) => {
                let len = std::fs::metadata(p)?.len();
                if len > MAX_METADATA {
                    bail!("{path} is too large ({len} bytes) for image metadata");
                }
                Ok(std::fs::read(p)?)
            }
            Some(Source::Link(_)) => unreachable!("resolve follows links"),
        }
    }

    /// Make sure blob `d` is in the store, taking it from the archive at `path` and verifying it.
    /// A blob the archive lacks is accepted when the store has it already.
    pub(super) fn materialize(
        &self,
        path: &str,
        d: &Digest,
        blobs: &BlobDir,
        written: &mut Vec<Digest>,
    ) -> Result<()> {
        let source = self.resolve(path)?;
        let new = match source {
            Some(Source::Blob(got)) if got == d => false,
            Some(Source::Blob(got)) => {
                bail!("archive entry {path} should hold {d} but holds {got}")
            }
            Some(Source::Memory(data)) => {
                let new = blobs.size(d).is_none();
                blobs
                    .put(d, data)
                    .with_context(|| format!("archive entry {path}"))?;
                new
            }
            Some(Source::Staged(p)) => {
                ingest_file(blobs, d, p).with_context(|| format!("archive entry {path}"))?
            }
            Some(Source::Link(_)) => unreachable!("resolve follows links"),
            None if blobs.size(d).is_some() => false,
            None => bail!("the archive lacks blob {d} ({path}): it is incomplete"),
        };
        if new {
            written.push(d.clone());
        }
        Ok(())
    }

    /// The blob of descriptor `d` (layout path `blobs/<alg>/<hex>`), in the store with the
    /// size the descriptor states.
    fn blob(&self, d: &Descriptor, blobs: &BlobDir, written: &mut Vec<Digest>) -> Result<()> {
        let path = format!("blobs/{}/{}", d.digest.algorithm().as_str(), d.digest.hex());
        self.materialize(&path, &d.digest, blobs, written)?;
        let size = blobs.size(&d.digest).unwrap_or(0);
        if size != d.size as u64 {
            bail!(
                "blob {} is {size} bytes, but its descriptor says {}",
                d.digest,
                d.size
            );
        }
        Ok(())
    }
}

/// The image name an `index.json` entry carries: the full name from containerd's annotation,
/// else the OCI ref name when it is a full `name:tag` (a bare tag names no repository).
fn entry_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations.as_ref()?;
    if let Some(n) = a.get(CONTAINERD_NAME).filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    a.get(OCI_REF_NAME)
        .filter(|n| n.contains(['/', ':']) && !n.contains('@'))
        .cloned()
}

/// Images of an OCI image layout.
fn oci_images(
    unpacked: &Unpacked,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<Vec<Planned>> {
    let body = unpacked.bytes("index.json", blobs)?;
    let index = ParsedManifest::parse(&body, mt::OCI_INDEX).context("index.json")?;
    if index.kind != ManifestKind::Index {
        bail!("index.json is not an image index");
    }
    let mut out: Vec<Planned> = Vec::new();
    for entry in &index.manifests {
        let Some(image) = oci_image(unpacked, entry, blobs, written, 0)? else {
            continue;
        };
        let name = entry_name(entry);
        match out.iter_mut().find(|p| p.image.id == image.id) {
            Some(p) => p.names.extend(name),
            None => out.push(Planned {
                image,
                names: name.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// The image `d` points at (for an index: the host's platform, else the first image it has);
/// `None` for artifacts that are not images.
fn oci_image(
    unpacked: &Unpacked,
    d: &Descriptor,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
    depth: usize,
) -> Result<Option<NewImage>> {
    if depth > 4 {
        bail!("indexes nested too deeply at {}", d.digest);
    }
    unpacked.blob(d, blobs, written)?;
    let body = blobs.read(&d.digest)?;
    let parsed = ParsedManifest::parse(&body, &d.media_type)
        .with_context(|| format!("manifest {}", d.digest))?;
    if parsed.kind == ManifestKind::Index {
        let available = |c: &&Descriptor| {
            let path = format!("blobs/{}/{}", c.digest.algorithm().as_str(), c.digest.hex());
            let attestation = c
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("vnd.docker.reference.type"));
            !attestation && (unpacked.files.contains_key(&path) || blobs.size(&c.digest).is_some())
        };
        let (os, arch, _) = host_platform();
        let platform = |c: &Descriptor, k: &str| {
            c.platform
                .as_ref()
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let children: Vec<&Descriptor> = parsed.manifests.iter().filter(available).collect();
        let chosen = children
            .iter()
            .find(|c| {
                platform(c, "os").as_deref() == Some(&os)
                    && platform(c, "architecture").as_deref() == Some(&arch)
            })
            .or_else(|| children.first());
        let Some(child) = chosen else {
            bail!("index {} lists no manifest the archive holds", d.digest);
        };
        return oci_image(unpacked, child, blobs, written, depth + 1);
    }
    let config = &parsed.blobs[0];
    if config.media_type != mt::OCI_CONFIG && config.media_type != mt::DOCKER_CONFIG {
        tracing::debug!(digest = %d.digest, "skipping an artifact that is not an image");
        return Ok(None);
    }
    for b in &parsed.blobs {
        unpacked.blob(b, blobs, written)?;
    }
    let cfg: serde_json::Value = serde_json::from_slice(&blobs.read(&config.digest)?)
        .with_context(|| format!("image config {} is not JSON", config.digest))?;
    let layers = &parsed.blobs[1..];
    let diff_ids = diff_ids(&cfg)?;
    if diff_ids.len() != layers.len() {
        bail!(
            "image config {} lists {} diff_ids for {} layers",
            config.digest,
            diff_ids.len(),
            layers.len()
        );
    }
    for (l, diff) in layers.iter().zip(&diff_ids) {
        let uncompressed = l.media_type == mt::OCI_LAYER_TAR || l.media_type.ends_with(".diff.tar");
        if uncompressed && l.digest != *diff {
            bail!(
                "uncompressed layer {} does not match diff_id {diff} in the image config",
                l.digest
            );
        }
    }
    let mut all = vec![d.digest.clone()];
    all.extend(parsed.blobs.iter().map(|b| b.digest.clone()));
    Ok(Some(new_image(
        &cfg,
        &d.digest,
        &parsed.media_type,
        &parsed.blobs,
        all,
    )))
}

/// The `rootfs.diff_ids` of an image config.
pub(super) fn diff_ids(cfg: &serde_json::Value) -> Result<Vec<Digest>> {
    let Some(list) = cfg.pointer("/rootfs/diff_ids").and_then(|v| v.as_array()) else {
        bail!("the image config has no rootfs.diff_ids");
    };
    list.iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("invalid diff_id {v} in the image config"))
        })
        .collect()
}

/// The store record of an image whose blobs (`config_and_layers`, config first) are stored.
pub(super) fn new_image(
    cfg: &serde_json::Value,
    manifest: &Digest,
    media_type: &str,
    config_and_layers: &[Descriptor],
    blobs: Vec<Digest>,
) -> NewImage {
    let field = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let host = host_platform();
    NewImage {
        id: config_and_layers[0].digest.clone(),
        manifest: manifest.clone(),
        manifest_media_type: media_type.to_string(),
        os: field("os").unwrap_or(host.0),
        architecture: field("architecture").unwrap_or(host.1),
        variant: field("variant"),
        created: field("created"),
        size: config_and_layers.iter().map(|d| d.size.max(0) as u64).sum(),
        blobs,
    }
}
