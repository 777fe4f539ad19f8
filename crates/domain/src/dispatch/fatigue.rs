//! Alert fatigue: quiet hours, per-recipient rate limits, digests and folding.
//!
//! A team that gets too many alerts mutes the channel, so every alert to a person passes
//! these checks when it is planned (P1 always goes through at once):
//! - quiet hours in the person's own time zone hold the alert until they end;
//! - identical alerts (same person, kind, customer, priority, score and comment) within
//!   [`FOLD_WINDOW_SECS`] are folded into the first one;
//! - past the person's hourly limit, alerts go to their digest instead;
//! - alerts the routing marks as digest (passives, say) go to the digest directly, sent once a
//!   day at [`DEFAULT_DIGEST_HOUR`](super::directory::DEFAULT_DIGEST_HOUR) their time.
//!
//! The counters behind the limit and the folding are atomic increments in the store, keyed by
//! fixed windows (see `store`), so concurrent planners never both think they were first; the
//! window before the current one is read too, so the checks slide instead of resetting on
//! the hour.

use chrono::{Duration, NaiveTime, TimeZone, Timelike};

use crate::Timestamp;

/// Identical alerts to one person within this many seconds are folded into the first.
pub const FOLD_WINDOW_SECS: i64 = 15 * 60;
/// The window of the per-recipient rate limit.
pub const RATE_WINDOW_SECS: i64 = 3_600;

/// If `now` falls in the quiet hours `start..end` (local time in `tz`; may wrap past
/// midnight), when they end.
pub fn quiet_until(
    now: Timestamp,
    tz: chrono_tz::Tz,
    start: NaiveTime,
    end: NaiveTime,
) -> Option<Timestamp> {
    if start == end {
        return None;
    }
    let local = now.with_timezone(&tz);
    let t = local.time();
    let inside = if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    };
    if !inside {
        return None;
    }
    let mut day = local.date_naive();
    if t >= end {
        day = day.succ_opt()?;
    }
    // A local time skipped by a DST change: take the first valid one after it.
    let naive = day.and_time(end);
    let resolved = tz.from_local_datetime(&naive).earliest().or_else(|| {
        tz.from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
    })?;
    Some(resolved.with_timezone(&chrono::Utc))
}

/// The index of the window of `secs` seconds that `now` is in.
pub fn window(now: Timestamp, secs: i64) -> i64 {
    now.timestamp().div_euclid(secs)
}

/// The alerts of the last `secs` seconds, estimated from the counts of the current fixed
/// window and the one before it (the part of the previous window still inside the sliding
/// one is weighted by how much of it remains). Unlike fixed windows alone, a burst that
/// straddles a window boundary is still counted together.
pub fn sliding_count(current: u64, previous: u64, now: Timestamp, secs: i64) -> f64 {
    let elapsed = now.timestamp().rem_euclid(secs) as f64 / secs as f64;
    current as f64 + previous as f64 * (1.0 - elapsed)
}

/// Whether `count` alerts (this one included) are over `limit`.
pub fn over_limit(count: f64, limit: u32) -> bool {
    count > f64::from(limit)
}

/// The local date whose digest is due at `now` in `tz`, if the digest hour has passed.
pub fn digest_day(now: Timestamp, tz: chrono_tz::Tz, hour: u32) -> Option<chrono::NaiveDate> {
    let local = now.with_timezone(&tz);
    (local.hour() >= hour).then(|| local.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(h: u32, m: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_the_recipients_zone() {
        let ny = chrono_tz::America::New_York; // UTC-5 in November
        // 03:00 UTC is 22:00 in New York: inside 22:00-07:00, ends 12:00 UTC.
        assert_eq!(
            quiet_until(at(3, 0), ny, hm(22, 0), hm(7, 0)),
            Some(at(12, 0))
        );
        // 02:59 UTC is 21:59 there: outside.
        assert_eq!(quiet_until(at(2, 59), ny, hm(22, 0), hm(7, 0)), None);
        // 11:59 UTC is 06:59: inside; 12:00 UTC is 07:00: outside.
        assert_eq!(
            quiet_until(at(11, 59), ny, hm(22, 0), hm(7, 0)),
            Some(at(12, 0))
        );
        assert_eq!(quiet_until(at(12, 0), ny, hm(22, 0), hm(7, 0)), None);
        // Same-day quiet hours (a lunch break), in UTC.
        let utc = chrono_tz::UTC;
        assert_eq!(
            quiet_until(at(12, 30), utc, hm(12, 0), hm(13, 0)),
            Some(at(13, 0))
        );
        assert_eq!(quiet_until(at(13, 0), utc, hm(12, 0), hm(13, 0)), None);
        assert_eq!(quiet_until(at(13, 0), utc, hm(9, 0), hm(9, 0)), None);
    }

    #[test]
    fn limits_and_windows() {
        assert!(!over_limit(10.0, 10));
        assert!(over_limit(11.0, 10));
        // At the start of a window the previous one counts in full, at its end not at all.
        assert_eq!(sliding_count(1, 2, at(9, 0), 3_600), 3.0);
        assert_eq!(sliding_count(1, 2, at(9, 30), 3_600), 2.0);
        assert_eq!(window(at(9, 0), 900), window(at(9, 14), 900));
        assert_ne!(window(at(9, 0), 900), window(at(9, 15), 900));
    }

    #[test]
    fn digest_day_starts_at_the_local_hour() {
        let tokyo = chrono_tz::Asia::Tokyo; // UTC+9
        assert_eq!(digest_day(at(23, 59), tokyo, 9), None); // 08:59 on the 24th
        assert_eq!(
            digest_day(at(0, 0), tokyo, 9),
            Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap())
        );
    }
}
