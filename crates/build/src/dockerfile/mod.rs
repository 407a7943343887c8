//! The Dockerfile language, parsed into a typed AST with BuildKit's semantics.
//!
//! [`parse`] reads the parser directives (`# syntax=`, `# escape=`, `# check=`), comments, line
//! continuations and heredocs, checks every instruction and its flags, and groups instructions
//! into [`Stage`]s. Arguments stay as written (raw words, quotes included): variables are
//! substituted at build time by the builder with [`expand()`] / [`expand_words`], or with
//! [`Instruction::expand`], which knows which instructions and flags allow substitution.
//!
//! Errors are [`Error::Parse`] with the file, line and column.
//!
//! Layering: this module owns the language only; it calls nothing but the crate's error type.

mod expand;
mod flags;
mod glob;
mod heredoc;
mod instructions;
mod lexer;
mod substitute;
mod types;
mod words;

pub use expand::{Lookup, expand, expand_words};
pub use flags::{
    Expander, Mount, MountType, Network, PortRange, Protocol, Security, Sharing, parse_port,
    split_user,
};
pub use types::*;

use crate::error::{Error, Result};
use lexer::{LogicalLine, Reader};

/// Every instruction keyword, upper case.
pub const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses a Dockerfile. `file_name` is only used in error messages.
///
/// ```
/// let df = berth_build::dockerfile::parse("FROM alpine AS base\nRUN echo hi\n", "Dockerfile").unwrap();
/// assert_eq!(df.stages[0].name.as_deref(), Some("base"));
/// assert_eq!(df.stages[0].instructions[0].original, "RUN echo hi");
/// ```
pub fn parse(text: &str, file_name: &str) -> Result<Dockerfile> {
    let error = |line: usize, column: usize, message: String| Error::Parse {
        file: file_name.to_string(),
        line,
        column,
        message,
    };
    let (mut reader, directives) =
        Reader::new(text).map_err(|e| error(e.line, e.column, e.message))?;
    let escape = directives.escape;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    while let Some(logical) = reader.next_logical() {
        let (line, column) = logical.start();
        let parsed = instructions::parse_line(&logical, &mut reader, escape).map_err(|e| {
            let (line, column) = e.offset.map_or((line, column), |o| logical.position(o));
            error(line, column, e.message)
        })?;
        let original = logical.text.trim().to_string();
        match parsed {
            instructions::Parsed::From { from, name } => {
                if let Some(name) = &name
                    && stages.iter().any(|s| s.name.as_ref() == Some(name))
                {
                    return Err(error(
                        line,
                        column,
                        format!("duplicate stage name \"{name}\""),
                    ));
                }
                stages.push(Stage {
                    name,
                    from,
                    instructions: Vec::new(),
                    line,
                    original,
                });
            }
            instructions::Parsed::Instruction(instruction) => {
                let step = Step {
                    line,
                    end_line: reader_end(&logical, &instruction),
                    original,
                    instruction,
                };
                match stages.last_mut() {
                    Some(stage) => stage.instructions.push(step),
                    None => match step.instruction {
                        Instruction::Arg(args) => {
                            global_args.extend(args.into_iter().map(|arg| GlobalArg {
                                arg,
                                line,
                                original: step.original.clone(),
                            }))
                        }
                        other => {
                            let keyword = other.keyword();
                            return Err(error(
                                line,
                                column,
                                format!(
                                    "{keyword} before the first FROM: only ARG may come before FROM"
                                ),
                            ));
                        }
                    },
                }
            }
        }
    }
    if stages.is_empty() {
        return Err(error(1, 1, "no FROM instruction".into()));
    }
    Ok(Dockerfile {
        directives,
        global_args,
        stages,
    })
}

/// The last line of an instruction: its text's, or its last heredoc's terminator.
fn reader_end(logical: &LogicalLine, instruction: &Instruction) -> usize {
    let heredocs: &[Heredoc] = match instruction {
        Instruction::Run(run) => &run.heredocs,
        Instruction::Copy(copy) => &copy.files.heredocs,
        Instruction::Add(add) => &add.files.heredocs,
        Instruction::Onbuild(onbuild) => return reader_end(logical, &onbuild.instruction),
        _ => &[],
    };
    heredocs
        .iter()
        .map(|h| h.end_line)
        .max()
        .unwrap_or(logical.end_line)
        .max(logical.end_line)
}

impl Dockerfile {
    /// The stage a `--target` or `COPY --from` names: by name (case-insensitive), else by index.
    pub fn stage(&self, reference: &str) -> Option<(usize, &Stage)> {
        Stage::find(&self.stages, reference)
    }
}

impl Stage {
    /// Finds a stage by name (case-insensitive) or, failing that, by its 0-based index.
    pub fn find<'a>(stages: &'a [Stage], reference: &str) -> Option<(usize, &'a Stage)> {
        let lower = reference.to_ascii_lowercase();
        stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                reference
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| stages.get(i).map(|s| (i, s)))
            })
    }
}

#[cfg(test)]
mod errors_tests;
#[cfg(test)]
mod heredoc_tests;
#[cfg(test)]
mod parse_tests;
