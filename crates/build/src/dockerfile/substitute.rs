//! Build-time substitution over whole instructions: exactly the words and flags Docker
//! substitutes (`ADD`, `COPY`, `ENV`, `EXPOSE`, `FROM`, `LABEL`, `STOPSIGNAL`, `USER`, `VOLUME`,
//! `WORKDIR`, `RUN --mount`, `COPY --from/--chown/--chmod/--exclude`, `ADD --checksum`), and
//! nothing else: `RUN`/`CMD`/`ENTRYPOINT` shell forms are left to the shell.
//!
//! This module calls only the crate's lexer.

use super::expand::{Lookup, expand, expand_words};
use super::flags::Mount;
use super::types::*;

fn opt(value: &Option<String>, escape: char, lookup: Lookup<'_>) -> Result<Option<String>, String> {
    value
        .as_deref()
        .map(|v| expand(v, escape, lookup))
        .transpose()
}

fn all(values: &[String], escape: char, lookup: Lookup<'_>) -> Result<Vec<String>, String> {
    values.iter().map(|v| expand(v, escape, lookup)).collect()
}

fn files(files: &Files, escape: char, lookup: Lookup<'_>) -> Result<Files, String> {
    let heredoc = |h: &Heredoc| -> Result<Heredoc, String> {
        let content = if h.expand {
            expand(&h.content, escape, lookup)?
        } else {
            h.content.clone()
        };
        Ok(Heredoc {
            content,
            ..h.clone()
        })
    };
    let sources = files
        .sources
        .iter()
        .map(|s| match s {
            Source::Path(p) => expand(p, escape, lookup).map(Source::Path),
            Source::Heredoc(h) => heredoc(h).map(Source::Heredoc),
        })
        .collect::<Result<_, _>>()?;
    let heredocs = files
        .heredocs
        .iter()
        .map(heredoc)
        .collect::<Result<_, _>>()?;
    Ok(Files {
        sources,
        dest: expand(&files.dest, escape, lookup)?,
        json: files.json,
        heredocs,
    })
}

impl From {
    /// Substitutes the image and `--platform` (with the global `ARG`s).
    pub fn expand(&self, escape: char, lookup: Lookup<'_>) -> Result<From, String> {
        Ok(From {
            image: expand(&self.image, escape, lookup)?,
            platform: opt(&self.platform, escape, lookup)?,
        })
    }
}

impl Instruction {
    /// Substitutes variables where Docker does, with the values visible before this
    /// instruction (so `ENV a=b c=$a` sees the old `a`, as in Docker). `ARG` defaults stay raw:
    /// expand each in order, as every declaration changes what the next one sees. `ONBUILD`
    /// triggers stay raw: they are substituted when they run in a child build.
    pub fn expand(&self, escape: char, lookup: Lookup<'_>) -> Result<Instruction, String> {
        let e = |v: &String| expand(v, escape, lookup);
        let pairs = |kvs: &[KeyValue]| -> Result<Vec<KeyValue>, String> {
            kvs.iter()
                .map(|kv| {
                    Ok(KeyValue {
                        key: e(&kv.key)?,
                        value: e(&kv.value)?,
                    })
                })
                .collect()
        };
        Ok(match self {
            Instruction::Run(run) => {
                let mounts = run
                    .mounts
                    .iter()
                    .map(|m| {
                        if m.raw.contains('$') {
                            Mount::parse(&m.raw, Some(&|v: &str| expand(v, escape, lookup)))
                        } else {
                            Ok(m.clone())
                        }
                    })
                    .collect::<Result<_, _>>()?;
                Instruction::Run(Run {
                    mounts,
                    ..run.clone()
                })
            }
            Instruction::Env(kvs) => Instruction::Env(pairs(kvs)?),
            Instruction::Label(kvs) => Instruction::Label(pairs(kvs)?),
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(expand_words(p, escape, lookup)?);
                }
                Instruction::Expose(out)
            }
            Instruction::Workdir(v) => Instruction::Workdir(e(v)?),
            Instruction::User(v) => Instruction::User(e(v)?),
            Instruction::StopSignal(v) => Instruction::StopSignal(e(v)?),
            Instruction::Volume(paths) => Instruction::Volume(all(paths, escape, lookup)?),
            Instruction::Copy(c) => Instruction::Copy(Copy {
                files: files(&c.files, escape, lookup)?,
                from: opt(&c.from, escape, lookup)?,
                chown: opt(&c.chown, escape, lookup)?,
                chmod: opt(&c.chmod, escape, lookup)?,
                excludes: all(&c.excludes, escape, lookup)?,
                ..c.clone()
            }),
            Instruction::Add(a) => Instruction::Add(Add {
                files: files(&a.files, escape, lookup)?,
                chown: opt(&a.chown, escape, lookup)?,
                chmod: opt(&a.chmod, escape, lookup)?,
                checksum: opt(&a.checksum, escape, lookup)?,
                excludes: all(&a.excludes, escape, lookup)?,
                ..a.clone()
            }),
            other => other.clone(),
        })
    }
}
