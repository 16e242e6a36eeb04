//! The field catalogue of Lead and Contact: standard fields, custom checkboxes and
//! field-level security. Everything that turns a field *name* into something the store
//! can read or write goes through here, so REST, Collections, SOQL, describe and Bulk
//! agree on which fields exist and which are editable.

use rustc_hash::FxHashMap;

use crate::model::{FieldAccess, SObject};

/// The most custom checkbox fields per object; values live in a `u64` bit set per record.
pub const MAX_CUSTOM_FIELDS: usize = 64;

/// A field the store knows how to read (and possibly write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// `Id`.
    Id,
    /// `IsDeleted`.
    IsDeleted,
    /// `MasterRecordId`.
    MasterRecordId,
    /// `FirstName`.
    FirstName,
    /// `LastName`.
    LastName,
    /// `Email`.
    Email,
    /// `HasOptedOutOfEmail`.
    HasOptedOutOfEmail,
    /// `IsConverted` (Lead).
    IsConverted,
    /// `ConvertedContactId` (Lead).
    ConvertedContactId,
    /// `LastModifiedDate`.
    LastModifiedDate,
    /// A custom checkbox: the bit index in the record's custom bit set.
    Custom(u8),
}

/// Describe `type` of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `id`.
    Id,
    /// `boolean` (checkbox).
    Boolean,
    /// `string`.
    String,
    /// `email`.
    Email,
    /// `reference` (lookup).
    Reference,
    /// `datetime`.
    DateTime,
}

impl FieldType {
    /// The describe `type` value.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
            FieldType::Email => "email",
            FieldType::Reference => "reference",
            FieldType::DateTime => "datetime",
        }
    }

    /// The describe `soapType` value.
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::String | FieldType::Email => "xsd:string",
            FieldType::DateTime => "xsd:dateTime",
        }
    }
}

/// Static facts about a standard field.
#[derive(Debug, Clone, Copy)]
pub struct StdField {
    /// The store handle.
    pub field: FieldRef,
    /// API name.
    pub name: &'static str,
    /// UI label.
    pub label: &'static str,
    /// Type.
    pub ty: FieldType,
    /// System-maintained: never updateable, whatever the field-level security says.
    pub system: bool,
    /// Present on Lead only.
    pub lead_only: bool,
    /// Maximum length for text fields (0 otherwise).
    pub length: u32,
    /// Whether the field can be null.
    pub nillable: bool,
}

/// The standard fields, in describe order.
pub const STANDARD_FIELDS: &[StdField] = &[
    std_field(
        FieldRef::Id,
        "Id",
        "Record ID",
        FieldType::Id,
        true,
        false,
        18,
        false,
    ),
    std_field(
        FieldRef::IsDeleted,
        "IsDeleted",
        "Deleted",
        FieldType::Boolean,
        true,
        false,
        0,
        false,
    ),
    std_field(
        FieldRef::MasterRecordId,
        "MasterRecordId",
        "Master Record ID",
        FieldType::Reference,
        true,
        false,
        18,
        true,
    ),
    std_field(
        FieldRef::LastName,
        "LastName",
        "Last Name",
        FieldType::String,
        false,
        false,
        80,
        false,
    ),
    std_field(
        FieldRef::FirstName,
        "FirstName",
        "First Name",
        FieldType::String,
        false,
        false,
        40,
        true,
    ),
    std_field(
        FieldRef::Email,
        "Email",
        "Email",
        FieldType::Email,
        false,
        false,
        80,
        true,
    ),
    std_field(
        FieldRef::HasOptedOutOfEmail,
        "HasOptedOutOfEmail",
        "Email Opt Out",
        FieldType::Boolean,
        false,
        false,
        0,
        false,
    ),
    std_field(
        FieldRef::IsConverted,
        "IsConverted",
        "Converted",
        FieldType::Boolean,
        true,
        true,
        0,
        false,
    ),
    std_field(
        FieldRef::ConvertedContactId,
        "ConvertedContactId",
        "Converted Contact ID",
        FieldType::Reference,
        true,
        true,
        18,
        true,
    ),
    std_field(
        FieldRef::LastModifiedDate,
        "LastModifiedDate",
        "Last Modified Date",
        FieldType::DateTime,
        true,
        false,
        0,
        false,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn std_field(
    field: FieldRef,
    name: &'static str,
    label: &'static str,
    ty: FieldType,
    system: bool,
    lead_only: bool,
    length: u32,
    nillable: bool,
) -> StdField {
    StdField {
        field,
        name,
        label,
        ty,
        system,
        lead_only,
        length,
        nillable,
    }
}

/// A custom checkbox field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    /// API name as defined (case preserved).
    pub name: String,
    /// UI label.
    pub label: String,
}

/// A field as the integration user sees it (after field-level security).
#[derive(Debug, Clone)]
pub struct FieldInfo<'a> {
    /// The store handle.
    pub field: FieldRef,
    /// Canonical API name.
    pub name: &'a str,
    /// Label.
    pub label: &'a str,
    /// Type.
    pub ty: FieldType,
    /// Editable by the user on update.
    pub updateable: bool,
    /// A `__c` field.
    pub custom: bool,
    /// Maximum length (text) or 0.
    pub length: u32,
    /// Nillable.
    pub nillable: bool,
}

/// Per-object schema state: custom checkboxes, field-level security, metadata timestamp.
#[derive(Debug, Clone)]
pub struct ObjectSchema {
    /// Which object.
    pub object: SObject,
    /// Custom checkbox fields; the position is the bit index.
    pub custom: Vec<CustomField>,
    /// Field-level security overrides by lower-cased field name.
    access: FxHashMap<String, FieldAccess>,
    /// When the metadata last changed (for describe `If-Modified-Since`), epoch ms.
    pub modified_ms: i64,
}

/// Why a custom field could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The name collides with a standard field.
    #[error("'{0}' is a standard field")]
    Standard(String),
    /// Too many custom checkbox fields on one object.
    #[error("at most {MAX_CUSTOM_FIELDS} custom checkbox fields per object")]
    TooMany,
    /// Not an API name (letters, digits, underscores).
    #[error("'{0}' is not a valid field API name")]
    BadName(String),
}

impl ObjectSchema {
    /// A schema with only the standard fields.
    pub fn new(object: SObject, now_ms: i64) -> ObjectSchema {
        ObjectSchema {
            object,
            custom: Vec::new(),
            access: FxHashMap::default(),
            modified_ms: now_ms,
        }
    }

    fn standard(&self) -> impl Iterator<Item = &'static StdField> + '_ {
        let lead = self.object == SObject::Lead;
        STANDARD_FIELDS.iter().filter(move |f| lead || !f.lead_only)
    }

    /// Adds a custom checkbox (idempotent). Returns its bit index.
    pub fn add_custom(
        &mut self,
        name: &str,
        label: Option<&str>,
        now_ms: i64,
    ) -> Result<u8, SchemaError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SchemaError::BadName(name.to_owned()));
        }
        if self.standard().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(SchemaError::Standard(name.to_owned()));
        }
        if let Some(i) = self
            .custom
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
        {
            return Ok(i as u8);
        }
        if self.custom.len() >= MAX_CUSTOM_FIELDS {
            return Err(SchemaError::TooMany);
        }
        let label = label
            .map(str::to_owned)
            .unwrap_or_else(|| derive_label(name));
        self.custom.push(CustomField {
            name: name.to_owned(),
            label,
        });
        self.modified_ms = now_ms;
        Ok((self.custom.len() - 1) as u8)
    }

    /// Sets field-level security for a field (by name, case-insensitive). Unknown names
    /// are remembered too, so access can be set before a custom field is added.
    pub fn set_access(&mut self, field: &str, access: FieldAccess, now_ms: i64) {
        // `Id` is always visible: Salesforce does not let FLS hide it.
        if field.eq_ignore_ascii_case("Id") {
            return;
        }
        self.access.insert(field.to_ascii_lowercase(), access);
        self.modified_ms = now_ms;
    }

    /// Field-level security of a field by canonical name.
    pub fn access(&self, name: &str) -> FieldAccess {
        if self.access.is_empty() {
            return FieldAccess::ReadWrite;
        }
        self.access
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
    }

    /// Finds a field by name (case-insensitive), ignoring field-level security.
    pub fn lookup_any(&self, name: &str) -> Option<FieldInfo<'_>> {
        if let Some(f) = self.standard().find(|f| f.name.eq_ignore_ascii_case(name)) {
            return Some(self.std_info(f));
        }
        self.custom
            .iter()
            .enumerate()
            .find(|(_, c)| c.name.eq_ignore_ascii_case(name))
            .map(|(i, c)| self.custom_info(i, c))
    }

    /// Finds a field the user can see (hidden fields are `None`, exactly like missing ones).
    pub fn lookup(&self, name: &str) -> Option<FieldInfo<'_>> {
        self.lookup_any(name)
            .filter(|info| self.access(info.name) != FieldAccess::Hidden)
    }

    /// The field a handle refers to (visible or not).
    pub fn info(&self, field: FieldRef) -> Option<FieldInfo<'_>> {
        match field {
            FieldRef::Custom(i) => self
                .custom
                .get(usize::from(i))
                .map(|c| self.custom_info(usize::from(i), c)),
            other => self
                .standard()
                .find(|f| f.field == other)
                .map(|f| self.std_info(f)),
        }
    }

    /// Every field the user can see, in describe order.
    pub fn visible_fields(&self) -> Vec<FieldInfo<'_>> {
        self.standard()
            .map(|f| self.std_info(f))
            .chain(
                self.custom
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.custom_info(i, c)),
            )
            .filter(|info| self.access(info.name) != FieldAccess::Hidden)
            .collect()
    }

    fn std_info(&self, f: &'static StdField) -> FieldInfo<'static> {
        FieldInfo {
            field: f.field,
            name: f.name,
            label: f.label,
            ty: f.ty,
            updateable: !f.system && self.access(f.name) == FieldAccess::ReadWrite,
            custom: false,
            length: f.length,
            nillable: f.nillable,
        }
    }

    fn custom_info<'a>(&self, index: usize, c: &'a CustomField) -> FieldInfo<'a> {
        FieldInfo {
            field: FieldRef::Custom(index as u8),
            name: &c.name,
            label: &c.label,
            ty: FieldType::Boolean,
            updateable: self.access(&c.name) == FieldAccess::ReadWrite,
            custom: true,
            length: 0,
            nillable: false,
        }
    }
}

/// `Sales_Opt_Out__c` → `Sales Opt Out`; `ns__Opt_Out__c` → `Opt Out`.
fn derive_label(name: &str) -> String {
    let base = name
        .strip_suffix("__c")
        .or_else(|| name.strip_suffix("__C"))
        .unwrap_or(name);
    let base = base.rsplit_once("__").map(|(_, b)| b).unwrap_or(base);
    base.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_access() {
        let mut s = ObjectSchema::new(SObject::Contact, 0);
        assert!(
            s.lookup("isconverted").is_none(),
            "Lead-only field on Contact"
        );
        let bit = s.add_custom("ns__Opt_Out__c", None, 1).unwrap();
        assert_eq!(s.add_custom("NS__OPT_OUT__C", None, 2).unwrap(), bit);
        assert_eq!(s.info(FieldRef::Custom(bit)).unwrap().label, "Opt Out");
        s.set_access("ns__opt_out__c", FieldAccess::Hidden, 3);
        assert!(s.lookup("ns__Opt_Out__c").is_none());
        assert!(s.lookup_any("ns__Opt_Out__c").is_some());
        s.set_access("HasOptedOutOfEmail", FieldAccess::ReadOnly, 4);
        assert!(!s.lookup("hasoptedoutofemail").unwrap().updateable);
        assert_eq!(
            s.add_custom("Email", None, 5),
            Err(SchemaError::Standard("Email".into()))
        );
    }
}
