//! When the nightly run is due: a local time of day in an IANA time zone,
//! correct across daylight-saving switches.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::{Schedule, SettingsProblem, SyncError, Timestamp};

/// The earliest instant `next-nightly` accepts: 1800-01-01T00:00:00Z (time
/// zone rules before then are local mean time, and no schedule needs them).
const EARLIEST: Timestamp = -5_364_662_400_000;
/// The latest: 9999-01-01T00:00:00Z, far enough from the end of the calendar
/// that the next due time (at most two local days later) is representable.
const LATEST: Timestamp = 253_370_764_800_000;

/// Checks a schedule's hour, minute and zone.
pub fn validate(schedule: &Schedule) -> Result<(), SyncError> {
    parse(schedule).map(|_| ())
}

/// The first instant strictly after `after` at which the schedule is due.
///
/// A local time that a spring-forward skips runs at the first instant after the
/// gap (the switch itself); a local time that a fall-back repeats runs once, at
/// its first occurrence.
pub fn next_nightly(schedule: &Schedule, after: Timestamp) -> Result<Timestamp, SyncError> {
    let tz = parse(schedule)?;
    if !(EARLIEST..=LATEST).contains(&after) {
        return Err(SettingsProblem::error(
            "after",
            format!("instant {after} ms is outside 1800-01-01 to 9999-01-01"),
        ));
    }
    let after_utc = DateTime::<Utc>::from_timestamp_millis(after).ok_or_else(|| {
        SettingsProblem::error(
            "after",
            format!("instant {after} ms is outside the supported range"),
        )
    })?;
    let local_date = after_utc.with_timezone(&tz).date_naive();
    // The due time on the local date of `after` may already be past; the next
    // local day's always is not. Two days cover every zone offset.
    for day in 0..=2 {
        let date = local_date + Duration::days(day);
        let naive = date
            .and_hms_opt(u32::from(schedule.hour), u32::from(schedule.minute), 0)
            .expect("hour and minute were validated");
        let due = resolve_local(&tz, naive);
        if due > after {
            return Ok(due);
        }
    }
    unreachable!("a due time exists within two local days")
}

/// The UTC instant (ms) of a local wall-clock time, per the rules above.
fn resolve_local(tz: &Tz, naive: NaiveDateTime) -> Timestamp {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.timestamp_millis(),
        LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
        LocalResult::None => first_instant_at_or_after(tz, naive),
    }
}

/// In a spring-forward gap: the first instant whose local time is not before
/// `naive`, found by bisection (local time only moves forward there).
fn first_instant_at_or_after(tz: &Tz, naive: NaiveDateTime) -> Timestamp {
    let as_if_utc = naive.and_utc().timestamp();
    // Real offsets are within ±26 hours, so these bracket the answer.
    let (mut lo, mut hi) = (as_if_utc - 26 * 3600, as_if_utc + 26 * 3600);
    let local_at = |secs: i64| {
        Utc.timestamp_opt(secs, 0)
            .single()
            .map(|t| t.with_timezone(tz).naive_local())
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match local_at(mid) {
            Some(local) if local >= naive => hi = mid,
            _ => lo = mid,
        }
    }
    hi * 1000
}

fn parse(schedule: &Schedule) -> Result<Tz, SyncError> {
    if schedule.hour > 23 {
        return Err(SettingsProblem::error("schedule.hour", "must be 0 to 23"));
    }
    if schedule.minute > 59 {
        return Err(SettingsProblem::error("schedule.minute", "must be 0 to 59"));
    }
    schedule.time_zone.parse::<Tz>().map_err(|_| {
        SettingsProblem::error(
            "schedule.time-zone",
            "is not an IANA time zone name such as America/Los_Angeles",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn pacific(hour: u8, minute: u8) -> Schedule {
        Schedule {
            hour,
            minute,
            time_zone: "America/Los_Angeles".into(),
        }
    }

    #[test]
    fn eight_pm_pacific_in_winter_is_four_am_utc() {
        let s = pacific(20, 0);
        assert_eq!(
            next_nightly(&s, at("2026-01-15T12:00:00Z")).unwrap(),
            at("2026-01-16T04:00:00Z")
        );
    }

    #[test]
    fn eight_pm_pacific_in_summer_is_three_am_utc() {
        let s = pacific(20, 0);
        assert_eq!(
            next_nightly(&s, at("2026-07-15T12:00:00Z")).unwrap(),
            at("2026-07-16T03:00:00Z")
        );
    }

    #[test]
    fn spring_forward_day_runs_at_eight_pm_pdt() {
        // 2026-03-08: clocks jump from 02:00 PST to 03:00 PDT.
        let s = pacific(20, 0);
        let saturday_run = at("2026-03-08T04:00:00Z"); // Sat 7 Mar 20:00 PST
        let sunday_run = next_nightly(&s, saturday_run).unwrap();
        assert_eq!(sunday_run, at("2026-03-09T03:00:00Z")); // Sun 8 Mar 20:00 PDT
        assert_eq!(sunday_run - saturday_run, 23 * 3600 * 1000);
    }

    #[test]
    fn fall_back_day_runs_at_eight_pm_pst() {
        // 2026-11-01: clocks fall back from 02:00 PDT to 01:00 PST.
        let s = pacific(20, 0);
        let saturday_run = at("2026-11-01T03:00:00Z"); // Sat 31 Oct 20:00 PDT
        let sunday_run = next_nightly(&s, saturday_run).unwrap();
        assert_eq!(sunday_run, at("2026-11-02T04:00:00Z")); // Sun 1 Nov 20:00 PST
        assert_eq!(sunday_run - saturday_run, 25 * 3600 * 1000);
    }

    #[test]
    fn the_due_instant_itself_is_not_next() {
        let s = pacific(20, 0);
        let due = at("2026-01-16T04:00:00Z");
        assert_eq!(next_nightly(&s, due).unwrap(), at("2026-01-17T04:00:00Z"));
        assert_eq!(next_nightly(&s, due - 1).unwrap(), due);
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_at_the_switch() {
        let s = pacific(2, 30);
        let due = next_nightly(&s, at("2026-03-08T00:00:00Z")).unwrap();
        assert_eq!(due, at("2026-03-08T10:00:00Z")); // 03:00 PDT, the first instant after the gap
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once_at_its_first_occurrence() {
        let s = pacific(1, 30);
        let first = next_nightly(&s, at("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(first, at("2026-11-01T08:30:00Z")); // 01:30 PDT
        let next = next_nightly(&s, first).unwrap();
        assert_eq!(next, at("2026-11-02T09:30:00Z")); // the next day, not 01:30 PST
    }

    #[test]
    fn other_zones_work() {
        let s = Schedule {
            hour: 20,
            minute: 0,
            time_zone: "Europe/Berlin".into(),
        };
        assert_eq!(
            next_nightly(&s, at("2026-01-15T12:00:00Z")).unwrap(),
            at("2026-01-15T19:00:00Z")
        );
    }

    #[test]
    fn instants_outside_the_calendar_are_rejected_not_trapped() {
        let s = pacific(20, 0);
        for after in [
            EARLIEST - 1,
            i64::MIN,
            i64::MAX,
            8_210_266_876_799_999,
            -8_334_601_228_800_000,
            LATEST + 1,
        ] {
            assert!(
                matches!(next_nightly(&s, after), Err(SyncError::InvalidSettings(_))),
                "{after}"
            );
        }
        assert!(next_nightly(&s, LATEST).unwrap() > LATEST);
    }

    #[test]
    fn bad_schedules_are_rejected() {
        assert!(validate(&pacific(24, 0)).is_err());
        assert!(validate(&pacific(20, 60)).is_err());
        let bad_zone = Schedule {
            hour: 20,
            minute: 0,
            time_zone: "Pacific Time".into(),
        };
        assert!(
            matches!(validate(&bad_zone), Err(SyncError::InvalidSettings(m)) if m.reason.contains("IANA") && m.setting == "schedule.time-zone")
        );
    }
}
