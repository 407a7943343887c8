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

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions, Permissions};
    use std::io::{ErrorKind, Read as _};
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::time::Duration;

    use berth_oci::oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
    use berth_oci::{Algorithm, ManifestKind, ParsedManifest};

    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// Checks the ELF header and the single program header of `program`, read field by field.
    fn check_elf(program: &[u8], machine: u16) {
        assert!(
            program.len() > 120 + GREETING.len() && program.len() < 1024,
            "{}",
            program.len()
        );
        assert_eq!(&program[..4], b"\x7fELF");
        assert_eq!(program[4], 2, "ELFCLASS64");
        assert_eq!(program[5], 1, "ELFDATA2LSB");
        assert_eq!(program[6], 1, "EV_CURRENT");
        assert_eq!(u16_at(program, 16), 2, "ET_EXEC");
        assert_eq!(u16_at(program, 18), machine, "e_machine");
        assert_eq!(u32_at(program, 20), 1, "e_version");
        let entry = u64_at(program, 24);
        let phoff = u64_at(program, 32) as usize;
        assert_eq!(phoff, 64, "e_phoff");
        assert_eq!(u64_at(program, 40), 0, "e_shoff");
        assert_eq!(u16_at(program, 52), 64, "e_ehsize");
        assert_eq!(u16_at(program, 54), 56, "e_phentsize");
        assert_eq!(u16_at(program, 56), 1, "e_phnum");

        let ph = &program[phoff..phoff + 56];
        assert_eq!(u32_at(ph, 0), 1, "PT_LOAD");
        assert_eq!(u32_at(ph, 4), 5, "PF_R | PF_X");
        let (offset, vaddr, paddr) = (u64_at(ph, 8), u64_at(ph, 16), u64_at(ph, 24));
        let (filesz, memsz, align) = (u64_at(ph, 32), u64_at(ph, 40), u64_at(ph, 48));
        assert_eq!((offset, vaddr, paddr), (0, 0x40_0000, 0x40_0000));
        assert_eq!(
            filesz,
            program.len() as u64,
            "the segment covers the whole file"
        );
        assert_eq!(memsz, filesz);
        assert!(align.is_power_of_two() && vaddr % align == offset % align);
        // The entry point lies in the segment, past the headers, before the message.
        let code_end = vaddr + filesz - GREETING.len() as u64;
        assert!(entry >= vaddr + 120 && entry < code_end, "entry {entry:#x}");
        assert!(program.ends_with(GREETING.as_bytes()));
        if machine == elf::EM_AARCH64 {
            assert_eq!(entry % 4, 0, "AArch64 instructions are 4-byte aligned");
        }
    }

    /// Writes `program` to a fresh temporary file with mode 0755 and runs it, directly or under
    /// `runner` (an emulator).
    fn run(program: &[u8], runner: Option<&Path>) -> Output {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o755)
                .open(&path)
                .unwrap();
            std::io::Write::write_all(&mut file, program).unwrap();
        }
        // The umask may have stripped bits at creation.
        fs::set_permissions(&path, Permissions::from_mode(0o755)).unwrap();
        let mut attempts = 0;
        loop {
            let mut command = match runner {
                Some(runner) => {
                    let mut c = Command::new(runner);
                    c.arg(&path);
                    c
                }
                None => Command::new(&path),
            };
            match command.output() {
                Ok(output) => return output,
                // A process forked by another test thread while our write handle was open keeps it
                // until it execs: the kernel then refuses to run the file for a moment.
                Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("running {}: {e}", path.display()),
            }
        }
    }

    fn assert_greets(output: &Output) {
        assert_eq!(String::from_utf8_lossy(&output.stdout), GREETING);
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
        assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    }

    fn find_on_path(names: &[&str]) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn blob<'a>(image: &'a SampleImage, digest: &str) -> &'a SampleBlob {
        image
            .blobs
            .iter()
            .find(|b| b.digest.to_string() == digest)
            .unwrap_or_else(|| panic!("{digest} is not among the blobs"))
    }

    #[test]
    fn greeting_is_berths_own_and_short() {
        assert!(GREETING.starts_with("Hello from berth!\n"));
        assert!(GREETING.len() < 800, "{} bytes", GREETING.len());
        assert!(GREETING.is_ascii() && GREETING.ends_with('\n'));
        for step in ["registry", "container", "berth run -it busybox sh"] {
            assert!(GREETING.contains(step), "{step}");
        }
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn x86_64_program_runs_and_greets() {
        let program = Platform::Amd64.program();
        check_elf(&program, elf::EM_X86_64);
        assert_greets(&run(&program, None));
    }

    #[test]
    fn aarch64_program_is_a_valid_elf_and_greets_under_emulation() {
        let program = Platform::Arm64.program();
        check_elf(&program, elf::EM_AARCH64);
        if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
            assert_greets(&run(&program, None));
        } else if let Some(qemu) = find_on_path(&["qemu-aarch64", "qemu-aarch64-static"]) {
            assert_greets(&run(&program, Some(&qemu)));
        }
    }

    #[test]
    fn is_deterministic() {
        let (a, b) = (hello_world(), hello_world());
        assert_eq!(a.index.digest, b.index.digest);
        let digests = |i: &SampleImage| {
            i.blobs
                .iter()
                .chain(&i.manifests)
                .map(|b| b.digest.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(digests(&a), digests(&b));
        assert_eq!(a, b, "byte for byte");
        // The two platforms really differ (so equal digests above are not trivially equal).
        assert_ne!(a.manifests[0].digest, a.manifests[1].digest);
    }

    #[test]
    fn everything_is_consistent() {
        let image = hello_world();
        assert_eq!(
            (image.repository.as_str(), image.tag.as_str()),
            ("library/hello-world", "latest")
        );
        for b in image
            .blobs
            .iter()
            .chain(&image.manifests)
            .chain([&image.index])
        {
            assert_eq!(b.digest.algorithm(), Algorithm::Sha256);
            assert_eq!(b.digest, Digest::sha256(&b.data), "{}", b.media_type);
        }

        // The index, also as the registry's own manifest parser sees it.
        assert_eq!(image.index.media_type, mt::OCI_INDEX);
        let parsed = ParsedManifest::parse(&image.index.data, mt::OCI_INDEX).unwrap();
        assert_eq!(parsed.kind, ManifestKind::Index);
        assert_eq!(parsed.manifests.len(), 2);
        let index = ImageIndex::from_reader(&image.index.data[..]).unwrap();
        assert_eq!(index.schema_version(), 2);
        assert_eq!(index.media_type(), &Some(MediaType::ImageIndex));
        assert_eq!(index.manifests().len(), image.manifests.len());
        assert_eq!(image.manifests.len(), 2);
        assert_eq!(
            image.blobs.len(),
            4,
            "one config and one layer per platform"
        );

        for ((entry, manifest_blob), platform) in index
            .manifests()
            .iter()
            .zip(&image.manifests)
            .zip(Platform::ALL)
        {
            assert_eq!(entry.media_type(), &MediaType::ImageManifest);
            assert_eq!(entry.digest().to_string(), manifest_blob.digest.to_string());
            assert_eq!(entry.size(), manifest_blob.data.len() as u64);
            let p = entry.platform().as_ref().unwrap();
            assert_eq!((p.architecture(), p.os()), (&platform.arch(), &Os::Linux));
            assert_eq!(p.variant().as_deref(), platform.variant());

            assert_eq!(manifest_blob.media_type, mt::OCI_MANIFEST);
            let parsed = ParsedManifest::parse(&manifest_blob.data, mt::OCI_MANIFEST).unwrap();
            assert_eq!((parsed.kind, parsed.blobs.len()), (ManifestKind::Image, 2));
            let manifest = ImageManifest::from_reader(&manifest_blob.data[..]).unwrap();
            assert_eq!(manifest.schema_version(), 2);
            assert_eq!(manifest.media_type(), &Some(MediaType::ImageManifest));

            let config_desc = manifest.config();
            assert_eq!(config_desc.media_type(), &MediaType::ImageConfig);
            let config_blob = blob(&image, config_desc.digest().as_ref());
            assert_eq!(config_desc.size(), config_blob.data.len() as u64);
            assert_eq!(config_blob.media_type, mt::OCI_CONFIG);

            assert_eq!(manifest.layers().len(), 1);
            let layer_desc = &manifest.layers()[0];
            assert_eq!(layer_desc.media_type(), &MediaType::ImageLayerGzip);
            let layer_blob = blob(&image, layer_desc.digest().as_ref());
            assert_eq!(layer_desc.size(), layer_blob.data.len() as u64);
            assert_eq!(layer_blob.media_type, mt::OCI_LAYER_GZIP);
            assert_eq!(&layer_blob.data[..2], &[0x1f, 0x8b], "gzip magic");
            assert_eq!(&layer_blob.data[4..8], &[0; 4], "gzip header mtime 0");

            // The layer: exactly one regular file `hello`, 0755, root-owned, this platform's program.
            let tar = gunzip(&layer_blob.data);
            let mut archive = tar::Archive::new(&tar[..]);
            let mut entries = archive.entries().unwrap();
            let mut entry = entries.next().expect("one entry").unwrap();
            assert_eq!(entry.path().unwrap().to_str(), Some("hello"));
            let header = entry.header();
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            assert_eq!(header.mode().unwrap(), 0o755);
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            assert_eq!(header.mtime().unwrap(), MTIME);
            let mut contents = Vec::new();
            entry.read_to_end(&mut contents).unwrap();
            drop(entry);
            assert!(entries.next().is_none(), "exactly one entry");
            assert_eq!(contents, platform.program());

            // The config.
            let config = ImageConfiguration::from_reader(&config_blob.data[..]).unwrap();
            assert_eq!(config.architecture(), &platform.arch());
            assert_eq!(config.os(), &Os::Linux);
            assert_eq!(config.variant().as_deref(), platform.variant());
            assert_eq!(config.created().as_deref(), Some(CREATED));
            assert_eq!(config.rootfs().typ(), "layers");
            assert_eq!(
                config.rootfs().diff_ids(),
                &vec![Digest::sha256(&tar).to_string()]
            );
            let run = config.config().as_ref().unwrap();
            assert_eq!(run.cmd().as_deref(), Some(&["/hello".to_string()][..]));
            assert_eq!(run.env().as_deref(), Some(&[PATH_ENV.to_string()][..]));
            assert_eq!(config.history().as_ref().map(Vec::len), Some(1));
        }
    }
}
