//! Image references as Docker reads them: `[registry/]name[:tag][@digest]`, normalised the way
//! `docker pull` does (`hello-world` is `docker.io/library/hello-world`).
//!
//! The first path component is a registry host when it contains `.` or `:`, is exactly
//! `localhost`, or has uppercase letters (as Docker decides); otherwise the name lives on the
//! default registry. A one-component name on Docker Hub, or an unqualified one on any other
//! default registry, gets the `library/` namespace.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::{MAX_NAME_LEN, validate_repository, validate_tag};

/// Docker Hub's canonical name.
pub const DOCKER_HUB: &str = "docker.io";

/// The tag meant when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry host, with its port if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub registry: String,
    /// The repository path inside the registry (`library/hello-world`).
    pub repository: String,
    /// The tag, if one was written.
    pub tag: Option<String>,
    /// The digest, if one was written.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse `s` with Docker Hub (`docker.io`) as the default registry.
    pub fn parse(s: &str) -> Result<Reference> {
        Self::parse_with_default(s, DOCKER_HUB)
    }

    /// Parse `s`; names without a registry host resolve to `default_registry`, in its
    /// `library/` namespace when they have a single path component.
    pub fn parse_with_default(s: &str, default_registry: &str) -> Result<Reference> {
        let bad = |reason: &str| Error::InvalidReference {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("cannot specify 64-byte hexadecimal strings"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|e| bad(&format!("bad digest: {e}")))?;
                (rest, Some(digest))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; an earlier one belongs to a host's port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        if let Some(tag) = tag {
            if tag.is_empty() {
                return Err(bad("empty tag"));
            }
            validate_tag(tag).map_err(|_| bad(&format!("invalid tag {tag:?}")))?;
        }

        let default_registry = normalise_host(default_registry);
        let (registry, path, qualified) = match name.split_once('/') {
            Some((first, path)) if looks_like_host(first) => {
                if !valid_host(first) {
                    return Err(bad(&format!("invalid registry host {first:?}")));
                }
                (normalise_host(first), path, true)
            }
            _ => (default_registry.clone(), name, false),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        let repository = if !path.contains('/') && (registry == DOCKER_HUB || !qualified) {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad(&format!(
                "repository name must not be longer than {MAX_NAME_LEN} characters"
            )));
        }
        validate_repository(&repository)
            .map_err(|_| bad(&format!("invalid repository name {path:?}")))?;
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The tag, or `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// This reference with tag `latest` when it names neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The fully qualified repository: `docker.io/library/hello-world`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name Docker shows: `hello-world` for `<default>/library/hello-world`,
    /// `foo/bar` for `<default>/foo/bar`, and the full name on other registries.
    pub fn familiar_name(&self, default_registry: &str) -> String {
        if self.registry != normalise_host(default_registry) {
            return self.name();
        }
        match self.repository.strip_prefix("library/") {
            Some(short) if !short.contains('/') => short.to_string(),
            _ if self.repository.contains('/') => self.repository.clone(),
            // `<default>/x` would read back as `<default>/library/x`; keep the host.
            _ => self.name(),
        }
    }

    /// What goes in `/v2/<name>/manifests/<reference>`: the digest if any, else the tag (or
    /// `latest`).
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }
}

/// The full form: `docker.io/library/hello-world:latest`, `...@sha256:...` with a digest.
/// A reference with neither tag nor digest shows `:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match (&self.tag, &self.digest) {
            (Some(t), _) => write!(f, ":{t}")?,
            (None, None) => write!(f, ":{DEFAULT_TAG}")?,
            (None, Some(_)) => {}
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

/// Docker's rule for "this first component is a registry host".
fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// `index.docker.io` is an old name of Docker Hub.
fn normalise_host(host: &str) -> String {
    if host == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    }
}

/// `host[:port]`, where host is a DNS name, an IPv4 address or `[IPv6]`.
fn valid_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<String>) {
        let d = r.digest.as_ref().map(|d| d.to_string());
        (&r.registry, &r.repository, r.tag.as_deref(), d)
    }

    #[test]
    fn docker_hub_forms() {
        let cases = [
            ("hello-world", "library/hello-world", None),
            ("hello-world:latest", "library/hello-world", Some("latest")),
            ("library/hello-world", "library/hello-world", None),
            ("docker.io/hello-world", "library/hello-world", None),
            (
                "docker.io/library/hello-world:1",
                "library/hello-world",
                Some("1"),
            ),
            ("index.docker.io/foo/bar:v2", "foo/bar", Some("v2")),
            ("foo/bar", "foo/bar", None),
            ("foo/bar/baz:x.y-z", "foo/bar/baz", Some("x.y-z")),
        ];
        for (s, repo, tag) in cases {
            let r = p(s);
            assert_eq!(parts(&r), ("docker.io", repo, tag, None), "{s}");
        }
    }

    #[test]
    fn hosts_ports_and_localhost() {
        let cases = [
            ("localhost/foo", "localhost", "foo", None),
            ("localhost:5000/foo:1", "localhost:5000", "foo", Some("1")),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", None),
            ("ghcr.io/owner/img:tag", "ghcr.io", "owner/img", Some("tag")),
            ("quay.io/x", "quay.io", "x", None),
            ("[::1]:5000/foo:bar", "[::1]:5000", "foo", Some("bar")),
            ("[fe80::1]/foo", "[fe80::1]", "foo", None),
            (
                "my-host.example.com:443/a",
                "my-host.example.com:443",
                "a",
                None,
            ),
        ];
        for (s, reg, repo, tag) in cases {
            let r = p(s);
            assert_eq!(parts(&r), (reg, repo, tag, None), "{s}");
        }
    }

    #[test]
    fn a_port_alone_is_a_tag() {
        // Docker reads `localhost:5000` as the image `localhost` with tag `5000`.
        let r = p("localhost:5000");
        assert_eq!(
            parts(&r),
            ("docker.io", "library/localhost", Some("5000"), None)
        );
    }

    #[test]
    fn digests_and_tags() {
        let r = p(&format!("foo@{D}"));
        assert_eq!(
            parts(&r),
            ("docker.io", "library/foo", None, Some(D.into()))
        );
        assert_eq!(r.reference(), D);
        assert_eq!(r.tag_or_latest(), "latest");
        assert_eq!(r.clone().with_default_tag().tag, None);

        let r = p(&format!("localhost:5000/foo:v1@{D}"));
        assert_eq!(
            parts(&r),
            ("localhost:5000", "foo", Some("v1"), Some(D.into()))
        );
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("localhost:5000/foo:v1@{D}"));
    }

    #[test]
    fn defaults_and_display() {
        let r = p("hello-world");
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_latest(), "latest");
        assert_eq!(r.reference(), "latest");
        assert_eq!(r.name(), "docker.io/library/hello-world");
        assert_eq!(r.to_string(), "docker.io/library/hello-world:latest");
        assert_eq!(r.with_default_tag().tag.as_deref(), Some("latest"));
        assert_eq!(
            p(&format!("a@{D}")).to_string(),
            format!("docker.io/library/a@{D}")
        );
        assert_eq!(
            "foo:1".parse::<Reference>().unwrap(),
            p("docker.io/library/foo:1")
        );
    }

    #[test]
    fn another_default_registry_gets_library_too() {
        let def = "127.0.0.1:5000";
        let r = Reference::parse_with_default("hello-world", def).unwrap();
        assert_eq!(parts(&r), (def, "library/hello-world", None, None));
        assert_eq!(r.familiar_name(def), "hello-world");
        let r = Reference::parse_with_default("foo/bar:1", def).unwrap();
        assert_eq!(parts(&r), (def, "foo/bar", Some("1"), None));
        assert_eq!(r.familiar_name(def), "foo/bar");
        // Explicit hosts are taken as written, and docker.io still gets `library/`.
        let r = Reference::parse_with_default("127.0.0.1:5000/solo", def).unwrap();
        assert_eq!(r.repository, "solo");
        assert_eq!(r.familiar_name(def), "127.0.0.1:5000/solo");
        let r = Reference::parse_with_default("docker.io/busybox", def).unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(def), "docker.io/library/busybox");
    }

    #[test]
    fn familiar_names() {
        assert_eq!(p("hello-world").familiar_name("docker.io"), "hello-world");
        assert_eq!(p("foo/bar").familiar_name("docker.io"), "foo/bar");
        assert_eq!(
            p("index.docker.io/library/x").familiar_name("index.docker.io"),
            "x"
        );
        assert_eq!(p("library/a/b").familiar_name("docker.io"), "library/a/b");
        assert_eq!(
            p("localhost:5000/foo").familiar_name("docker.io"),
            "localhost:5000/foo"
        );
    }

    #[test]
    fn familiar_names_round_trip() {
        for def in ["docker.io", "127.0.0.1:5000"] {
            for s in [
                "x",
                "a/b",
                "localhost/x",
                "docker.io/x",
                "127.0.0.1:5000/x",
                "h.io/a/b",
            ] {
                let r = Reference::parse_with_default(s, def).unwrap();
                let back = Reference::parse_with_default(&r.familiar_name(def), def).unwrap();
                assert_eq!(back, r, "{s} on {def}");
            }
        }
    }

    #[test]
    fn uppercase_first_component_is_a_host_as_in_docker() {
        let r = p("Registry.Example/foo");
        assert_eq!(r.registry, "Registry.Example");
        assert_eq!(p("Foo/bar").registry, "Foo");
    }

    #[test]
    fn invalid_references() {
        let long = format!("a/{}", "b".repeat(254));
        let hex = "a".repeat(64);
        let cases = [
            ("", "empty reference"),
            ("Hello-World", "must be lowercase"),
            ("foo/Bar", "must be lowercase"),
            ("localhost:5000/Foo", "must be lowercase"),
            ("foo:", "empty tag"),
            (":tag", "empty repository name"),
            ("foo@", "bad digest"),
            ("foo@sha256:abc", "bad digest"),
            ("foo@md5:d41d8cd98f00b204e9800998ecf8427e", "bad digest"),
            ("foo:bad tag", "invalid tag"),
            ("foo:.x", "invalid tag"),
            ("foo//bar", "invalid repository name"),
            ("foo/", "invalid repository name"),
            ("-foo", "invalid repository name"),
            ("a..b/c", "invalid registry host"),
            ("host:port/x", "invalid registry host"),
            ("[zz]:5000/x", "invalid registry host"),
            ("[::1/x", "invalid registry host"),
            (long.as_str(), "longer than 255"),
            (hex.as_str(), "64-byte hexadecimal"),
            ("foo bar", "invalid repository name"),
        ];
        for (s, why) in cases {
            match Reference::parse(s) {
                Err(Error::InvalidReference { value, reason }) => {
                    assert_eq!(value, s);
                    assert!(reason.contains(why), "{s}: {reason} lacks {why}");
                }
                other => panic!("{s}: expected InvalidReference, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_message_names_the_input() {
        let e = Reference::parse("Foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference \"Foo\": repository name must be lowercase"
        );
    }
}
