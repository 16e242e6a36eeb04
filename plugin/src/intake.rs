//! Taking in an unsubscribe: checking the event and folding it into the
//! person's record. Shared by `push` and `import`; pure (no ports).

use crate::ledger::PersonRecord;
use crate::model::{
    AuditEntry, AuditKind, IdProblem, RecordRef, SyncError, Timestamp, UnsubscribeEvent,
};
use crate::sfid;

/// Longest person ID accepted.
pub const MAX_PERSON_ID_CHARS: usize = 255;
/// Longest source kept; longer ones are cut.
pub const MAX_SOURCE_CHARS: usize = 64;
/// Longest email kept (RFC 5321's path limit); longer ones are dropped.
pub const MAX_EMAIL_CHARS: usize = 320;
/// Timestamps before 2000-01-01 cannot be real unsubscribes.
const EARLIEST_PLAUSIBLE: Timestamp = 946_684_800_000;
/// Clock skew tolerated for timestamps in the future.
const FUTURE_SKEW_MS: Timestamp = 24 * 3_600_000;

/// An event after checking: safe to store and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanEvent {
    /// The person.
    pub person_id: String,
    /// The raw Salesforce ID, if sent.
    pub salesforce_id: Option<String>,
    /// The email, without control characters; none if absent or too long.
    pub email: Option<String>,
    /// The source, cut to 64 characters, without control characters.
    pub source: String,
    /// When it occurred (the time received when missing or implausible).
    pub occurred_at: Timestamp,
    /// What was changed to make the event safe, for the audit trail.
    pub notes: Vec<String>,
}

/// Checks a person ID: the one thing an event cannot do without.
pub fn check_person_id(person_id: &str) -> Result<(), SyncError> {
    if person_id.is_empty() {
        return Err(SyncError::InvalidEvent("person-id is empty".into()));
    }
    if person_id.chars().count() > MAX_PERSON_ID_CHARS {
        return Err(SyncError::InvalidEvent(format!(
            "person-id is longer than {MAX_PERSON_ID_CHARS} characters"
        )));
    }
    if person_id.chars().any(char::is_control) {
        return Err(SyncError::InvalidEvent(
            "person-id contains control characters".into(),
        ));
    }
    Ok(())
}

/// Makes an event safe to record. Only a bad person ID rejects it: anything
/// else is repaired and noted, so no unsubscribe is lost to a sloppy sender.
pub fn clean(event: &UnsubscribeEvent, now: Timestamp) -> Result<CleanEvent, SyncError> {
    check_person_id(&event.person_id)?;
    let mut notes = Vec::new();
    let source = clean_source(&event.source, &mut notes);
    let email = event.email.as_deref().and_then(|raw| {
        let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
        if cleaned.len() != raw.len() {
            notes.push("control characters removed from the email".to_string());
        }
        if cleaned.chars().count() > MAX_EMAIL_CHARS {
            notes.push(format!(
                "email longer than {MAX_EMAIL_CHARS} characters dropped"
            ));
            None
        } else if cleaned.is_empty() {
            None
        } else {
            Some(cleaned)
        }
    });
    let occurred_at = event_time(event.occurred_at, event.received_at, now, &mut notes);
    Ok(CleanEvent {
        person_id: event.person_id.clone(),
        salesforce_id: event.salesforce_id.clone().filter(|s| !s.trim().is_empty()),
        email,
        source,
        occurred_at,
        notes,
    })
}

/// Cuts a source to its limit and strips control characters.
pub fn clean_source(raw: &str, notes: &mut Vec<String>) -> String {
    let mut source: String = raw.chars().filter(|c| !c.is_control()).collect();
    if source.chars().count() > MAX_SOURCE_CHARS {
        source = source.chars().take(MAX_SOURCE_CHARS).collect();
        notes.push(format!("source cut to {MAX_SOURCE_CHARS} characters"));
    }
    source
}

/// The time an event is ordered by: its `occurred-at`, or the time the host
/// received it when that is missing, before 2000 (seconds sent as
/// milliseconds) or more than a day after its receipt (a far-future time
/// would outrank every later event). Never the time of the call: in a
/// backlog the call comes long after the event, and a re-subscribe stamped
/// with it would outrank an unsubscribe that arrived after it.
///
/// `received` is the host's; only one that cannot be true (before 2000, or
/// more than a day after the call) gives way to `now`, and is noted.
pub fn event_time(
    occurred: Option<Timestamp>,
    received: Timestamp,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Timestamp {
    let received = if plausible(received, now) {
        received
    } else {
        notes.push(format!(
            "implausible received-at {received} replaced by the time of the call"
        ));
        now
    };
    match occurred {
        None => {
            notes.push("no occurred-at: the time received is used".to_string());
            received
        }
        Some(at) if !plausible(at, received) => {
            notes.push(format!(
                "implausible occurred-at {at} replaced by the time received"
            ));
            received
        }
        Some(at) => at,
    }
}

/// A time after 2000 and at most a day after `reference`.
fn plausible(at: Timestamp, reference: Timestamp) -> bool {
    at >= EARLIEST_PLAUSIBLE && at <= reference.saturating_add(FUTURE_SKEW_MS)
}

/// What taking in an event did to the person's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// The person re-subscribed after this unsubscribe occurred: nothing held.
    Stale(Timestamp),
    /// The same unsubscribe is already held and confirmed in Salesforce.
    Duplicate,
    /// The unsubscribe is held.
    Held {
        /// It was not held before.
        added: bool,
        /// The record changed.
        changed: bool,
        /// The event's Salesforce ID was malformed.
        id_problem: Option<IdProblem>,
    },
}

/// Folds a clean event into the person's record (`record` is updated in place)
/// and lists the audit entries it deserves.
pub fn apply(
    record: &mut PersonRecord,
    event: &CleanEvent,
    now: Timestamp,
) -> (Intake, Vec<AuditEntry>) {
    let mut audit = Vec::new();
    if let Some(resubscribed_at) = record.resubscribed_at
        && !record.held
        && resubscribed_at >= event.occurred_at
    {
        audit.push(entry(
            now,
            AuditKind::Stale,
            format!(
                "unsubscribe from {} at {} is older than the re-subscribe at {resubscribed_at}",
                event.source, event.occurred_at
            ),
        ));
        return (Intake::Stale(resubscribed_at), audit);
    }
    let (new_id, id_problem) = match event.salesforce_id.as_deref().map(sfid::parse) {
        Some(Ok(r)) => (Some(r), None),
        Some(Err(p)) => (None, Some(p)),
        None => (None, None),
    };
    let same_id = new_id.is_none() || new_id == record.salesforce_id;
    if record.held
        && same_id
        && id_problem.is_none()
        && record.confirmed_at.is_some()
        && !record.failed
        && event.occurred_at <= record.occurred_at
    {
        return (Intake::Duplicate, audit);
    }
    let before = record.clone();
    let added = !record.held;
    let mut audit_superseded = None;
    record.held = true;
    if added || event.occurred_at >= record.occurred_at {
        record.occurred_at = event.occurred_at;
        record.source = event.source.clone();
        if event.email.is_some() {
            record.email = event.email.clone();
        }
    }
    let mut notes = event.notes.clone();
    if let Some(id) = new_id {
        let older = !added && event.occurred_at < before.occurred_at;
        audit_superseded = take_id(record, &before, id, older, now, &mut notes);
    }
    let mut detail = format!("source={} occurred-at={}", event.source, event.occurred_at);
    for note in &notes {
        detail.push_str("; ");
        detail.push_str(note);
    }
    audit.push(AuditEntry {
        at: now,
        kind: AuditKind::Received,
        record: record.salesforce_id.clone(),
        fields: Vec::new(),
        error_code: None,
        detail,
    });
    audit.extend(audit_superseded);
    if let Some(problem) = &id_problem {
        record.invalid_id = Some(problem.value.clone());
        audit.push(entry(
            now,
            AuditKind::InvalidId,
            format!("{:?}: {}", problem.value, problem.reason),
        ));
    }
    let changed = *record != before;
    (
        Intake::Held {
            added,
            changed,
            id_problem,
        },
        audit,
    )
}

/// Takes the record an event names. An older event never replaces the
/// record a newer one named (it is noted instead); a newer one does, and
/// nothing about the old record applies to the new one. Returns the audit
/// entry for a pending write it gives up.
fn take_id(
    record: &mut PersonRecord,
    before: &PersonRecord,
    id: RecordRef,
    older: bool,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Option<AuditEntry> {
    record.invalid_id = None;
    match &record.salesforce_id {
        Some(held) if *held == id => None,
        Some(held) if older => {
            notes.push(format!(
                "names {} but is older than the unsubscribe naming {}, which is kept",
                id.id, held.id
            ));
            None
        }
        _ => {
            let given_up = superseded(before, &id, now);
            record.salesforce_id = Some(id);
            record.redirect = None;
            record.confirmed_at = None;
            record.failed = false;
            record.last_error = None;
            record.owed.clear();
            given_up
        }
    }
}

/// The audit entry for giving up a pending write (queued or failed) to the
/// record held when a newer event names another one: the newer event is the
/// app's latest word on who the person is, and the write goes there instead,
/// but the old record is named on the trail, never silently dropped.
fn superseded(before: &PersonRecord, new: &RecordRef, now: Timestamp) -> Option<AuditEntry> {
    let old = before.salesforce_id.as_ref()?;
    let pending = if before.retry_key.is_some() {
        "queued for retry"
    } else if before.failed {
        "failed"
    } else {
        return None;
    };
    Some(AuditEntry {
        at: now,
        kind: AuditKind::Superseded,
        record: Some(old.clone()),
        fields: Vec::new(),
        error_code: before.last_error.as_ref().and_then(SyncError::code),
        detail: format!(
            "the write to {} ({pending}) is given up: a newer event names {}, which is written instead",
            old.id, new.id
        ),
    })
}

fn entry(at: Timestamp, kind: AuditKind, detail: String) -> AuditEntry {
    AuditEntry {
        at,
        kind,
        record: None,
        fields: Vec::new(),
        error_code: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_780_000_000_000;

    fn event(person: &str, id: Option<&str>, at: Timestamp) -> UnsubscribeEvent {
        UnsubscribeEvent {
            person_id: person.into(),
            salesforce_id: id.map(String::from),
            email: Some("a@x.com".into()),
            source: "link".into(),
            occurred_at: Some(at),
            received_at: NOW,
        }
    }

    #[test]
    fn person_ids_are_checked() {
        assert!(clean(&event("", None, NOW), NOW).is_err());
        assert!(clean(&event("a\u{0}b", None, NOW), NOW).is_err());
        assert!(clean(&event(&"x".repeat(256), None, NOW), NOW).is_err());
        assert!(clean(&event("ok-é-🙂", None, NOW), NOW).is_ok());
    }

    #[test]
    fn implausible_times_are_replaced_and_noted() {
        let c = clean(&event("p", None, -5), NOW).unwrap();
        assert_eq!(c.occurred_at, NOW);
        assert_eq!(c.notes.len(), 1);
        let c = clean(&event("p", None, NOW + 2 * FUTURE_SKEW_MS), NOW).unwrap();
        assert_eq!(c.occurred_at, NOW);
        let c = clean(&event("p", None, NOW - 1000), NOW).unwrap();
        assert_eq!(c.occurred_at, NOW - 1000);
        assert!(c.notes.is_empty());
    }

    #[test]
    fn the_time_received_stands_in_and_the_call_time_never_does() {
        // A backlog: the event arrived an hour before the call handling it.
        let received = NOW - 3_600_000;
        let mut e = event("p", None, 0);
        e.received_at = received;
        for occurred in [
            None,
            Some(-5),
            Some(5_000),
            Some(received + 2 * FUTURE_SKEW_MS),
        ] {
            e.occurred_at = occurred;
            let c = clean(&e, NOW).unwrap();
            assert_eq!(c.occurred_at, received, "{occurred:?}");
            assert_eq!(c.notes.len(), 1);
        }
        // A receipt time that cannot be true gives way to the call's.
        e.received_at = NOW + 2 * FUTURE_SKEW_MS;
        e.occurred_at = None;
        assert_eq!(clean(&e, NOW).unwrap().occurred_at, NOW);
    }

    #[test]
    fn an_older_event_never_replaces_the_record_a_newer_one_named() {
        let mut r = PersonRecord::new("p");
        let contact = "0035e00000XyZaBAAV";
        apply(
            &mut r,
            &clean(&event("p", Some(contact), NOW - 10), NOW).unwrap(),
            NOW,
        );
        r.retry_key = Some("r/0000000000001/p".into());
        let (_, audit) = apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 20), NOW).unwrap(),
            NOW,
        );
        assert_eq!(r.salesforce_id.as_ref().unwrap().id, contact);
        assert!(
            r.retry_key.is_some(),
            "the queued write to the Contact stays"
        );
        assert!(
            audit[0]
                .detail
                .contains("older than the unsubscribe naming")
        );
        // A newer one does, and the pending write it gives up is on the trail.
        let (_, audit) = apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 5), NOW).unwrap(),
            NOW,
        );
        assert_eq!(r.salesforce_id.as_ref().unwrap().id, "00Q5e00000AbCdEEAV");
        assert!(audit.iter().any(|a| a.kind == AuditKind::Superseded
            && a.record.as_ref().is_some_and(|x| x.id == contact)));
    }

    #[test]
    fn emails_lose_control_characters() {
        let mut e = event("p", None, NOW);
        e.email = Some("a\r\nb@x.com".into());
        let c = clean(&e, NOW).unwrap();
        assert_eq!(c.email.as_deref(), Some("ab@x.com"));
        assert!(!c.notes.is_empty());
    }

    #[test]
    fn a_malformed_id_is_held_without_an_id() {
        let mut r = PersonRecord::new("p");
        let c = clean(&event("p", Some("00Q5e00000AbCdEAAA"), NOW), NOW).unwrap();
        let (intake, audit) = apply(&mut r, &c, NOW);
        assert!(matches!(
            intake,
            Intake::Held {
                added: true,
                id_problem: Some(_),
                ..
            }
        ));
        assert!(r.held);
        assert_eq!(r.salesforce_id, None);
        assert_eq!(r.invalid_id.as_deref(), Some("00Q5e00000AbCdEAAA"));
        assert_eq!(
            audit.iter().map(|a| a.kind).collect::<Vec<_>>(),
            vec![AuditKind::Received, AuditKind::InvalidId]
        );
    }

    #[test]
    fn a_later_event_supplies_the_id() {
        let mut r = PersonRecord::new("p");
        apply(
            &mut r,
            &clean(&event("p", None, NOW - 10), NOW).unwrap(),
            NOW,
        );
        assert!(r.salesforce_id.is_none());
        let (intake, _) = apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 5), NOW).unwrap(),
            NOW,
        );
        assert!(matches!(
            intake,
            Intake::Held {
                added: false,
                changed: true,
                ..
            }
        ));
        assert_eq!(r.salesforce_id.as_ref().unwrap().id, "00Q5e00000AbCdEEAV");
    }

    #[test]
    fn an_event_without_id_keeps_the_known_id() {
        let mut r = PersonRecord::new("p");
        apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 10), NOW).unwrap(),
            NOW,
        );
        apply(
            &mut r,
            &clean(&event("p", None, NOW - 5), NOW).unwrap(),
            NOW,
        );
        assert_eq!(r.salesforce_id.as_ref().unwrap().id, "00Q5e00000AbCdEEAV");
    }

    #[test]
    fn an_unsubscribe_older_than_a_resubscribe_is_stale() {
        let mut r = PersonRecord::new("p");
        r.resubscribed_at = Some(NOW - 100);
        let (intake, audit) = apply(
            &mut r,
            &clean(&event("p", None, NOW - 200), NOW).unwrap(),
            NOW,
        );
        assert_eq!(intake, Intake::Stale(NOW - 100));
        assert!(!r.held);
        assert_eq!(audit[0].kind, AuditKind::Stale);
        let (intake, _) = apply(
            &mut r,
            &clean(&event("p", None, NOW - 50), NOW).unwrap(),
            NOW,
        );
        assert!(matches!(intake, Intake::Held { added: true, .. }));
    }

    #[test]
    fn a_confirmed_unsubscribe_sent_again_is_a_duplicate() {
        let mut r = PersonRecord::new("p");
        apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 10), NOW).unwrap(),
            NOW,
        );
        r.confirmed_at = Some(NOW);
        let (intake, audit) = apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdEEAV"), NOW - 10), NOW).unwrap(),
            NOW,
        );
        assert_eq!(intake, Intake::Duplicate);
        assert!(audit.is_empty());
    }

    #[test]
    fn a_new_id_resets_confirmation() {
        let mut r = PersonRecord::new("p");
        apply(
            &mut r,
            &clean(&event("p", Some("00Q5e00000AbCdE"), NOW - 10), NOW).unwrap(),
            NOW,
        );
        r.confirmed_at = Some(NOW);
        apply(
            &mut r,
            &clean(&event("p", Some("0035e00000XyZaB"), NOW - 5), NOW).unwrap(),
            NOW,
        );
        assert_eq!(r.confirmed_at, None);
        assert_eq!(r.salesforce_id.as_ref().unwrap().id, "0035e00000XyZaBAAV");
    }
}
