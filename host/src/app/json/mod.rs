//! The one JSON shape of every `--json` output and every `serve` answer,
//! derived from the WIT's own names so it never drifts from the contract:
//!
//! - record fields by their WIT names, in kebab-case (`person-id`);
//! - a WIT `variant` as an object tagged with its case (`{"outcome":
//!   "written", ...}` for the `*-outcome` variants, `{"kind": ...}` for the
//!   others), the case's record fields beside the tag, any other payload
//!   under `value`;
//! - a WIT `enum` as its case name (`"lead"`);
//! - a time (a field named `at` or `*-at`, `next-due`, the payload of a
//!   `stale` case) as Unix milliseconds, with the same instant in RFC 3339
//!   beside it under `<name>-rfc3339`;
//! - `none` as `null`; lists as arrays;
//! - an error as `{"error": {"kind", "message", "what-to-do"}}`
//!   ([`error_json`]).
//!
//! It is a serde `Serializer` rather than per-type code: the generated WIT
//! types (and any host type) derive `Serialize` already, and the serializer
//! sees each type's and case's name, which a JSON value no longer has.

use serde::Serialize;
use serde::ser;
use serde_json::{Map, Number, Value};

/// Why a value could not be encoded (a type that fails to serialize).
#[derive(Debug, thiserror::Error)]
#[error("encoding JSON: {0}")]
pub struct JsonError(String);

impl ser::Error for JsonError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        JsonError(msg.to_string())
    }
}

/// The WIT `enum`s (cases without payloads, shown as strings), by the name
/// the generated Rust type has. Every other Rust enum is a WIT `variant`.
const WIT_ENUMS: [&str; 8] = [
    "Sobject",
    "FieldProblem",
    "RedirectReason",
    "ItemKind",
    "Requirement",
    "AuditKind",
    "Method",
    "Level",
];

/// Variant cases whose payload is a time.
const TIME_CASES: [&str; 1] = ["Stale"];

/// Encodes `value` in the documented shape.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, JsonError> {
    value.serialize(Shape)
}

/// The documented error shape: `{"error": {"kind", "message", "what-to-do"}}`.
pub fn error_json(kind: &str, message: &str, what_to_do: &str) -> Value {
    serde_json::json!({
        "error": { "kind": kind, "message": message, "what-to-do": what_to_do }
    })
}

/// `SkippedNoSalesforceId` → `skipped-no-salesforce-id`; `person_id` →
/// `person-id`.
pub fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c == '_' {
            out.push('-');
        } else if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames every object key `snake_case` → `kebab-case` (and nothing else:
/// the case of a key is kept), for objects the host writes itself.
pub fn kebab_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                kebab_keys(&mut v);
                map.insert(k.replace('_', "-"), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(kebab_keys),
        _ => {}
    }
}

/// A time in Unix milliseconds as RFC 3339 UTC (`2025-07-08T10:00:00.000Z`).
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn is_time_field(rust_name: &str) -> bool {
    rust_name == "at" || rust_name.ends_with("_at") || rust_name == "next_due" || rust_name == "due"
}

/// The tag of a variant type: `outcome` for the `*-outcome` variants.
fn tag_of(type_name: &str) -> &'static str {
    if type_name.ends_with("Outcome") {
        "outcome"
    } else {
        "kind"
    }
}

/// Inserts `name` and, when it holds a time, its RFC 3339 twin.
fn insert_with_time(map: &mut Map<String, Value>, name: String, value: Value, is_time: bool) {
    if is_time && let Some(text) = value.as_i64().and_then(rfc3339) {
        map.insert(format!("{name}-rfc3339"), Value::String(text));
    }
    map.insert(name, value);
}

fn tagged(type_name: &str, case: &str, payload: Option<Value>) -> Value {
    if WIT_ENUMS.contains(&type_name) && payload.is_none() {
        return Value::String(kebab(case));
    }
    let tag = tag_of(type_name);
    let mut map = Map::new();
    map.insert(tag.to_string(), Value::String(kebab(case)));
    match payload {
        None => {}
        Some(Value::Object(fields)) if !fields.contains_key(tag) => map.extend(fields),
        Some(other) => {
            insert_with_time(&mut map, "value".into(), other, TIME_CASES.contains(&case));
        }
    }
    Value::Object(map)
}

mod key_text;

use key_text::KeyText;

struct Shape;

impl ser::Serializer for Shape {
    type Ok = Value;
    type Error = JsonError;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = TupleCase;
    type SerializeMap = MapOut;
    type SerializeStruct = Record;
    type SerializeStructVariant = RecordCase;

    fn serialize_bool(self, v: bool) -> Result<Value, JsonError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, JsonError> {
        Ok(v.into())
    }
    fn serialize_f32(self, v: f32) -> Result<Value, JsonError> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, JsonError> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn serialize_char(self, v: char) -> Result<Value, JsonError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, JsonError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, JsonError> {
        Ok(Value::Array(v.iter().map(|b| Value::from(*b)).collect()))
    }
    fn serialize_none(self) -> Result<Value, JsonError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, JsonError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, JsonError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, JsonError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _index: u32,
        case: &'static str,
    ) -> Result<Value, JsonError> {
        Ok(tagged(name, case, None))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, JsonError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        case: &'static str,
        value: &T,
    ) -> Result<Value, JsonError> {
        Ok(tagged(name, case, Some(value.serialize(Shape)?)))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, JsonError> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, JsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq, JsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        case: &'static str,
        _len: usize,
    ) -> Result<TupleCase, JsonError> {
        Ok(TupleCase {
            name,
            case,
            items: Vec::new(),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapOut, JsonError> {
        Ok(MapOut {
            map: Map::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Record, JsonError> {
        Ok(Record(Map::new()))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        case: &'static str,
        _len: usize,
    ) -> Result<RecordCase, JsonError> {
        Ok(RecordCase {
            name,
            case,
            fields: Record(Map::new()),
        })
    }
}

struct Seq(Vec<Value>);

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.0.push(value.serialize(Shape)?);
        Ok(())
    }
    fn end(self) -> Result<Value, JsonError> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, JsonError> {
        ser::SerializeSeq::end(self)
    }
}

struct TupleCase {
    name: &'static str,
    case: &'static str,
    items: Vec<Value>,
}

impl ser::SerializeTupleVariant for TupleCase {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.items.push(value.serialize(Shape)?);
        Ok(())
    }
    fn end(self) -> Result<Value, JsonError> {
        Ok(tagged(self.name, self.case, Some(Value::Array(self.items))))
    }
}

/// A map's keys are data (a `serde_json::Value` object, a host table), kept
/// as they are; only its values are shaped.
struct MapOut {
    map: Map<String, Value>,
    key: Option<String>,
}

impl ser::SerializeMap for MapOut {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonError> {
        self.key = Some(key.serialize(KeyText)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| JsonError("a map value without its key".into()))?;
        self.map.insert(key, value.serialize(Shape)?);
        Ok(())
    }
    fn end(self) -> Result<Value, JsonError> {
        Ok(Value::Object(self.map))
    }
}

struct Record(Map<String, Value>);

impl ser::SerializeStruct for Record {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        let value = value.serialize(Shape)?;
        insert_with_time(&mut self.0, kebab(key), value, is_time_field(key));
        Ok(())
    }
    fn end(self) -> Result<Value, JsonError> {
        Ok(Value::Object(self.0))
    }
}

struct RecordCase {
    name: &'static str,
    case: &'static str,
    fields: Record,
}

impl ser::SerializeStructVariant for RecordCase {
    type Ok = Value;
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        ser::SerializeStruct::serialize_field(&mut self.fields, key, value)
    }
    fn end(self) -> Result<Value, JsonError> {
        Ok(tagged(
            self.name,
            self.case,
            Some(Value::Object(self.fields.0)),
        ))
    }
}

#[cfg(test)]
mod tests;
