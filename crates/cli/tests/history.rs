//! `berth history`: newest first, one row per history entry, layer sizes only on the entries
//! that made a layer, `<missing>` below the top, `-q`, `--no-trunc` and JSON.

mod common;

use common::Env;
use common::containers::busybox;

#[test]
fn history_of_a_built_image() {
    if !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("data.txt"), "x".repeat(5000)).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1\nENV GREETING=hello\nCOPY data.txt /data.txt\nLABEL note=\"a label long enough to be truncated in the table\"\n",
    )
    .unwrap();
    let id = env.ok(&["build", "-q", "-t", "hist:1", ctx.to_str().unwrap()]);
    let table = env.ok(&["history", "hist:1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{table}");
    assert_eq!(lines.len(), 5, "header + LABEL, COPY, ENV, import: {table}");
    assert!(
        lines[1].starts_with(&id.trim()["sha256:".len()..][..12]),
        "{table}"
    );
    assert!(
        lines[1].contains("LABEL note=") && lines[1].contains('…'),
        "{table}"
    );
    assert!(lines[1].contains(" 0B "), "LABEL made no layer: {table}");
    assert!(
        lines[2].starts_with("<missing>") && lines[2].contains("COPY data.txt /data.txt"),
        "{table}"
    );
    assert!(!lines[2].contains(" 0B "), "COPY made a layer: {table}");
    assert!(
        lines[3].contains("ENV GREETING=hello") && lines[3].contains(" 0B "),
        "{table}"
    );
    assert!(lines[4].contains("berth import"), "{table}");
    let full = env.ok(&["history", "--no-trunc", "hist:1"]);
    assert!(
        full.contains("a label long enough to be truncated in the table"),
        "{full}"
    );
    assert!(full.contains(id.trim()), "{full}");
    let quiet = env.ok(&["history", "-q", "hist:1"]);
    assert_eq!(quiet.lines().count(), 4);
    assert_eq!(quiet.lines().filter(|l| *l == "<missing>").count(), 3);
    let json = env.ok(&["history", "--format", "json", "hist:1"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(
        first["CreatedBy"].as_str().unwrap().starts_with("LABEL"),
        "{json}"
    );
    let missing = env.run(&["history", "nope:1"]);
    assert!(!missing.status.success());
}
