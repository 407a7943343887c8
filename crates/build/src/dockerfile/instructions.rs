//! One logical line to one instruction: keyword, flags, arguments and heredoc bodies, with the
//! argument forms of each instruction as in BuildKit (`line_parsers.go` and `instructions`).
//!
//! This module calls only the other parts of the `dockerfile` module.

use super::INSTRUCTIONS;
use super::expand::expand;
use super::flags::{
    FlagValues, Kind, Mount, parse_duration, parse_network, parse_port, parse_security,
};
use super::heredoc;
use super::lexer::{LogicalLine, Reader};
use super::types::*;
use super::words::{Json, extract_flags, fields, json_array, raw_words};
use std::time::Duration;

/// What a line holds.
pub(crate) enum Parsed {
    /// A `FROM`: the start of a stage.
    From {
        /// The base.
        from: From,
        /// The stage name, lower-cased and checked.
        name: Option<String>,
    },
    /// Any other instruction.
    Instruction(Instruction),
}

/// A problem on a line, at a character offset of its text or (`None`) at its start.
#[derive(Debug)]
pub(crate) struct LineError {
    pub(crate) offset: Option<usize>,
    pub(crate) message: String,
}

impl std::convert::From<String> for LineError {
    fn from(message: String) -> Self {
        LineError {
            offset: None,
            message,
        }
    }
}

type Res<T> = Result<T, LineError>;

fn fail<T>(message: impl Into<String>) -> Res<T> {
    Err(LineError {
        offset: None,
        message: message.into(),
    })
}

struct Ctx<'a, 'r, 't> {
    logical: &'a LogicalLine,
    reader: &'r mut Reader<'t>,
    escape: char,
}

/// Parses one logical line, reading the bodies of the heredocs it opens from `reader`.
pub(crate) fn parse_line(
    logical: &LogicalLine,
    reader: &mut Reader<'_>,
    escape: char,
) -> Res<Parsed> {
    let (keyword, rest) = split_keyword(logical.text.trim());
    let mut ctx = Ctx {
        logical,
        reader,
        escape,
    };
    if keyword.eq_ignore_ascii_case("FROM") {
        return parse_from(rest, escape);
    }
    instruction(&mut ctx, keyword, rest).map(Parsed::Instruction)
}

fn split_keyword(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = if ca == cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = row[j + 1];
            row[j + 1] = cost;
        }
    }
    row[b.len()]
}

fn unknown_instruction(keyword: &str) -> LineError {
    let upper = keyword.to_ascii_uppercase();
    let best = INSTRUCTIONS
        .iter()
        .map(|k| (edit_distance(&upper, k), *k))
        .min();
    let message = match best {
        Some((d, k)) if d <= 2 && d < upper.len() => {
            format!("unknown instruction \"{keyword}\" (did you mean {k}?)")
        }
        _ => format!("unknown instruction \"{keyword}\""),
    };
    LineError {
        offset: None,
        message,
    }
}

fn parse_from(rest: &str, escape: char) -> Res<Parsed> {
    let (raw_flags, args) = extract_flags(rest, escape);
    let flags = FlagValues::parse("FROM", &raw_flags, &[("platform", Kind::Value)])?;
    let words = fields(args);
    let (image, name) = match words.as_slice() {
        [image] => (image.clone(), None),
        [image, r#as, name] if r#as.eq_ignore_ascii_case("as") => {
            (image.clone(), Some(name.to_ascii_lowercase()))
        }
        [] => return fail("FROM needs an image"),
        _ => return fail("FROM takes an image, optionally followed by AS name"),
    };
    if let Some(name) = &name {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !valid {
            return fail(format!(
                "invalid stage name \"{name}\": it must start with a letter and contain only letters, digits, '-', '_' and '.'"
            ));
        }
    }
    Ok(Parsed::From {
        from: From {
            image,
            platform: flags.value("platform"),
        },
        name,
    })
}

/// Reads the bodies of the heredocs `ctx`'s line opens.
fn heredocs(ctx: &mut Ctx<'_, '_, '_>) -> Res<Vec<Heredoc>> {
    let mut docs = Vec::new();
    for (opener, offset) in heredoc::openers(&ctx.logical.text) {
        let Some((content, end_line)) = ctx.reader.heredoc_body(&opener.name, opener.strip_tabs)
        else {
            return Err(LineError {
                offset: Some(offset),
                message: format!("unterminated heredoc \"{}\" started here", opener.name),
            });
        };
        docs.push(Heredoc {
            name: opener.name,
            content,
            expand: opener.expand,
            strip_tabs: opener.strip_tabs,
            fd: opener.fd,
            end_line,
        });
    }
    Ok(docs)
}

/// The exec form if `args` is a JSON string array, else the shell form.
fn command(keyword: &str, args: &str) -> Res<Command> {
    match json_array(args) {
        Json::Strings(words) => Ok(Command::Exec(words)),
        Json::NotStrings => fail(format!("{keyword}: a JSON array must contain only strings")),
        Json::NotJson if args.is_empty() => fail(format!("{keyword} needs a command")),
        Json::NotJson => Ok(Command::Shell(args.to_string())),
    }
}

/// A JSON string array or a whitespace-separated list; the bool is true for JSON.
fn list(keyword: &str, args: &str) -> Res<(Vec<String>, bool)> {
    match json_array(args) {
        Json::Strings(words) => Ok((words, true)),
        Json::NotStrings => fail(format!("{keyword}: a JSON array must contain only strings")),
        Json::NotJson => Ok((fields(args), false)),
    }
}

fn one_argument(keyword: &str, args: &str) -> Res<String> {
    if args.is_empty() {
        return fail(format!("{keyword} needs an argument"));
    }
    Ok(args.to_string())
}

/// `ENV` and `LABEL`: `k=v k2="v 2"`, or the legacy `k v w` (the value is the rest).
fn key_values(keyword: &str, args: &str, escape: char) -> Res<Vec<KeyValue>> {
    let words = raw_words(args, escape);
    let Some(first) = words.first() else {
        return fail(format!("{keyword} needs at least one key=value"));
    };
    if !first.contains('=') {
        let (key, value) = split_keyword(args);
        if value.is_empty() {
            return fail(format!("{keyword} needs a value: {keyword} {key}=value"));
        }
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        }]);
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return fail(format!("{keyword} expects key=value, found \"{word}\""));
        };
        if key.is_empty() {
            return fail(format!("{keyword} names cannot be blank"));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

fn args_decl(args: &str, escape: char) -> Res<Vec<ArgDecl>> {
    let words = raw_words(args, escape);
    if words.is_empty() {
        return fail("ARG needs at least one name");
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => fail("ARG names cannot be blank"),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: word,
                default: None,
            }),
        })
        .collect()
}

fn expose(args: &str, escape: char) -> Res<Vec<String>> {
    let ports = fields(args);
    if ports.is_empty() {
        return fail("EXPOSE needs at least one port");
    }
    // Ports without variables are checked now; the others once expanded.
    for port in ports.iter().filter(|p| !p.contains('$')) {
        let literal = expand(port, escape, &|_| None).map_err(|e| format!("EXPOSE {port}: {e}"))?;
        parse_port(&literal).map_err(|e| format!("EXPOSE: {e}"))?;
    }
    Ok(ports)
}

fn healthcheck(flags: &FlagValues, args: &str) -> Res<Healthcheck> {
    let (kind, rest) = split_keyword(args);
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if rest.is_empty() && flags.is_empty() => Ok(Healthcheck::None),
        "NONE" => fail("HEALTHCHECK NONE takes no arguments"),
        "CMD" => {
            let duration = |name: &str| -> Res<Option<Duration>> {
                let Some(text) = flags.value(name) else {
                    return Ok(None);
                };
                let d = parse_duration(&text).map_err(|e| format!("HEALTHCHECK --{name}: {e}"))?;
                if d.is_zero() {
                    return Ok(None);
                }
                if d < Duration::from_millis(1) {
                    return fail(format!("HEALTHCHECK --{name} cannot be less than 1ms"));
                }
                Ok(Some(d))
            };
            let retries = match flags.value("retries") {
                None => None,
                Some(text) => match text.parse::<i64>() {
                    Ok(n) if n < 0 => return fail("HEALTHCHECK --retries cannot be negative"),
                    Ok(0) => None,
                    Ok(n) => Some(
                        u32::try_from(n)
                            .map_err(|_| "HEALTHCHECK --retries is too large".to_string())?,
                    ),
                    Err(_) => {
                        return fail(format!(
                            "HEALTHCHECK --retries expects a number, not \"{text}\""
                        ));
                    }
                },
            };
            Ok(Healthcheck::Check {
                command: command("HEALTHCHECK CMD", rest)?,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            })
        }
        "" => fail("HEALTHCHECK needs NONE or CMD"),
        _ => fail(format!(
            "unknown HEALTHCHECK type \"{kind}\" (expected CMD or NONE)"
        )),
    }
}

/// Sources and destination of `COPY`/`ADD`, with heredoc sources filled in.
fn files(ctx: &mut Ctx<'_, '_, '_>, keyword: &str, args: &str) -> Res<Files> {
    let (words, json) = list(keyword, args)?;
    let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
        return fail(format!(
            "{keyword} needs at least one source and a destination"
        ));
    };
    if !json && heredoc::parse_word(dest).is_some() {
        return fail(format!(
            "{keyword} cannot take a heredoc as its destination"
        ));
    }
    let heredocs = if json { Vec::new() } else { heredocs(ctx)? };
    let sources = sources
        .iter()
        .map(|word| match heredoc::parse_word(word).filter(|_| !json) {
            Some(opener) => match heredocs.iter().find(|h| h.name == opener.name) {
                Some(h) => Source::Heredoc(h.clone()),
                None => Source::Path(word.clone()),
            },
            None => Source::Path(word.clone()),
        })
        .collect();
    Ok(Files {
        sources,
        dest: dest.clone(),
        json,
        heredocs,
    })
}

fn run(ctx: &mut Ctx<'_, '_, '_>, flags: &FlagValues, args: &str) -> Res<Run> {
    let command = command("RUN", args)?;
    if matches!(&command, Command::Exec(words) if words.is_empty()) {
        return fail("RUN needs a command");
    }
    let mounts = flags
        .list("mount")
        .iter()
        .map(|spec| Mount::parse(spec, None).map_err(|e| format!("RUN --mount={spec}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let network = flags
        .value("network")
        .map(|v| parse_network(&v))
        .transpose()
        .map_err(|e| format!("RUN --network: {e}"))?;
    let security = flags
        .value("security")
        .map(|v| parse_security(&v))
        .transpose()
        .map_err(|e| format!("RUN --security: {e}"))?;
    let heredocs = if matches!(command, Command::Shell(_)) {
        heredocs(ctx)?
    } else {
        Vec::new()
    };
    Ok(Run {
        command,
        heredocs,
        mounts,
        network,
        security,
    })
}

fn onbuild(ctx: &mut Ctx<'_, '_, '_>, args: &str) -> Res<Onbuild> {
    let (keyword, rest) = split_keyword(args);
    match keyword.to_ascii_uppercase().as_str() {
        "" => fail("ONBUILD needs an instruction"),
        "ONBUILD" => fail("chaining ONBUILD via ONBUILD ONBUILD isn't allowed"),
        "FROM" | "MAINTAINER" => fail(format!(
            "{} isn't allowed as an ONBUILD trigger",
            keyword.to_ascii_uppercase()
        )),
        _ => Ok(Onbuild {
            expression: args.to_string(),
            instruction: instruction(ctx, keyword, rest)?,
        }),
    }
}

fn instruction(ctx: &mut Ctx<'_, '_, '_>, keyword: &str, rest: &str) -> Res<Instruction> {
    let upper = keyword.to_ascii_uppercase();
    let Some(&kw) = INSTRUCTIONS.iter().find(|k| **k == upper) else {
        return Err(unknown_instruction(keyword));
    };
    let escape = ctx.escape;
    let (raw_flags, args) = extract_flags(rest, escape);
    let allowed: &[(&'static str, Kind)] = match kw {
        "RUN" => &[
            ("mount", Kind::List),
            ("network", Kind::Value),
            ("security", Kind::Value),
        ],
        "COPY" => &[
            ("from", Kind::Value),
            ("chown", Kind::Value),
            ("chmod", Kind::Value),
            ("link", Kind::Bool),
            ("parents", Kind::Bool),
            ("exclude", Kind::List),
        ],
        "ADD" => &[
            ("chown", Kind::Value),
            ("chmod", Kind::Value),
            ("link", Kind::Bool),
            ("checksum", Kind::Value),
            ("keep-git-dir", Kind::Bool),
            ("exclude", Kind::List),
        ],
        "HEALTHCHECK" => &[
            ("interval", Kind::Value),
            ("timeout", Kind::Value),
            ("start-period", Kind::Value),
            ("start-interval", Kind::Value),
            ("retries", Kind::Value),
        ],
        _ => &[],
    };
    let flags = FlagValues::parse(kw, &raw_flags, allowed)?;
    Ok(match kw {
        "RUN" => Instruction::Run(run(ctx, &flags, args)?),
        "CMD" => Instruction::Cmd(command("CMD", args)?),
        "ENTRYPOINT" => Instruction::Entrypoint(command("ENTRYPOINT", args)?),
        "ENV" => Instruction::Env(key_values("ENV", args, escape)?),
        "LABEL" => Instruction::Label(key_values("LABEL", args, escape)?),
        "ARG" => Instruction::Arg(args_decl(args, escape)?),
        "EXPOSE" => Instruction::Expose(expose(args, escape)?),
        "WORKDIR" => Instruction::Workdir(one_argument(kw, args)?),
        "USER" => Instruction::User(one_argument(kw, args)?),
        "STOPSIGNAL" => Instruction::StopSignal(one_argument(kw, args)?),
        "MAINTAINER" => Instruction::Maintainer(one_argument(kw, args)?),
        "VOLUME" => {
            let (paths, _) = list(kw, args)?;
            if paths.is_empty() {
                return fail("VOLUME needs at least one path");
            }
            if paths.iter().any(String::is_empty) {
                return fail("VOLUME paths cannot be empty");
            }
            Instruction::Volume(paths)
        }
        "SHELL" => match json_array(args) {
            Json::Strings(words) if words.is_empty() => {
                return fail("SHELL needs at least an executable");
            }
            Json::Strings(words) => Instruction::Shell(words),
            _ => return fail("SHELL needs the JSON form: SHELL [\"executable\", \"parameters\"]"),
        },
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(&flags, args)?),
        "ONBUILD" => Instruction::Onbuild(Box::new(onbuild(ctx, args)?)),
        "COPY" => Instruction::Copy(Copy {
            files: files(ctx, kw, args)?,
            from: flags.value("from"),
            chown: flags.value("chown"),
            chmod: flags.value("chmod"),
            link: flags.bool("link"),
            parents: flags.bool("parents"),
            excludes: flags.list("exclude"),
        }),
        "ADD" => Instruction::Add(Add {
            files: files(ctx, kw, args)?,
            chown: flags.value("chown"),
            chmod: flags.value("chmod"),
            link: flags.bool("link"),
            checksum: flags.value("checksum"),
            keep_git_dir: flags.bool("keep-git-dir"),
            excludes: flags.list("exclude"),
        }),
        // FROM is handled by the caller; inside ONBUILD it was refused above.
        _ => return fail(format!("{kw} isn't allowed here")),
    })
}
