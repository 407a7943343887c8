//! `berth cp [-a] [-L] CONTAINER:SRC DEST|-` and `berth cp [-a] [-L] SRC|- CONTAINER:DEST`:
//! files between a container (running or stopped) and the host, with `docker cp`'s rules.
//! The copy is the engine's ([`berth_engine::containers::cp`]); this command parses the two
//! ends and connects `-` to stdin or stdout.

use std::ffi::OsString;
use std::io::{self, BufWriter};

use anyhow::{Result, anyhow, bail};
use berth_engine::Error;
use berth_engine::containers::cp::{CopyOptions, CopySource, CopyTarget};

use super::context::Context;

/// `berth cp`
#[derive(clap::Args)]
pub struct CpArgs {
    /// Archive mode: keep the source's uid/gid (else files belong to the destination's root,
    /// or to the invoking user on the host).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow a symbolic link in SRC.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC, a host path, or `-` for a tar archive on stdin.
    pub src: String,
    /// CONTAINER:DEST, a host path, or `-` to write a tar archive to stdout.
    pub dest: String,
}

/// One end of the copy as written on the command line.
enum Loc {
    Stdio,
    Host(OsString),
    Container(String, OsString),
}

/// Docker's rule: an absolute path, a name starting with `.`, or one without `:` is local.
fn parse(arg: &str) -> Loc {
    if arg == "-" {
        return Loc::Stdio;
    }
    match arg.split_once(':') {
        Some((c, path)) if !arg.starts_with('/') && !c.starts_with('.') && !c.is_empty() => {
            Loc::Container(c.to_string(), path.into())
        }
        _ => Loc::Host(arg.into()),
    }
}

/// An engine error in `docker cp`'s words.
fn docker_words(e: Error) -> anyhow::Error {
    match e {
        Error::NotFound { what: "file", name } => anyhow!("Could not find the file {name}"),
        Error::NotFound {
            what: "destination directory",
            name,
        } => anyhow!("destination directory {name} does not exist"),
        e => e.into(),
    }
}

/// Run `berth cp`.
pub async fn cp(args: CpArgs) -> Result<()> {
    let (src, dest) = (parse(&args.src), parse(&args.dest));
    match (&src, &dest) {
        (Loc::Container(..), Loc::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Loc::Container(..), _) | (_, Loc::Container(..)) => {}
        _ => bail!("must specify at least one container source"),
    }
    let options = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let ctx = Context::open().await?;
    let result = match (src, dest) {
        (Loc::Container(c, path), dest) => {
            let target = match dest {
                Loc::Host(p) => CopyTarget::Path(p),
                _ => CopyTarget::Tar(Box::new(BufWriter::with_capacity(1 << 20, io::stdout()))),
            };
            ctx.copy_from_container(&c, &path, target, options).await
        }
        (src, Loc::Container(c, path)) => {
            let source = match src {
                Loc::Host(p) => CopySource::Path(p),
                _ => CopySource::Tar(Box::new(io::stdin())),
            };
            ctx.copy_to_container(&c, source, &path, options).await
        }
        _ => unreachable!("checked above"),
    };
    result.map_err(docker_words)
}
