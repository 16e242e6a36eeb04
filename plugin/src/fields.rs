//! Which selected fields can be written on each object: the one place that
//! reads a describe for a field, and the cache of what is known.
//!
//! A selected field that is missing or read-only must never block the others
//! (the standard Email Opt Out above all, which marketing tools read too). The
//! component learns a field's state from a describe (`check`, the nightly) or
//! from Salesforce refusing it in a write (`INVALID_FIELD`,
//! `INVALID_FIELD_FOR_INSERT_UPDATE`), and keeps it under [`CACHE_KEY`] with
//! the time it learned it. A push leaves out a field known to be unwritable,
//! so it does not cost a failed call every time; after [`RECHECK_MS`] it tries
//! the field again, and the nightly describes every object whose selected
//! fields are not all known to be writable, so a field installed later is
//! written by the next nightly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ledger;
use crate::model::{FieldProblem, FieldRef, OwedField, SObject, SyncError, Timestamp};
use crate::ports::{Store, WriteOp};

/// Storage key of the field cache.
pub const CACHE_KEY: &str = "n/fields";
/// After this long, a push tries a field known to be unwritable again.
pub const RECHECK_MS: Timestamp = 3_600_000;

/// What a describe says of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Described {
    /// A checkbox the integration user can edit.
    Writable,
    /// Not in the describe: missing, or hidden by field-level security.
    Missing,
    /// Present but not a checkbox (its type).
    NotCheckbox(String),
    /// A checkbox the integration user cannot edit.
    ReadOnly,
}

impl Described {
    /// The problem that keeps the field from being written, if any.
    pub fn problem(&self) -> Option<FieldProblem> {
        match self {
            Described::Writable => None,
            Described::Missing | Described::NotCheckbox(_) => Some(FieldProblem::NotInstalled),
            Described::ReadOnly => Some(FieldProblem::NotWritable),
        }
    }
}

/// Looks `field` up in an sObject describe (`fields[].name`, matched without
/// regard to case as Salesforce does, `type`, `updateable`).
pub fn describe_field(describe: &Value, field: &str) -> Described {
    let found = describe
        .get("fields")
        .and_then(Value::as_array)
        .and_then(|fields| {
            fields.iter().find(|f| {
                f.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(field))
            })
        });
    let Some(found) = found else {
        return Described::Missing;
    };
    let kind = found
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if kind != "boolean" {
        return Described::NotCheckbox(kind.to_string());
    }
    if found.get("updateable").and_then(Value::as_bool) == Some(true) {
        Described::Writable
    } else {
        Described::ReadOnly
    }
}

/// The field a Salesforce refusal is about, when it refuses one of `fields`
/// as missing or read-only. Anything else (validation rules, locks) is not a
/// field problem and leaves every field in the write.
pub fn refused_field(error: &SyncError, fields: &[String]) -> Option<OwedField> {
    let (field, problem) = match error {
        SyncError::FieldNotInstalled(f) => (f, FieldProblem::NotInstalled),
        SyncError::FieldNotWritable(f) => (f, FieldProblem::NotWritable),
        _ => return None,
    };
    let selected = fields
        .iter()
        .find(|s| s.eq_ignore_ascii_case(&field.field))?;
    Some(OwedField {
        field: FieldRef {
            object: field.object,
            field: selected.clone(),
        },
        problem,
    })
}

/// What is known of one field on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Why it cannot be written; none when it can.
    pub problem: Option<FieldProblem>,
    /// When this was learned.
    pub at: Timestamp,
}

/// The field cache: `"{Object}.{Field}"` → what is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCache {
    known: BTreeMap<String, Known>,
    #[serde(skip)]
    changed: bool,
}

fn cache_key(object: SObject, field: &str) -> String {
    [object.api_name(), ".", field].concat()
}

impl FieldCache {
    /// The cache from its stored value (read by the caller, with other keys).
    /// An unreadable value only loses what was known.
    pub fn from_stored(value: Option<&[u8]>) -> Self {
        value
            .and_then(|v| serde_json::from_slice(v).ok())
            .unwrap_or_default()
    }

    /// Reads the cache.
    pub fn load(store: &dyn Store) -> Result<Self, SyncError> {
        let value = store.get(CACHE_KEY).map_err(ledger::storage_error)?;
        Ok(Self::from_stored(value.as_deref()))
    }

    /// What is known of `field` on `object`.
    pub fn known(&self, object: SObject, field: &str) -> Option<Known> {
        self.known.get(&cache_key(object, field)).copied()
    }

    /// Records what was learned of a field.
    pub fn learn(
        &mut self,
        object: SObject,
        field: &str,
        problem: Option<FieldProblem>,
        at: Timestamp,
    ) {
        let key = cache_key(object, field);
        let new = Known { problem, at };
        // A problem's time is kept fresh (it decides when a push tries the
        // field again); a writable field's is not rewritten on every push.
        let old = self.known.get(&key).copied();
        if old.map(|k| k.problem) != Some(problem) || (problem.is_some() && old != Some(new)) {
            self.changed = true;
        }
        self.known.insert(key, new);
    }

    /// Records a describe of `object` for the selected `fields`.
    pub fn learn_describe(
        &mut self,
        object: SObject,
        describe: &Value,
        fields: &[String],
        at: Timestamp,
    ) {
        for field in fields {
            let problem = describe_field(describe, field).problem();
            self.learn(object, field, problem, at);
        }
    }

    /// Whether every selected field on `object` is known to be writable (so
    /// the nightly need not describe it).
    pub fn all_writable(&self, object: SObject, fields: &[String]) -> bool {
        fields
            .iter()
            .all(|f| self.known(object, f).is_some_and(|k| k.problem.is_none()))
    }

    /// Splits the selected `fields` for a write to `object` at `now`: the ones
    /// to send, and the ones known (within [`RECHECK_MS`]) to be unwritable.
    /// A field never seen is sent: Salesforce's answer teaches the rest.
    pub fn plan(&self, object: SObject, fields: &[String], now: Timestamp) -> FieldPlan {
        self.plan_within(object, fields, now, RECHECK_MS)
    }

    /// [`Self::plan`] trusting only knowledge younger than `max_age_ms`
    /// (`Timestamp::MAX` trusts all: the nightly, right after a describe).
    pub fn plan_within(
        &self,
        object: SObject,
        fields: &[String],
        now: Timestamp,
        max_age_ms: Timestamp,
    ) -> FieldPlan {
        let mut plan = FieldPlan::default();
        for field in fields {
            match self.known(object, field) {
                Some(Known {
                    problem: Some(problem),
                    at,
                }) if now.saturating_sub(at) < max_age_ms => plan.owed.push(OwedField {
                    field: FieldRef {
                        object,
                        field: field.clone(),
                    },
                    problem,
                }),
                _ => plan.write.push(field.clone()),
            }
        }
        plan
    }

    /// The problems known for the selected `fields`, per object.
    pub fn problems(&self, fields: &[String]) -> Vec<OwedField> {
        let mut out = Vec::new();
        for object in SObject::ALL {
            for field in fields {
                if let Some(Known {
                    problem: Some(problem),
                    ..
                }) = self.known(object, field)
                {
                    out.push(OwedField {
                        field: FieldRef {
                            object,
                            field: field.clone(),
                        },
                        problem,
                    });
                }
            }
        }
        out
    }

    /// The write that stores the cache when something changed since it was
    /// read (a field's state, not merely the time it was last confirmed).
    pub fn store_op(&mut self) -> Option<WriteOp> {
        if !self.changed {
            return None;
        }
        self.changed = false;
        Some(WriteOp::Set(
            CACHE_KEY.into(),
            serde_json::to_vec(self).expect("the field cache serializes"),
        ))
    }
}

/// The fields of one write: what to send and what is owed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPlan {
    /// Fields to set to true.
    pub write: Vec<String>,
    /// Selected fields left out, with why.
    pub owed: Vec<OwedField>,
}

impl FieldPlan {
    /// Moves a refused field from `write` to `owed`.
    pub fn drop_refused(&mut self, refused: OwedField) {
        self.write
            .retain(|f| !f.eq_ignore_ascii_case(&refused.field.field));
        if !self.owed.contains(&refused) {
            self.owed.push(refused);
        }
    }

    /// The error when nothing can be written: the first owed field's.
    pub fn nothing_writable(&self) -> Option<SyncError> {
        if self.write.is_empty() {
            self.owed.first().map(OwedField::error)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn describe() -> Value {
        json!({"fields": [
            {"name": "HasOptedOutOfEmail", "type": "boolean", "updateable": true},
            {"name": "Locked__c", "type": "boolean", "updateable": false},
            {"name": "Text__c", "type": "string", "updateable": true},
        ]})
    }

    #[test]
    fn a_describe_tells_each_state() {
        let d = describe();
        assert_eq!(
            describe_field(&d, "hasoptedoutofemail"),
            Described::Writable
        );
        assert_eq!(describe_field(&d, "Locked__c"), Described::ReadOnly);
        assert_eq!(
            describe_field(&d, "Text__c"),
            Described::NotCheckbox("string".into())
        );
        assert_eq!(describe_field(&d, "Gone__c"), Described::Missing);
    }

    #[test]
    fn a_known_problem_is_left_out_until_it_is_rechecked() {
        let fields = vec!["HasOptedOutOfEmail".to_string(), "Gone__c".to_string()];
        let mut cache = FieldCache::default();
        assert_eq!(cache.plan(SObject::Lead, &fields, 0).write, fields);
        cache.learn(
            SObject::Lead,
            "Gone__c",
            Some(FieldProblem::NotInstalled),
            1_000,
        );
        let plan = cache.plan(SObject::Lead, &fields, 2_000);
        assert_eq!(plan.write, vec!["HasOptedOutOfEmail"]);
        assert_eq!(plan.owed[0].problem, FieldProblem::NotInstalled);
        // The other object knows nothing of it.
        assert_eq!(cache.plan(SObject::Contact, &fields, 2_000).write, fields);
        // An hour later a push tries it again.
        assert_eq!(
            cache.plan(SObject::Lead, &fields, 1_000 + RECHECK_MS).write,
            fields
        );
        assert!(!cache.all_writable(SObject::Lead, &fields));
        assert!(cache.store_op().is_some());
        assert!(cache.store_op().is_none());
    }

    #[test]
    fn only_a_selected_field_counts_as_refused() {
        let fields = vec!["HasOptedOutOfEmail".to_string(), "Sales__c".to_string()];
        let refused = SyncError::FieldNotInstalled(FieldRef {
            object: SObject::Contact,
            field: "sales__c".into(),
        });
        let owed = refused_field(&refused, &fields).unwrap();
        assert_eq!(owed.field.field, "Sales__c");
        let other = SyncError::FieldNotInstalled(FieldRef {
            object: SObject::Contact,
            field: "Other__c".into(),
        });
        assert!(refused_field(&other, &fields).is_none());
        let mut plan = FieldPlan {
            write: fields.clone(),
            owed: vec![],
        };
        plan.drop_refused(owed);
        assert_eq!(plan.write, vec!["HasOptedOutOfEmail"]);
        assert!(plan.nothing_writable().is_none());
    }
}
