//! Built-in sample content: a `library/hello-world:latest` image generated entirely in code, so
//! a registry can serve it without any network access or files on disk.
//!
//! The image mirrors Docker's `hello-world`: `FROM scratch`, one gzip layer holding a single
//! static executable `/hello` that prints [`GREETING`] and exits 0. There is one image per
//! platform (linux/amd64 and linux/arm64/v8), each with its own hand-assembled ELF program, and an
//! OCI image index tying them together. Everything is deterministic: fixed timestamps, gzip
//! header mtime 0, no randomness, so every call yields byte-identical blobs and digests.

mod elf;

use std::io::Write as _;

use berth_oci::Digest;
use berth_oci::media_type as mt;
use berth_oci::oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use flate2::Compression;

/// The greeting text the program prints (so tests elsewhere can check it).
pub const GREETING: &str = "\
Hello from berth!

You are reading the output of a tiny program running inside a berth
container, which means your setup works. Here is what just happened:

 1. berth looked for the \"hello-world\" image on this machine.
 2. Not finding it there, berth pulled it from the configured registry.
 3. berth created a new container from that image.
 4. berth started the container, which ran /hello, a program of less than
    a kilobyte; berth passed what it printed on to your terminal.

For something more hands-on, open a shell in a busybox container:

    berth run -it busybox sh

Fair winds!
";

/// The repository the sample is served under.
const REPOSITORY: &str = "library/hello-world";
/// The tag the sample is served under.
const TAG: &str = "latest";
/// `created` of the configs and their history entry.
const CREATED: &str = "2025-01-01T00:00:00Z";
/// The same instant as Unix seconds: the mtime of the file in the layer.
const MTIME: u64 = 1_735_689_600;
/// The conventional default `PATH`.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Name of the one file in the layer (at the root), and the image's command.
const PROGRAM_NAME: &str = "hello";

/// One piece of content: media type, digest (sha256) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleBlob {
    /// The media type the content is served under.
    pub media_type: String,
    /// The sha256 digest of `data`.
    pub digest: Digest,
    /// The content itself.
    pub data: Vec<u8>,
}

impl SampleBlob {
    fn new(media_type: &str, data: Vec<u8>) -> SampleBlob {
        SampleBlob {
            media_type: media_type.to_string(),
            digest: Digest::sha256(&data),
            data,
        }
    }

    /// An OCI descriptor of this blob, without platform.
    fn descriptor(&self, media_type: MediaType) -> DescriptorBuilder {
        let digest: berth_oci::oci_spec::image::Digest = self
            .digest
            .to_string()
            .parse()
            .expect("a berth digest is a valid OCI digest");
        DescriptorBuilder::default()
            .media_type(media_type)
            .digest(digest)
            .size(self.data.len() as u64)
    }
}

/// A multi-platform sample image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleImage {
    /// The repository, `library/hello-world`.
    pub repository: String,
    /// The tag, `latest`.
    pub tag: String,
    /// Every layer and config blob.
    pub blobs: Vec<SampleBlob>,
    /// The per-platform OCI image manifests.
    pub manifests: Vec<SampleBlob>,
    /// The OCI image index listing the manifests with their platforms (the tag points here).
    pub index: SampleBlob,
}

/// A platform the sample is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Amd64,
    Arm64,
}

impl Platform {
    const ALL: [Platform; 2] = [Platform::Amd64, Platform::Arm64];

    fn arch(self) -> Arch {
        match self {
            Platform::Amd64 => Arch::Amd64,
            Platform::Arm64 => Arch::ARM64,
        }
    }

    fn variant(self) -> Option<&'static str> {
        match self {
            Platform::Amd64 => None,
            Platform::Arm64 => Some("v8"),
        }
    }

    /// The `/hello` executable for this platform.
    fn program(self) -> Vec<u8> {
        match self {
            Platform::Amd64 => elf::x86_64(GREETING.as_bytes()),
            Platform::Arm64 => elf::aarch64(GREETING.as_bytes()),
        }
    }

    fn oci_platform(self) -> berth_oci::oci_spec::image::Platform {
        let mut b = PlatformBuilder::default()
            .architecture(self.arch())
            .os(Os::Linux);
        if let Some(variant) = self.variant() {
            b = b.variant(variant);
        }
        b.build().expect("platform has architecture and os")
    }
}

/// The `library/hello-world:latest` sample for linux/amd64 and linux/arm64/v8.
pub fn hello_world() -> SampleImage {
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    let mut index_entries = Vec::new();
    for platform in Platform::ALL {
        let tar = layer_tar(&platform.program());
        let diff_id = Digest::sha256(&tar);
        let layer = SampleBlob::new(mt::OCI_LAYER_GZIP, gzip(&tar));
        let config = SampleBlob::new(mt::OCI_CONFIG, image_config(platform, &diff_id));
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(
                config
                    .descriptor(MediaType::ImageConfig)
                    .build()
                    .expect("config descriptor"),
            )
            .layers(vec![
                layer
                    .descriptor(MediaType::ImageLayerGzip)
                    .build()
                    .expect("layer"),
            ])
            .build()
            .expect("image manifest");
        let manifest = SampleBlob::new(mt::OCI_MANIFEST, to_json(&manifest));
        index_entries.push(
            manifest
                .descriptor(MediaType::ImageManifest)
                .platform(platform.oci_platform())
                .build()
                .expect("index entry"),
        );
        blobs.push(layer);
        blobs.push(config);
        manifests.push(manifest);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(index_entries)
        .build()
        .expect("image index");
    SampleImage {
        repository: REPOSITORY.to_string(),
        tag: TAG.to_string(),
        blobs,
        manifests,
        index: SampleBlob::new(mt::OCI_INDEX, to_json(&index)),
    }
}

/// The uncompressed layer: a tar with the single regular file `hello`, mode 0755, owned by root.
fn layer_tar(program: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_size(program.len() as u64);
    let mut builder = tar::Builder::new(Vec::new());
    // Sets the path and the checksum; writing to a Vec cannot fail.
    builder
        .append_data(&mut header, PROGRAM_NAME, program)
        .expect("tar into memory");
    builder.into_inner().expect("tar into memory")
}

/// `data` gzip-compressed, with a header carrying no name and mtime 0.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// The image config for `platform` whose single layer has uncompressed digest `diff_id`.
fn image_config(platform: Platform, diff_id: &Digest) -> Vec<u8> {
    let run = ConfigBuilder::default()
        .env(vec![PATH_ENV.to_string()])
        .cmd(vec![format!("/{PROGRAM_NAME}")])
        .build()
        .expect("runtime config");
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![diff_id.to_string()])
        .build()
        .expect("rootfs");
    let history = HistoryBuilder::default()
        .created(CREATED)
        .created_by(format!(
            "COPY {PROGRAM_NAME} /{PROGRAM_NAME} # generated in code by berth"
        ))
        .build()
        .expect("history");
    let mut b = ImageConfigurationBuilder::default()
        .created(CREATED)
        .architecture(platform.arch())
        .os(Os::Linux);
    if let Some(variant) = platform.variant() {
        b = b.variant(variant);
    }
    let config = b
        .config(run)
        .rootfs(rootfs)
        .history(vec![history])
        .build()
        .expect("config");
    to_json(&config)
}

/// Compact JSON. The oci-spec types serialise fields in declaration order and none of the maps
/// they hold is set here, so the bytes are stable.
fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("oci-spec types serialise")
}
