//! Terraform values as JSON: the stored state handed to
//! UpgradeResourceState, decoded leniently with the current schema type, and
//! the encoding for it.

use super::bound::{MAX_VALUES, json_values_exceed};
use super::{CodecError, TypeName, check_depth, index, infer_type, mismatch, parse_decimal, value_kind};
use crate::framework::diagnostics::AttrPath;
use crate::framework::value::{Number, Type, Value};
use std::collections::BTreeMap;

/// Decodes stored state (JSON) with the current schema type, leniently:
/// object attributes missing from the JSON become null and attributes the
/// type does not declare are dropped, so state written by an older schema
/// version still loads. Primitives convert as Terraform converts them
/// (`"12"` for a number, `true` for a string).
///
/// Numbers beyond the precision of `f64` lose digits: the JSON parser reads
/// them as floats.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if json_values_exceed(bytes, MAX_VALUES) {
        return Err(CodecError::TooMany { format: "JSON" });
    }
    // serde_json refuses nesting deeper than 128 levels by itself.
    let j: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| CodecError::Malformed {
        format: "JSON",
        reason: e.to_string(),
    })?;
    from_json(&j, ty, &AttrPath::default(), 0)
}

fn json_kind(j: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match j {
        J::Null => "null",
        J::Bool(_) => "a bool",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

fn from_json(j: &serde_json::Value, ty: &Type, path: &AttrPath, depth: usize) -> Result<Value, CodecError> {
    use serde_json::Value as J;
    let depth = check_depth(depth, path)?;
    if j.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Bool => match j {
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::String(s) if s == "true" => Ok(Value::Bool(true)),
            J::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(mismatch(path, "a bool", json_kind(other))),
        },
        Type::Number => match j {
            J::Number(n) => Ok(Value::Number(if let Some(i) = n.as_i64() {
                Number::Int(i)
            } else if let Some(u) = n.as_u64() {
                Number::Big(u.to_string())
            } else {
                Number::Float(n.as_f64().unwrap_or(f64::NAN))
            })),
            J::String(s) => parse_decimal(s)
                .map(Value::Number)
                .ok_or_else(|| mismatch(path, "a number", format!("the string {s:?}"))),
            other => Err(mismatch(path, "a number", json_kind(other))),
        },
        Type::String => match j {
            J::String(s) => Ok(Value::string(s.as_str())),
            J::Bool(b) => Ok(Value::string(b.to_string())),
            J::Number(n) => Ok(Value::string(n.to_string())),
            other => Err(mismatch(path, "a string", json_kind(other))),
        },
        Type::List(elem) | Type::Set(elem) => {
            let J::Array(items) = j else {
                return Err(mismatch(path, TypeName(ty), json_kind(j)));
            };
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(item, elem, &index(path, i), depth))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(values)
            } else {
                Value::List(values)
            })
        }
        Type::Tuple(types) => match j {
            J::Array(items) if items.len() == types.len() => Ok(Value::Tuple(
                items
                    .iter()
                    .zip(types)
                    .enumerate()
                    .map(|(i, (item, t))| from_json(item, t, &index(path, i), depth))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
            other => Err(mismatch(path, TypeName(ty), json_kind(other))),
        },
        Type::Map(elem) => {
            let J::Object(entries) = j else {
                return Err(mismatch(path, TypeName(ty), json_kind(j)));
            };
            let mut out = BTreeMap::new();
            for (k, item) in entries {
                out.insert(k.clone(), from_json(item, elem, &path.key(k.as_str()), depth)?);
            }
            Ok(Value::Map(out))
        }
        Type::Object(fields) => {
            let J::Object(entries) = j else {
                return Err(mismatch(path, "an object", json_kind(j)));
            };
            let mut out = BTreeMap::new();
            for (name, field_ty) in fields {
                let value = match entries.get(name) {
                    Some(item) => from_json(item, field_ty, &path.then(name.as_str()), depth)?,
                    None => Value::Null,
                };
                out.insert(name.clone(), value);
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => {
            let (Some(type_json), Some(inner)) = (j.get("type"), j.get("value")) else {
                return Err(mismatch(
                    path,
                    "a {\"type\", \"value\"} object for a dynamic value",
                    json_kind(j),
                ));
            };
            let inner_ty = Type::from_json(type_json)
                .ok_or_else(|| mismatch(path, "a JSON type expression", json_kind(type_json)))?;
            let value = from_json(inner, &inner_ty, path, depth)?;
            Ok(Value::Dynamic(inner_ty, Box::new(value)))
        }
    }
}

/// Encodes a wholly known value as JSON in Terraform's state layout (objects
/// carry every attribute of their type; dynamic values are
/// `{"value": ..., "type": ...}`).
pub fn encode_json(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let j = to_json(v, ty, &AttrPath::default(), 0)?;
    serde_json::to_vec(&j).map_err(|e| CodecError::Malformed {
        format: "JSON",
        reason: format!("encoding failed: {e}"),
    })
}

fn to_json(v: &Value, ty: &Type, path: &AttrPath, depth: usize) -> Result<serde_json::Value, CodecError> {
    use serde_json::Value as J;
    let depth = check_depth(depth, path)?;
    Ok(match (v, ty) {
        (Value::Null, _) => J::Null,
        (Value::Unknown, _) => return Err(CodecError::Unknown { path: path.clone() }),
        (_, Type::Dynamic) => {
            let (inner_ty, inner) = match v {
                Value::Dynamic(t, inner) => (t.clone(), inner.as_ref()),
                other => (infer_type(other, path, depth)?, other),
            };
            let value = to_json(inner, &inner_ty, path, depth)?;
            serde_json::json!({ "value": value, "type": inner_ty.to_json() })
        }
        (Value::Dynamic(_, inner), _) => to_json(inner, ty, path, depth)?,
        (Value::Bool(b), Type::Bool) => J::Bool(*b),
        (Value::Number(n), Type::Number) => match n {
            Number::Int(i) => J::from(*i),
            Number::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| mismatch(path, "a finite number", "infinity or NaN"))?,
            // Keeps every digit; Terraform reads numbers from strings too.
            Number::Big(s) => J::String(s.clone()),
        },
        (Value::String(s), Type::String) => J::String(s.clone()),
        (Value::List(items) | Value::Set(items), Type::List(elem) | Type::Set(elem)) => J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, elem, &index(path, i), depth))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Tuple(items) | Value::List(items), Type::Tuple(types)) if items.len() == types.len() => J::Array(
            items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (item, t))| to_json(item, t, &index(path, i), depth))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(entries), Type::Map(elem)) => J::Object(
            entries
                .iter()
                .map(|(k, item)| Ok((k.clone(), to_json(item, elem, &path.key(k.as_str()), depth)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        (Value::Object(attrs), Type::Object(fields)) => {
            if let Some(extra) = attrs.keys().find(|k| !fields.contains_key(*k)) {
                return Err(CodecError::UnsupportedAttribute {
                    path: path.clone(),
                    name: extra.clone(),
                });
            }
            J::Object(
                fields
                    .iter()
                    .map(|(name, field_ty)| {
                        let item = attrs.get(name).unwrap_or(&Value::Null);
                        Ok((name.clone(), to_json(item, field_ty, &path.then(name.as_str()), depth)?))
                    })
                    .collect::<Result<_, CodecError>>()?,
            )
        }
        (other, _) => return Err(mismatch(path, TypeName(ty), value_kind(other))),
    })
}
