//! A seeded population of people who unsubscribe (and some who re-subscribe)
//! against a synthetic org, with everything the test does to their records
//! in the emulator (conversions, merges, deletions, validation rules), so
//! that the expected outcome of every event is known independently of the
//! code under test.
//!
//! Every person has a record of their own (Leads and Contacts), so a write
//! to any other record is a write to the wrong record.

use std::collections::BTreeMap;

use sf_emulator::{
    Emulator, OrgSeed, SObject, ValidationRule, synthetic_id, synthetic_opted_out, synthetic_org,
};

use super::rng::Rng;
use super::webhooks::{Event, Kind};

/// The custom "sales opt-out" checkbox the scenarios select besides
/// `HasOptedOutOfEmail`.
pub const SALES_FIELD: &str = "Sales_Opt_Out__c";
/// Share of the synthetic records with `HasOptedOutOfEmail` checked before
/// anything happens (an admin or a marketing tool set it).
pub const PRE_OPTED_OUT: f64 = 0.1;
/// Share of people whose record is a Lead (the rest are Contacts).
const LEAD_SHARE: f64 = 0.65;
/// Records of each object left to no one: never to be written.
const SPARE: u64 = 50;

/// What happens to a person's record, which decides what must become of
/// their unsubscribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// A live record: opted out.
    Plain,
    /// The first unsubscribe has no Salesforce ID; a later one brings it.
    LateId,
    /// Never a Salesforce ID: held and reported as skipped.
    NoId,
    /// A malformed ID (17 characters): held, reported as skipped with why.
    InvalidId,
    /// A Lead converted before the unsubscribe arrives: its Contact is
    /// opted out.
    ConvertedBefore,
    /// A Lead converted while the intake runs (mostly after its push): its
    /// Contact is opted out.
    ConvertedDuring,
    /// Merged into another record before: the survivor is opted out.
    Merged,
    /// Deleted before: held and reported as deleted.
    DeletedBefore,
    /// Deleted while the intake runs (mostly after its push): held and
    /// reported as deleted.
    DeletedDuring,
    /// A validation rule refuses every write: held and reported with
    /// Salesforce's error.
    Refused,
    /// Unsubscribes, then re-subscribes: released, never written after.
    Resubscribed,
}

impl Case {
    /// Every case, in a fixed order.
    pub const ALL: [Case; 11] = [
        Case::Plain,
        Case::LateId,
        Case::NoId,
        Case::InvalidId,
        Case::ConvertedBefore,
        Case::ConvertedDuring,
        Case::Merged,
        Case::DeletedBefore,
        Case::DeletedDuring,
        Case::Refused,
        Case::Resubscribed,
    ];
}

/// What must become of a person's unsubscribe in the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Held, and this live record has every selected field checked.
    OptedOut(String),
    /// Held and reported: the named record is deleted.
    Deleted,
    /// Held and reported: Salesforce refuses the write with this message.
    Refused(String),
    /// Held without a Salesforce ID and reported as skipped; `Some(value)`
    /// when the ID sent was malformed.
    NoId(Option<String>),
    /// Released by the re-subscribe: nothing held.
    Released,
}

/// One person of the sales app.
#[derive(Clone, Debug)]
pub struct Person {
    /// The app's person ID.
    pub id: String,
    /// What happens to their record.
    pub case: Case,
    /// The record the app names (18 characters); none without a valid ID.
    pub named: Option<String>,
    /// The value sent as `salesforce_id` by the last unsubscribe.
    pub sent: Option<String>,
    /// The record the opt-out must land on (the named record, its Contact or
    /// its merge survivor).
    pub target: Option<String>,
    /// The validation rule's message, for [`Case::Refused`].
    pub message: Option<String>,
}

impl Person {
    /// What must become of the unsubscribe.
    pub fn fate(&self) -> Fate {
        match self.case {
            Case::Plain
            | Case::LateId
            | Case::ConvertedBefore
            | Case::ConvertedDuring
            | Case::Merged => Fate::OptedOut(self.target.clone().expect("a target")),
            Case::NoId => Fate::NoId(None),
            Case::InvalidId => Fate::NoId(self.sent.clone()),
            Case::DeletedBefore | Case::DeletedDuring => Fate::Deleted,
            Case::Refused => Fate::Refused(self.message.clone().expect("a message")),
            Case::Resubscribed => Fate::Released,
        }
    }

    /// Records the sync may ever write for this person: the named one and
    /// the target (none for people without a valid ID).
    pub fn writable(&self) -> Vec<String> {
        self.named
            .iter()
            .chain(self.target.iter())
            .cloned()
            .collect()
    }
}

/// One event in sending order.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Index into [`Scenario::persons`].
    pub person: usize,
    /// The event.
    pub event: Event,
}

/// How many people of each case.
#[derive(Clone, Debug)]
pub struct Mix {
    /// People per case.
    pub counts: BTreeMap<Case, usize>,
}

impl Mix {
    /// The mix for `unsubscribes` unsubscribe events and `resubscribes`
    /// re-subscribe events: a twentieth of the people send their ID late
    /// (two events each), a hundredth never send one, and so on; the rest
    /// are plain.
    pub fn new(unsubscribes: usize, resubscribes: usize) -> Mix {
        let u = unsubscribes;
        let mut counts = BTreeMap::new();
        counts.insert(Case::LateId, u / 20);
        counts.insert(Case::NoId, u / 100);
        counts.insert(Case::InvalidId, u / 400);
        counts.insert(Case::ConvertedBefore, u / 100);
        counts.insert(Case::ConvertedDuring, u / 100);
        counts.insert(Case::Merged, u / 200);
        counts.insert(Case::DeletedBefore, u / 100);
        counts.insert(Case::DeletedDuring, u / 200);
        counts.insert(Case::Refused, u / 200);
        counts.insert(Case::Resubscribed, resubscribes);
        // Late-ID people send two unsubscribes each; the rest are plain.
        let sent: usize = counts
            .iter()
            .map(|(c, n)| if *c == Case::LateId { 2 * n } else { *n })
            .sum();
        let plain = u
            .checked_sub(sent)
            .expect("the mix needs more unsubscribes than re-subscribes");
        counts.insert(Case::Plain, plain);
        let mix = Mix { counts };
        assert_eq!(mix.unsubscribes(), u, "{mix:?}");
        mix
    }

    /// Unsubscribe events this mix sends.
    pub fn unsubscribes(&self) -> usize {
        self.counts
            .iter()
            .map(|(c, n)| if *c == Case::LateId { 2 * n } else { *n })
            .sum()
    }
}

/// The whole scenario.
pub struct Scenario {
    /// The seed it was built from.
    pub seed: u64,
    /// Everyone.
    pub persons: Vec<Person>,
    /// The events, in sending order; `occurred_at` increases along it.
    pub events: Vec<Planned>,
    /// The "during" changes (conversions, deletions) are made once this
    /// many events were sent.
    pub during_at: usize,
    /// Synthetic records per object in the org.
    pub records_per_object: u64,
    /// The synthetic org's seed (which records start opted out).
    pub org_seed: u64,
}

/// Hands out synthetic records in order.
struct Records {
    next: [u64; 2],
    org_seed: u64,
}

impl Records {
    /// The next unused record of `object`; `clear`: one with no opt-out
    /// checked yet.
    fn take(&mut self, object: SObject, clear: bool) -> String {
        let slot = &mut self.next[usize::from(object == SObject::Contact)];
        loop {
            let index = *slot;
            *slot += 1;
            if !clear || !synthetic_opted_out(object, index, PRE_OPTED_OUT, self.org_seed) {
                return synthetic_id(object, index);
            }
        }
    }
}

impl Scenario {
    /// Builds the scenario for `mix` from `seed`; event times start at
    /// `first_occurred_at` (ms) and grow by 1 ms per event.
    pub fn build(seed: u64, mix: &Mix, first_occurred_at: i64) -> Scenario {
        let mut rng = Rng::new(seed);
        let org_seed = seed ^ 0xA5A5;
        let during = |c: Case| matches!(c, Case::ConvertedDuring | Case::DeletedDuring);
        // Cases in sending order; the "during" ones among the first 40 %, so
        // most of them are pushed before their record changes.
        let mut cases: Vec<Case> = Vec::new();
        for (case, n) in &mix.counts {
            if !during(*case) {
                cases.extend(std::iter::repeat_n(*case, *n));
            }
        }
        rng.shuffle(&mut cases);
        for (case, n) in &mix.counts {
            if during(*case) {
                for _ in 0..*n {
                    let at = rng.below((cases.len() * 2 / 5).max(1) as u64) as usize;
                    cases.insert(at, *case);
                }
            }
        }

        let mut records = Records {
            next: [0, 0],
            org_seed,
        };
        let mut persons = Vec::with_capacity(cases.len());
        for (i, case) in cases.iter().enumerate() {
            let id = format!("person-{seed:x}-{i:06}");
            let object = if rng.chance(LEAD_SHARE) {
                SObject::Lead
            } else {
                SObject::Contact
            };
            let mut p = Person {
                id,
                case: *case,
                named: None,
                sent: None,
                target: None,
                message: None,
            };
            match case {
                Case::NoId => {}
                Case::InvalidId => {
                    let valid = records.take(object, false);
                    p.sent = Some(valid[..17].to_string());
                }
                Case::ConvertedBefore | Case::ConvertedDuring => {
                    let lead = records.take(SObject::Lead, false);
                    p.target = Some(records.take(SObject::Contact, true));
                    p.named = Some(lead.clone());
                    p.sent = Some(lead);
                }
                Case::Merged => {
                    let loser = records.take(object, false);
                    p.target = Some(records.take(object, true));
                    p.named = Some(loser.clone());
                    p.sent = Some(loser);
                }
                Case::Resubscribed => {
                    let record = records.take(object, true);
                    p.named = Some(record.clone());
                    p.sent = Some(record.clone());
                    p.target = Some(record);
                }
                _ => {
                    // A refused record starts with nothing checked, so any
                    // write that got through would show.
                    let record = records.take(object, *case == Case::Refused);
                    p.named = Some(record.clone());
                    p.sent = Some(record.clone());
                    p.target = Some(record);
                    if *case == Case::Refused {
                        p.message = Some(format!("Opt-out blocked by compliance hold {i}"));
                    }
                }
            }
            persons.push(p);
        }

        // Sending order: each person's first event at their position, a
        // second one (the late ID, the re-subscribe) some events later.
        let mut keyed: Vec<(u64, usize, Kind, Option<String>)> = Vec::new();
        for (i, p) in persons.iter().enumerate() {
            let at = 4 * i as u64;
            match p.case {
                Case::LateId => {
                    keyed.push((at, i, Kind::Unsubscribe, None));
                    keyed.push((
                        at + 4 * rng.range(100, 3_000) + 1,
                        i,
                        Kind::Unsubscribe,
                        p.sent.clone(),
                    ));
                }
                Case::Resubscribed => {
                    keyed.push((at, i, Kind::Unsubscribe, p.sent.clone()));
                    // Half soon after (while a failed push still waits for
                    // its retry), half much later.
                    let later = if rng.chance(0.5) {
                        rng.range(1, 200)
                    } else {
                        rng.range(200, 6_000)
                    };
                    keyed.push((at + 4 * later + 2, i, Kind::Resubscribe, None));
                }
                _ => keyed.push((at, i, Kind::Unsubscribe, p.sent.clone())),
            }
        }
        keyed.sort_by_key(|(k, ..)| *k);
        let events: Vec<Planned> = keyed
            .into_iter()
            .enumerate()
            .map(|(n, (_, person, kind, id))| {
                let at = first_occurred_at + n as i64;
                let pid = &persons[person].id;
                let event = match kind {
                    Kind::Unsubscribe => Event::unsubscribe(pid, id.as_deref(), at),
                    Kind::Resubscribe => Event::resubscribe(pid, at),
                };
                Planned { person, event }
            })
            .collect();
        let during_at = events.len() / 2;
        let records_per_object = records.next[0].max(records.next[1]) + SPARE;
        Scenario {
            seed,
            persons,
            events,
            during_at,
            records_per_object,
            org_seed,
        }
    }

    /// The org to start the emulator with.
    pub fn org(&self) -> OrgSeed {
        synthetic_org(
            2 * self.records_per_object as usize,
            PRE_OPTED_OUT,
            self.org_seed,
        )
    }

    /// Adds the sales opt-out field and makes the changes that come before
    /// any event: conversions, merges, deletions, validation rules.
    pub fn apply_before(&self, emu: &Emulator) {
        emu.add_checkbox_field(SObject::Lead, SALES_FIELD);
        emu.add_checkbox_field(SObject::Contact, SALES_FIELD);
        for p in &self.persons {
            let named = p.named.as_deref().unwrap_or("");
            match p.case {
                Case::ConvertedBefore => emu.convert_lead(named, p.target.as_deref().unwrap()),
                Case::Merged => emu.merge(named, p.target.as_deref().unwrap()),
                Case::DeletedBefore => emu.delete(named),
                Case::Refused => emu.add_validation_rule(ValidationRule {
                    object: None,
                    record_id: Some(named.to_string()),
                    email_suffix: None,
                    error_field: None,
                    message: p.message.clone().unwrap(),
                }),
                _ => {}
            }
        }
    }

    /// Makes the changes that come while the intake runs.
    pub fn apply_during(&self, emu: &Emulator) {
        for p in &self.persons {
            let named = p.named.as_deref().unwrap_or("");
            match p.case {
                Case::ConvertedDuring => emu.convert_lead(named, p.target.as_deref().unwrap()),
                Case::DeletedDuring => emu.delete(named),
                _ => {}
            }
        }
    }

    /// Every record of the org: (object, synthetic index, ID).
    pub fn record_ids(&self) -> Vec<(SObject, u64, String)> {
        SObject::ALL
            .into_iter()
            .flat_map(|o| (0..self.records_per_object).map(move |i| (o, i, synthetic_id(o, i))))
            .collect()
    }

    /// How many people of `case`.
    pub fn count(&self, case: Case) -> usize {
        self.persons.iter().filter(|p| p.case == case).count()
    }
}

/// A record's opt-out state: (`HasOptedOutOfEmail`, the sales field,
/// deleted).
pub type OptOut = (bool, bool, bool);

/// The opt-out state of every record of the scenario's org.
pub fn opt_out_state(scenario: &Scenario, emu: &Emulator) -> BTreeMap<String, OptOut> {
    scenario
        .record_ids()
        .into_iter()
        .map(|(_, _, id)| {
            let r = emu.record(&id).expect("every synthetic record exists");
            let state = (
                r.has_opted_out_of_email,
                r.checkbox(SALES_FIELD).expect("the sales field exists"),
                r.is_deleted,
            );
            (id, state)
        })
        .collect()
}
