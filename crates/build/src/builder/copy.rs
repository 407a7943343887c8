//! `COPY`, `ADD` and `WORKDIR`: layers written directly (no container), with Docker's
//! destination rules: a destination ending in `/`, several sources, or an existing directory
//! is a directory; a directory source copies its contents; relative destinations start at the
//! `WORKDIR`; symlinks in the destination are followed inside the image (`/lib -> usr/lib`); a
//! parent that is a file is an error; several sources need a destination ending in `/`. Files
//! from the context are owned by root unless `--chown`; files from another stage or image keep
//! their owners. `ADD` extracts local tar archives (plain or gzip) into the destination.
//! Directories that already exist below keep their metadata.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use super::image::{ImageState, Layer};
use super::stage::{StageBuild, clean_path};
use super::view::View;
use super::{Built, cache};
use crate::context::{Context, EntryKind};
use crate::dockerfile::{Files, Heredoc, Instruction, Source, Step};
use crate::error::{Error, Result};
use crate::layer::{Attrs, LayerBuilder, Meta};

fn other(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

/// Write `layer` out under `tmp` and move its gzip blob into the store.
pub(crate) async fn store_layer(
    sb: &StageBuild<'_>,
    layer: LayerBuilder,
    tmp: &Path,
) -> Result<Layer> {
    super::commit::store_layer(&sb.b.store, layer, tmp).await
}

/// Seconds since the Unix epoch now: the mtime BuildKit gives directories a step creates.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Add the directories above `path` that exist in the image with their current metadata, so
/// the layer does not reset them. A parent that exists but is not a directory (after
/// [`View::resolve`], so not a symlink to one) is an error, as in BuildKit.
fn restate_parents(layer: &mut LayerBuilder, view: &View, path: &str) -> Result<()> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        prefix = format!("{prefix}/{part}");
        match view.stat(&prefix) {
            Some(m) if m.is_dir() => {
                let meta = Meta::new(m.mode() & 0o7777)
                    .with_owner(m.uid(), m.gid())
                    .with_mtime(m.mtime());
                layer.add_dir(&prefix, meta)?;
            }
            Some(_) => {
                return Err(Error::NotADirectory {
                    path: prefix.into(),
                });
            }
            None => {}
        }
    }
    Ok(())
}

/// `WORKDIR`: a layer creating `path` (and its missing parents) owned by the stage's `USER`
/// when the image lacks it.
pub(crate) async fn workdir(
    sb: &StageBuild<'_>,
    state: &mut ImageState,
    key: &str,
    step: &Step,
    path: &str,
) -> Result<()> {
    let (store, root) = (&sb.b.store, sb.b.root.as_path());
    if !sb.opts.no_cache
        && let Some(cached) = cache::get(root, store, key)
    {
        sb.progress(true, &step.original);
        *state = cached;
        return Ok(());
    }
    sb.progress(false, &step.original);
    let view = View::open(store, root, &state.layers).await?;
    let path = &view.resolve(path);
    if path == "/" || view.is_dir(path) {
        cache::put(root, key, state);
        return Ok(());
    }
    // BuildKit creates the directory and its missing parents as the stage's USER.
    let user = state.string("User");
    let (uid, gid) = if user.is_empty() {
        (0, 0)
    } else {
        view.resolve_user(&user).map_err(|e| {
            super::stage::step_error(
                sb.file,
                step.line,
                &step.original,
                format!("user {user:?}: {e}"),
            )
        })?
    };
    let mut layer = LayerBuilder::new()
        .with_source_date_epoch(sb.opts.epoch)
        .with_parent_mtime(unix_now())
        .with_parent_owner(uid, gid);
    restate_parents(&mut layer, &view, path)
        .map_err(|e| super::stage::step_error(sb.file, step.line, &step.original, e.to_string()))?;
    layer.add_dir(
        path,
        Meta::new(0o755)
            .with_owner(uid, gid)
            .with_mtime(sb.opts.epoch.unwrap_or_else(unix_now)),
    )?;
    let tmp = berth_store::Layout::new(root).build_tmp().join(format!(
        "workdir-{}-{}-{}",
        &key[..16],
        std::process::id(),
        sb.index
    ));
    let l = store_layer(sb, layer, &tmp).await?;
    state.push_layer(l, &super::created(sb.opts.epoch), &step.original);
    cache::put(root, key, state);
    Ok(())
}

/// `$NAME` and `${NAME}` in a heredoc body (quotes kept, as a shell here-document does).
fn expand_heredoc(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name).unwrap_or_default());
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// `COPY` or `ADD`; returns the step's cache key.
pub(crate) async fn copy(
    sb: &mut StageBuild<'_>,
    state: &mut ImageState,
    key: &str,
    step: &Step,
    built: &[Option<Built>],
) -> Result<String> {
    let file = sb.file;
    let fail = |m: String| super::stage::step_error(file, step.line, &step.original, m);
    let (args, from) = match &step.instruction {
        Instruction::Copy(c) => (
            CopyArgs {
                files: &c.files,
                chown: &c.chown,
                chmod: &c.chmod,
                excludes: &c.excludes,
                parents: c.parents,
                is_add: false,
                source_key: "",
                from_image: false,
            },
            c.from.as_ref(),
        ),
        Instruction::Add(a) => (
            CopyArgs {
                files: &a.files,
                chown: &a.chown,
                chmod: &a.chmod,
                excludes: &a.excludes,
                parents: false,
                is_add: true,
                source_key: "",
                from_image: false,
            },
            None,
        ),
        _ => unreachable!(),
    };
    let (store, root) = (&sb.b.store, sb.b.root.as_path());
    // Where sources come from: the context, or another stage's or image's file system.
    let mut source_overlay = None;
    let (source_ctx, source_key, from_image) = match from {
        None => (None, String::new(), false),
        Some(f) => {
            let f = sb.expand(state, f).map_err(fail)?;
            let (layers, k) = match super::stage_ref(sb.df, &f, sb.index) {
                Some(i) => {
                    let b = built[i].as_ref().expect("built");
                    (b.state.layers.clone(), b.key.clone())
                }
                None => {
                    let id =
                        sb.b.images
                            .resolve(&f, &sb.opts.platform)
                            .await
                            .map_err(fail)?;
                    (ImageState::load(store, &id).await?.layers, id.to_string())
                }
            };
            let v = View::open(store, root, &layers).await?;
            let id = format!(
                "copy-{}-{}-{}",
                &cache::key(&k, &[])[..16],
                std::process::id(),
                sb.index
            );
            let fs = berth_runtime::rootfs::mount(root, &id, &v.dirs).map_err(other)?;
            source_overlay = Some(fs.dir.clone());
            let merged = fs.merged.clone();
            let ctx = tokio::task::spawn_blocking(move || Context::open(&merged, None))
                .await
                .map_err(other)?;
            (Some(ctx), k, true)
        }
    };
    let result = async {
        let ctx: &Context = match &source_ctx {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Err(fail(e.to_string())),
            None => sb.ctx,
        };
        let args = CopyArgs {
            source_key: &source_key,
            from_image,
            ..args
        };
        copy_from(sb, state, key, step, &args, ctx).await
    }
    .await;
    if let Some(dir) = source_overlay {
        let _ = berth_runtime::rootfs::remove(&dir);
    }
    result
}

/// What a COPY or ADD asks for.
struct CopyArgs<'s> {
    files: &'s Files,
    chown: &'s Option<String>,
    chmod: &'s Option<String>,
    excludes: &'s [String],
    parents: bool,
    is_add: bool,
    /// For `--from`: the source stage's cache key or the image id (its content's identity).
    source_key: &'s str,
    /// Whether the sources come from another stage or image (owners are kept).
    from_image: bool,
}

async fn copy_from(
    sb: &StageBuild<'_>,
    state: &mut ImageState,
    key: &str,
    step: &Step,
    args: &CopyArgs<'_>,
    ctx: &Context,
) -> Result<String> {
    let CopyArgs {
        files,
        chown,
        chmod,
        excludes,
        parents,
        is_add,
        source_key,
        from_image,
    } = *args;
    let file = sb.file;
    let fail = |m: String| super::stage::step_error(file, step.line, &step.original, m);
    let (store, root) = (&sb.b.store, sb.b.root.as_path());
    // Resolve every source.
    let mut matches = Vec::new();
    let mut heredocs: Vec<&Heredoc> = Vec::new();
    for s in &files.sources {
        match s {
            Source::Path(p) => {
                let p = sb.expand(state, p).map_err(fail)?;
                if p.starts_with("http://") || p.starts_with("https://") || p.starts_with("git@") {
                    return Err(fail(format!(
                        "remote source {p} is not supported by berth (offline builds)"
                    )));
                }
                matches.extend(ctx.resolve(&p).map_err(|e| fail(e.to_string()))?);
            }
            Source::Heredoc(h) => heredocs.push(h),
        }
    }
    // `--exclude` patterns, with .dockerignore's syntax, against the path in the context and
    // the path inside a copied directory.
    let mut exclude_text = String::new();
    for e in excludes {
        exclude_text.push_str(&sb.expand(state, e).map_err(fail)?);
        exclude_text.push('\n');
    }
    let exclude = crate::ignore::Ignore::parse(&exclude_text).map_err(|e| fail(e.to_string()))?;
    matches.retain(|m| !exclude.is_excluded(&m.path));
    let dest_raw = sb.expand(state, &files.dest).map_err(fail)?;
    let workdir = state.string("WorkingDir");
    let dest = clean_path(&if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        format!(
            "{}/{dest_raw}",
            if workdir.is_empty() { "/" } else { &workdir }
        )
    });
    let chown = chown
        .as_ref()
        .map(|c| sb.expand(state, c))
        .transpose()
        .map_err(fail)?;
    let mode = match chmod {
        Some(m) => {
            let m = sb.expand(state, m).map_err(fail)?;
            Some(
                u32::from_str_radix(&m, 8)
                    .map_err(|_| fail(format!("invalid --chmod {m:?}: use octal")))?,
            )
        }
        None => None,
    };
    let digest = if from_image {
        source_key.to_string()
    } else {
        ctx.sources_digest(&matches)
            .map_err(|e| fail(e.to_string()))?
    };
    let heredoc_text: Vec<String> = heredocs.iter().map(|h| h.content.clone()).collect();
    let new_key = cache::key(
        key,
        &[
            "COPY",
            &step.original,
            &digest,
            &dest,
            chown.as_deref().unwrap_or(""),
            &format!("{mode:?}"),
            &heredoc_text.join("\0"),
            &sb.arg_env(state).join("\n"),
            &exclude_text,
            if parents { "parents" } else { "" },
        ],
    );
    if !sb.opts.no_cache
        && let Some(cached) = cache::get(root, store, &new_key)
    {
        sb.progress(true, &step.original);
        *state = cached;
        return Ok(new_key);
    }
    sb.progress(false, &step.original);

    let view = View::open(store, root, &state.layers).await?;
    // Symlinks in the destination are followed inside the image (`/lib -> usr/lib`).
    let dest = view.resolve(&dest);
    let ids = match &chown {
        Some(c) => {
            let (uid, gid) = view
                .resolve_user(c)
                .map_err(|e| fail(format!("--chown {c}: {e}")))?;
            // `--chown=user` without a group: the group is the same number (Docker's rule).
            Some(if c.contains(':') {
                (uid, gid)
            } else {
                (uid, uid)
            })
        }
        None => None,
    };
    let attrs = match ids {
        Some((uid, gid)) => Attrs {
            uid: Some(uid),
            gid: Some(gid),
            mode,
        },
        None if from_image => Attrs {
            uid: None,
            gid: None,
            mode,
        },
        None => Attrs {
            uid: Some(0),
            gid: Some(0),
            mode,
        },
    };
    let (puid, pgid) = ids.unwrap_or((0, 0));
    let mut layer = LayerBuilder::new()
        .with_source_date_epoch(sb.opts.epoch)
        .with_parent_mtime(unix_now())
        .with_parent_owner(puid, pgid);
    let count = matches.len() + heredocs.len();
    // `.` (the WORKDIR) is a directory as if it ended in `/`, as in BuildKit.
    let ends_in_slash = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
    if files.sources.len() > 1 && !ends_in_slash {
        let cmd = if is_add { "ADD" } else { "COPY" };
        return Err(fail(format!(
            "When using {cmd} with more than one source file, the destination must be a \
             directory and end with a /"
        )));
    }
    let dest_is_dir = ends_in_slash || count > 1 || view.is_dir(&dest);
    let probe = if dest_is_dir {
        format!("{dest}/x")
    } else {
        dest.clone()
    };
    restate_parents(&mut layer, &view, &probe).map_err(|e| fail(e.to_string()))?;
    let join = |base: &str, name: &str| clean_path(&format!("{base}/{name}"));
    let tmp = berth_store::Layout::new(root).build_tmp().join(format!(
        "copy-{}-{}-{}",
        &new_key[..16],
        std::process::id(),
        sb.index
    ));
    for m in &matches {
        let io = |e: std::io::Error| fail(format!("{}: {e}", m.path));
        match &m.entry.kind {
            EntryKind::Dir => {
                // With --parents the directory keeps its path from the context root.
                let base = if parents && m.path != "." && !m.path.is_empty() {
                    join(&dest, &m.path)
                } else {
                    dest.clone()
                };
                match view.stat(&base) {
                    Some(st) if st.is_dir() => {}
                    Some(_) => {
                        return Err(fail(format!("cannot copy to non-directory: {base}")));
                    }
                    None => layer.add_host_path(&base, &m.entry.host, &attrs)?,
                }
                for e in ctx.contents(&m.entry.path) {
                    let rel = &e.path[m.entry.path.len()..].trim_start_matches('/');
                    let rel = if m.entry.path.is_empty() || m.entry.path == "." {
                        e.path.as_str()
                    } else {
                        rel
                    };
                    if exclude.is_excluded(rel) || exclude.is_excluded(&e.path) {
                        continue;
                    }
                    layer.add_host_path(&join(&base, rel), &e.host, &attrs)?;
                }
            }
            _ => {
                let name = m.path.rsplit('/').next().unwrap_or(&m.path);
                let target = if parents {
                    join(&dest, &m.path)
                } else if dest_is_dir {
                    join(&dest, name)
                } else {
                    dest.clone()
                };
                if is_add
                    && matches!(m.entry.kind, EntryKind::File)
                    && let Some(kind) = super::archive::archive_kind(&m.entry.host).map_err(io)?
                {
                    let scratch = tmp.join(format!("add-{}", layer.paths().count()));
                    super::archive::extract(
                        sb,
                        &mut layer,
                        &m.entry.host,
                        kind,
                        &dest,
                        &view,
                        &scratch,
                    )
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                    continue;
                }
                layer.add_host_path(&target, &m.entry.host, &attrs)?;
            }
        }
    }
    for h in heredocs {
        let content = if h.expand {
            expand_heredoc(&h.content, &|n| sb.lookup(state, n))
        } else {
            h.content.clone()
        };
        let target = if dest_is_dir {
            join(&dest, &h.name)
        } else {
            dest.clone()
        };
        let now = unix_now();
        let meta = Meta::new(mode.unwrap_or(0o644))
            .with_owner(puid, pgid)
            .with_mtime(sb.opts.epoch.unwrap_or(now));
        layer.add_file(&target, content.into_bytes(), meta)?;
    }
    let l = store_layer(sb, layer, &tmp).await?;
    state.push_layer(l, &super::created(sb.opts.epoch), &step.original);
    cache::put(root, &new_key, state);
    Ok(new_key)
}

#[cfg(test)]
mod tests {
    use super::expand_heredoc;

    #[test]
    fn heredocs_expand_plain_variables() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(
            expand_heredoc("a=$A b=${A} c=$B '$A' $", &lookup),
            "a=1 b=1 c= '1' $"
        );
    }
}
