//! The nightly schedule `serve` follows: 20:00 America/Los_Angeles, correct
//! across both daylight-saving switches. The host's scheduler asks the
//! component's `next-nightly` for each due instant; these tests drive that
//! same path (`serve::scheduler::upcoming`) with the real component.

use std::sync::Arc;

use unsubscribe_sync::serve::scheduler::{Plan, Work, last_due_at_or_before, upcoming};
use unsubscribe_sync::{StaticResponder, api};

use crate::support::{caps_with, plugin_runtime};

fn utc(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn pacific(hour: u8, minute: u8) -> api::Schedule {
    api::Schedule {
        hour,
        minute,
        time_zone: "America/Los_Angeles".into(),
    }
}

fn runs(schedule: &api::Schedule, from: &str, n: usize) -> Vec<i64> {
    let caps = caps_with(Arc::new(StaticResponder::new(200, Vec::new())));
    upcoming(plugin_runtime(), &caps.caps, schedule, utc(from), n)
        .expect("the component plans the nightly")
}

fn all(texts: &[&str]) -> Vec<i64> {
    texts.iter().map(|t| utc(t)).collect()
}

#[test]
fn twenty_hundred_pacific_across_the_spring_forward_switch() {
    // 2025-03-09 02:00 PST becomes 03:00 PDT: 20:00 is 04:00Z before, 03:00Z after.
    assert_eq!(
        runs(&pacific(20, 0), "2025-03-07T12:00:00Z", 4),
        all(&[
            "2025-03-08T04:00:00Z", // Fri Mar 7, 20:00 PST
            "2025-03-09T04:00:00Z", // Sat Mar 8, 20:00 PST
            "2025-03-10T03:00:00Z", // Sun Mar 9, 20:00 PDT: 23 h later
            "2025-03-11T03:00:00Z",
        ])
    );
}

#[test]
fn twenty_hundred_pacific_across_the_fall_back_switch() {
    // 2025-11-02 02:00 PDT becomes 01:00 PST: 20:00 is 03:00Z before, 04:00Z after.
    assert_eq!(
        runs(&pacific(20, 0), "2025-10-31T12:00:00Z", 4),
        all(&[
            "2025-11-01T03:00:00Z", // Fri Oct 31, 20:00 PDT
            "2025-11-02T03:00:00Z", // Sat Nov 1, 20:00 PDT
            "2025-11-03T04:00:00Z", // Sun Nov 2, 20:00 PST: 25 h later
            "2025-11-04T04:00:00Z",
        ])
    );
}

#[test]
fn a_time_skipped_or_repeated_by_a_switch_runs_once() {
    // 02:30 does not exist on 2025-03-09: the run is at the first instant
    // after the gap, 03:00 PDT.
    assert_eq!(
        runs(&pacific(2, 30), "2025-03-08T12:00:00Z", 2),
        all(&["2025-03-09T10:00:00Z", "2025-03-10T09:30:00Z"])
    );
    // 01:30 happens twice on 2025-11-02: the run is at the first, PDT.
    assert_eq!(
        runs(&pacific(1, 30), "2025-11-01T12:00:00Z", 2),
        all(&["2025-11-02T08:30:00Z", "2025-11-03T09:30:00Z"])
    );
}

#[test]
fn the_due_instant_is_strictly_after_the_one_asked_about() {
    let at = utc("2025-07-09T03:00:00Z"); // exactly 20:00 PDT
    let next = runs(&pacific(20, 0), "2025-07-09T03:00:00Z", 1);
    assert_eq!(next, vec![at + 24 * 3_600_000]);
}

#[test]
fn the_scheduler_runs_the_nightly_when_it_falls_due() {
    let due = utc("2025-03-10T03:00:00Z");
    let plan = Plan {
        next_nightly: Some(due),
        ..Plan::default()
    };
    assert_eq!(plan.next_work(due - 1), Work::Idle(Some(due)));
    assert_eq!(plan.next_work(due), Work::NightlyStep);
}

#[test]
fn the_last_due_instant_is_found_for_catching_up_a_missed_nightly() {
    let caps = caps_with(Arc::new(StaticResponder::new(200, Vec::new())));
    let last = |now: &str| {
        last_due_at_or_before(plugin_runtime(), &caps.caps, &pacific(20, 0), utc(now)).unwrap()
    };
    // Winter: 20:00 PST is 04:00Z; summer: 20:00 PDT is 03:00Z.
    assert_eq!(last("2025-01-16T03:59:59Z"), utc("2025-01-15T04:00:00Z"));
    assert_eq!(last("2025-01-16T04:00:00Z"), utc("2025-01-16T04:00:00Z"));
    assert_eq!(last("2025-07-16T12:00:00Z"), utc("2025-07-16T03:00:00Z"));
    // The morning after the spring-forward night.
    assert_eq!(last("2025-03-10T12:00:00Z"), utc("2025-03-10T03:00:00Z"));
}
