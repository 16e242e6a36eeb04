//! The org's data: a compact in-memory table of Leads and Contacts with an Id index and a
//! case-insensitive email index, plus the write pipeline every API shares.
//!
//! Records live in one `Vec`, addressed by `u32` position; a record is never removed
//! (Salesforce soft-deletes), so positions stay valid for cursors and bulk jobs. Checkbox
//! values are bits, custom checkboxes a `u64` bit set, the three text fields share one
//! allocation, and rarely used references are boxed: a record is 80 bytes plus one small
//! string. The two indexes hold only `u32` positions (keys are compared against the record
//! itself), about 5 bytes per record each.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use crate::error::RecordError;
use crate::model::{FieldAccessRule, OrgSeed, RecordSnapshot, SObject, SeedRecord, ValidationRule};
use crate::schema::{FieldRef, ObjectSchema, SchemaError};
use crate::sfid::{self, SfId, SfIdError};
use crate::time;

const OPTED_OUT: u8 = 1;
const CONVERTED: u8 = 2;
const DELETED: u8 = 4;

/// Two-letter "pod" marker in ids created by [`Org::insert`] without an explicit Id.
const INSERT_POD: &str = "5I";

/// `lens` value of a null text field.
const NULL_LEN: u16 = u16::MAX;
/// Longest text value a record stores, in bytes.
const MAX_TEXT: usize = (u16::MAX - 1) as usize;
/// Positions of the text fields in `Record::text`.
const EMAIL: usize = 0;
const FIRST_NAME: usize = 1;
const LAST_NAME: usize = 2;

/// One stored record.
#[derive(Debug, Clone)]
pub struct Record {
    /// Canonical 18-character Id.
    pub id: SfId,
    /// Lead or Contact.
    pub object: SObject,
    flags: u8,
    /// Byte lengths of Email, FirstName, LastName inside `text` (`NULL_LEN` = null).
    lens: [u16; 3],
    /// API writes so far.
    pub write_count: u32,
    /// Custom checkbox values, bit `i` = `ObjectSchema::custom[i]`.
    pub custom: u64,
    /// `LastModifiedDate`, epoch ms.
    pub last_modified: i64,
    /// Email, FirstName and LastName, concatenated.
    text: Box<str>,
    /// `ConvertedContactId`.
    pub converted_contact_id: Option<Box<SfId>>,
    /// `MasterRecordId`.
    pub master_record_id: Option<Box<SfId>>,
}

/// Packs the three text fields into one allocation.
fn pack(parts: [Option<&str>; 3]) -> Option<(Box<str>, [u16; 3])> {
    let mut text = String::with_capacity(parts.iter().flatten().map(|p| p.len()).sum());
    let mut lens = [NULL_LEN; 3];
    for (part, len) in parts.iter().zip(lens.iter_mut()) {
        if let Some(p) = part {
            if p.len() > MAX_TEXT {
                return None;
            }
            text.push_str(p);
            *len = p.len() as u16;
        }
    }
    Some((text.into_boxed_str(), lens))
}

/// A field value read from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A checkbox.
    Bool(bool),
    /// A text field (null when `None`).
    Text(Option<&'a str>),
    /// An Id or reference field.
    Id(Option<&'a SfId>),
    /// A datetime, epoch ms.
    DateTime(i64),
}

impl Record {
    /// `HasOptedOutOfEmail`.
    pub fn opted_out(&self) -> bool {
        self.flags & OPTED_OUT != 0
    }

    /// `IsConverted`.
    pub fn is_converted(&self) -> bool {
        self.flags & CONVERTED != 0
    }

    /// `IsDeleted`.
    pub fn is_deleted(&self) -> bool {
        self.flags & DELETED != 0
    }

    fn text_field(&self, field: usize) -> Option<&str> {
        let len = self.lens[field];
        if len == NULL_LEN {
            return None;
        }
        let start: usize = self.lens[..field]
            .iter()
            .filter(|&&l| l != NULL_LEN)
            .map(|&l| usize::from(l))
            .sum();
        self.text.get(start..start + usize::from(len))
    }

    /// `Email`.
    pub fn email(&self) -> Option<&str> {
        self.text_field(EMAIL)
    }

    /// `FirstName`.
    pub fn first_name(&self) -> Option<&str> {
        self.text_field(FIRST_NAME)
    }

    /// `LastName`.
    pub fn last_name(&self) -> Option<&str> {
        self.text_field(LAST_NAME)
    }

    /// Replaces one text field (values are length-checked by the callers).
    fn set_text(&mut self, field: usize, value: Option<&str>) {
        let mut parts = [self.email(), self.first_name(), self.last_name()];
        parts[field] = value;
        if let Some((text, lens)) = pack(parts) {
            self.text = text;
            self.lens = lens;
        }
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Reads a field.
    pub fn value(&self, field: FieldRef) -> Value<'_> {
        match field {
            FieldRef::Id => Value::Id(Some(&self.id)),
            FieldRef::IsDeleted => Value::Bool(self.is_deleted()),
            FieldRef::MasterRecordId => Value::Id(self.master_record_id.as_deref()),
            FieldRef::FirstName => Value::Text(self.first_name()),
            FieldRef::LastName => Value::Text(self.last_name()),
            FieldRef::Email => Value::Text(self.email()),
            FieldRef::HasOptedOutOfEmail => Value::Bool(self.opted_out()),
            FieldRef::IsConverted => Value::Bool(self.is_converted()),
            FieldRef::ConvertedContactId => Value::Id(self.converted_contact_id.as_deref()),
            FieldRef::LastModifiedDate => Value::DateTime(self.last_modified),
            FieldRef::Custom(bit) => Value::Bool(self.custom & (1u64 << bit) != 0),
        }
    }

    /// Reads a checkbox (false for non-checkbox fields).
    pub fn checkbox(&self, field: FieldRef) -> bool {
        matches!(self.value(field), Value::Bool(true))
    }
}

/// A new value for one field of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewValue {
    /// A checkbox value.
    Bool(bool),
    /// A text value (`None` = null).
    Text(Option<Box<str>>),
}

/// One field assignment of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The field.
    pub field: FieldRef,
    /// Its new value.
    pub value: NewValue,
}

/// Why an admin or seeding operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Not a usable Id.
    #[error("'{0}' is not a valid Id: {1}")]
    BadId(String, SfIdError),
    /// The Id's key prefix does not belong to the object.
    #[error("Id '{id}' is not a {object} Id")]
    WrongObject {
        /// The Id.
        id: String,
        /// The object it was meant for.
        object: SObject,
    },
    /// No record has this Id.
    #[error("no record with Id '{0}'")]
    NoSuchRecord(String),
    /// A field that the object does not have.
    #[error("{object} has no checkbox field '{field}'")]
    UnknownField {
        /// The object.
        object: SObject,
        /// The field name.
        field: String,
    },
    /// A malformed `LastModifiedDate`.
    #[error("'{0}' is not a timestamp like 2025-07-08T10:00:00.000+0000")]
    BadTimestamp(String),
    /// A schema change was refused.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Anything else about the request.
    #[error("{0}")]
    Invalid(String),
}

/// A validation rule with its record Id resolved once.
#[derive(Debug, Clone)]
struct Rule {
    rule: ValidationRule,
    record_key: Option<[u8; 15]>,
    suffix_folded: Option<String>,
}

/// Lower-cases an email for case-insensitive comparison; allocation-free for the common
/// all-lower-case ASCII input. Email comparison in SOQL is case-insensitive (UNCONFIRMED,
/// plugin/SALESFORCE.md §4.7 — widely relied upon, taken as documented).
pub fn fold_email(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn email_hash(s: &str) -> u64 {
    let mut h = FxHasher::default();
    fold_email(s).hash(&mut h);
    h.finish()
}

fn key_hash(key: &[u8; 15]) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

/// Hash of a record's Id key, for rehashing the Id index.
fn record_key_hash(records: &[Record], idx: u32) -> u64 {
    key_hash(&records[idx as usize].id.key())
}

/// Hash of a record's folded email, for rehashing the email index (indexed records
/// always have an email).
fn record_email_hash(records: &[Record], idx: u32) -> u64 {
    email_hash(records[idx as usize].email().unwrap_or(""))
}

/// The whole org: records, indexes, schema, validation rules.
#[derive(Debug)]
pub struct Org {
    records: Vec<Record>,
    /// Id key → position.
    by_key: HashTable<u32>,
    /// Folded email → positions (one entry per record with an email).
    by_email: HashTable<u32>,
    schemas: [ObjectSchema; 2],
    rules: Vec<Rule>,
    insert_counter: u64,
}

impl Org {
    /// An empty org.
    pub fn new(now_ms: i64) -> Org {
        Org {
            records: Vec::new(),
            by_key: HashTable::new(),
            by_email: HashTable::new(),
            schemas: [
                ObjectSchema::new(SObject::Lead, now_ms),
                ObjectSchema::new(SObject::Contact, now_ms),
            ],
            rules: Vec::new(),
            insert_counter: 0,
        }
    }

    /// Number of records (deleted ones included).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The record at a position.
    pub fn get(&self, idx: u32) -> &Record {
        &self.records[idx as usize]
    }

    /// The schema of an object.
    pub fn schema(&self, object: SObject) -> &ObjectSchema {
        &self.schemas[object.index()]
    }

    /// The schema of an object, mutably.
    pub fn schema_mut(&mut self, object: SObject) -> &mut ObjectSchema {
        &mut self.schemas[object.index()]
    }

    /// Resolves a 15- or 18-character Id to a position.
    pub fn resolve(&self, id: &str) -> Option<u32> {
        let key = sfid::normalize(id).ok()?;
        self.resolve_key(&key)
    }

    /// Resolves an already-normalised key.
    pub fn resolve_key(&self, key: &[u8; 15]) -> Option<u32> {
        self.by_key
            .find(key_hash(key), |&i| {
                self.records[i as usize].id.key() == *key
            })
            .copied()
    }

    /// Positions of records whose Email equals `email` case-insensitively.
    pub fn find_email<'a>(&'a self, email: &'a str) -> impl Iterator<Item = u32> + 'a {
        let folded = fold_email(email);
        self.by_email
            .iter_hash(email_hash(email))
            .copied()
            .filter(move |&i| {
                self.records[i as usize]
                    .email()
                    .is_some_and(|e| fold_email(e) == folded)
            })
    }

    fn index_email(&mut self, idx: u32) {
        let Some(email) = self.records[idx as usize].email() else {
            return;
        };
        let records = &self.records;
        self.by_email
            .insert_unique(email_hash(email), idx, |&i| record_email_hash(records, i));
    }

    fn unindex_email(&mut self, idx: u32) {
        let Some(email) = self.records[idx as usize].email() else {
            return;
        };
        if let Ok(entry) = self.by_email.find_entry(email_hash(email), |&i| i == idx) {
            entry.remove();
        }
    }

    /// Applies a seed: schema first, then records (all validated before any is stored).
    pub fn load_seed(&mut self, seed: OrgSeed, now_ms: i64) -> Result<usize, AdminError> {
        for def in &seed.custom_checkbox_fields {
            self.schema_mut(def.object)
                .add_custom(&def.name, def.label.as_deref(), now_ms)?;
        }
        for FieldAccessRule {
            object,
            field,
            access,
        } in &seed.field_access
        {
            self.schema_mut(*object).set_access(field, *access, now_ms);
        }
        for rule in seed.validation_rules {
            self.add_rule(rule)?;
        }
        let mut built = Vec::with_capacity(seed.records.len());
        for rec in seed.records {
            built.push(self.build(rec, now_ms)?);
        }
        let n = built.len();
        self.records.reserve(n);
        let records = &self.records;
        self.by_key.reserve(n, |&i| record_key_hash(records, i));
        self.by_email.reserve(n, |&i| record_email_hash(records, i));
        for rec in built {
            self.store(rec);
        }
        Ok(n)
    }

    /// Inserts one record; returns its canonical Id.
    pub fn insert(&mut self, rec: SeedRecord, now_ms: i64) -> Result<SfId, AdminError> {
        let rec = self.build(rec, now_ms)?;
        let id = rec.id;
        self.store(rec);
        Ok(id)
    }

    /// Adds a validation rule.
    pub fn add_rule(&mut self, rule: ValidationRule) -> Result<(), AdminError> {
        let record_key = match &rule.record_id {
            Some(id) => Some(sfid::normalize(id).map_err(|e| AdminError::BadId(id.clone(), e))?),
            None => None,
        };
        let suffix_folded = rule
            .email_suffix
            .as_deref()
            .map(|s| fold_email(s).into_owned());
        self.rules.push(Rule {
            rule,
            record_key,
            suffix_folded,
        });
        Ok(())
    }

    fn parse_ref(id: &str) -> Result<SfId, AdminError> {
        SfId::parse(id).map_err(|e| AdminError::BadId(id.to_owned(), e))
    }

    fn build(&mut self, rec: SeedRecord, now_ms: i64) -> Result<Record, AdminError> {
        let id = match &rec.id {
            Some(text) => {
                let id = Self::parse_ref(text)?;
                if id.sobject() != Some(rec.object) {
                    return Err(AdminError::WrongObject {
                        id: text.clone(),
                        object: rec.object,
                    });
                }
                id
            }
            None => self.next_id(rec.object),
        };
        let last_modified = match &rec.last_modified_date {
            Some(text) => {
                time::parse_sf(text).ok_or_else(|| AdminError::BadTimestamp(text.clone()))?
            }
            None => now_ms,
        };
        let mut flags = 0u8;
        if rec.has_opted_out_of_email {
            flags |= OPTED_OUT;
        }
        if rec.is_deleted {
            flags |= DELETED;
        }
        if rec.is_converted || rec.converted_contact_id.is_some() {
            if rec.object != SObject::Lead {
                return Err(AdminError::Invalid(format!(
                    "{}: only Leads can be converted",
                    id
                )));
            }
            flags |= CONVERTED;
        }
        let mut custom = 0u64;
        let schema = self.schema(rec.object);
        for (name, value) in &rec.custom {
            let Some(FieldRef::Custom(bit)) = schema.lookup_any(name).map(|f| f.field) else {
                return Err(AdminError::UnknownField {
                    object: rec.object,
                    field: name.clone(),
                });
            };
            if *value {
                custom |= 1u64 << bit;
            }
        }
        let converted_contact_id = rec
            .converted_contact_id
            .as_deref()
            .map(Self::parse_ref)
            .transpose()?
            .map(Box::new);
        let master_record_id = rec
            .master_record_id
            .as_deref()
            .map(Self::parse_ref)
            .transpose()?
            .map(Box::new);
        let (text, lens) = pack([
            rec.email.as_deref(),
            rec.first_name.as_deref(),
            rec.last_name.as_deref(),
        ])
        .ok_or_else(|| {
            AdminError::Invalid(format!(
                "{id}: a text field is longer than {MAX_TEXT} bytes"
            ))
        })?;
        Ok(Record {
            id,
            object: rec.object,
            flags,
            lens,
            write_count: 0,
            custom,
            last_modified,
            text,
            converted_contact_id,
            master_record_id,
        })
    }

    fn next_id(&mut self, object: SObject) -> SfId {
        loop {
            self.insert_counter += 1;
            let id = sfid::make_id(object.key_prefix(), INSERT_POD, self.insert_counter);
            if self.resolve_key(&id.key()).is_none() {
                return id;
            }
        }
    }

    /// Stores a built record, replacing any record with the same Id.
    fn store(&mut self, rec: Record) {
        let key = rec.id.key();
        if let Some(idx) = self.resolve_key(&key) {
            self.unindex_email(idx);
            self.records[idx as usize] = rec;
            self.index_email(idx);
            return;
        }
        let idx = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        self.records.push(rec);
        let records = &self.records;
        self.by_key
            .insert_unique(key_hash(&key), idx, |&i| record_key_hash(records, i));
        self.index_email(idx);
    }

    /// Resolves the target of an update in Collections and Bulk: the Id must parse, belong
    /// to `object`, exist, not be deleted and not be a converted Lead.
    pub fn target(&self, object: SObject, id: &str) -> Result<u32, RecordError> {
        let Ok(key) = sfid::normalize(id) else {
            return Err(RecordError::malformed_id(object, id));
        };
        if sfid::sobject_for_prefix(std::str::from_utf8(&key[..3]).unwrap_or("")) != Some(object) {
            return Err(RecordError::malformed_id(object, id));
        }
        let Some(idx) = self.resolve_key(&key) else {
            // A well-formed Id of the right object that names no record. Salesforce's
            // answer for this in Collections/Bulk is UNCONFIRMED (); the SOAP
            // heritage code for an unknown reference is used.
            return Err(RecordError {
                code: "INVALID_CROSS_REFERENCE_KEY",
                message: "invalid cross reference id".to_owned(),
                fields: Some(vec![]),
            });
        };
        self.check_writable(idx)?;
        Ok(idx)
    }

    /// Deleted records and converted Leads refuse writes.
    pub fn check_writable(&self, idx: u32) -> Result<(), RecordError> {
        let rec = self.get(idx);
        if rec.is_deleted() {
            return Err(RecordError::entity_is_deleted());
        }
        if rec.object == SObject::Lead && rec.is_converted() {
            return Err(RecordError::converted_lead());
        }
        Ok(())
    }

    /// Checks an update of a writable record without applying it: field-level security,
    /// values, then the lock fault (`lock_fault()` is drawn only for a record that would
    /// otherwise be written, so a seed gives the same lock errors for the same writes),
    /// then validation rules.
    pub fn prepare(
        &self,
        idx: u32,
        changes: &[Change],
        lock_fault: &mut dyn FnMut() -> bool,
    ) -> Result<(), RecordError> {
        let rec = self.get(idx);
        let schema = self.schema(rec.object);
        let read_only: Vec<&str> = changes
            .iter()
            .filter_map(|c| schema.info(c.field))
            .filter(|info| !info.updateable)
            .map(|info| info.name)
            .collect();
        if !read_only.is_empty() {
            let mut err = RecordError::not_updateable(&read_only.join(", "));
            err.fields = Some(read_only.iter().map(|s| (*s).to_owned()).collect());
            return Err(err);
        }
        let mut new_email: Option<Option<&str>> = None;
        for change in changes {
            if let (NewValue::Text(Some(v)), Some(info)) =
                (&change.value, schema.info(change.field))
                && info.length > 0
                && v.chars().count() > info.length as usize
            {
                return Err(RecordError::too_long(info.label, info.name, v, info.length));
            }
            match (&change.field, &change.value) {
                (FieldRef::Email, NewValue::Text(v)) => {
                    if let Some(e) = v.as_deref()
                        && !looks_like_email(e)
                    {
                        return Err(RecordError::invalid_email(e));
                    }
                    new_email = Some(v.as_deref());
                }
                (FieldRef::LastName, NewValue::Text(v))
                    if v.as_deref().is_none_or(|s| s.trim().is_empty()) =>
                {
                    return Err(RecordError::required_missing("LastName"));
                }
                _ => {}
            }
        }
        if lock_fault() {
            return Err(RecordError::unable_to_lock_row(rec.id.as_str()));
        }
        let email = new_email.unwrap_or(rec.email());
        if let Some(rule) = self.rules.iter().find(|r| rule_matches(r, rec, email)) {
            return Err(RecordError::validation(
                &rule.rule.message,
                rule.rule.error_field.as_deref(),
            ));
        }
        Ok(())
    }

    /// Applies a prepared update: field values, `LastModifiedDate` (strictly increasing per
    /// record) and the write counter.
    pub fn commit(&mut self, idx: u32, changes: &[Change], now_ms: i64) {
        for change in changes {
            self.set_value(idx, change.field, &change.value);
        }
        let rec = &mut self.records[idx as usize];
        rec.last_modified = now_ms.max(rec.last_modified + 1);
        rec.write_count = rec.write_count.saturating_add(1);
    }

    fn set_value(&mut self, idx: u32, field: FieldRef, value: &NewValue) {
        let rec = &mut self.records[idx as usize];
        match (field, value) {
            (FieldRef::HasOptedOutOfEmail, NewValue::Bool(v)) => rec.set_flag(OPTED_OUT, *v),
            (FieldRef::IsConverted, NewValue::Bool(v)) => rec.set_flag(CONVERTED, *v),
            (FieldRef::IsDeleted, NewValue::Bool(v)) => rec.set_flag(DELETED, *v),
            (FieldRef::Custom(bit), NewValue::Bool(v)) => {
                if *v {
                    rec.custom |= 1u64 << bit;
                } else {
                    rec.custom &= !(1u64 << bit);
                }
            }
            (FieldRef::FirstName, NewValue::Text(v)) => rec.set_text(FIRST_NAME, v.as_deref()),
            (FieldRef::LastName, NewValue::Text(v)) => rec.set_text(LAST_NAME, v.as_deref()),
            (FieldRef::Email, NewValue::Text(v)) => {
                self.unindex_email(idx);
                self.records[idx as usize].set_text(EMAIL, v.as_deref());
                self.index_email(idx);
            }
            // Other combinations are rejected by the callers' type checks.
            _ => {}
        }
    }

    /// A full copy of a record for the admin API.
    pub fn snapshot(&self, idx: u32) -> RecordSnapshot {
        let rec = self.get(idx);
        let schema = self.schema(rec.object);
        let custom = schema
            .custom
            .iter()
            .enumerate()
            .map(|(bit, f)| (f.name.clone(), rec.custom & (1u64 << bit) != 0))
            .collect();
        RecordSnapshot {
            object: rec.object,
            id: rec.id.to_string(),
            email: rec.email().map(str::to_owned),
            first_name: rec.first_name().map(str::to_owned),
            last_name: rec.last_name().map(str::to_owned),
            has_opted_out_of_email: rec.opted_out(),
            is_converted: rec.is_converted(),
            converted_contact_id: rec.converted_contact_id.as_deref().map(SfId::to_string),
            is_deleted: rec.is_deleted(),
            master_record_id: rec.master_record_id.as_deref().map(SfId::to_string),
            last_modified_date: time::format_sf(rec.last_modified),
            write_count: u64::from(rec.write_count),
            custom,
        }
    }

    fn require(&self, id: &str) -> Result<u32, AdminError> {
        Self::parse_ref(id)?;
        self.resolve(id)
            .ok_or_else(|| AdminError::NoSuchRecord(id.to_owned()))
    }

    fn admin_touch(&mut self, idx: u32, now_ms: i64) {
        let rec = &mut self.records[idx as usize];
        rec.last_modified = now_ms.max(rec.last_modified + 1);
    }

    /// Converts a Lead: `IsConverted = true`, `ConvertedContactId = contact`.
    pub fn convert_lead(
        &mut self,
        lead: &str,
        contact: &str,
        now_ms: i64,
    ) -> Result<(), AdminError> {
        let idx = self.require(lead)?;
        if self.get(idx).object != SObject::Lead {
            return Err(AdminError::WrongObject {
                id: lead.to_owned(),
                object: SObject::Lead,
            });
        }
        let contact_id = Self::parse_ref(contact)?;
        if contact_id.sobject() != Some(SObject::Contact) {
            return Err(AdminError::WrongObject {
                id: contact.to_owned(),
                object: SObject::Contact,
            });
        }
        let rec = &mut self.records[idx as usize];
        rec.set_flag(CONVERTED, true);
        rec.converted_contact_id = Some(Box::new(contact_id));
        self.admin_touch(idx, now_ms);
        Ok(())
    }

    /// Merges `loser` into `master`: the loser is soft-deleted with `MasterRecordId` set.
    pub fn merge(&mut self, loser: &str, master: &str, now_ms: i64) -> Result<(), AdminError> {
        let loser_idx = self.require(loser)?;
        let master_idx = self.require(master)?;
        if self.get(loser_idx).object != self.get(master_idx).object {
            return Err(AdminError::Invalid(
                "merged records must be of the same object".to_owned(),
            ));
        }
        if loser_idx == master_idx {
            return Err(AdminError::Invalid(
                "a record cannot merge into itself".to_owned(),
            ));
        }
        let master_id = self.get(master_idx).id;
        let rec = &mut self.records[loser_idx as usize];
        rec.set_flag(DELETED, true);
        rec.master_record_id = Some(Box::new(master_id));
        self.admin_touch(loser_idx, now_ms);
        Ok(())
    }

    /// Soft-deletes a record (recycle bin).
    pub fn delete(&mut self, id: &str, now_ms: i64) -> Result<(), AdminError> {
        let idx = self.require(id)?;
        self.records[idx as usize].set_flag(DELETED, true);
        self.admin_touch(idx, now_ms);
        Ok(())
    }

    /// Sets a checkbox as an admin would in the UI (no FLS, no validation rules; bumps
    /// `LastModifiedDate`, not the API write counter).
    pub fn set_checkbox(
        &mut self,
        id: &str,
        field: &str,
        value: bool,
        now_ms: i64,
    ) -> Result<(), AdminError> {
        let idx = self.require(id)?;
        let object = self.get(idx).object;
        let field_ref = self
            .schema(object)
            .lookup_any(field)
            .filter(|f| matches!(f.field, FieldRef::HasOptedOutOfEmail | FieldRef::Custom(_)))
            .map(|f| f.field)
            .ok_or_else(|| AdminError::UnknownField {
                object,
                field: field.to_owned(),
            })?;
        self.set_value(idx, field_ref, &NewValue::Bool(value));
        self.admin_touch(idx, now_ms);
        Ok(())
    }

    /// Non-deleted records of `object` whose checkbox `field` is true.
    pub fn count_checked(&self, object: SObject, field: &str) -> Result<u64, AdminError> {
        let field_ref = self
            .schema(object)
            .lookup_any(field)
            .filter(|f| f.ty == crate::schema::FieldType::Boolean)
            .map(|f| f.field)
            .ok_or_else(|| AdminError::UnknownField {
                object,
                field: field.to_owned(),
            })?;
        Ok(self
            .records
            .iter()
            .filter(|r| r.object == object && !r.is_deleted() && r.checkbox(field_ref))
            .count() as u64)
    }

    /// Records of `object` (deleted ones included) that at least one API call
    /// wrote: with [`Store::count_checked`], proves a sync wrote exactly the
    /// records it had to.
    pub fn count_written(&self, object: SObject) -> u64 {
        self.records
            .iter()
            .filter(|r| r.object == object && r.write_count > 0)
            .count() as u64
    }
}

fn rule_matches(rule: &Rule, rec: &Record, email: Option<&str>) -> bool {
    if rule.rule.object.is_some_and(|o| o != rec.object) {
        return false;
    }
    if rule.record_key.is_some_and(|k| k != rec.id.key()) {
        return false;
    }
    if let Some(suffix) = &rule.suffix_folded {
        let Some(email) = email else { return false };
        if !fold_email(email).ends_with(suffix.as_str()) {
            return false;
        }
    }
    true
}

/// Salesforce's email check is stricter; this catches the obvious garbage.
fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        let mut org = Org::new(0);
        let seed = OrgSeed {
            records: vec![
                SeedRecord::lead("A@x.com").with_id("00Q5e00000AbCdEEAV"),
                SeedRecord::contact("a@X.com").with_id("0035e00000XyZaBAAV"),
            ],
            ..OrgSeed::default()
        };
        org.load_seed(seed, 1_000).unwrap();
        org
    }

    #[test]
    fn email_index_is_case_insensitive_and_tracks_writes() {
        let mut org = org();
        assert_eq!(org.find_email("a@x.COM").count(), 2);
        let idx = org.resolve("00Q5e00000AbCdE").unwrap();
        let change = Change {
            field: FieldRef::Email,
            value: NewValue::Text(Some("new@y.com".into())),
        };
        org.prepare(idx, std::slice::from_ref(&change), &mut || false)
            .unwrap();
        org.commit(idx, &[change], 500);
        assert_eq!(org.find_email("a@x.com").count(), 1);
        assert_eq!(org.find_email("NEW@y.com").collect::<Vec<_>>(), vec![idx]);
        // LastModifiedDate never goes backwards even if the clock does.
        assert_eq!(org.get(idx).last_modified, 1_001);
        assert_eq!(org.get(idx).write_count, 1);
    }

    #[test]
    fn targets() {
        let mut org = org();
        assert_eq!(
            org.target(SObject::Lead, "0035e00000XyZaBAAV")
                .unwrap_err()
                .code,
            "MALFORMED_ID"
        );
        assert_eq!(
            org.target(SObject::Lead, "nonsense").unwrap_err().code,
            "MALFORMED_ID"
        );
        org.delete("00Q5e00000AbCdEEAV", 5).unwrap();
        assert_eq!(
            org.target(SObject::Lead, "00Q5E00000ABCDEEAV")
                .unwrap_err()
                .code,
            "ENTITY_IS_DELETED"
        );
    }
}

#[cfg(test)]
mod layout {
    /// The compact layout is a design goal (a million records in memory); keep it.
    #[test]
    fn record_stays_small() {
        assert!(
            std::mem::size_of::<super::Record>() <= 80,
            "{}",
            std::mem::size_of::<super::Record>()
        );
    }

    #[test]
    fn packed_text_fields() {
        let (text, lens) = super::pack([Some("a@x.com"), None, Some("Lovelace")]).unwrap();
        let mut rec = super::Record {
            id: crate::sfid::SfId::parse("00Q5e00000AbCdEEAV").unwrap(),
            object: crate::model::SObject::Lead,
            flags: 0,
            lens,
            write_count: 0,
            custom: 0,
            last_modified: 0,
            text,
            converted_contact_id: None,
            master_record_id: None,
        };
        assert_eq!(
            (rec.email(), rec.first_name(), rec.last_name()),
            (Some("a@x.com"), None, Some("Lovelace"))
        );
        rec.set_text(super::FIRST_NAME, Some("Ada"));
        rec.set_text(super::EMAIL, None);
        assert_eq!(
            (rec.email(), rec.first_name(), rec.last_name()),
            (None, Some("Ada"), Some("Lovelace"))
        );
        rec.set_text(super::LAST_NAME, Some(""));
        assert_eq!(rec.last_name(), Some(""));
    }
}
