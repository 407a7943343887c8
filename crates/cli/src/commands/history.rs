//! `berth history [--no-trunc] [-q] [--format json|TEMPLATE] IMAGE`: an image's history, newest first,
//! as `docker history` shows it — what created each layer (from the config's `history`, whose
//! `empty_layer` entries made no layer) and the layer's size.

use anyhow::{Context as _, Result};
use berth_oci::ParsedManifest;
use serde_json::Value;

use super::context::{Context, human_ago, human_size, parse_rfc3339, print_table, short_id};
use super::format::{self, Format, HISTORY_FIELDS, ellipsis};

/// `berth history`
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Do not truncate the CREATED BY column.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show the image id (on the newest row).
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table`, `json` (one object per line) or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// The image.
    pub image: String,
}

/// One row: (created, created by, layer size or 0, comment).
struct Row {
    created: Option<String>,
    created_by: String,
    size: u64,
    comment: String,
}

fn rows(config: &Value, layer_sizes: &[u64]) -> Vec<Row> {
    let mut sizes = layer_sizes.iter();
    let mut rows: Vec<Row> = config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            Row {
                created: h["created"].as_str().map(str::to_string),
                created_by: h["created_by"].as_str().unwrap_or_default().to_string(),
                size: if empty {
                    0
                } else {
                    sizes.next().copied().unwrap_or(0)
                },
                comment: h["comment"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect();
    // Layers without history entries (images made without one): one row each.
    for &size in sizes {
        rows.push(Row {
            created: None,
            created_by: String::new(),
            size,
            comment: String::new(),
        });
    }
    rows.reverse();
    rows
}

/// Run `berth history`.
pub async fn history(args: HistoryArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let img = ctx.find_image(&args.image).await?;
    let config: Value = serde_json::from_slice(&ctx.store.blobs().read(&img.record.id)?)
        .context("the image config is not JSON")?;
    let manifest = ctx.store.blobs().read(&img.record.manifest)?;
    let parsed = ParsedManifest::parse(&manifest, &img.record.manifest_media_type)?;
    let sizes: Vec<u64> = parsed.blobs[1..]
        .iter()
        .map(|b| b.size.max(0) as u64)
        .collect();
    let rows = rows(&config, &sizes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let id = |i: usize| {
        if i == 0 {
            if args.no_trunc {
                img.record.id.to_string()
            } else {
                short_id(&img.record.id)
            }
        } else {
            "<missing>".to_string()
        }
    };
    if args.quiet {
        for i in 0..rows.len() {
            println!("{}", id(i));
        }
        return Ok(());
    }
    let mut table = vec![vec![
        "IMAGE".to_string(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    let mut out: Vec<format::Row> = vec![];
    for (i, r) in rows.iter().enumerate() {
        let secs = r.created.as_deref().and_then(parse_rfc3339);
        let created = secs.map_or_else(|| "N/A".to_string(), |t| human_ago(now - t));
        let by = r.created_by.replace(['\n', '\t'], " ");
        let by = if args.no_trunc { by } else { ellipsis(&by, 45) };
        table.push(vec![
            id(i),
            created.clone(),
            by.clone(),
            human_size(r.size),
            r.comment.clone(),
        ]);
        let mut row = format::Row::new();
        for (k, v) in [
            ("ID", id(i)),
            ("CreatedSince", created),
            (
                "CreatedAt",
                secs.map_or_else(String::new, |t| berth_oci::time::rfc3339(t, None)),
            ),
            ("CreatedBy", by),
            ("Size", human_size(r.size)),
            ("Comment", r.comment.clone()),
        ] {
            row.insert(k.into(), Value::String(v));
        }
        out.push(row);
    }
    let format = Format::parse(
        args.format.as_deref(),
        HISTORY_FIELDS,
        "*image.historyContext",
    )?;
    if matches!(format, Format::Default) {
        print_table(&table);
    } else {
        print!("{}", format.render(&out)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_follow_non_empty_history_entries_newest_first() {
        let config = json!({"history": [
            {"created_by": "base", "created": "2024-01-01T00:00:00Z"},
            {"created_by": "ENV A=1", "empty_layer": true},
            {"created_by": "RUN x", "comment": "berth build"},
        ]});
        let r = rows(&config, &[100, 7]);
        let got: Vec<(&str, u64)> = r.iter().map(|r| (r.created_by.as_str(), r.size)).collect();
        assert_eq!(got, vec![("RUN x", 7), ("ENV A=1", 0), ("base", 100)]);
        // An image without history: a row per layer.
        assert_eq!(rows(&json!({}), &[5, 6]).len(), 2);
    }
}
