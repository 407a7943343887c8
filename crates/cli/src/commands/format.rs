//! Docker's `--format` for listings (`ps`, `images`, `history`): `json` (one object per line),
//! `table` (the command's own table) and Go templates as people write them — `{{.Field}}`,
//! literal text, `\t` and `\n`, a `table` prefix for aligned columns under a header, the
//! functions `json`, `lower`, `upper`, `title`, `truncate`, `pad` and `printf`, and pipes.
//! Rows are JSON objects of strings, one key per documented field. The templates themselves
//! are `template.rs`; calls nothing else in berth.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::Value;

pub use super::template::{Fields, Row, Template};

/// `docker ps` fields.
pub const PS_FIELDS: Fields = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// `docker images` fields.
pub const IMAGE_FIELDS: Fields = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
];

/// `docker history` fields.
pub const HISTORY_FIELDS: Fields = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// What `--format` asked for.
pub enum Format {
    /// Nothing or `table`: the command's own table.
    Default,
    /// `json`: each row as one JSON object per line.
    Json,
    /// A Go template; with the `table` prefix, a header row and aligned columns.
    Template {
        /// Whether it had the `table` prefix.
        table: bool,
        /// The parsed template.
        template: Template,
    },
}

impl Format {
    /// Parse `--format` for a listing of `fields`, whose Go type Docker names `type_name` in
    /// its errors (`*formatter.ContainerContext`).
    pub fn parse(spec: Option<&str>, fields: Fields, type_name: &str) -> Result<Format> {
        let Some(spec) = spec else {
            return Ok(Format::Default);
        };
        let trimmed = spec.trim();
        if trimmed == "table" || trimmed.is_empty() {
            return Ok(Format::Default);
        }
        if trimmed == "json" {
            return Ok(Format::Json);
        }
        // As Docker prepares it: the prefix off, spaces trimmed, then the escapes replaced.
        let (table, text) = match spec.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        let text = text
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = Template::parse(&text, fields, type_name)?;
        Ok(Format::Template { table, template })
    }

    /// Whether rows need `field` (`ps` computes sizes only when shown).
    pub fn uses(&self, field: &str) -> bool {
        match self {
            Format::Default => false,
            Format::Json => true,
            Format::Template { template, .. } => template.uses(field),
        }
    }

    /// The output for `rows`, each line ending in a newline; nothing for [`Format::Default`].
    pub fn render(&self, rows: &[Row]) -> Result<String> {
        let mut out = String::new();
        match self {
            Format::Default => {}
            Format::Json => {
                for r in rows {
                    writeln!(out, "{}", Value::Object(r.clone()))?;
                }
            }
            Format::Template { table, template } => {
                if *table {
                    writeln!(out, "{}", template.header())?;
                }
                for r in rows {
                    writeln!(out, "{}", template.execute(r)?)?;
                }
                if *table {
                    out = tabwrite(&out);
                }
            }
        }
        Ok(out)
    }
}

/// Unix seconds as Go's `time.Time.String()` in UTC ("2024-01-02 03:04:05 +0000 UTC"), as
/// Docker shows `CreatedAt` in `ps` and `images`.
pub fn go_time(secs: i64) -> String {
    let t = berth_oci::time::rfc3339(secs, None);
    format!(
        "{} +0000 UTC",
        t.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` as Docker uses it: tab-terminated cells
/// are columns, each as wide as its widest cell plus 3 (at least 10) over each block of
/// consecutive lines that have it; a line's last cell is never padded.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut out = String::new();
    let mut widths = vec![];
    block(&lines, &mut widths, &mut out);
    out
}

fn block(lines: &[Vec<&str>], widths: &mut Vec<usize>, out: &mut String) {
    let col = widths.len();
    let (mut start, mut i) = (0, 0);
    while i < lines.len() {
        if col + 1 >= lines[i].len() {
            i += 1;
            continue;
        }
        write_lines(&lines[start..i], widths, out);
        start = i;
        let mut width = 10;
        while i < lines.len() && col + 1 < lines[i].len() {
            width = width.max(lines[i][col].chars().count() + 3);
            i += 1;
        }
        widths.push(width);
        block(&lines[start..i], widths, out);
        widths.pop();
        start = i;
    }
    write_lines(&lines[start..], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            match widths.get(j) {
                Some(w) if j + 1 < line.len() => {
                    let _ = write!(out, "{cell:<w$}");
                }
                _ => out.push_str(cell),
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    fn render(spec: &str, rows: &[Value]) -> Result<String> {
        let rows: Vec<Row> = rows.iter().cloned().map(row).collect();
        Format::parse(Some(spec), PS_FIELDS, "*formatter.ContainerContext")?.render(&rows)
    }

    #[test]
    fn fields_text_escapes_and_functions() {
        let r = [json!({"ID": "abc", "Names": "Web", "Status": "Up 1 second"})];
        assert_eq!(render("{{.ID}}: {{.Names}}", &r).unwrap(), "abc: Web\n");
        assert_eq!(
            render(r"{{.ID}}\t{{.Names}}\n", &r).unwrap(),
            "abc\tWeb\n\n"
        );
        assert_eq!(
            render(
                "{{lower .Names}} {{upper .Names}} {{truncate .Status 4}}",
                &r
            )
            .unwrap(),
            "web WEB Up 1\n"
        );
        assert_eq!(render("{{json .Names}}", &r).unwrap(), "\"Web\"\n");
        assert_eq!(
            render("{{json .}}", &r).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"Web\",\"Status\":\"Up 1 second\"}\n"
        );
        assert_eq!(
            render(r#"{{.Names | printf "%-5s"}}|{{printf "%4s" .ID}}"#, &r).unwrap(),
            "Web  | abc\n"
        );
        assert_eq!(render("{{.Names | lower}}", &r).unwrap(), "web\n");
        assert_eq!(render("a {{- .ID -}} b", &r).unwrap(), "aabcb\n");
        assert_eq!(
            render("json", &r).unwrap(),
            render("{{json .}}", &r).unwrap()
        );
    }

    #[test]
    fn table_prefix_gives_a_header_and_docker_alignment() {
        let r = [
            json!({"ID": "abc", "Names": "web"}),
            json!({"ID": "0123456789abcdef", "Names": "db"}),
        ];
        assert_eq!(
            render(r"table {{.ID}}\t{{.Names}}", &r).unwrap(),
            "CONTAINER ID       NAMES\nabc                web\n0123456789abcdef   db\n"
        );
        // Columns are at least 10 wide; functions leave headers alone, printf does not.
        assert_eq!(
            render(r"table {{lower .Names}}\t{{.ID}}", &r[..1]).unwrap(),
            "NAMES     CONTAINER ID\nweb       abc\n"
        );
        assert!(matches!(
            Format::parse(Some("table"), PS_FIELDS, "").unwrap(),
            Format::Default
        ));
    }

    #[test]
    fn tabwriter_columns_are_blocks_of_lines() {
        assert_eq!(
            tabwrite("a\tb\nlonger text\tc\n"),
            "a             b\nlonger text   c\n"
        );
        assert_eq!(
            tabwrite("a\tb\nonly\nc\td\n"),
            "a         b\nonly\nc         d\n"
        );
    }

    #[test]
    fn unknown_fields_and_functions_fail_like_docker() {
        let e = render("{{.Nope}}", &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
        let e = render(r"table {{.ID}}\t{{ .Nope }}", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("template: :1:11: executing \"\" at <.Nope>"),
            "{e}"
        );
        let e = render("{{nope .ID}}", &[]).unwrap_err().to_string();
        assert_eq!(e, "template: :1: function \"nope\" not defined");
        let e = render("{{.ID", &[]).unwrap_err().to_string();
        assert_eq!(e, "template: :1: unclosed action");
    }

    #[test]
    fn docker_time_and_ellipsis() {
        assert_eq!(go_time(86_400 + 61), "1970-01-02 00:01:01 +0000 UTC");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 3), "abc");
    }
}
