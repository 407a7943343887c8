//! Request rate limits (`[limits]`): a token bucket per client address and one per user. A
//! bucket holds up to twice the per-second rate (the burst) and refills continuously; a request
//! finding it empty is refused with `Error::RateLimited` and the seconds until a token is back.
//! No HTTP here: the HTTP edge asks before it serves.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::LimitsConfig;
use crate::error::{Error, Result};

/// Buckets kept before full (idle) ones are swept.
const SWEEP_AT: usize = 50_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets for one kind of key.
struct Buckets {
    rate: f64,
    burst: f64,
    map: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    fn new(per_second: u32) -> Buckets {
        let rate = f64::from(per_second.max(1));
        Buckets {
            rate,
            burst: rate * 2.0,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `key`; `Err(seconds)` to wait when there is none.
    fn take(&self, key: &str, now: Instant) -> std::result::Result<(), u64> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            // A bucket idle long enough to be full again is the same as no bucket.
            let full_after = self.burst / self.rate;
            map.retain(|_, b| now.duration_since(b.last).as_secs_f64() < full_after);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// The configured limits.
pub struct RateLimits {
    per_address: Option<Buckets>,
    per_user: Option<Buckets>,
}

impl RateLimits {
    /// Limits as configured (none when the section is empty).
    pub fn new(config: &LimitsConfig) -> RateLimits {
        RateLimits {
            per_address: config.per_address.map(Buckets::new),
            per_user: config.per_user.map(Buckets::new),
        }
    }

    /// Count a request from `addr`.
    pub fn check_address(&self, addr: IpAddr) -> Result<()> {
        match &self.per_address {
            Some(b) => b
                .take(&addr.to_string(), Instant::now())
                .map_err(|retry_after| Error::RateLimited { retry_after }),
            None => Ok(()),
        }
    }

    /// Count a request by `user`.
    pub fn check_user(&self, user: &str) -> Result<()> {
        match &self.per_user {
            Some(b) => b
                .take(user, Instant::now())
                .map_err(|retry_after| Error::RateLimited { retry_after }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let b = Buckets::new(2);
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(b.take("a", t0), Ok(()));
        }
        assert_eq!(b.take("a", t0), Err(1));
        assert_eq!(b.take("b", t0), Ok(()), "keys are independent");
        assert_eq!(b.take("a", t0 + Duration::from_millis(500)), Ok(()));
        assert!(b.take("a", t0 + Duration::from_millis(500)).is_err());
        // Never more than the burst, however long the wait.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..4 {
            assert_eq!(b.take("a", later), Ok(()));
        }
        assert!(b.take("a", later).is_err());
    }

    #[test]
    fn unset_limits_allow_everything() {
        let l = RateLimits::new(&LimitsConfig::default());
        for _ in 0..1000 {
            l.check_address("127.0.0.1".parse().unwrap()).unwrap();
            l.check_user("alice").unwrap();
        }
        let l = RateLimits::new(&LimitsConfig {
            per_address: None,
            per_user: Some(1),
        });
        l.check_user("bob").unwrap();
        l.check_user("bob").unwrap();
        let e = l.check_user("bob").unwrap_err();
        assert_eq!((e.code(), e.status()), ("TOOMANYREQUESTS", 429));
    }
}
