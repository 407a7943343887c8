//! Go's `text/template` as Docker's `--format` uses it: literal text and `{{…}}` actions of
//! fields (`.Field`, `.`), string and number literals, the functions `json`, `lower`, `upper`,
//! `title`, `truncate`, `pad` and `printf`, pipes, and `{{-`/`-}}` trimming. Fields are
//! checked when parsed, with Docker's words. Called by `format`; calls nothing else in berth.
//!
//! `inspect -f` uses [`Template::parse_value`]: fields are paths into any JSON value
//! (`.State.Status`, `.Config.Env`), `index` is defined, values print as Go's `%v` prints
//! them (`[a b]`, `map[k:v]`) and a missing key prints `<no value>`, as Docker's raw fallback.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// A listing's fields: (template name, table header).
pub type Fields = &'static [(&'static str, &'static str)];

/// One listing row: field name → value.
pub type Row = Map<String, Value>;

/// A parsed template.
pub struct Template {
    nodes: Vec<Node>,
    fields: Fields,
    /// Parsed by [`Template::parse_value`]: dotted paths into any value, Go's `%v` output.
    value: bool,
}

enum Node {
    Text(String),
    /// A pipeline: commands whose results feed the next as its last argument.
    Action(Vec<Cmd>),
}

/// A function call, or (with no name) a lone operand.
struct Cmd {
    func: Option<String>,
    args: Vec<Operand>,
}

#[derive(Clone)]
enum Operand {
    Dot,
    Field(String),
    Str(String),
    Int(i64),
}

const FUNCS: &[&str] = &[
    "json", "lower", "upper", "title", "truncate", "pad", "printf",
];

impl Template {
    /// Parse template `text` over `fields`. Unknown fields and functions fail here, with the
    /// words Docker uses when it meets them.
    pub fn parse(text: &str, fields: Fields, type_name: &str) -> Result<Template> {
        Self::parse_with(text, fields, type_name, false)
    }

    /// Parse a template over any JSON value (`inspect -f`): fields are not checked here, and
    /// `index` is defined besides the other functions.
    pub fn parse_value(text: &str) -> Result<Template> {
        Self::parse_with(text, &[], "", true)
    }

    fn parse_with(text: &str, fields: Fields, type_name: &str, value: bool) -> Result<Template> {
        let mut nodes = vec![];
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                bail!(
                    "template: :{}: unclosed action",
                    line_of(text, offset + open)
                );
            };
            let mut inner = &rest[inner_start..inner_start + close];
            let mut inner_offset = offset + inner_start;
            // `{{- ` and ` -}}` trim the space next to them, as in Go.
            if let Some(s) = inner.strip_prefix("- ") {
                literal = literal.trim_end();
                inner = s;
                inner_offset += 2;
            }
            let trim_after = inner.ends_with(" -");
            if trim_after {
                inner = &inner[..inner.len() - 2];
            }
            if !literal.is_empty() {
                nodes.push(Node::Text(literal.to_string()));
            }
            let cmds = parse_pipeline(text, inner, inner_offset)?;
            for cmd in &cmds {
                if let Some(f) = &cmd.func
                    && !FUNCS.contains(&f.as_str())
                    && !(value && f == "index")
                {
                    bail!(
                        "template: :{}: function {f:?} not defined",
                        line_of(text, inner_offset)
                    );
                }
            }
            if !value {
                check_fields(text, inner, inner_offset, &cmds, fields, type_name)?;
            }
            nodes.push(Node::Action(cmds));
            rest = &rest[inner_start + close + 2..];
            offset += inner_start + close + 2;
            if trim_after {
                let trimmed = rest.trim_start();
                offset += rest.len() - trimmed.len();
                rest = trimmed;
            }
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_string()));
        }
        Ok(Template {
            nodes,
            fields,
            value,
        })
    }

    /// Whether an action reads `field` (or the whole row).
    pub fn uses(&self, field: &str) -> bool {
        self.nodes.iter().any(|n| match n {
            Node::Text(_) => false,
            Node::Action(cmds) => cmds.iter().flat_map(|c| &c.args).any(|a| match a {
                Operand::Dot => true,
                Operand::Field(f) => f == field,
                _ => false,
            }),
        })
    }

    /// The text for one row.
    pub fn execute(&self, row: &Row) -> Result<String> {
        self.run(
            &|a| match a {
                Operand::Dot => Value::Object(row.clone()),
                Operand::Field(f) => row.get(f).cloned().unwrap_or(Value::Null),
                Operand::Str(s) => Value::String(s.clone()),
                Operand::Int(n) => Value::from(*n),
            },
            false,
        )
    }

    /// The text for one value (a template from [`Template::parse_value`]): `.A.B` walks
    /// objects; a missing key is null (`<no value>`); a field of null or of a non-object
    /// fails as Go's template fails.
    pub fn execute_value(&self, v: &Value) -> Result<String> {
        let failed = std::cell::RefCell::new(None);
        let out = self.run(
            &|a| match a {
                Operand::Dot => v.clone(),
                Operand::Field(path) => {
                    let mut cur = v;
                    for key in path.split('.') {
                        let next = match cur {
                            Value::Object(m) => m.get(key),
                            Value::Null => {
                                failed.borrow_mut().get_or_insert_with(|| {
                                    format!(
                                        "template: :1: executing \"\" at <.{path}>: nil pointer evaluating interface {{}}.{key}"
                                    )
                                });
                                return Value::Null;
                            }
                            other => {
                                failed.borrow_mut().get_or_insert_with(|| {
                                    format!(
                                        "template: :1: executing \"\" at <.{path}>: can't evaluate field {key} in type {}",
                                        go_type(other)
                                    )
                                });
                                return Value::Null;
                            }
                        };
                        cur = next.unwrap_or(&Value::Null);
                    }
                    cur.clone()
                }
                Operand::Str(s) => Value::String(s.clone()),
                Operand::Int(n) => Value::from(*n),
            },
            false,
        )?;
        if let Some(e) = failed.into_inner() {
            bail!("{e}");
        }
        Ok(out)
    }

    /// The header row: each field's header, with Docker's header functions (all but
    /// `printf` leave their argument as it is).
    pub fn header(&self) -> String {
        let fields = self.fields;
        self.run(
            &|a| match a {
                Operand::Dot => Value::String(String::new()),
                Operand::Field(f) => Value::String(
                    fields
                        .iter()
                        .find(|(n, _)| n == f)
                        .map_or_else(|| f.to_uppercase(), |(_, h)| h.to_string()),
                ),
                Operand::Str(s) => Value::String(s.clone()),
                Operand::Int(n) => Value::from(*n),
            },
            true,
        )
        .unwrap_or_default()
    }

    fn run(&self, eval: &dyn Fn(&Operand) -> Value, header: bool) -> Result<String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(cmds) => {
                    let mut piped: Option<Value> = None;
                    for cmd in cmds {
                        let mut args: Vec<Value> = cmd.args.iter().map(eval).collect();
                        args.extend(piped.take());
                        piped = Some(match &cmd.func {
                            None => args.into_iter().next().unwrap_or(Value::Null),
                            Some(f) if self.value && f == "index" => index(&args)?,
                            Some(f) => call(f, &args, header, self.value)?,
                        });
                    }
                    let v = piped.as_ref().unwrap_or(&Value::Null);
                    out.push_str(&if self.value {
                        go_text(v, true)
                    } else {
                        text(v)
                    });
                }
            }
        }
        Ok(out)
    }
}

fn check_fields(
    text: &str,
    inner: &str,
    inner_offset: usize,
    cmds: &[Cmd],
    fields: Fields,
    type_name: &str,
) -> Result<()> {
    for f in cmds.iter().flat_map(|c| &c.args).filter_map(|a| match a {
        Operand::Field(f) => Some(f),
        _ => None,
    }) {
        if fields.iter().any(|(n, _)| n == f) {
            continue;
        }
        let at = inner_offset + inner.find(&format!(".{f}")).unwrap_or(0);
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        bail!(
            "template: :{}:{}: executing \"\" at <.{f}>: can't evaluate field {f} in type {type_name}",
            line_of(text, at),
            at - line_start
        );
    }
    Ok(())
}

fn line_of(text: &str, at: usize) -> usize {
    1 + text[..at.min(text.len())].matches('\n').count()
}

/// Split an action into its pipeline's commands.
fn parse_pipeline(text: &str, inner: &str, offset: usize) -> Result<Vec<Cmd>> {
    let line = line_of(text, offset);
    let mut cmds = vec![];
    let mut words: Vec<Operand> = vec![];
    let mut func = None;
    let mut chars = inner.char_indices().peekable();
    let mut finish = |func: &mut Option<String>, words: &mut Vec<Operand>| -> Result<()> {
        if func.is_none() && words.is_empty() {
            bail!("template: :{line}: missing value for command");
        }
        if func.is_none() && words.len() > 1 {
            bail!("template: :{line}: can't give argument to non-function");
        }
        cmds.push(Cmd {
            func: func.take(),
            args: std::mem::take(words),
        });
        Ok(())
    };
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            finish(&mut func, &mut words)?;
        } else if c == '"' || c == '`' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, d)) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' {
                    match chars.next().map(|(_, e)| e) {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(e) => s.push(e),
                        None => {}
                    }
                } else {
                    s.push(d);
                }
            }
            if !closed {
                bail!("template: :{line}: unterminated quoted string");
            }
            words.push(Operand::Str(s));
        } else {
            let end = inner[i..]
                .find(|ch: char| ch.is_whitespace() || ch == '|')
                .map_or(inner.len(), |n| i + n);
            let word = &inner[i..end];
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
            if word == "." {
                words.push(Operand::Dot);
            } else if let Some(f) = word.strip_prefix('.') {
                words.push(Operand::Field(f.to_string()));
            } else if let Ok(n) = word.parse::<i64>() {
                words.push(Operand::Int(n));
            } else if func.is_none() && words.is_empty() {
                func = Some(word.to_string());
            } else {
                bail!("template: :{line}: unexpected {word:?} in command");
            }
        }
    }
    finish(&mut func, &mut words)?;
    Ok(cmds)
}

/// A value as Go's template prints it (strings bare, the rest as JSON).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        v => v.to_string(),
    }
}

/// Go's `%v` of a value decoded from JSON: strings bare, lists `[a b]`, objects
/// `map[k:v]` with sorted keys; null is `<no value>` at the top and `<nil>` inside.
fn go_text(v: &Value, top: bool) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null if top => "<no value>".into(),
        Value::Null => "<nil>".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|e| go_text(e, false))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(m) => {
            let mut kv: Vec<_> = m.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "map[{}]",
                kv.iter()
                    .map(|(k, v)| format!("{k}:{}", go_text(v, false)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        v => v.to_string(),
    }
}

/// The Go type Docker's raw fallback has for a value, for errors.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::String(_) => "string",
        Value::Number(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Null => "interface {}",
    }
}

/// Go's `index`: keys into objects (a missing key gives the zero value, printed empty) and
/// integers into lists.
fn index(args: &[Value]) -> Result<Value> {
    let Some((first, keys)) = args.split_first() else {
        bail!("template: :1: wrong number of args for index: want at least 1 got 0");
    };
    let mut cur = first.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Object(m), Value::String(s)) => {
                m.get(s).cloned().unwrap_or(Value::String(String::new()))
            }
            (Value::Null, _) => Value::String(String::new()),
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_i64().unwrap_or(-1);
                match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    Some(v) => v.clone(),
                    None => bail!(
                        "template: :1: executing \"\" at <index>: error calling index: index out of range: {i}"
                    ),
                }
            }
            (v, _) => bail!(
                "template: :1: executing \"\" at <index>: error calling index: cannot index slice/array with type {}",
                go_type(v)
            ),
        };
    }
    Ok(cur)
}

/// Go's `json.Marshal`: compact, with `<`, `>` and `&` escaped.
fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn call(f: &str, args: &[Value], header: bool, value: bool) -> Result<Value> {
    let show = |v: &Value| if value { go_text(v, true) } else { text(v) };
    let arg = |i: usize| args.get(i).map(show).unwrap_or_default();
    let int = |i: usize| match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let want = match f {
        "json" | "lower" | "upper" | "title" => 1,
        "truncate" => 2,
        "pad" => 3,
        _ => 0,
    };
    if want > 0 && args.len() != want {
        bail!(
            "template: :1: wrong number of args for {f}: want {want} got {}",
            args.len()
        );
    }
    if header && f != "printf" {
        return Ok(args.first().cloned().unwrap_or(Value::Null));
    }
    Ok(Value::String(match f {
        "json" if value => go_json(&args[0]),
        "json" => args[0].to_string(),
        "lower" => arg(0).to_lowercase(),
        "upper" => arg(0).to_uppercase(),
        "title" => title(&arg(0)),
        // Docker's truncate: the first N characters.
        "truncate" => arg(0).chars().take(int(1).max(0) as usize).collect(),
        "pad" => format!(
            "{}{}{}",
            " ".repeat(int(1).max(0) as usize),
            arg(0),
            " ".repeat(int(2).max(0) as usize)
        ),
        _ => printf(&arg(0), &args[1.min(args.len())..]),
    }))
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// Go's `printf` for the verbs templates use: `%s`, `%v`, `%d`, `%q` with `-` and a width.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        while let Some(&f) = chars.peek().filter(|f| "-+ 0#".contains(**f)) {
            left |= f == '-';
            chars.next();
        }
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
            width = width * 10 + d as usize;
            chars.next();
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let s = match (verb, args.next()) {
            (_, None) => format!("%!{verb}(MISSING)"),
            ('q', Some(v)) => Value::String(text(v)).to_string(),
            (_, Some(v)) => text(v),
        };
        if left {
            let _ = write!(out, "{s:<width$}");
        } else {
            let _ = write!(out, "{s:>width$}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printf_verbs() {
        let a = [json!("ab"), json!(3)];
        assert_eq!(printf("%s=%d%%", &a), "ab=3%");
        assert_eq!(
            printf("[%4s][%-4v]%q", &[json!("x"), json!("y"), json!("z")]),
            "[   x][y   ]\"z\""
        );
        assert_eq!(printf("%s %s", &a[..1]), "ab %!s(MISSING)");
    }

    #[test]
    fn value_templates_walk_paths_and_print_as_go() {
        let v = json!({"State": {"Status": "running", "Pid": 7}, "Config": {
            "Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "<b>"}}});
        let run = |t: &str| Template::parse_value(t).unwrap().execute_value(&v).unwrap();
        assert_eq!(run("{{.State.Status}} {{.State.Pid}}"), "running 7");
        assert_eq!(run("{{.Config.Env}}"), "[A=1 B=2]");
        assert_eq!(run("{{.Config.Labels}}"), "map[a:<b> k:v]");
        assert_eq!(
            run("{{json .Config.Labels}}"),
            r#"{"a":"\u003cb\u003e","k":"v"}"#
        );
        assert_eq!(
            run(r#"{{index .Config.Labels "k"}}|{{index .Config.Env 1}}"#),
            "v|B=2"
        );
        assert_eq!(
            run("{{.Nope}}|{{.State.Nope}}|{{.State.Status | upper}}"),
            "<no value>|<no value>|RUNNING"
        );
        let err = |t: &str| {
            Template::parse_value(t)
                .unwrap()
                .execute_value(&v)
                .unwrap_err()
                .to_string()
        };
        assert!(err("{{.Nope.Deeper}}").contains("nil pointer evaluating interface {}.Deeper"));
        assert!(err("{{.Config.Env.X}}").contains("can't evaluate field X in type []interface {}"));
        assert!(Template::parse_value("{{nope .}}").is_err());
        assert!(
            Template::parse("{{index . 1}}", &[], "T").is_err(),
            "index only for values"
        );
    }
}
