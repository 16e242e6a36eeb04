//! The public data model: objects, seed files, field access, validation rules and record
//! snapshots. These types are also the JSON formats of `org.json` and of the admin API.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The two sObject types the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SObject {
    /// `Lead`, key prefix `00Q`.
    Lead,
    /// `Contact`, key prefix `003`.
    Contact,
}

impl SObject {
    /// Both objects, Lead first.
    pub const ALL: [SObject; 2] = [SObject::Lead, SObject::Contact];

    /// The API name (`Lead` or `Contact`).
    pub fn name(self) -> &'static str {
        match self {
            SObject::Lead => "Lead",
            SObject::Contact => "Contact",
        }
    }

    /// The plural label used by describe.
    pub fn label_plural(self) -> &'static str {
        match self {
            SObject::Lead => "Leads",
            SObject::Contact => "Contacts",
        }
    }

    /// The three-character key prefix of this object's record Ids.
    pub fn key_prefix(self) -> &'static str {
        match self {
            SObject::Lead => "00Q",
            SObject::Contact => "003",
        }
    }

    /// A small dense index (Lead 0, Contact 1) for per-object tables.
    pub(crate) fn index(self) -> usize {
        match self {
            SObject::Lead => 0,
            SObject::Contact => 1,
        }
    }
}

impl fmt::Display for SObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an object name that is neither Lead nor Contact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sObject type '{0}' is not supported")]
pub struct UnknownSObject(pub String);

impl FromStr for SObject {
    type Err = UnknownSObject;

    /// Object names are case-insensitive in REST paths and SOQL, as in Salesforce.
    fn from_str(s: &str) -> Result<SObject, UnknownSObject> {
        if s.eq_ignore_ascii_case("Lead") {
            Ok(SObject::Lead)
        } else if s.eq_ignore_ascii_case("Contact") {
            Ok(SObject::Contact)
        } else {
            Err(UnknownSObject(s.to_owned()))
        }
    }
}

/// Field-level security of one field for the integration user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum FieldAccess {
    /// Not readable: absent from describe, `INVALID_FIELD` on write and in queries.
    Hidden,
    /// Readable, not editable: `updateable: false` in describe,
    /// `INVALID_FIELD_FOR_INSERT_UPDATE` on write.
    ReadOnly,
    /// Readable and editable (the default).
    #[default]
    ReadWrite,
}

/// One record of a seed (`org.json` `records[]`, the admin `insert` body, [`crate::Emulator::insert`]).
///
/// Keys use Salesforce field names; any other key is a custom checkbox value, for example
/// `"Sales_Opt_Out__c": true` (the field must be declared in `custom_checkbox_fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRecord {
    /// `Lead` or `Contact`.
    #[serde(rename = "type")]
    pub object: SObject,
    /// 15- or 18-character Id; generated when absent. Its key prefix must match `object`.
    #[serde(rename = "Id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `Email`.
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    /// `FirstName`.
    #[serde(rename = "FirstName", default)]
    pub first_name: Option<String>,
    /// `LastName` (required by Salesforce on write; a seed may leave it out).
    #[serde(rename = "LastName", default)]
    pub last_name: Option<String>,
    /// `HasOptedOutOfEmail`, the standard "Email Opt Out" checkbox.
    #[serde(rename = "HasOptedOutOfEmail", default)]
    pub has_opted_out_of_email: bool,
    /// `IsConverted` (Lead only).
    #[serde(rename = "IsConverted", default)]
    pub is_converted: bool,
    /// `ConvertedContactId` (Lead only).
    #[serde(rename = "ConvertedContactId", default)]
    pub converted_contact_id: Option<String>,
    /// `IsDeleted` (soft-deleted, in the recycle bin).
    #[serde(rename = "IsDeleted", default)]
    pub is_deleted: bool,
    /// `MasterRecordId` (the surviving record of a merge).
    #[serde(rename = "MasterRecordId", default)]
    pub master_record_id: Option<String>,
    /// `LastModifiedDate` as `2025-07-08T10:00:00.000+0000`; defaults to the seeding time.
    #[serde(
        rename = "LastModifiedDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date: Option<String>,
    /// Custom checkbox values by API name.
    #[serde(flatten)]
    pub custom: BTreeMap<String, bool>,
}

impl SeedRecord {
    /// An empty record of the given type.
    pub fn new(object: SObject) -> SeedRecord {
        SeedRecord {
            object,
            id: None,
            email: None,
            first_name: None,
            last_name: None,
            has_opted_out_of_email: false,
            is_converted: false,
            converted_contact_id: None,
            is_deleted: false,
            master_record_id: None,
            last_modified_date: None,
            custom: BTreeMap::new(),
        }
    }

    /// A Lead with an email address and a last name derived from it.
    pub fn lead(email: &str) -> SeedRecord {
        SeedRecord::new(SObject::Lead).with_email(email)
    }

    /// A Contact with an email address and a last name derived from it.
    pub fn contact(email: &str) -> SeedRecord {
        SeedRecord::new(SObject::Contact).with_email(email)
    }

    /// Sets the Id.
    pub fn with_id(mut self, id: &str) -> SeedRecord {
        self.id = Some(id.to_owned());
        self
    }

    /// Sets the email (and a last name from its local part when none is set).
    pub fn with_email(mut self, email: &str) -> SeedRecord {
        if self.last_name.is_none() {
            let local = email.split('@').next().unwrap_or(email);
            self.last_name = Some(local.to_owned());
        }
        self.email = Some(email.to_owned());
        self
    }

    /// Sets `HasOptedOutOfEmail`.
    pub fn opted_out(mut self, value: bool) -> SeedRecord {
        self.has_opted_out_of_email = value;
        self
    }

    /// Sets a custom checkbox value.
    pub fn with_checkbox(mut self, field: &str, value: bool) -> SeedRecord {
        self.custom.insert(field.to_owned(), value);
        self
    }
}

/// A custom checkbox field on one object (`org.json` `custom_checkbox_fields[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    /// The object the field is defined on.
    pub object: SObject,
    /// API name, for example `Sales_Opt_Out__c` or `ns__Opt_Out__c`.
    pub name: String,
    /// UI label; derived from the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Field-level security for one field (`org.json` `field_access[]`, admin `field-access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAccessRule {
    /// The object.
    pub object: SObject,
    /// Field API name (standard or custom; case-insensitive).
    pub field: String,
    /// What the integration user may do with it.
    pub access: FieldAccess,
}

/// A validation rule: a write that matches fails with `FIELD_CUSTOM_VALIDATION_EXCEPTION`
/// and the admin's `message`. Every condition given must match; a rule without conditions
/// fires on every write to its object(s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRule {
    /// Restricts the rule to one object; both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<SObject>,
    /// Fires only for this record (15 or 18 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Fires only when the record's Email ends with this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_suffix: Option<String>,
    /// The field the error is attached to (reported in `fields`); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_field: Option<String>,
    /// The admin-authored error text.
    pub message: String,
}

/// An org to load: schema additions, field-level security, validation rules and records.
/// This is the `org.json` format and the body of `POST /__admin/seed`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrgSeed {
    /// Custom checkbox fields to add (before the records are loaded).
    #[serde(default)]
    pub custom_checkbox_fields: Vec<CustomFieldDef>,
    /// Field-level security overrides.
    #[serde(default)]
    pub field_access: Vec<FieldAccessRule>,
    /// Validation rules.
    #[serde(default)]
    pub validation_rules: Vec<ValidationRule>,
    /// Leads and Contacts.
    #[serde(default)]
    pub records: Vec<SeedRecord>,
}

/// A copy of one record as stored, including soft-deleted ones (admin view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSnapshot {
    /// `Lead` or `Contact`.
    #[serde(rename = "type")]
    pub object: SObject,
    /// Canonical 18-character Id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Email`.
    #[serde(rename = "Email")]
    pub email: Option<String>,
    /// `FirstName`.
    #[serde(rename = "FirstName")]
    pub first_name: Option<String>,
    /// `LastName`.
    #[serde(rename = "LastName")]
    pub last_name: Option<String>,
    /// `HasOptedOutOfEmail`.
    #[serde(rename = "HasOptedOutOfEmail")]
    pub has_opted_out_of_email: bool,
    /// `IsConverted` (always false for Contacts).
    #[serde(rename = "IsConverted")]
    pub is_converted: bool,
    /// `ConvertedContactId`.
    #[serde(rename = "ConvertedContactId")]
    pub converted_contact_id: Option<String>,
    /// `IsDeleted`.
    #[serde(rename = "IsDeleted")]
    pub is_deleted: bool,
    /// `MasterRecordId`.
    #[serde(rename = "MasterRecordId")]
    pub master_record_id: Option<String>,
    /// `LastModifiedDate`, `2025-07-08T10:00:00.000+0000` format.
    #[serde(rename = "LastModifiedDate")]
    pub last_modified_date: String,
    /// How many times the record was written through the API (not by admin calls).
    pub write_count: u64,
    /// Custom checkbox values by API name (every custom checkbox of the object).
    #[serde(flatten)]
    pub custom: BTreeMap<String, bool>,
}

impl RecordSnapshot {
    /// The value of a checkbox by API name (case-insensitive): `HasOptedOutOfEmail`,
    /// `IsConverted`, `IsDeleted` or a custom checkbox. `None` for an unknown field.
    pub fn checkbox(&self, field: &str) -> Option<bool> {
        if field.eq_ignore_ascii_case("HasOptedOutOfEmail") {
            Some(self.has_opted_out_of_email)
        } else if field.eq_ignore_ascii_case("IsConverted") {
            Some(self.is_converted)
        } else if field.eq_ignore_ascii_case("IsDeleted") {
            Some(self.is_deleted)
        } else {
            self.custom
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(field))
                .map(|(_, v)| *v)
        }
    }
}
