//! Failed-login backoff, per user name and per client address: after `threshold` failures in a
//! row a key is refused for `base`, doubling with each further failure up to `max`. Attempts
//! while refused are answered 429 without checking the password and do not lengthen the wait,
//! so the right password works again once the backoff is over; a success clears the keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// The backoff state.
pub struct Limiter {
    threshold: u32,
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Limiter {
    /// A limiter refusing after `threshold` failures, for `base` doubling up to `max`.
    pub fn new(threshold: u32, base: Duration, max: Duration) -> Limiter {
        Limiter {
            threshold: threshold.max(1),
            base,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` when any key is in backoff now.
    pub fn check(&self, keys: &[String]) -> Result<(), u64> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(w) => Err(w.as_secs_f64().ceil().max(1.0) as u64),
            None => Ok(()),
        }
    }

    /// Count a failure against every key.
    pub fn failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= SWEEP_AT {
            let max = self.max;
            entries.retain(|_, e| now.duration_since(e.last) < max);
        }
        for k in keys {
            let e = entries.entry(k.clone()).or_insert(Entry {
                failures: 0,
                blocked_until: None,
                last: now,
            });
            // A key idle for longer than the longest backoff starts over.
            if now.duration_since(e.last) > self.max {
                e.failures = 0;
            }
            e.failures += 1;
            e.last = now;
            if e.failures >= self.threshold {
                let exp = (e.failures - self.threshold).min(20);
                let wait = self.base.saturating_mul(1 << exp).min(self.max);
                e.blocked_until = Some(now + wait);
            }
        }
    }

    /// Forget the failures of every key.
    pub fn success(&self, keys: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            entries.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_lets_the_right_password_in() {
        let l = Limiter::new(3, Duration::from_millis(200), Duration::from_secs(5));
        let keys = vec!["u:ann".to_string(), "a:10.0.0.1".to_string()];
        for _ in 0..2 {
            assert!(l.check(&keys).is_ok());
            l.failure(&keys);
        }
        assert!(l.check(&keys).is_ok());
        l.failure(&keys);
        assert_eq!(l.check(&keys), Err(1));
        // Another user from the same address is refused too; the same user elsewhere as well.
        assert!(l.check(&["a:10.0.0.1".to_string()]).is_err());
        assert!(
            l.check(&["u:ann".to_string(), "a:10.0.0.2".to_string()])
                .is_err()
        );
        assert!(
            l.check(&["u:bob".to_string(), "a:10.0.0.2".to_string()])
                .is_ok()
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.check(&keys).is_ok());
        // One more failure doubles the wait.
        l.failure(&keys);
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.check(&keys).is_err());
        std::thread::sleep(Duration::from_millis(200));
        assert!(l.check(&keys).is_ok());
        l.success(&keys);
        l.failure(&keys);
        assert!(l.check(&keys).is_ok(), "a success starts the count over");
    }

    #[test]
    fn backoff_is_capped() {
        let l = Limiter::new(1, Duration::from_secs(1), Duration::from_secs(3));
        let keys = vec!["u:x".to_string()];
        for _ in 0..40 {
            l.failure(&keys);
        }
        let wait = l.check(&keys).unwrap_err();
        assert!((1..=3).contains(&wait), "{wait}");
    }
}
