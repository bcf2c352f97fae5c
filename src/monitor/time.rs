//! Times and durations written as nats-server's JSON writes them (Go's
//! formats), so tools that parse its responses parse ours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go's `time.RFC3339Nano` in UTC: `2026-12-04T02:29:34.362629757Z`, the
/// fraction without trailing zeros (none at all on a whole second).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    push_fraction(&mut out, since.subsec_nanos(), 9);
    out.push('Z');
    out
}

/// Days since 1970-01-01 as a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `.ddd` for `value` of `digits` decimal places, trailing zeros dropped.
fn push_fraction(out: &mut String, value: u32, digits: usize) {
    if value == 0 {
        return;
    }
    let s = format!("{value:0digits$}");
    out.push('.');
    out.push_str(s.trim_end_matches('0'));
}

/// Go's `time.Duration.String()`: `0s`, `415µs`, `1.5ms`, `2m0s`,
/// `1h0m3.25s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if nanos < 1_000 {
        out.push_str(&format!("{nanos}ns"));
    } else if nanos < 1_000_000 {
        out.push_str(&(nanos / 1_000).to_string());
        push_fraction(&mut out, (nanos % 1_000) as u32, 3);
        out.push_str("µs");
    } else if nanos < 1_000_000_000 {
        out.push_str(&(nanos / 1_000_000).to_string());
        push_fraction(&mut out, (nanos % 1_000_000) as u32, 6);
        out.push_str("ms");
    } else {
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&s.to_string());
        push_fraction(&mut out, d.subsec_nanos(), 9);
        out.push('s');
    }
    out
}

/// A float as Go's JSON writes it: a whole number without `.0` (serde
/// writes `2.0`, Go `2`).
pub fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// nats-server's uptime and idle times: whole seconds, with minutes,
/// hours, days and years as they are reached (`1d2h3m4s`).
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hrs, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hrs % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hrs % 24, mins % 60, secs % 60)
    } else if hrs > 0 {
        format!("{hrs}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_go_writes_rfc3339_nano() {
        let at = |s: u64, n: u32| UNIX_EPOCH + Duration::new(s, n);
        assert_eq!(rfc3339_nano(at(0, 0)), "1970-01-01T00:00:00Z");
        // 2026-12-04T02:29:34.362629757Z, as nats-server wrote it.
        assert_eq!(
            rfc3339_nano(at(1_796_351_374, 362_629_757)),
            "2026-12-04T02:29:34.362629757Z"
        );
        assert_eq!(
            rfc3339_nano(at(951_782_400, 500_000_000)),
            "2000-02-29T00:00:00.5Z"
        );
        assert_eq!(
            rfc3339_nano(at(4_107_542_399, 10)),
            "2100-02-28T23:59:59.00000001Z"
        );
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(415_000), "415µs"),
            (Duration::from_nanos(415_120), "415.12µs"),
            (Duration::from_nanos(1_500_000), "1.5ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(2_250), "2.25s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3603), "1h0m3s"),
            (Duration::from_secs(2 * 60 * 60 * 1000), "2000h0m0s"),
        ];
        for (d, s) in cases {
            assert_eq!(go_duration(d), s, "{d:?}");
        }
    }

    #[test]
    fn uptimes_are_written_as_nats_server_writes_them() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (61, "1m1s"),
            (3601, "1h0m1s"),
            (90_061, "1d1h1m1s"),
            (366 * 86_400, "1y1d0h0m0s"),
        ];
        for (s, text) in cases {
            assert_eq!(uptime(Duration::from_secs(s)), text);
        }
    }
}
