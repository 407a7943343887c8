//! One stage: `FROM` (an image, another stage or scratch, then the base's `ONBUILD`
//! triggers), then each instruction in turn, with the variable scope BuildKit gives it: the
//! stage's `ARG`s (values from `--build-arg`, the global `ARG`s or their defaults) and its
//! `ENV`, `ENV` winning.

use std::collections::BTreeMap;

use serde_json::json;

use super::image::ImageState;
use super::{Builder, Built, Options, cache, stage_ref};
use crate::context::Context;
use crate::dockerfile::{self, Dockerfile, Instruction, Step, expand, expand_words};
use crate::error::{Error, Result};

/// The build of stage `index`.
pub(crate) struct StageBuild<'a> {
    pub(crate) b: &'a Builder,
    pub(crate) opts: &'a Options,
    pub(crate) df: &'a Dockerfile,
    pub(crate) file: &'a str,
    pub(crate) ctx: &'a Context,
    pub(crate) index: usize,
    /// The stage's name for progress lines.
    pub(crate) name: String,
    /// Declared `ARG`s and their values (`None`: declared without one).
    pub(crate) args: BTreeMap<String, Option<String>>,
    /// The `SHELL` for shell forms.
    pub(crate) shell: Vec<String>,
    /// Step number for progress (`[name n/total]`) and the total.
    pub(crate) step_no: usize,
    pub(crate) total: usize,
    /// Whether `CMD` was set in this stage (`ENTRYPOINT` then keeps it).
    pub(crate) cmd_set: bool,
}

/// The `PATH` BuildKit gives an image whose base has none (Linux's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The predefined platform `ARG`s for `platform`.
fn platform_args(p: &super::Platform) -> Vec<(&'static str, String)> {
    let platform = match &p.2 {
        Some(v) => format!("{}/{}/{v}", p.0, p.1),
        None => format!("{}/{}", p.0, p.1),
    };
    let variant = p.2.clone().unwrap_or_default();
    vec![
        ("TARGETPLATFORM", platform.clone()),
        ("TARGETOS", p.0.clone()),
        ("TARGETARCH", p.1.clone()),
        ("TARGETVARIANT", variant.clone()),
        ("BUILDPLATFORM", platform),
        ("BUILDOS", p.0.clone()),
        ("BUILDARCH", p.1.clone()),
        ("BUILDVARIANT", variant),
    ]
}

/// `--platform` values: `os/arch[/variant]`.
fn parse_platform(s: &str) -> Option<super::Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts[..] {
        [os, arch] => Some((os.into(), arch.into(), None)),
        [os, arch, variant] => Some((os.into(), arch.into(), Some(variant.into()))),
        _ => None,
    }
}

impl<'a> StageBuild<'a> {
    pub(crate) fn new(
        b: &'a Builder,
        opts: &'a Options,
        df: &'a Dockerfile,
        file: &'a str,
        ctx: &'a Context,
        index: usize,
    ) -> Self {
        let stage = &df.stages[index];
        let total = 1 + stage
            .instructions
            .iter()
            .filter(|s| counts(&s.instruction))
            .count();
        StageBuild {
            b,
            opts,
            df,
            file,
            ctx,
            index,
            name: stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}")),
            args: BTreeMap::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            step_no: 1,
            total,
            cmd_set: false,
        }
    }

    /// The global scope (`ARG`s before the first `FROM`), for `FROM` lines.
    fn global_scope(&self) -> BTreeMap<String, String> {
        let mut scope: BTreeMap<String, String> = platform_args(&self.opts.platform)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for g in &self.df.global_args {
            let lookup = |n: &str| scope.get(n).cloned();
            let value = match self.opts.build_args.get(&g.arg.name) {
                Some(v) => Some(v.clone()),
                None => g
                    .arg
                    .default
                    .as_ref()
                    .and_then(|d| expand(d, self.df.directives.escape, &lookup).ok()),
            };
            if let Some(v) = value {
                scope.insert(g.arg.name.clone(), v);
            }
        }
        scope
    }

    /// Look a variable up in the stage's scope: ENV first, then the declared ARGs.
    pub(crate) fn lookup(&self, state: &ImageState, name: &str) -> Option<String> {
        state
            .env_var(name)
            .or_else(|| self.args.get(name).cloned().flatten())
    }

    /// Substitute variables in one word.
    pub(crate) fn expand(
        &self,
        state: &ImageState,
        word: &str,
    ) -> std::result::Result<String, String> {
        expand(word, self.df.directives.escape, &|n| self.lookup(state, n))
    }

    /// Substitute and split.
    pub(crate) fn expand_words(
        &self,
        state: &ImageState,
        text: &str,
    ) -> std::result::Result<Vec<String>, String> {
        expand_words(text, self.df.directives.escape, &|n| self.lookup(state, n))
    }

    /// The ARGs with values, `NAME=value`, for RUN's environment and cache keys.
    pub(crate) fn arg_env(&self, state: &ImageState) -> Vec<String> {
        self.args
            .iter()
            .filter(|(k, _)| state.env_var(k).is_none())
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect()
    }

    /// Print a progress line for a counted step.
    pub(crate) fn progress(&self, cached: bool, original: &str) {
        let first = original.lines().next().unwrap_or_default();
        let prefix = if cached { "CACHED " } else { "" };
        (self.b.progress)(&format!(
            "{prefix}[{} {}/{}] {first}",
            self.name, self.step_no, self.total
        ));
    }

    /// Run the stage; `built` holds the stages built before it.
    pub(crate) async fn run(mut self, built: &[Option<Built>]) -> Result<Built> {
        let stage = &self.df.stages[self.index];
        let globals = self.global_scope();
        let escape = self.df.directives.escape;
        let glookup = |n: &str| globals.get(n).cloned();
        let file = self.file;
        let fail = |m: String| step_error(file, stage.line, &stage.original, m);
        let image = expand(&stage.from.image, escape, &glookup).map_err(fail)?;
        let platform = match &stage.from.platform {
            Some(p) => {
                let p = expand(p, escape, &glookup).map_err(fail)?;
                parse_platform(&p).ok_or_else(|| fail(format!("invalid platform {p:?}")))?
            }
            None => self.opts.platform.clone(),
        };
        self.progress(false, &format!("FROM {image}"));
        let (mut state, mut key) = if image.eq_ignore_ascii_case("scratch") {
            (
                ImageState::scratch(&platform),
                cache::key("scratch", &[&platform.1]),
            )
        } else if let Some(i) = stage_ref(self.df, &image, self.index) {
            let b = built[i].as_ref().expect("dependencies are built first");
            (b.state.clone(), b.key.clone())
        } else {
            let id = self
                .b
                .images
                .resolve(&image, &platform)
                .await
                .map_err(fail)?;
            let state = ImageState::load(&self.b.store, &id).await?;
            (state, id.to_string())
        };
        // BuildKit makes sure every image has a PATH: a base without one (scratch, an
        // import) gets the default.
        if state.env_var("PATH").is_none() {
            state.set_env("PATH", DEFAULT_PATH);
        }
        // The base image's SHELL stays in force for shell forms.
        let shell: Vec<String> = state.config["config"]["Shell"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if !shell.is_empty() {
            self.shell = shell;
        }
        let triggers: Vec<String> = state.config["config"]["OnBuild"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        if !triggers.is_empty() {
            state.container_config().remove("OnBuild");
            for t in triggers {
                let df = dockerfile::parse(&format!("FROM scratch\n{t}\n"), "ONBUILD")
                    .map_err(|e| fail(format!("ONBUILD trigger {t:?}: {e}")))?;
                for step in &df.stages[0].instructions {
                    self.step(&mut state, &mut key, step, &globals, built)
                        .await?;
                }
            }
        }
        for step in &stage.instructions {
            self.step(&mut state, &mut key, step, &globals, built)
                .await?;
        }
        Ok(Built { state, key })
    }

    async fn step(
        &mut self,
        state: &mut ImageState,
        key: &mut String,
        step: &Step,
        globals: &BTreeMap<String, String>,
        built: &[Option<Built>],
    ) -> Result<()> {
        let file = self.file;
        let fail = |m: String| step_error(file, step.line, &step.original, m);
        // Config-only steps take the time of the last step that made something (so a cached
        // rebuild gives the same image id); only a base without history gets the build's.
        let created = state
            .last_created()
            .unwrap_or_else(|| super::created(self.opts.epoch));
        // Every step's key covers its text and the ARG values in scope.
        let args = self.arg_env(state).join("\n");
        let metadata_key = cache::key(key, &[&step.original, &args]);
        match &step.instruction {
            Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Workdir(_) => {
                self.step_no += 1;
                let before = state.layers.len();
                let new_key = match &step.instruction {
                    Instruction::Run(run) => {
                        super::run::run(self, state, key, step, run, built).await?
                    }
                    Instruction::Copy(_) | Instruction::Add(_) => {
                        super::copy::copy(self, state, key, step, built).await?
                    }
                    Instruction::Workdir(dir) => {
                        let dir = self.expand(state, dir).map_err(fail)?;
                        let base = state.string("WorkingDir");
                        let path = clean_path(&if dir.starts_with('/') {
                            dir
                        } else {
                            format!("{}/{dir}", if base.is_empty() { "/" } else { &base })
                        });
                        state
                            .container_config()
                            .insert("WorkingDir".into(), json!(path));
                        super::copy::workdir(self, state, &metadata_key, step, &path).await?;
                        metadata_key.clone()
                    }
                    _ => unreachable!(),
                };
                if state.layers.len() == before && !matches!(step.instruction, Instruction::Run(_))
                {
                    state.history(&created, &step.original, true);
                }
                *key = new_key;
                return Ok(());
            }
            _ => {}
        }
        *key = metadata_key;
        self.apply_config(state, step, globals)?;
        state.history(&created, &step.original, true);
        Ok(())
    }
}

/// A step error naming the Dockerfile position and the instruction (shortened).
pub(crate) fn step_error(
    file: &str,
    line: usize,
    original: &str,
    message: impl Into<String>,
) -> Error {
    let mut instruction = original.lines().next().unwrap_or_default().to_string();
    if instruction.len() > 60 {
        let cut = (0..=60)
            .rev()
            .find(|&i| instruction.is_char_boundary(i))
            .unwrap_or(0);
        instruction.truncate(cut);
        instruction.push('…');
    }
    Error::Step {
        file: file.to_string(),
        line,
        instruction,
        message: message.into(),
    }
}

/// Whether an instruction is numbered in progress lines (it makes a layer or may).
fn counts(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

/// `a/./b/../c` → `/a/c`: lexical clean of an absolute image path.
pub(crate) fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn platforms_parse() {
        assert_eq!(
            parse_platform("linux/arm64/v8"),
            Some(("linux".into(), "arm64".into(), Some("v8".into())))
        );
        assert_eq!(parse_platform("linux"), None);
    }
}
