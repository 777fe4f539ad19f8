//! Business hours: SLA targets count the owning team's working time, in its time zone, skipping
//! weekends and holidays.
//!
//! A team's calendar is configured through the admin API. A team without one works around the
//! clock ([`Calendar::always_open`]), so its targets count calendar hours. Local times are
//! resolved with the IANA database (`chrono-tz`), so a daylight-saving change shortens or
//! lengthens the day it falls on exactly as the team experiences it.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::problem::FieldError;

/// At most this many holidays per calendar.
pub const MAX_HOLIDAYS: usize = 366;
/// How far ahead a due time may be searched for: a calendar open less than this is refused.
pub const MAX_SEARCH_DAYS: i64 = 3 * 366;

/// A team's working time, as configured (strict JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// IANA time zone: `Europe/London`, `America/New_York`.
    pub time_zone: String,
    /// Working days, lowercase three-letter names: `["mon","tue","wed","thu","fri"]`.
    pub days: Vec<String>,
    /// Opening time, `HH:MM` local.
    pub open: String,
    /// Closing time, `HH:MM` local, after `open`.
    pub close: String,
    /// Dates the team does not work, `YYYY-MM-DD` local.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// A checked calendar, ready to count.
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    tz: Tz,
    days: Vec<Weekday>,
    open: NaiveTime,
    close: NaiveTime,
    holidays: Vec<NaiveDate>,
    always: bool,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

impl Calendar {
    /// Checks the calendar; errors name the JSON pointer under `base`.
    pub fn check(&self, base: &str) -> Result<Hours, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz: Option<Tz> = self.time_zone.parse().ok();
        if tz.is_none() {
            errors.push(FieldError::new(
                format!("{base}/time_zone"),
                format!(
                    "unknown time zone {:?}; use an IANA name such as Europe/London",
                    self.time_zone
                ),
            ));
        }
        let mut days = Vec::new();
        for (i, d) in self.days.iter().enumerate() {
            match weekday(d) {
                Some(w) if !days.contains(&w) => days.push(w),
                Some(_) => errors.push(FieldError::new(
                    format!("{base}/days/{i}"),
                    format!("{d} is listed twice"),
                )),
                None => errors.push(FieldError::new(
                    format!("{base}/days/{i}"),
                    "a day is one of mon, tue, wed, thu, fri, sat, sun",
                )),
            }
        }
        if self.days.is_empty() {
            errors.push(FieldError::new(
                format!("{base}/days"),
                "give at least one working day",
            ));
        }
        let time = |s: &str, field: &str, errors: &mut Vec<FieldError>| {
            NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
                errors.push(FieldError::new(
                    format!("{base}/{field}"),
                    format!("{s:?} is not a time HH:MM"),
                ))
            })
        };
        let open = time(&self.open, "open", &mut errors);
        let close = time(&self.close, "close", &mut errors);
        if let (Ok(o), Ok(c)) = (open, close)
            && c <= o
        {
            errors.push(FieldError::new(
                format!("{base}/close"),
                "closing time must be after opening time",
            ));
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            errors.push(FieldError::new(
                format!("{base}/holidays"),
                format!("at most {MAX_HOLIDAYS} holidays"),
            ));
        }
        match (tz, open, close, errors.is_empty()) {
            (Some(tz), Ok(open), Ok(close), true) => Ok(Hours {
                tz,
                days,
                open,
                close,
                holidays: self.holidays.clone(),
                always: false,
            }),
            _ => Err(errors),
        }
    }
}

impl Hours {
    /// Around the clock, every day: targets count calendar time.
    pub fn always_open() -> Self {
        Hours {
            tz: Tz::UTC,
            days: Vec::new(),
            open: NaiveTime::MIN,
            close: NaiveTime::MIN,
            holidays: Vec::new(),
            always: true,
        }
    }

    pub fn is_always_open(&self) -> bool {
        self.always
    }

    /// "Mon-Fri 09:00-17:00 Europe/London" style summary, for reasons.
    pub fn describe(&self) -> String {
        if self.always {
            return "around the clock".into();
        }
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        format!(
            "{} {}-{} {}",
            days.join(","),
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.tz.name()
        )
    }

    fn local(&self, date: NaiveDate, time: NaiveTime) -> Timestamp {
        let naive = NaiveDateTime::new(date, time);
        // A time skipped by a daylight-saving change falls an hour later; a repeated one takes
        // its first occurrence.
        self.tz
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| chrono::Utc.from_utc_datetime(&naive))
    }

    fn works_on(&self, date: NaiveDate) -> bool {
        self.days.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// The instant `work` of business time after `start`.
    pub fn add(&self, start: Timestamp, work: Duration) -> Timestamp {
        if self.always {
            return start + work;
        }
        let mut remaining = work;
        let mut date = start.with_timezone(&self.tz).date_naive();
        for _ in 0..MAX_SEARCH_DAYS {
            if self.works_on(date) {
                let open = self.local(date, self.open).max(start);
                let close = self.local(date, self.close);
                if open < close {
                    let available = close - open;
                    if remaining <= available {
                        return open + remaining;
                    }
                    remaining -= available;
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        // Unreachable for a checked calendar with a working day; never panic on a due time.
        start + work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn london() -> Hours {
        Calendar {
            time_zone: "Europe/London".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec!["2026-12-25".parse().unwrap(), "2026-12-28".parse().unwrap()],
        }
        .check("/calendar")
        .unwrap()
    }

    #[test]
    fn within_one_day() {
        let h = london();
        // Monday 23 Nov 2026 10:00 London (= UTC in winter) + 4 h.
        assert_eq!(
            h.add(utc("2026-11-23T10:00:00Z"), Duration::hours(4)),
            utc("2026-11-23T14:00:00Z")
        );
        // Before opening: counting starts at 09:00.
        assert_eq!(
            h.add(utc("2026-11-23T06:00:00Z"), Duration::hours(1)),
            utc("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn across_a_weekend() {
        // Friday 27 Nov 16:00 + 4 h: 1 h on Friday, 3 h on Monday.
        assert_eq!(
            london().add(utc("2026-11-27T16:00:00Z"), Duration::hours(4)),
            utc("2026-11-30T12:00:00Z")
        );
        // Saturday: nothing counts until Monday 09:00.
        assert_eq!(
            london().add(utc("2026-11-28T12:00:00Z"), Duration::hours(1)),
            utc("2026-11-30T10:00:00Z")
        );
    }

    #[test]
    fn across_a_holiday_and_a_weekend() {
        // Thursday 24 Dec 15:00 + 4 h: 2 h Thursday, Friday 25th a holiday, the weekend, Monday
        // 28th a holiday, 2 h on Tuesday 29th.
        assert_eq!(
            london().add(utc("2026-12-24T15:00:00Z"), Duration::hours(4)),
            utc("2026-12-29T11:00:00Z")
        );
    }

    #[test]
    fn in_the_teams_time_zone_and_across_daylight_saving() {
        let ny = Calendar {
            time_zone: "America/New_York".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        }
        .check("/c")
        .unwrap();
        // 14:00 UTC is 09:00 in New York in winter (UTC-5).
        assert_eq!(
            ny.add(utc("2026-11-23T13:00:00Z"), Duration::hours(1)),
            utc("2026-11-23T15:00:00Z")
        );
        // Summer (UTC-4): Friday 6 Mar 2026 is winter, Monday 9 Mar is after the change.
        assert_eq!(
            ny.add(utc("2026-03-06T22:30:00Z"), Duration::hours(1)),
            utc("2026-03-09T14:00:00Z")
        );
        // The same instant is after hours in London.
        assert_eq!(
            london().add(utc("2026-11-23T18:00:00Z"), Duration::hours(1)),
            utc("2026-11-24T10:00:00Z")
        );
    }

    #[test]
    fn always_open_counts_calendar_hours() {
        let t = utc("2026-11-28T12:00:00Z");
        assert_eq!(
            Hours::always_open().add(t, Duration::hours(30)),
            t + Duration::hours(30)
        );
    }

    #[test]
    fn invalid_calendars_name_their_json_path() {
        let bad = Calendar {
            time_zone: "Mars/Olympus".into(),
            days: vec!["mon".into(), "funday".into(), "mon".into()],
            open: "18:00".into(),
            close: "9am".into(),
            holidays: vec![],
        };
        let errors = bad.check("/calendar").unwrap_err();
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/calendar/time_zone",
                "/calendar/days/1",
                "/calendar/days/2",
                "/calendar/close"
            ]
        );
        let closed = Calendar {
            time_zone: "UTC".into(),
            days: vec![],
            open: "09:00".into(),
            close: "09:00".into(),
            holidays: vec![],
        };
        let pointers: Vec<_> = closed
            .check("/c")
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(pointers, vec!["/c/days", "/c/close"]);
        // Holidays: at the limit and one past it.
        let mut ok = Calendar {
            time_zone: "UTC".into(),
            days: vec!["mon".into()],
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        };
        ok.holidays = (0..MAX_HOLIDAYS as i64)
            .map(|d| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(d))
            .collect();
        assert!(ok.check("/c").is_ok());
        ok.holidays
            .push(NaiveDate::from_ymd_opt(2028, 1, 1).unwrap());
        assert_eq!(ok.check("/c").unwrap_err()[0].pointer, "/c/holidays");
    }
}
