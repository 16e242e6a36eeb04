//! The serializer of a map's keys: JSON keys are text, so a key is written
//! as its text (numbers and case names included) and anything else refused.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{JsonError, kebab};

/// Map keys must be text.
pub(super) struct KeyText;

macro_rules! key_via_display {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<String, JsonError> { Ok(v.to_string()) })*
    };
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = JsonError;
    type SerializeSeq = Impossible<String, JsonError>;
    type SerializeTuple = Impossible<String, JsonError>;
    type SerializeTupleStruct = Impossible<String, JsonError>;
    type SerializeTupleVariant = Impossible<String, JsonError>;
    type SerializeMap = Impossible<String, JsonError>;
    type SerializeStruct = Impossible<String, JsonError>;
    type SerializeStructVariant = Impossible<String, JsonError>;

    key_via_display!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str
    );
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_none(self) -> Result<String, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, JsonError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        case: &'static str,
    ) -> Result<String, JsonError> {
        Ok(kebab(case))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, JsonError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _case: &'static str,
        _value: &T,
    ) -> Result<String, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _case: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _case: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, JsonError> {
        Err(JsonError("a map key must be text".into()))
    }
}
