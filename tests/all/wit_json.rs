//! WIT values as JSON, the shape `tests/fixtures/README.md` specifies (jco's
//! own): records are objects keyed by their kebab-case field names, variants
//! and results `{"tag": case, "val": payload}` (no `val` without a payload),
//! enums their case name, options `null` or the value, lists and tuples
//! arrays, flags an array of names, integers JSON integers.
//!
//! Converted from the export's own WIT types, so no Rust name reaches a
//! fixture and a WIT change needs no edit here.

use serde_json::{Map, Value, json};
use wasmtime::component::{Type, Val};

/// A JSON value of WIT type `ty` as a [`Val`]; the error names the path to
/// the offending part.
pub fn to_val(ty: &Type, v: &Value) -> Result<Val, String> {
    let bad = |what: &str| Err(format!("expected {what}, got {v}"));
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or("expected a bool")?),
        Type::S8 => Val::S8(int(v)?),
        Type::U8 => Val::U8(int(v)?),
        Type::S16 => Val::S16(int(v)?),
        Type::U16 => Val::U16(int(v)?),
        Type::S32 => Val::S32(int(v)?),
        Type::U32 => Val::U32(int(v)?),
        Type::S64 => Val::S64(int(v)?),
        Type::U64 => Val::U64(int(v)?),
        Type::Float32 => Val::Float32(v.as_f64().ok_or("expected a number")? as f32),
        Type::Float64 => Val::Float64(v.as_f64().ok_or("expected a number")?),
        Type::Char => {
            let s = v.as_str().ok_or("expected a one-character string")?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return bad("a one-character string"),
            }
        }
        Type::String => Val::String(v.as_str().ok_or("expected a string")?.to_string()),
        Type::List(list) => {
            let Value::Array(items) = v else {
                return bad("an array");
            };
            let ty = list.ty();
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| to_val(&ty, x).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Tuple(tuple) => {
            let Value::Array(items) = v else {
                return bad("an array");
            };
            if items.len() != tuple.types().len() {
                return bad(&format!("{} elements", tuple.types().len()));
            }
            Val::Tuple(
                tuple
                    .types()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (t, x))| to_val(&t, x).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(record) => {
            let Value::Object(obj) = v else {
                return bad("an object");
            };
            let mut fields = Vec::new();
            for field in record.fields() {
                let x = obj
                    .get(field.name)
                    .ok_or_else(|| format!("missing field {:?}", field.name))?;
                let val = to_val(&field.ty, x).map_err(|e| format!(".{}: {e}", field.name))?;
                fields.push((field.name.to_string(), val));
            }
            if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|(n, _)| n == *k)) {
                return Err(format!("unknown field {extra:?}"));
            }
            Val::Record(fields)
        }
        Type::Variant(variant) => {
            let (tag, payload) = tagged(v)?;
            let case = variant
                .cases()
                .find(|c| c.name == tag)
                .ok_or_else(|| format!("no case {tag:?}"))?;
            Val::Variant(
                tag.to_string(),
                payload_val(case.ty.as_ref(), payload, tag)?,
            )
        }
        Type::Enum(e) => {
            let name = v.as_str().ok_or("expected an enum case name")?;
            if !e.names().any(|n| n == name) {
                return bad("a case of the enum");
            }
            Val::Enum(name.to_string())
        }
        Type::Option(option) => match v {
            Value::Null => Val::Option(None),
            x => Val::Option(Some(Box::new(to_val(&option.ty(), x)?))),
        },
        Type::Result(result) => {
            let (tag, payload) = tagged(v)?;
            match tag {
                "ok" => Val::Result(Ok(payload_val(result.ok().as_ref(), payload, tag)?)),
                "err" => Val::Result(Err(payload_val(result.err().as_ref(), payload, tag)?)),
                _ => return bad("a result tagged \"ok\" or \"err\""),
            }
        }
        Type::Flags(flags) => {
            let Value::Array(items) = v else {
                return bad("an array of flag names");
            };
            let mut names = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(n) if flags.names().any(|f| f == n) => names.push(n.to_string()),
                    _ => return Err(format!("not a flag: {item}")),
                }
            }
            Val::Flags(names)
        }
        other => return Err(format!("WIT type {other:?} has no JSON form here")),
    })
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(v: &Value) -> Result<T, String> {
    let n = match v {
        Value::Number(n) if n.is_u64() => T::try_from(n.as_u64().unwrap()).ok(),
        Value::Number(n) if n.is_i64() => T::try_from(n.as_i64().unwrap()).ok(),
        _ => None,
    };
    n.ok_or_else(|| format!("expected an integer in range, got {v}"))
}

/// `{"tag": ..., "val": ...}` apart.
fn tagged(v: &Value) -> Result<(&str, Option<&Value>), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("expected {{\"tag\": ...}}, got {v}"))?;
    if let Some(extra) = obj.keys().find(|k| *k != "tag" && *k != "val") {
        return Err(format!("unknown key {extra:?} beside \"tag\""));
    }
    let tag = obj
        .get("tag")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("expected a string \"tag\", got {v}"))?;
    Ok((tag, obj.get("val")))
}

fn payload_val(
    ty: Option<&Type>,
    payload: Option<&Value>,
    tag: &str,
) -> Result<Option<Box<Val>>, String> {
    match (ty, payload) {
        (None, None) => Ok(None),
        (Some(t), Some(p)) => Ok(Some(Box::new(
            to_val(t, p).map_err(|e| format!("{tag}: {e}"))?,
        ))),
        (None, Some(_)) => Err(format!("case {tag:?} has no payload; drop \"val\"")),
        (Some(_), None) => Err(format!("case {tag:?} needs a \"val\"")),
    }
}

/// A [`Val`] as JSON. A `Val` carries its names, so no type is needed.
pub fn from_val(v: &Val) -> Value {
    match v {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(from_val).collect())
        }
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, x)| (k.clone(), from_val(x)))
                .collect(),
        ),
        Val::Variant(tag, payload) => tag_json(tag, payload.as_deref()),
        Val::Enum(name) => json!(name),
        Val::Option(None) => Value::Null,
        Val::Option(Some(x)) => from_val(x),
        Val::Result(Ok(x)) => tag_json("ok", x.as_deref()),
        Val::Result(Err(x)) => tag_json("err", x.as_deref()),
        Val::Flags(names) => json!(names),
        other => json!(format!("(no JSON form: {other:?})")),
    }
}

fn tag_json(tag: &str, payload: Option<&Val>) -> Value {
    let mut obj = Map::new();
    obj.insert("tag".into(), json!(tag));
    if let Some(p) = payload {
        obj.insert("val".into(), from_val(p));
    }
    Value::Object(obj)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`), the rule
/// every runner can follow (JavaScript cannot tell the two apart).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| same(p, q)))
        }
        _ => a == b,
    }
}
