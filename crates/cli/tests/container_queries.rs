//! Questions asked of containers: `ps --filter volume=` (as root: it runs containers).

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn ps_filters_by_volume_name_or_destination() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&["volume", "create", "vdata"]);
    let _ = env.run(&["run", "--name", "pv1", "-v", "vdata:/data", "bb:1", "true"]);
    let _ = env.run(&["run", "--name", "pv2", "bb:1", "true"]);
    let names = |f: &str| env.ok(&["ps", "-a", "--filter", f, "--format", "{{.Names}}"]);
    assert_eq!(names("volume=vdata"), "pv1\n");
    assert_eq!(names("volume=/data"), "pv1\n");
    assert_eq!(names("volume=nothing"), "");
    env.ok(&["rm", "pv1", "pv2"]);
}
