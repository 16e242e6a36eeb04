//! Reads the documented `--json` shape (host/README.md, "JSON interface")
//! back into the API types, the way a consumer of the CLI would: kebab-case
//! field names, variants tagged by `outcome` (the `*-outcome` variants) or
//! `kind` (the others) with their record fields beside the tag or their
//! other payload under `value`, enums as kebab-case strings. The
//! `<name>-rfc3339` twins are checked against their milliseconds and
//! dropped.
//!
//! It is a serde `Deserializer` over a `serde_json::Value`: serde tells it
//! each type's and case's name, which the JSON no longer has.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

type Error = serde_json::Error;

/// Reads `value` (in the documented shape) as a `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Shaped(value))
}

/// Reads `bytes` (a `--json` output) as a `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_value(serde_json::from_slice(bytes)?)
}

/// `person_id` → `person-id`; `SkippedNoSalesforceId` →
/// `skipped-no-salesforce-id` (the host's own rule for WIT names).
use unsubscribe_sync::app::json::kebab;

/// Drops the `-rfc3339` twins of `map`, after checking each names the same
/// instant as the milliseconds beside it.
fn drop_twins(map: &mut Map<String, Value>) -> Result<(), Error> {
    let twins: Vec<String> = map
        .keys()
        .filter(|k| k.ends_with("-rfc3339"))
        .cloned()
        .collect();
    for twin in twins {
        let base = twin.trim_end_matches("-rfc3339");
        let text = map.remove(&twin).unwrap_or(Value::Null);
        let ms = map.get(base).and_then(Value::as_i64);
        let parsed = text
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        if ms.is_none() || parsed != ms {
            return Err(de::Error::custom(format!(
                "{twin} = {text} does not name the instant {base} = {:?}",
                map.get(base)
            )));
        }
    }
    Ok(())
}

/// A value in the documented shape.
struct Shaped(Value);

impl<'de> IntoDeserializer<'de, Error> for Shaped {
    type Deserializer = Shaped;
    fn into_deserializer(self) -> Shaped {
        self
    }
}

fn seq<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let mut de = SeqDeserializer::new(items.into_iter().map(Shaped));
    let v = visitor.visit_seq(&mut de)?;
    de.end()?;
    Ok(v)
}

fn map<'de, V: Visitor<'de>>(entries: Vec<(String, Value)>, visitor: V) -> Result<V::Value, Error> {
    let mut de = MapDeserializer::new(entries.into_iter().map(|(k, v)| (k, Shaped(v))));
    let v = visitor.visit_map(&mut de)?;
    de.end()?;
    Ok(v)
}

impl<'de> de::Deserializer<'de> for Shaped {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => seq(items, visitor),
            Value::Object(m) => map(m.into_iter().collect(), visitor),
            other => de::Deserializer::deserialize_any(other, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Shaped(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Object(mut m) = self.0 else {
            return Err(de::Error::custom(format!(
                "{name}: not an object: {}",
                self.0
            )));
        };
        drop_twins(&mut m)?;
        let mut entries = Vec::new();
        for (k, v) in m {
            if k.contains('_') || k.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(de::Error::custom(format!(
                    "{name}: key {k:?} is not kebab-case"
                )));
            }
            let field = fields
                .iter()
                .find(|f| kebab(f) == k)
                .map(|f| f.to_string())
                .unwrap_or(k);
            entries.push((field, v));
        }
        map(entries, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let find = |case: &str| {
            variants
                .iter()
                .find(|v| kebab(v) == case)
                .copied()
                .ok_or_else(|| de::Error::custom(format!("{name}: no case {case:?}")))
        };
        match self.0 {
            Value::String(case) => visitor.visit_enum(Case {
                variant: find(&case)?,
                payload: None,
            }),
            Value::Object(mut m) => {
                let tag = if name.ends_with("Outcome") {
                    "outcome"
                } else {
                    "kind"
                };
                let case = match m.remove(tag) {
                    Some(Value::String(case)) => case,
                    other => {
                        return Err(de::Error::custom(format!(
                            "{name}: tag {tag:?} is {other:?}"
                        )));
                    }
                };
                drop_twins(&mut m)?;
                let payload = if m.is_empty() {
                    None
                } else if m.len() == 1 && m.contains_key("value") {
                    m.remove("value")
                } else {
                    Some(Value::Object(m))
                };
                visitor.visit_enum(Case {
                    variant: find(&case)?,
                    payload,
                })
            }
            other => Err(de::Error::custom(format!("{name}: not a variant: {other}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

/// One case of a variant and its payload.
struct Case {
    variant: &'static str,
    payload: Option<Value>,
}

impl<'de> EnumAccess<'de> for Case {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let v = seed.deserialize(IntoDeserializer::<Error>::into_deserializer(self.variant))?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for Case {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.payload {
            None => Ok(()),
            Some(p) => Err(de::Error::custom(format!(
                "{}: unexpected {p}",
                self.variant
            ))),
        }
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(Shaped(self.payload.unwrap_or(Value::Null)))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(Shaped(self.payload.unwrap_or(Value::Null)), visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(
            Shaped(self.payload.unwrap_or(Value::Null)),
            self.variant,
            fields,
            visitor,
        )
    }
}

/// The items of a `check --json` report that did not pass.
pub fn failed_checks(report: &Value) -> Vec<&Value> {
    report["items"]
        .as_array()
        .map(|items| items.iter().filter(|i| i["passed"] == false).collect())
        .unwrap_or_default()
}
