//! The AST: a [`Dockerfile`] of [`Stage`]s of [`Step`]s, each an [`Instruction`] with a typed
//! payload. Words are raw (as written, quotes included) wherever Docker substitutes variables at
//! build time; see each field.

use super::flags::{Mount, Network, Security};
use std::time::Duration;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The parser directives at the top.
    pub directives: Directives,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines (and, re-declared, in stages).
    pub global_args: Vec<GlobalArg>,
    /// The build stages, in order; never empty.
    pub stages: Vec<Stage>,
}

/// The parser directives (`# name=value` lines before anything else).
#[derive(Debug, Clone, PartialEq)]
pub struct Directives {
    /// `# syntax=`: the frontend image BuildKit would use (recorded, not acted on).
    pub syntax: Option<String>,
    /// `# escape=`: `\` (the default) or `` ` ``.
    pub escape: char,
    /// `# check=`: build-check configuration such as `skip=all;error=true`, as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// One name declared by an `ARG` before the first `FROM`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalArg {
    /// The declaration.
    pub arg: ArgDecl,
    /// 1-based line of its `ARG`.
    pub line: usize,
    /// The `ARG` instruction's text.
    pub original: String,
}

/// A build stage: a `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base.
    pub from: From,
    /// The instructions after `FROM`.
    pub instructions: Vec<Step>,
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The `FROM` instruction's text.
    pub original: String,
}

/// `FROM [--platform=P] image [AS name]`.
#[derive(Debug, Clone, PartialEq)]
pub struct From {
    /// The image reference, a previous stage's name or `scratch`; raw (global `ARG`s apply).
    pub image: String,
    /// `--platform`, raw (`$BUILDPLATFORM` and friends apply).
    pub platform: Option<String>,
}

/// An instruction with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line where it starts.
    pub line: usize,
    /// 1-based last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// Its text with continuations joined, without heredoc bodies: for progress output
    /// (`[2/7] RUN apt-get …`) and, with the payload, cache keys.
    pub original: String,
    /// What it says.
    pub instruction: Instruction,
}

/// An instruction other than `FROM` (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `ENV k=v ...` or `ENV k v`: raw keys and values; expand each with [`expand()`](super::expand()).
    Env(Vec<KeyValue>),
    /// `ARG name[=default] ...`.
    Arg(Vec<ArgDecl>),
    /// `LABEL k=v ...`: raw keys and values like `ENV`.
    Label(Vec<KeyValue>),
    /// `EXPOSE port[/proto] ...`: raw words; expand each with
    /// [`expand_words`](super::expand_words), then [`parse_port`](super::parse_port).
    Expose(Vec<String>),
    /// `WORKDIR path`, raw.
    Workdir(String),
    /// `USER user[:group]`, raw; after expansion see [`split_user`](super::split_user).
    User(String),
    /// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`: raw paths, expanded one by one.
    Volume(Vec<String>),
    /// `STOPSIGNAL signal`, raw.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL ["exe", "arg"...]`.
    Shell(Vec<String>),
    /// `ONBUILD instruction`.
    Onbuild(Box<Onbuild>),
    /// `MAINTAINER name` (deprecated), raw.
    Maintainer(String),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
}

/// The exec or shell form of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `["exe", "arg"]`: run as is, no variable substitution.
    Exec(Vec<String>),
    /// `exe arg`: run with the stage's `SHELL`, which substitutes variables itself.
    Shell(String),
}

/// `RUN [flags] command`, with the heredocs its line opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The command; with heredocs it is the shell form and names them (`<<EOF`, `python3 <<EOF`).
    pub command: Command,
    /// The heredocs, in order (see [`Run::script`]).
    pub heredocs: Vec<Heredoc>,
    /// `--mount=...`, in order.
    pub mounts: Vec<Mount>,
    /// `--network=`.
    pub network: Option<Network>,
    /// `--security=`.
    pub security: Option<Security>,
}

/// A heredoc: `<<[-]NAME` on an instruction line, a body, then `NAME` alone on a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter with quotes removed; for `COPY` also the file name.
    pub name: String,
    /// The body, a newline after each line; leading tabs already removed for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no substitution in the body.
    pub expand: bool,
    /// True for `<<-`.
    pub strip_tabs: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), else 0.
    pub fd: u32,
    /// 1-based line of the terminator.
    pub end_line: usize,
}

/// One `key=value` of `ENV` or `LABEL`, both raw.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    /// The key, raw.
    pub key: String,
    /// The value, raw.
    pub value: String,
}

/// One name of an `ARG`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default after `=`, raw: expand it with the args declared before.
    pub default: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Check {
        /// The command (`CMD` for the exec form, `CMD-SHELL` for the shell form in the image).
        command: Command,
        /// `--interval`; `None` = inherit / default (30s).
        interval: Option<Duration>,
        /// `--timeout`; default 30s.
        timeout: Option<Duration>,
        /// `--start-period`; default 0s.
        start_period: Option<Duration>,
        /// `--start-interval`; default 5s.
        start_interval: Option<Duration>,
        /// `--retries`; default 3.
        retries: Option<u32>,
    },
}

/// `ONBUILD trigger`.
#[derive(Debug, Clone, PartialEq)]
pub struct Onbuild {
    /// The trigger's text as written (what goes into the image's `OnBuild` list).
    pub expression: String,
    /// The trigger, parsed (never `ONBUILD`, `FROM` or `MAINTAINER`).
    pub instruction: Instruction,
}

/// A `COPY` or `ADD` source.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A path (or URL for `ADD`), raw.
    Path(String),
    /// A `<<NAME` source: a file named `NAME` with the heredoc's body.
    Heredoc(Heredoc),
}

/// The sources and destination of `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    /// The sources, in order, at least one.
    pub sources: Vec<Source>,
    /// The destination, raw.
    pub dest: String,
    /// True for the JSON form (`COPY ["a b", "/c"]`).
    pub json: bool,
    /// Every heredoc the line opened (also inside `sources`).
    pub heredocs: Vec<Heredoc>,
}

/// `COPY [flags] src... dest`.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// Sources and destination.
    pub files: Files,
    /// `--from=stage|index|image`, raw.
    pub from: Option<String>,
    /// `--chown=user[:group]`, raw.
    pub chown: Option<String>,
    /// `--chmod=mode`, raw (octal or symbolic).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=pattern`, each raw.
    pub excludes: Vec<String>,
}

/// `ADD [flags] src... dest`.
#[derive(Debug, Clone, PartialEq)]
pub struct Add {
    /// Sources (paths, URLs, git repositories) and destination.
    pub files: Files,
    /// `--chown=user[:group]`, raw.
    pub chown: Option<String>,
    /// `--chmod=mode`, raw.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum=sha256:...`, raw.
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// `--exclude=pattern`, each raw.
    pub excludes: Vec<String>,
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
        }
    }
}

impl Run {
    /// The shell script BuildKit runs for a `RUN` with heredocs: for `RUN <<EOF` alone, the
    /// body (a body starting with `#!` is instead written to a file and executed by BuildKit);
    /// otherwise the command line followed by each body and terminator, for the shell to read
    /// as real heredocs. `None` without heredocs or in the exec form.
    pub fn script(&self) -> Option<String> {
        let Command::Shell(line) = &self.command else {
            return None;
        };
        let first = self.heredocs.first()?;
        if self.heredocs.len() == 1 && super::heredoc::parse_word(line).is_some() {
            return Some(first.content.clone());
        }
        let mut full = line.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Some(full)
    }
}
