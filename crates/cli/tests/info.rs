//! `berth version` and `berth info`: the version, and counts that follow the store.

mod common;

use common::Env;
use common::containers::busybox;

#[test]
fn version_and_info() {
    let env = Env::new("127.0.0.1:9");
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["Os"], "linux");
    let info = env.ok(&["info"]);
    assert!(
        info.contains(" Containers: 0\n") && info.contains(" Images: 0\n"),
        "{info}"
    );
    assert!(
        info.contains(&format!(" Berth Root Dir: {}\n", env.root().display())),
        "{info}"
    );
    assert!(info.contains(" Default Registry: 127.0.0.1:9\n"), "{info}");
    if std::path::Path::new("/bin/busybox").exists() {
        busybox(&env);
        assert!(env.ok(&["info"]).contains(" Images: 1\n"));
    }
}
