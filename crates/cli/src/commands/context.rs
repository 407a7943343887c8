//! What the commands share: the engine (as `Context`) and docker-style formatting of sizes,
//! times and tables.

use anyhow::{Result, bail};

pub use berth_engine::Engine as Context;
pub use berth_engine::{host_platform, parse_platform};

/// Docker's short image id: the first 12 hex digits.
pub fn short_id(d: &berth_oci::Digest) -> String {
    d.hex()[..12].to_string()
}

/// Sizes as Docker prints them: decimal units, 3 significant digits ("13.3kB", "1.2GB").
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        v.log10().floor() as usize + 1
    };
    let prec = 3usize.saturating_sub(int_digits);
    let mut s = format!("{v:.prec$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

/// "N units ago", as Docker prints durations.
pub fn human_ago(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    let text = if s < 1 {
        "Less than a second".to_string()
    } else if s == 1 {
        "1 second".to_string()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".to_string()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".to_string()
    } else if h < 48 {
        format!("{h} hours")
    } else if d < 14 {
        format!("{d} days")
    } else if d < 60 {
        format!("{} weeks", d / 7)
    } else if d < 365 * 2 {
        format!("{} months", d / 30)
    } else {
        format!("{} years", d / 365)
    };
    format!("{text} ago")
}

/// Seconds since the Unix epoch of an RFC 3339 time such as `2025-01-01T00:00:00Z` or
/// `2024-05-06T07:08:09.123456789+02:00`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b't' && b[10] != b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// `--since`/`--until` as Unix seconds: RFC 3339, Unix seconds (a fraction is dropped), or a
/// Go-style duration before now (`1h30m`, `10m`, `42s`).
pub fn parse_time(s: &str, now: i64) -> Result<i64> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(t) = s.split('.').next().unwrap_or(s).parse::<i64>()
        && !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Ok(t);
    }
    let (mut total, mut number) = (0i64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => bail!("invalid time {s:?}: use RFC 3339, Unix seconds or a duration like 10m"),
        };
        let n: i64 = number
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid time {s:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || total == 0 && s != "0s" {
        bail!("invalid time {s:?}: use RFC 3339, Unix seconds or a duration like 10m");
    }
    Ok(now - total)
}

pub use berth_engine::util::format_rfc3339;

/// Print rows as left-aligned columns separated by three spaces (Docker's table style).
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |v| v.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, v) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(v);
            } else {
                line.push_str(&format!("{v:<w$}   ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(13256), "13.3kB");
        assert_eq!(human_size(1_200_000), "1.2MB");
        assert_eq!(human_size(4_400_000_000), "4.4GB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_ago(0), "Less than a second ago");
        assert_eq!(human_ago(5), "5 seconds ago");
        assert_eq!(human_ago(90), "About a minute ago");
        assert_eq!(human_ago(3 * 3600), "3 hours ago");
        assert_eq!(human_ago(3 * 86400), "3 days ago");
        assert_eq!(human_ago(400 * 86400), "13 months ago");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00Z"), Some(1_735_689_600));
        assert_eq!(
            parse_rfc3339("2025-01-01T02:00:00.5+02:00"),
            Some(1_735_689_600)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
