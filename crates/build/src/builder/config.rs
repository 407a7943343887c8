//! Instructions that only change the image config (ARG, ENV, LABEL, MAINTAINER, EXPOSE, USER,
//! VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD), with Docker's rules:
//! ENV values expanded with the environment from before the instruction, ENTRYPOINT resetting an
//! inherited CMD, shell forms wrapped in the stage's SHELL, durations in nanoseconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::image::ImageState;
use super::stage::{StageBuild, step_error};
use crate::dockerfile::{self, Command, Healthcheck, Instruction, Step};
use crate::error::Result;

impl StageBuild<'_> {
    /// Apply config-only instruction `step` to `state`.
    pub(crate) fn apply_config(
        &mut self,
        state: &mut ImageState,
        step: &Step,
        globals: &BTreeMap<String, String>,
    ) -> Result<()> {
        let file = self.file;
        let fail = |m: String| step_error(file, step.line, &step.original, m);
        let cfg_str = |v: String| json!(v);
        match &step.instruction {
            Instruction::Arg(decls) => {
                for d in decls {
                    let value = match self.opts.build_args.get(&d.name) {
                        Some(v) => Some(v.clone()),
                        None => match &d.default {
                            Some(def) => Some(self.expand(state, def).map_err(fail)?),
                            None => globals.get(&d.name).cloned(),
                        },
                    };
                    self.args.insert(d.name.clone(), value);
                }
                return Ok(()); // ARG leaves no history, as BuildKit
            }
            Instruction::Env(pairs) => {
                let mut values = Vec::new();
                for kv in pairs {
                    let k = self.expand(state, &kv.key).map_err(fail)?;
                    let v = self.expand(state, &kv.value).map_err(fail)?;
                    values.push((k, v));
                }
                for (k, v) in values {
                    state.set_env(&k, &v);
                }
            }
            Instruction::Label(pairs) => {
                for kv in pairs {
                    let k = self.expand(state, &kv.key).map_err(fail)?;
                    let v = self.expand(state, &kv.value).map_err(fail)?;
                    let labels = state
                        .container_config()
                        .entry("Labels")
                        .or_insert_with(|| json!({}));
                    if !labels.is_object() {
                        *labels = json!({});
                    }
                    labels[k] = json!(v);
                }
            }
            Instruction::Maintainer(m) => {
                state.config["author"] = json!(m);
            }
            Instruction::Expose(ports) => {
                let mut found = Vec::new();
                for p in ports {
                    for word in self.expand_words(state, p).map_err(fail)? {
                        let range = dockerfile::parse_port(&word).map_err(fail)?;
                        for port in range.start..=range.end {
                            let proto = match range.protocol {
                                dockerfile::Protocol::Tcp => "tcp",
                                dockerfile::Protocol::Udp => "udp",
                                dockerfile::Protocol::Sctp => "sctp",
                            };
                            found.push(format!("{port}/{proto}"));
                        }
                    }
                }
                let exposed = state
                    .container_config()
                    .entry("ExposedPorts")
                    .or_insert_with(|| json!({}));
                for p in found {
                    exposed[p] = json!({});
                }
            }
            Instruction::User(u) => {
                let u = self.expand(state, u).map_err(fail)?;
                state.container_config().insert("User".into(), cfg_str(u));
            }
            Instruction::Volume(vols) => {
                let mut found = Vec::new();
                for v in vols {
                    found.extend(self.expand_words(state, v).map_err(fail)?);
                }
                let volumes = state
                    .container_config()
                    .entry("Volumes")
                    .or_insert_with(|| json!({}));
                for v in found {
                    volumes[v] = json!({});
                }
            }
            Instruction::StopSignal(s) => {
                let s = self.expand(state, s).map_err(fail)?;
                state
                    .container_config()
                    .insert("StopSignal".into(), cfg_str(s));
            }
            Instruction::Cmd(c) => {
                let v = self.command(c);
                state.container_config().insert("Cmd".into(), v);
                self.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let v = self.command(c);
                state.container_config().insert("Entrypoint".into(), v);
                if !self.cmd_set {
                    // An ENTRYPOINT resets the CMD inherited from the base image.
                    state.container_config().insert("Cmd".into(), Value::Null);
                }
            }
            Instruction::Shell(shell) => {
                self.shell = shell.clone();
                state
                    .container_config()
                    .insert("Shell".into(), json!(shell));
            }
            Instruction::Healthcheck(h) => {
                let v = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check {
                        command,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let test = match command {
                            Command::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        let mut h = json!({"Test": test});
                        let ns = |d: &std::time::Duration| json!(d.as_nanos() as u64);
                        for (field, d) in [
                            ("Interval", interval),
                            ("Timeout", timeout),
                            ("StartPeriod", start_period),
                            ("StartInterval", start_interval),
                        ] {
                            if let Some(d) = d {
                                h[field] = ns(d);
                            }
                        }
                        if let Some(r) = retries {
                            h["Retries"] = json!(r);
                        }
                        h
                    }
                };
                state.container_config().insert("Healthcheck".into(), v);
            }
            Instruction::Onbuild(o) => {
                let list = state
                    .container_config()
                    .entry("OnBuild")
                    .or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                list.as_array_mut()
                    .expect("an array")
                    .push(json!(o.expression));
            }
            _ => unreachable!("layer instructions are handled above"),
        }
        Ok(())
    }

    /// CMD/ENTRYPOINT value: exec form as is, shell form wrapped in the `SHELL`.
    fn command(&self, c: &Command) -> Value {
        match c {
            Command::Exec(v) => json!(v),
            Command::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s.clone());
                json!(v)
            }
        }
    }
}
