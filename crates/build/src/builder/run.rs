//! `RUN`: the command runs in a berth container (berth's native engine) on an overlay of the
//! stage's layers; what it changed — the overlay's upper directory, deletions as whiteouts —
//! becomes the step's layer.
//!
//! Network: BuildKit's default gives RUN the network; berth has no bridge yet, so `default`
//! is the host's network and `--network=none` a fresh namespace with only `lo`.
//! `--security=insecure` runs it privileged. Mounts: `type=cache` (a directory kept under
//! `<root>/build/cache-mounts/v1`), `type=tmpfs`, `type=bind` from the context (read-only) or
//! from another stage or image (an overlay whose writes are discarded, as BuildKit's).

use std::io::{BufRead as _, BufReader};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use berth_runtime::engine::{NativeRuntime, Runtime, Stdio};
use berth_runtime::rootfs;
use berth_runtime::spec::{ContainerSpec, Mount as SpecMount, MountKind};

use super::image::{ImageState, Layer};
use super::stage::StageBuild;
use super::view::View;
use super::{Built, cache};
use crate::dockerfile::{Command, MountType, Network, Run, Security, Step};
use crate::error::{Error, Result};

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

/// Mounted overlays to take down when the step ends, whatever happened.
struct Overlays(Vec<PathBuf>);

impl Drop for Overlays {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = rootfs::remove(dir);
        }
    }
}

/// Run `run` on `state`; returns the step's cache key.
pub(crate) async fn run(
    sb: &mut StageBuild<'_>,
    state: &mut ImageState,
    key: &str,
    step: &Step,
    run: &Run,
    built: &[Option<Built>],
) -> Result<String> {
    let file = sb.file;
    let fail = |m: String| super::stage::step_error(file, step.line, &step.original, m);
    // `RUN <<EOF` whose body starts with `#!`: the body is a program of its own, run as a
    // file bound at `/.berth-heredoc-NAME` (a mount point removed from the layer afterwards).
    let shebang = match (&run.command, run.heredocs.as_slice(), run.script()) {
        (Command::Shell(_), [h], Some(script))
            if script == h.content && script.starts_with("#!") =>
        {
            Some((h.name.clone(), script))
        }
        _ => None,
    };
    let argv: Vec<String> = match (&run.command, run.script()) {
        _ if shebang.is_some() => {
            vec![format!(
                "/.berth-heredoc-{}",
                shebang.as_ref().expect("set").0
            )]
        }
        (_, Some(script)) => sb.shell.iter().cloned().chain([script]).collect(),
        (Command::Exec(v), None) => v.clone(),
        (Command::Shell(s), None) => sb.shell.iter().cloned().chain([s.clone()]).collect(),
    };
    if argv.is_empty() {
        return Err(fail("empty command".into()));
    }
    let mut env = state.env();
    env.extend(sb.arg_env(state));
    let mounts: Vec<String> = run.mounts.iter().map(|m| m.raw.clone()).collect();
    let new_key = cache::key(
        key,
        &[
            "RUN",
            &argv.join("\0"),
            &env.join("\n"),
            &format!("{:?} {:?}", run.network, run.security),
            &mounts.join("\n"),
            &state.string("User"),
            &state.string("WorkingDir"),
        ],
    );
    let (store, root) = (&sb.b.store, sb.b.root.as_path());
    if !sb.opts.no_cache
        && let Some(cached) = cache::get(root, store, &new_key)
    {
        sb.progress(true, &step.original);
        *state = cached;
        return Ok(new_key);
    }
    sb.progress(false, &step.original);

    let view = View::open(store, root, &state.layers).await?;
    let id = format!(
        "build-{}-{}-{}",
        &new_key[..16],
        std::process::id(),
        sb.index
    );
    let fs = rootfs::mount(root, &id, &view.dirs).map_err(other)?;
    let mut overlays = Overlays(vec![fs.dir.clone()]);
    let mut spec = ContainerSpec::new(id.clone(), fs.merged.clone(), argv.clone());
    spec.env = env;
    let cwd = state.string("WorkingDir");
    if !cwd.is_empty() {
        spec.cwd = cwd;
    }
    let user = state.string("User");
    if !user.is_empty() {
        let u = berth_runtime::user::resolve(&fs.merged, &user)
            .map_err(|e| fail(format!("user {user:?}: {e}")))?;
        (spec.uid, spec.gid, spec.groups) = (u.uid, u.gid, u.groups);
    }
    spec.host_network = !matches!(run.network, Some(Network::None));
    if matches!(run.security, Some(Security::Insecure)) {
        spec.privileged = true;
        spec.seccomp = false;
        spec.capabilities = (0..64)
            .filter_map(berth_runtime::spec::capability_name)
            .map(str::to_string)
            .collect();
    }
    // Paths the run may create only as mount points, removed from the layer if new.
    let mut stubs: Vec<String> = ["/proc", "/sys", "/dev"]
        .into_iter()
        .filter(|p| view.stat(p).is_none())
        .map(str::to_string)
        .collect();
    for m in &run.mounts {
        let target = m.target.clone().unwrap_or_default();
        let target = super::stage::clean_path(&if target.starts_with('/') {
            target
        } else {
            format!("{}/{target}", spec.cwd)
        });
        if view.stat(&target).is_none() {
            stubs.push(target.clone());
        }
        let kind = match m.kind {
            MountType::Cache => {
                let name = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = berth_store::Layout::new(root)
                    .build_cache_mount(&cache::key("cache-mount", &[&name]));
                std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                    path: dir.clone(),
                    source,
                })?;
                MountKind::Bind { source: dir }
            }
            MountType::Tmpfs => MountKind::Tmpfs {
                options: m.size.map(|s| format!("size={s}")).unwrap_or_default(),
            },
            MountType::Bind => {
                let source = m.source.clone().unwrap_or_else(|| ".".into());
                let base: PathBuf = match &m.from {
                    None => sb.ctx.root().to_path_buf(),
                    Some(from) => {
                        let layers: Vec<Layer> = match super::stage_ref(sb.df, from, sb.index) {
                            Some(i) => built[i].as_ref().expect("built").state.layers.clone(),
                            None => {
                                let id =
                                    sb.b.images
                                        .resolve(from, &sb.opts.platform)
                                        .await
                                        .map_err(fail)?;
                                ImageState::load(store, &id).await?.layers
                            }
                        };
                        let v = View::open(store, root, &layers).await?;
                        let other =
                            rootfs::mount(root, &format!("{id}-m{}", overlays.0.len()), &v.dirs)
                                .map_err(other)?;
                        overlays.0.push(other.dir.clone());
                        other.merged
                    }
                };
                let rel = super::stage::clean_path(&source);
                let source = base.join(rel.trim_start_matches('/'));
                let real = source
                    .canonicalize()
                    .map_err(|e| fail(format!("bind source {rel}: {e}")))?;
                if !real.starts_with(base.canonicalize().unwrap_or(base.clone())) {
                    return Err(fail(format!("bind source {rel} is outside its root")));
                }
                MountKind::Bind { source: real }
            }
            MountType::Secret | MountType::Ssh => {
                return Err(fail(
                    "secret and ssh mounts are not supported by berth yet".into(),
                ));
            }
        };
        spec.mounts.push(SpecMount {
            target,
            readonly: m.readonly || (m.kind == MountType::Bind && m.from.is_none()),
            kind,
        });
    }

    if let Some((name, script)) = &shebang {
        use std::os::unix::fs::PermissionsExt as _;
        let file = fs.dir.join(format!("heredoc-{name}"));
        std::fs::write(&file, script).map_err(other)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).map_err(other)?;
        stubs.push(format!("/.berth-heredoc-{name}"));
        spec.mounts.push(SpecMount {
            target: format!("/.berth-heredoc-{name}"),
            kind: MountKind::Bind { source: file },
            readonly: true,
        });
    }
    let (read, write) = pipe().map_err(other)?;
    let progress = sb.b.progress.clone();
    let reader = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for line in BufReader::new(std::fs::File::from(read)).lines() {
            let Ok(line) = line else { break };
            progress(&format!("  {line}"));
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        tail
    });
    let stdio = Stdio {
        stdin: Some(std::fs::File::open("/dev/null").map_err(other)?.into()),
        stdout: Some(write.try_clone().map_err(other)?),
        stderr: Some(write),
        console: None,
    };
    let status = tokio::task::spawn_blocking(move || NativeRuntime::new().run(&spec, stdio))
        .await
        .map_err(other)?;
    let _ = reader.join();
    let status = status.map_err(|e| fail(e.to_string()))?;
    if status.code() != 0 {
        return Err(fail(format!(
            "process {:?} did not complete successfully: exit code: {}",
            argv.join(" "),
            status.code()
        )));
    }
    rootfs::unmount(&fs.dir).map_err(other)?;
    let upper = fs.dir.join("upper");
    for stub in &stubs {
        let p = upper.join(stub.trim_start_matches('/'));
        // Only an empty directory or file the mount left behind.
        let _ = std::fs::remove_dir(&p).or_else(|_| match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() == 0 => std::fs::remove_file(&p),
            _ => Ok(()),
        });
    }
    let layer = commit_upper(sb, &upper, &id).await?;
    drop(overlays);
    let created = super::created(sb.opts.epoch);
    let created_by = format!("RUN {}", argv.join(" "));
    match layer {
        Some(layer) => state.push_layer(layer, &created, &created_by),
        None => state.history(&created, &created_by, true),
    }
    cache::put(root, &new_key, state);
    Ok(new_key)
}

/// The layer of an upper directory, stored; `None` when nothing changed.
async fn commit_upper(sb: &StageBuild<'_>, upper: &Path, id: &str) -> Result<Option<Layer>> {
    let tmp = berth_store::Layout::new(&sb.b.root).build_tmp().join(id);
    super::commit::layer_from_upper(&sb.b.store, upper, sb.opts.epoch, &tmp, &[]).await
}
