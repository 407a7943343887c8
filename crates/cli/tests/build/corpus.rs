//! The Dockerfiles the build tests run, each with its context. Cases marked `buildah` use only
//! what buildah 1.28 (Debian 12) understands, so they are also built by buildah and compared:
//! it has no heredocs and no `RUN --network`, which therefore live in berth-only cases.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// A Dockerfile and its context.
pub struct Case {
    pub name: &'static str,
    pub dockerfile: &'static str,
    /// (path, contents, mode) in the context; `arch.tar.gz` is generated.
    pub files: &'static [(&'static str, &'static str, u32)],
    pub build_args: &'static [&'static str],
    /// Also built by buildah and compared.
    pub buildah: bool,
}

impl Case {
    /// Write the context into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), self.dockerfile).unwrap();
        for (path, contents, mode) in self.files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if *path == "arch.tar.gz" {
                std::fs::write(&p, tar_gz()).unwrap();
            } else {
                std::fs::write(&p, contents).unwrap();
            }
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
    }

    /// `--build-arg` flags.
    pub fn arg_flags(&self) -> Vec<String> {
        self.build_args
            .iter()
            .flat_map(|a| ["--build-arg".to_string(), a.to_string()])
            .collect()
    }
}

/// A gzip tarball with `t/one.txt` (0600, 123:456) and `t/two/deep.txt` (0700 directory).
fn tar_gz() -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, data: &[u8], mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(123);
        h.set_gid(456);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("t/", b"", 0o755, tar::EntryType::Directory);
    add("t/one.txt", b"one\n", 0o600, tar::EntryType::Regular);
    add("t/two/", b"", 0o700, tar::EntryType::Directory);
    add("t/two/deep.txt", b"deep\n", 0o644, tar::EntryType::Regular);
    let mut gz = b.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

/// Parser features: the escape directive, comments, continuations, both forms, substitution,
/// global `ARG`s, `--build-arg` and the platform `ARG`s.
pub const SYNTAX: Case = Case {
    name: "syntax",
    dockerfile: r#"# escape=`
# A comment before everything.
ARG BASE=bb:1
ARG GLOBAL=global-default
ARG OVERRIDDEN=not-this
FROM ${BASE}
# Global ARGs are only visible inside a stage once declared again.
ARG GLOBAL
ARG OVERRIDDEN
ARG TARGETARCH
ARG TARGETOS
ARG UNSET
ARG LOCAL=local-$GLOBAL
ENV A=one `
    B="two words" `
    C=c\d
RUN echo "$A" > /a.txt && `
# a comment inside a continuation is dropped
    echo "${B}" > /b.txt && echo "$C" > /c.txt
RUN ["sh", "-c", "echo exec-$A > /exec.txt"]
RUN echo "$TARGETOS/$TARGETARCH $GLOBAL $OVERRIDDEN $LOCAL" > /args.txt
LABEL sub.default="${UNSET:-dflt}" sub.set="${A:-unused}" sub.alt="${A:+alt}" `
      sub.altunset="${UNSET:+alt}" arch=$TARGETARCH global=$GLOBAL `
      literal='$A'
ENV D=${A}-${B}
WORKDIR /w/$A
"#,
    files: &[],
    build_args: &["OVERRIDDEN=from-cli"],
    buildah: true,
};

/// Heredocs (berth only: buildah 1.28 has none).
pub const HEREDOC: Case = Case {
    name: "heredoc",
    dockerfile: "FROM bb:1
ENV NAME=world
RUN <<EOF
echo \"hello $NAME\" > /run-heredoc.txt
echo second >> /run-heredoc.txt
EOF
RUN <<-EOT sh
\techo tabs-stripped > /tabs.txt
\tEOT
COPY <<EOF /copied.txt
hello ${NAME}
EOF
COPY <<'EOF' /quoted.txt
literal $NAME
EOF
COPY --chmod=755 <<EOF /script.sh
#!/bin/sh
echo script
EOF
CMD echo \"$NAME\"
",
    files: &[],
    build_args: &[],
    buildah: false,
};

/// Every metadata instruction, and ENTRYPOINT resetting an inherited CMD.
pub const CONFIG: Case = Case {
    name: "config",
    dockerfile: r#"FROM bb:1 AS base
CMD ["inherited"]
ENV FROM_BASE=1

FROM base
MAINTAINER Someone <someone@example.com>
ENTRYPOINT ["/bin/echo", "entry"]
ENV E1=v1 E2="v 2"
ENV E3 old form value
LABEL l1=v1 "l 2"="v 2"
LABEL l1=replaced
EXPOSE 80 53/udp 8000-8001/tcp
WORKDIR /w
WORKDIR sub
VOLUME ["/data", "/logs"]
VOLUME /more
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=3 CMD ["true"]
SHELL ["/bin/sh", "-c", "echo \"$0\" > /shell.txt"]
RUN this text reaches the shell as its argument zero
USER 1000:1001
"#,
    files: &[],
    build_args: &[],
    buildah: true,
};

/// COPY/ADD semantics and `.dockerignore`.
pub const COPY: Case = Case {
    name: "copy",
    dockerfile: r#"FROM bb:1 AS src
RUN mkdir -p /out/deep && echo from-stage > /out/s.txt && chown 7:8 /out/s.txt && chmod 640 /out/s.txt && echo d > /out/deep/d.txt

FROM bb:1
COPY files/*.txt /glob/
COPY files/?.md /glob-md
COPY dir /dircontents
COPY dir /slash/
COPY files/a.txt /renamed
COPY files/a.txt /intodir/
COPY files/a.txt files/b.txt /several/
COPY --chown=1000:1001 --chmod=600 files/b.txt /owned
COPY --chown=42 files/c.md /owned-uid
COPY --from=src /out/s.txt /from-stage.txt
COPY --from=src /out /from-stage-dir
ADD arch.tar.gz /extracted/
ADD files/a.txt /added.txt
COPY keep /keep
COPY exec.sh /bin/
WORKDIR /rel
COPY files/a.txt relative.txt
COPY . /ctx
"#,
    files: &[
        ("files/a.txt", "a\n", 0o644),
        ("files/b.txt", "b\n", 0o644),
        ("files/c.md", "c\n", 0o644),
        ("dir/top.txt", "top\n", 0o644),
        ("dir/sub/x.txt", "x\n", 0o600),
        ("exec.sh", "#!/bin/sh\necho exec\n", 0o755),
        ("arch.tar.gz", "", 0o644),
        ("ignored/secret.txt", "secret\n", 0o644),
        ("keep/x.log", "x\n", 0o644),
        ("keep/important.log", "important\n", 0o644),
        ("keep/deep/y.log", "y\n", 0o644),
        ("keep/notes.txt", "notes\n", 0o644),
        (
            ".dockerignore",
            "# comment\n**/*.log\n!keep/important.log\nignored\n",
            0o644,
        ),
    ],
    build_args: &[],
    buildah: true,
};

/// RUN layers: deletions (whiteouts, an opaque directory), exec form, cache and bind mounts.
pub const RUN: Case = Case {
    name: "run",
    dockerfile: r#"FROM bb:1
RUN echo gone > /gone.txt && mkdir -p /dir/old && echo old > /dir/old/f && echo kept > /dir/keep.txt
RUN ["/bin/sh", "-c", "rm /gone.txt && rm -r /dir/old && rm /bin/cat"]
RUN rm -r /dir && mkdir /dir && echo new > /dir/new.txt
RUN --mount=type=cache,target=/cache echo run >> /cache/log && cp /cache/log /cache-log.txt
RUN --mount=type=bind,source=files,target=/src cp /src/a.txt /bound.txt
RUN --mount=type=bind,target=/ctx ls /ctx > /ctx-listing.txt
"#,
    files: &[("files/a.txt", "from the context\n", 0o644)],
    build_args: &[],
    buildah: true,
};

/// `FROM scratch`, `FROM --platform`.
pub const SCRATCH: Case = Case {
    name: "scratch",
    dockerfile: r#"FROM --platform=$BUILDPLATFORM bb:1 AS tools
RUN echo built > /made.txt

FROM scratch
COPY --from=tools /bin/busybox /bin/sh
COPY --from=tools /made.txt /
COPY files/ /
ENV PATH=/bin
CMD ["/bin/sh"]
"#,
    files: &[("files/etc/hello", "hello\n", 0o644)],
    build_args: &[],
    buildah: true,
};

/// All the cases.
pub const ALL: &[&Case] = &[&SYNTAX, &HEREDOC, &CONFIG, &COPY, &RUN, &SCRATCH];
