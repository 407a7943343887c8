//! Which containers the kernel's OOM killer hit during their last run in this process: berth's
//! engine reads the count from the container's memory cgroup just before removing it, and the
//! supervisor asks ([`take_oom_kill`]) once the run has returned, to record Docker's
//! `State.OOMKilled` and emit the `oom` event. (OCI runtimes remove their cgroups themselves:
//! their containers are not reported.)

use std::collections::HashSet;
use std::sync::Mutex;

static KILLED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Note that container `id` lost a process to the OOM killer.
pub(super) fn record(id: &str) {
    let mut set = KILLED.lock().unwrap_or_else(|e| e.into_inner());
    set.get_or_insert_with(HashSet::new).insert(id.to_string());
}

/// Whether container `id`'s last run in this process had a process killed for lack of memory;
/// the answer is given once.
pub fn take_oom_kill(id: &str) -> bool {
    let mut set = KILLED.lock().unwrap_or_else(|e| e.into_inner());
    set.as_mut().is_some_and(|s| s.remove(id))
}

#[cfg(test)]
mod tests {
    #[test]
    fn answered_once() {
        super::record("x1");
        assert!(super::take_oom_kill("x1"));
        assert!(!super::take_oom_kill("x1"));
        assert!(!super::take_oom_kill("x2"));
    }
}
