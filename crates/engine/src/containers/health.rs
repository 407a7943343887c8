//! Health checks (`HEALTHCHECK`, `--health-*`), as Docker runs them: a probe command executed
//! in the running container every interval (every start interval during the start period),
//! `healthy` after a success, `unhealthy` after `retries` consecutive failures outside the
//! start period, `starting` until then. The state and the last five probes go to the store
//! (`State.Health` in inspect, `(healthy)` in `ps`); each change of state is a
//! `health_status: STATUS` event, each probe an `exec_start` one.

use std::io::Read as _;
use std::time::{Duration, Instant};

use berth_store::{Health, State};
use serde::{Deserialize, Serialize};

use super::exec::ExecOptions;
use crate::Engine;
use crate::model::HealthConfig;
use crate::util::format_rfc3339;

/// Docker's defaults.
const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(30);
const START_INTERVAL: Duration = Duration::from_secs(5);
const RETRIES: i64 = 3;
/// Output kept per probe (Docker's limit).
const MAX_OUTPUT: usize = 4096;
/// Probes kept in the log.
const MAX_LOG: usize = 5;

/// One probe, as Docker's `State.Health.Log` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    /// RFC 3339 start.
    pub start: String,
    /// RFC 3339 end.
    pub end: String,
    /// The command's exit code; -1 when it timed out or could not run.
    pub exit_code: i64,
    /// Its output (stdout and stderr), at most 4 KiB.
    pub output: String,
}

/// The check's timings with Docker's defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    /// Between probes.
    pub interval: Duration,
    /// A probe's limit.
    pub timeout: Duration,
    /// Failures that make it unhealthy.
    pub retries: i64,
    /// Failures during it don't count.
    pub start_period: Duration,
    /// Between probes during the start period.
    pub start_interval: Duration,
}

fn or(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl Timings {
    /// The timings of `check`.
    pub fn of(check: &HealthConfig) -> Timings {
        Timings {
            interval: or(check.interval, INTERVAL),
            timeout: or(check.timeout, TIMEOUT),
            retries: if check.retries > 0 {
                check.retries
            } else {
                RETRIES
            },
            start_period: or(check.start_period, Duration::ZERO),
            start_interval: or(check.start_interval, START_INTERVAL),
        }
    }
}

/// The command a check's `Test` runs, or `None` when it checks nothing.
pub fn command(check: &HealthConfig) -> Option<Vec<String>> {
    match check.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, [shell])) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), shell.clone()])
        }
        _ => None,
    }
}

/// The state after `probe`: Docker's rules. `in_start_period`: the probe began within it.
pub fn next(previous: &Health, probe: &Probe, t: &Timings, in_start_period: bool) -> Health {
    let mut log: Vec<Probe> = serde_json::from_str(&previous.log).unwrap_or_default();
    log.push(probe.clone());
    if log.len() > MAX_LOG {
        log.drain(..log.len() - MAX_LOG);
    }
    let (status, failing_streak) = if probe.exit_code == 0 {
        ("healthy".to_string(), 0)
    } else if in_start_period && previous.status == "starting" {
        (previous.status.clone(), previous.failing_streak)
    } else {
        let streak = previous.failing_streak + 1;
        if streak >= t.retries {
            ("unhealthy".to_string(), streak)
        } else {
            (previous.status.clone(), streak)
        }
    };
    Health {
        status,
        failing_streak,
        log: serde_json::to_string(&log).expect("probes serialize"),
    }
}

/// Run `cmd` in running container `id` once, within `timeout`.
pub async fn probe(engine: &Engine, id: &str, cmd: Vec<String>, timeout: Duration) -> Probe {
    let start = format_rfc3339(std::time::SystemTime::now());
    let failed = |output: String| Probe {
        start: start.clone(),
        end: format_rfc3339(std::time::SystemTime::now()),
        exit_code: -1,
        output,
    };
    let c = match engine.store.container(id).await {
        Ok(Some(c)) => c,
        Ok(None) => return failed("the container is gone".into()),
        Err(e) => return failed(e.to_string()),
    };
    let opts = ExecOptions {
        cmd: cmd.clone(),
        ..ExecOptions::default()
    };
    let prepared = match engine.prepare_exec(&c, &opts) {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return failed(e.to_string()),
    };
    let stdio = berth_runtime::engine::Stdio {
        stdin: std::fs::File::open("/dev/null").ok().map(Into::into),
        stdout: Some(writer.into()),
        stderr: Some(stderr.into()),
        console: None,
    };
    engine
        .emit_container(&format!("exec_start: {}", cmd.join(" ")), id, &[])
        .await;
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let run = tokio::task::spawn_blocking(move || {
        prepared.runtime.exec(
            &prepared.target,
            &prepared.process,
            stdio,
            Some(Box::new(move |pid| {
                let _ = tx.send(pid);
            })),
        )
    });
    let output = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::new();
        let _ = reader.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(Ok(status))) => Probe {
            start,
            end: format_rfc3339(std::time::SystemTime::now()),
            exit_code: i64::from(status.code()),
            output: output.await.unwrap_or_default(),
        },
        Ok(Ok(Err(e))) => failed(e.to_string()),
        Ok(Err(e)) => failed(e.to_string()),
        Err(_) => {
            if let Ok(pid) = rx.try_recv() {
                // SAFETY: plain kill(2) of the probe, our own child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            failed(format!(
                "Health check exceeded timeout ({}s)",
                timeout.as_secs_f64()
            ))
        }
    }
}

/// Watch container `id`'s health with `check` while it runs (returns when it no longer
/// does); the caller starts it with the container and drops it when the container ends.
pub async fn watch(engine: &Engine, id: &str, check: &HealthConfig) {
    let Some(cmd) = command(check) else { return };
    let t = Timings::of(check);
    let started = Instant::now();
    let mut health = Health {
        status: "starting".into(),
        failing_streak: 0,
        log: "[]".into(),
    };
    if engine
        .store
        .container_health(id, Some(&health))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let in_start = started.elapsed() < t.start_period;
        tokio::time::sleep(if in_start {
            t.start_interval
        } else {
            t.interval
        })
        .await;
        match engine.store.container(id).await {
            Ok(Some(c)) if c.state == State::Running && !c.paused => {}
            Ok(Some(c)) if c.state == State::Running => continue,
            _ => return,
        }
        let in_start = started.elapsed() < t.start_period;
        let p = probe(engine, id, cmd.clone(), t.timeout).await;
        let now = next(&health, &p, &t, in_start);
        if let Err(e) = engine.store.container_health(id, Some(&now)).await {
            tracing::warn!(id, error = %e, "cannot record the container's health");
        }
        if now.status != health.status {
            let action = format!("health_status: {}", now.status);
            engine.emit_container(&action, id, &[]).await;
        }
        health = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i64) -> Probe {
        Probe {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn docker_rules() {
        let check = HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            retries: 2,
            ..HealthConfig::default()
        };
        assert_eq!(command(&check).unwrap(), ["/bin/sh", "-c", "true"]);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        };
        assert!(command(&none).is_none());
        let t = Timings::of(&check);
        assert_eq!((t.interval, t.timeout, t.retries), (INTERVAL, TIMEOUT, 2));
        let start = Health {
            status: "starting".into(),
            failing_streak: 0,
            log: "[]".into(),
        };
        // Failures in the start period don't count.
        let h = next(&start, &probe(1), &t, true);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        let h = next(&h, &probe(1), &t, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
        let h = next(&h, &probe(1), &t, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        let h = next(&h, &probe(0), &t, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        let mut h = h;
        for _ in 0..7 {
            h = next(&h, &probe(0), &t, false);
        }
        let log: Vec<Probe> = serde_json::from_str(&h.log).unwrap();
        assert_eq!(log.len(), MAX_LOG);
    }
}
