//! `berth import FILE|- [REPOSITORY[:TAG]]`: a root filesystem tarball (plain or gzip) becomes a
//! one-layer image, as `docker import` makes it.
//!
//! The tarball is read once: the bytes are hashed (the diff_id is the sha256 of the tar exactly as
//! given), gzip-compressed at a fast level with a fixed header (so the same tar always gives the
//! same layer digest) into a staging file, and walked as a tar, so a damaged or truncated one is
//! refused. The layer then enters the store through its verifying `Ingest`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use berth_oci::media_type as mt;
use berth_oci::{Algorithm, Digest, Hasher};
use berth_store::NewImage;
use berth_store::blobs::BlobDir;
use serde_json::{Map, Value, json};

use super::{Staging, ingest_file, open_input, rfc3339, tar_error};
use crate::commands::context::{Context, host_platform, parse_platform};

/// `berth import`
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The tarball (plain or gzip), or `-` for stdin.
    pub file: String,
    /// Name for the image: REPOSITORY[:TAG].
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Commit message for the imported image (its history comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Platform of the image (os/arch[/variant]); the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
}

/// gzip level for new layers: levels above 3 cost far more time than they save space.
const GZIP_LEVEL: u32 = 1;

/// Run `berth import`.
pub async fn run(args: ImportArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let name = match &args.reference {
        Some(r) => {
            let r = ctx.reference(r)?;
            if r.digest.is_some() {
                bail!("refusing to create a tag with a digest reference: {r}");
            }
            Some((r.name(), r.tag_or_latest().to_string()))
        }
        None => None,
    };
    let mut config = Map::new();
    for c in &args.change {
        apply_change(&mut config, c).with_context(|| format!("--change {c:?}"))?;
    }
    let (os, arch, variant) = match &args.platform {
        Some(p) => parse_platform(p)?,
        None => host_platform(),
    };

    let blobs = ctx.store.blobs().clone();
    let file = args.file.clone();
    let layer = tokio::task::spawn_blocking(move || layer(&file, &blobs)).await??;

    let mut written = Vec::new();
    if layer.new {
        written.push(layer.digest.clone());
    }
    let result = async {
        let created = rfc3339(SystemTime::now());
        let mut history = json!({"created": created, "created_by": "berth import"});
        if let Some(m) = &args.message {
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
            if ctx.store.blobs().size(d).is_none() {
                ctx.store.blobs().put(d, data)?;
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
        ctx.store
            .add_image(
                &image,
                name.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                None,
            )
            .await?;
        anyhow::Ok(image.id)
    }
    .await;
    if result.is_err() {
        let _ = ctx.store.discard_unreferenced(&written).await;
    }
    let id = result?.to_string();
    let shown = name
        .as_ref()
        .map_or_else(|| id.clone(), |(n, t)| ctx.familiar(n, t));
    crate::commands::events::emit(&ctx.config.root, "image", "import", &id, &[("name", shown)]);
    println!("{id}");
    Ok(())
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
fn layer(input: &str, blobs: &BlobDir) -> Result<Layer> {
    let reader = open_input(Some(input), "rootfs tarball")?;
    let staging = Staging::new("import")?;
    let staged = staging.path("layer.tar.gz");
    let file =
        File::create(&staged).with_context(|| format!("cannot create {}", staged.display()))?;
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
                bail!(
                    "the rootfs tarball is truncated: {} ends after {copied} of {size} bytes",
                    String::from_utf8_lossy(&entry.path_bytes())
                );
            }
        }
    }
    // The end-of-archive blocks and any padding belong to the layer as given.
    io::copy(&mut tee, &mut io::sink())
        .map_err(|e| tar_error("cannot read the rootfs tarball", e))?;
    if tee.len == 0 {
        bail!("the rootfs tarball is empty");
    }
    let diff_id = tee.hasher.finish();
    let mut out = tee.out.finish().context("cannot compress the layer")?;
    out.flush()
        .with_context(|| format!("cannot write {}", staged.display()))?;
    let digest = out.hasher.finish();
    let size = out.len;
    drop(out.file);
    let new = ingest_file(blobs, &digest, &staged)?;
    Ok(Layer {
        digest,
        size,
        diff_id,
        new,
    })
}

/// Apply one Dockerfile-style instruction to an image's `config`.
pub(crate) fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = match change.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (change, ""),
    };
    let list = |rest: &str| -> Value {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) if rest.starts_with('[') => json!(v),
            _ => json!(words(rest)),
        }
    };
    let object = |config: &mut Map<String, Value>, key: &str| -> Map<String, Value> {
        match config.remove(key) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" | "ENTRYPOINT" => {
            let key = if instr.eq_ignore_ascii_case("CMD") {
                "Cmd"
            } else {
                "Entrypoint"
            };
            let v = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) if rest.starts_with('[') => json!(v),
                _ => json!(["/bin/sh", "-c", rest]),
            };
            config.insert(key.into(), v);
        }
        "ENV" => {
            let mut env: Vec<String> = config
                .remove("Env")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            for (k, v) in pairs(rest)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
            config.insert("Env".into(), json!(env));
        }
        "LABEL" => {
            let mut labels = object(config, "Labels");
            for (k, v) in pairs(rest)? {
                labels.insert(k, json!(v));
            }
            config.insert("Labels".into(), Value::Object(labels));
        }
        "EXPOSE" => {
            let mut ports = object(config, "ExposedPorts");
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, json!({}));
            }
            config.insert("ExposedPorts".into(), Value::Object(ports));
        }
        "VOLUME" => {
            let mut volumes = object(config, "Volumes");
            for v in list(rest).as_array().into_iter().flatten() {
                volumes.insert(v.as_str().unwrap_or_default().to_string(), json!({}));
            }
            config.insert("Volumes".into(), Value::Object(volumes));
        }
        "USER" => _ = config.insert("User".into(), json!(rest)),
        "WORKDIR" => _ = config.insert("WorkingDir".into(), json!(rest)),
        "STOPSIGNAL" => _ = config.insert("StopSignal".into(), json!(rest)),
        other => bail!(
            "unsupported instruction {other:?}: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"
        ),
    }
    if rest.is_empty() {
        bail!("{instr} needs an argument");
    }
    Ok(())
}

/// Split on whitespace outside quotes; quotes are removed, a backslash escapes the next char.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                started = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                started = true;
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (c, _) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// `k=v k2="v 2"` or the old `k v` form.
fn pairs(rest: &str) -> Result<Vec<(String, String)>> {
    let ws = words(rest);
    match ws.first() {
        Some(first) if !first.contains('=') => {
            let value = rest.trim_start()[first.len()..].trim();
            Ok(vec![(first.clone(), value.to_string())])
        }
        _ => ws
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => bail!("expected key=value, got {w:?}"),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_edit_the_config_like_docker() {
        let mut c = Map::new();
        apply_change(&mut c, r#"CMD ["/bin/sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "entrypoint /init --quiet").unwrap();
        apply_change(&mut c, "ENV PATH=/bin:/usr/bin A=\"b c\"").unwrap();
        apply_change(&mut c, "ENV PATH /sbin").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "LABEL a=1 b=\"two words\"").unwrap();
        apply_change(&mut c, r#"VOLUME ["/data"]"#).unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        let c = Value::Object(c);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init --quiet"]));
        assert_eq!(c["Env"], json!(["A=b c", "PATH=/sbin"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "1", "b": "two words"}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["WorkingDir"], "/srv");
        let mut c = Map::new();
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
