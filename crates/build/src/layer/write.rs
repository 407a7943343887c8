//! Writing a [`LayerBuilder`] out: one pass producing `layer.tar` and `layer.tar.gz`, hashing
//! both as they are written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use super::{Body, Content, LayerBuilder, Meta, Node, OPAQUE_MARKER};
use crate::error::{Error, Result};

/// A written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:<hex>` of the uncompressed tar (the image config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// `sha256:<hex>` of the gzip stream (the manifest's layer digest).
    pub digest: String,
    /// Size of the gzip stream in bytes.
    pub size: u64,
    /// Size of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// `DIR/layer.tar`.
    pub tar_path: PathBuf,
    /// `DIR/layer.tar.gz`.
    pub gzip_path: PathBuf,
}

/// ustar's name field size.
const NAME_LEN: usize = 100;
/// ustar's prefix field size.
const PREFIX_LEN: usize = 155;
/// Largest size a ustar size field holds in octal (8 GiB - 1).
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

impl LayerBuilder {
    /// Write the layer into directory `dir` (created if missing) as `layer.tar` and
    /// `layer.tar.gz` (gzip header without name, mtime 0, OS "unknown"), replacing files of
    /// those names. Host files are read now; one whose size changed since it was added is an
    /// [`Error::Changed`]. On error the files may be partial.
    pub fn finish(self, dir: &Path) -> Result<LayerInfo> {
        let io_dir = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_dir)?;
        let tar_path = dir.join("layer.tar");
        let gzip_path = dir.join("layer.tar.gz");
        let create = |p: &Path| {
            File::create(p).map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let gz = GzBuilder::new().mtime(0).operating_system(255).write(
            Hashing::new(BufWriter::new(create(&gzip_path)?)),
            Compression::default(),
        );
        let mut out = Tee {
            tar: Hashing::new(BufWriter::new(create(&tar_path)?)),
            gz,
        };

        let epoch = self.epoch;
        for (path, node) in linked(self.nodes) {
            write_node(&mut out, &path, &node, epoch)?;
        }
        let tar_err = |source| Error::Io {
            path: tar_path.clone(),
            source,
        };
        out.write_all(&[0; 1024]).map_err(tar_err)?;
        let Tee { tar, gz } = out;
        let gz = gz.finish().map_err(|source| Error::Io {
            path: gzip_path.clone(),
            source,
        })?;
        let (tar_hash, tar_size) = tar.done().map_err(tar_err)?;
        let (gz_hash, size) = gz.done().map_err(|source| Error::Io {
            path: gzip_path.clone(),
            source,
        })?;
        Ok(LayerInfo {
            diff_id: format!("sha256:{tar_hash}"),
            digest: format!("sha256:{gz_hash}"),
            size,
            tar_size,
            tar_path,
            gzip_path,
        })
    }
}

/// Resolve hard links made within the layer: each group of names for one file is written as
/// the file at the name that sorts first, then links to it, so a link never precedes its
/// target in the stream.
fn linked(mut nodes: BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    let root_of = |nodes: &BTreeMap<String, Node>, start: &str| {
        let mut at = start.to_string();
        for _ in 0..nodes.len() {
            match nodes.get(&at) {
                Some(Node {
                    body: Body::Hardlink(t),
                    ..
                }) => at = t.clone(),
                _ => break,
            }
        }
        at
    };
    let links: Vec<(String, String)> = nodes
        .iter()
        .filter(|(_, n)| matches!(n.body, Body::Hardlink(_)))
        .map(|(p, _)| (p.clone(), root_of(&nodes, p)))
        .collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, root) in links {
        if matches!(
            nodes.get(&root),
            Some(Node {
                body: Body::File(_),
                ..
            })
        ) {
            groups.entry(root).or_default().push(path);
        }
    }
    for (root, mut names) in groups {
        names.push(root.clone());
        names.sort();
        let first = names[0].clone();
        if first != root {
            let file = nodes.remove(&root).expect("group root is a file");
            let link = Node {
                body: Body::Hardlink(first.clone()),
                meta: file.meta.clone(),
            };
            nodes.insert(first.clone(), file);
            nodes.insert(root, link);
        }
        for name in &names[1..] {
            if let Some(node) = nodes.get_mut(name) {
                node.body = Body::Hardlink(first.clone());
            }
        }
    }
    nodes
}

/// Write one entry (and, for an opaque directory, its marker).
fn write_node(out: &mut Tee, path: &str, node: &Node, epoch: Option<i64>) -> Result<()> {
    let io = |source| Error::Io {
        path: PathBuf::from(path),
        source,
    };
    let meta = &node.meta;
    let mtime = epoch.map_or(meta.mtime, |e| meta.mtime.min(e)).max(0) as u64;
    let (kind, size, link, dev) = match &node.body {
        Body::Dir { .. } => (tar::EntryType::Directory, 0, None, None),
        Body::File(Content::Host(_, size)) => (tar::EntryType::Regular, *size, None, None),
        Body::File(Content::Bytes(b)) => (tar::EntryType::Regular, b.len() as u64, None, None),
        Body::Symlink(t) => (tar::EntryType::Symlink, 0, Some(t.as_str()), None),
        Body::Hardlink(t) => (tar::EntryType::Link, 0, Some(t.as_str()), None),
        Body::Char(ma, mi) => (tar::EntryType::Char, 0, None, Some((*ma, *mi))),
        Body::Block(ma, mi) => (tar::EntryType::Block, 0, None, Some((*ma, *mi))),
        Body::Fifo => (tar::EntryType::Fifo, 0, None, None),
        Body::Whiteout => (tar::EntryType::Regular, 0, None, None),
    };
    let name = if kind == tar::EntryType::Directory {
        format!("{path}/")
    } else {
        path.to_string()
    };
    let header = Header {
        name: &name,
        kind,
        size,
        link,
        dev,
        meta,
        mtime,
    };
    header.write(out).map_err(io)?;
    match &node.body {
        Body::File(Content::Host(host, size)) => {
            let host_io = |source| Error::Io {
                path: host.clone(),
                source,
            };
            let file = File::open(host).map_err(host_io)?;
            let copied = io::copy(&mut file.take(*size), out).map_err(host_io)?;
            if copied != *size {
                return Err(Error::Changed { path: host.clone() });
            }
            pad(out, *size).map_err(io)?;
        }
        Body::File(Content::Bytes(bytes)) => {
            out.write_all(bytes).map_err(io)?;
            pad(out, bytes.len() as u64).map_err(io)?;
        }
        Body::Dir { opaque: true } => {
            // The marker inherits the directory's owner and permission bits, as moby's
            // overlay differ writes it.
            let marker = format!("{path}/{OPAQUE_MARKER}");
            let meta = Meta {
                xattrs: Vec::new(),
                ..meta.clone()
            };
            let header = Header {
                name: &marker,
                kind: tar::EntryType::Regular,
                size: 0,
                link: None,
                dev: None,
                meta: &meta,
                mtime,
            };
            header.write(out).map_err(io)?;
        }
        _ => {}
    }
    Ok(())
}

/// Zero-fill to the next 512-byte block.
fn pad(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = (size % 512) as usize;
    if rem != 0 {
        out.write_all(&[0; 512][..512 - rem])?;
    }
    Ok(())
}

/// One normalised header to write.
struct Header<'a> {
    name: &'a str,
    kind: tar::EntryType,
    size: u64,
    link: Option<&'a str>,
    dev: Option<(u32, u32)>,
    meta: &'a Meta,
    mtime: u64,
}

impl Header<'_> {
    /// Write a PAX header if needed, then the ustar header.
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut pax: Vec<(&str, &[u8])> = Vec::new();
        let split = split_name(self.name);
        if split.is_none() {
            pax.push(("path", self.name.as_bytes()));
        }
        let link = self.link.unwrap_or("");
        if link.len() > NAME_LEN {
            pax.push(("linkpath", link.as_bytes()));
        }
        let size_text = self.size.to_string();
        if self.size > MAX_OCTAL_SIZE {
            pax.push(("size", size_text.as_bytes()));
        }
        let xattr_keys: Vec<String> = self
            .meta
            .xattrs
            .iter()
            .map(|(k, _)| format!("SCHILY.xattr.{k}"))
            .collect();
        for (key, (_, value)) in xattr_keys.iter().zip(&self.meta.xattrs) {
            pax.push((key, value));
        }
        if !pax.is_empty() {
            pax.sort_by(|a, b| a.0.cmp(b.0));
            let records = pax_records(&pax);
            let mut h = tar::Header::new_ustar();
            set_bytes(&mut h.as_old_mut().name, b"PaxHeader");
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_mode(0o644);
            h.set_size(records.len() as u64);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_device_major(0)?;
            h.set_device_minor(0)?;
            h.set_cksum();
            out.write_all(h.as_bytes())?;
            out.write_all(&records)?;
            pad(out, records.len() as u64)?;
        }

        let mut h = tar::Header::new_ustar();
        let (prefix, name) = split.unwrap_or(("", truncate(self.name, NAME_LEN)));
        set_bytes(&mut h.as_old_mut().name, name.as_bytes());
        if let Some(ustar) = h.as_ustar_mut() {
            set_bytes(&mut ustar.prefix, prefix.as_bytes());
        }
        set_bytes(
            &mut h.as_old_mut().linkname,
            truncate(link, NAME_LEN).as_bytes(),
        );
        h.set_entry_type(self.kind);
        h.set_mode(self.meta.mode & 0o7777);
        h.set_uid(self.meta.uid.into());
        h.set_gid(self.meta.gid.into());
        // A size too large for octal is in the PAX record; the field then holds 0, as Go does.
        h.set_size(if self.size > MAX_OCTAL_SIZE {
            0
        } else {
            self.size
        });
        h.set_mtime(self.mtime);
        // Written for every entry (zero when not a device), as Go's archive/tar does: readers
        // such as berth's unpacker parse them for fifos too.
        let (major, minor) = self.dev.unwrap_or((0, 0));
        h.set_device_major(major)?;
        h.set_device_minor(minor)?;
        h.set_cksum();
        out.write_all(h.as_bytes())
    }
}

/// Split a name into ustar's prefix and name fields at a `/`; `None` if it cannot fit.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= NAME_LEN {
        return Some(("", name));
    }
    // The longest prefix that fits leaves the shortest name; a directory's trailing `/`
    // stays in the name field.
    let mut limit = name.len().min(PREFIX_LEN + 1);
    if limit == name.len() && name.ends_with('/') {
        limit -= 1;
    }
    let cut = name.as_bytes()[..limit].iter().rposition(|b| *b == b'/')?;
    let (prefix, rest) = (&name[..cut], &name[cut + 1..]);
    (!prefix.is_empty() && !rest.is_empty() && rest.len() <= NAME_LEN).then_some((prefix, rest))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Copy `src` into the zeroed field `dst` (callers keep `src` within the field).
fn set_bytes(dst: &mut [u8], src: &[u8]) {
    dst[..src.len()].copy_from_slice(src);
}

/// PAX records: `LEN KEY=VALUE\n`, where LEN counts the whole record including itself.
pub(super) fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // space, '=', newline
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Flush, returning the hex digest and byte count.
    fn done(mut self) -> io::Result<(String, u64)> {
        self.inner.flush()?;
        Ok((hex::encode(self.hasher.finalize()), self.count))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The tar stream, written both plain and through gzip.
struct Tee {
    tar: Hashing<BufWriter<File>>,
    gz: flate2::write::GzEncoder<Hashing<BufWriter<File>>>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tar.write_all(buf)?;
        self.gz.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Not the gzip side: a deflate flush adds a sync block, and the stream must depend on
        // the data alone. `finish` completes it.
        self.tar.flush()
    }
}
