//! Terraform values on the wire: msgpack (what Terraform sends in every
//! `DynamicValue`) and JSON (stored state handed to UpgradeResourceState).
//!
//! Decoding is driven by the schema's [`Type`], as Terraform's own encoding
//! is: the bytes alone do not say whether an array is a list, a set or a
//! tuple. Input comes from outside the process, so every malformed byte
//! sequence is an error naming the attribute it was found at, never a panic;
//! nesting depth is bounded, and so is the number of values a message may
//! decode into (counted on the bytes before any tree is built): a decoded
//! value costs tens of bytes per element whatever its encoding cost, so a
//! 256 MiB message of one-byte elements would otherwise take gigabytes.

mod bound;
mod json;

pub use bound::MAX_VALUES;
use bound::msgpack_values_exceed;
pub use json::{decode_json, encode_json};

use super::diagnostics::AttrPath;
use super::value::{Number, Type, Value};
use rmpv::Value as Mp;
use std::collections::BTreeMap;
use std::fmt;

/// Deepest nesting of values accepted (objects in lists in objects...).
/// Terraform schemas stay far below it; it bounds recursion on hostile input.
pub const MAX_DEPTH: usize = 64;

/// The msgpack extension type of a plain unknown value.
const UNKNOWN_EXT: i8 = 0;

/// Why a value could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not valid msgpack / JSON at all.
    #[error("malformed {format}: {reason}")]
    Malformed { format: &'static str, reason: String },
    /// Valid encoding, but the value does not fit the type at `path`.
    #[error("{} expected {expected}, found {found}", at(.path))]
    Mismatch {
        path: AttrPath,
        expected: String,
        found: String,
    },
    /// An object carries an attribute its type does not declare.
    #[error("{} unsupported attribute {name:?}", at(.path))]
    UnsupportedAttribute { path: AttrPath, name: String },
    /// An unknown value where the encoding cannot carry one (JSON).
    #[error("{} value is unknown; JSON cannot represent unknown values", at(.path))]
    Unknown { path: AttrPath },
    /// Values nested deeper than [`MAX_DEPTH`].
    #[error("{} values nested deeper than {MAX_DEPTH} levels", at(.path))]
    TooDeep { path: AttrPath },
    /// More than [`MAX_VALUES`] values in one message.
    #[error("the {format} value holds more than {MAX_VALUES} elements, more than this provider decodes")]
    TooMany { format: &'static str },
}

impl CodecError {
    /// The attribute the error is about, when it is not the whole value.
    pub fn path(&self) -> Option<&AttrPath> {
        match self {
            CodecError::Malformed { .. } | CodecError::TooMany { .. } => None,
            CodecError::Mismatch { path, .. }
            | CodecError::UnsupportedAttribute { path, .. }
            | CodecError::Unknown { path }
            | CodecError::TooDeep { path } => (!path.is_root()).then_some(path),
        }
    }
}

/// "at tags["env"]:" or "at the root:" for error messages.
fn at(path: &AttrPath) -> String {
    if path.is_root() {
        "at the root value:".to_string()
    } else {
        format!("at {path}:")
    }
}

fn mismatch(path: &AttrPath, expected: impl fmt::Display, found: impl Into<String>) -> CodecError {
    CodecError::Mismatch {
        path: path.clone(),
        expected: expected.to_string(),
        found: found.into(),
    }
}

/// The step for element `i` of a collection.
fn index(path: &AttrPath, i: usize) -> AttrPath {
    path.index(i64::try_from(i).unwrap_or(i64::MAX))
}

fn check_depth(depth: usize, path: &AttrPath) -> Result<usize, CodecError> {
    if depth >= MAX_DEPTH {
        Err(CodecError::TooDeep { path: path.clone() })
    } else {
        Ok(depth + 1)
    }
}

/// A short name of a type for messages (`list of string`).
struct TypeName<'a>(&'a Type);

impl fmt::Display for TypeName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic value"),
            Type::List(t) => write!(f, "list of {}", TypeName(t)),
            Type::Set(t) => write!(f, "set of {}", TypeName(t)),
            Type::Map(t) => write!(f, "map of {}", TypeName(t)),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(ts) => write!(f, "tuple of {} elements", ts.len()),
        }
    }
}

// ---------------------------------------------------------------------------
// msgpack decoding

/// Decodes a msgpack value of type `ty`. Any msgpack extension decodes as
/// [`Value::Unknown`] (refinements are dropped); object attributes missing
/// from the bytes become null.
pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if msgpack_values_exceed(bytes, MAX_VALUES) {
        return Err(CodecError::TooMany { format: "msgpack" });
    }
    let mut rd = bytes;
    // rmpv counts a level for the container and one for its contents.
    let mp = rmpv::decode::read_value_with_max_depth(&mut rd, 2 * MAX_DEPTH + 4).map_err(|e| {
        let reason = match e {
            rmpv::decode::Error::DepthLimitExceeded => format!("values nested deeper than {MAX_DEPTH} levels"),
            other => format!("{other} (truncated or not msgpack)"),
        };
        CodecError::Malformed {
            format: "msgpack",
            reason,
        }
    })?;
    if !rd.is_empty() {
        return Err(CodecError::Malformed {
            format: "msgpack",
            reason: format!("{} unexpected bytes after the value", rd.len()),
        });
    }
    from_mp(&mp, ty, &AttrPath::default(), 0)
}

/// What a msgpack value is, for messages.
fn mp_kind(v: &Mp) -> String {
    match v {
        Mp::Nil => "null".into(),
        Mp::Boolean(_) => "a bool".into(),
        Mp::Integer(_) | Mp::F32(_) | Mp::F64(_) => "a number".into(),
        Mp::String(_) => "a string".into(),
        Mp::Binary(_) => "binary data".into(),
        Mp::Array(a) => format!("an array of {} elements", a.len()),
        Mp::Map(_) => "a map".into(),
        Mp::Ext(..) => "an unknown value".into(),
    }
}

fn mp_str<'a>(v: &'a Mp, path: &AttrPath, what: &str) -> Result<&'a str, CodecError> {
    match v {
        Mp::String(s) => s
            .as_str()
            .ok_or_else(|| mismatch(path, what, "a string that is not valid UTF-8")),
        other => Err(mismatch(path, what, mp_kind(other))),
    }
}

fn from_mp(v: &Mp, ty: &Type, path: &AttrPath, depth: usize) -> Result<Value, CodecError> {
    let depth = check_depth(depth, path)?;
    match v {
        Mp::Nil => return Ok(Value::Null),
        Mp::Ext(..) => return Ok(Value::Unknown),
        _ => {}
    }
    match ty {
        Type::Bool => match v {
            Mp::Boolean(b) => Ok(Value::Bool(*b)),
            other => Err(mismatch(path, "a bool", mp_kind(other))),
        },
        Type::Number => match v {
            Mp::Integer(i) => Ok(Value::Number(match (i.as_i64(), i.as_u64()) {
                (Some(n), _) => Number::Int(n),
                (None, Some(u)) => Number::Big(u.to_string()),
                // Every msgpack integer fits one of the two.
                (None, None) => return Err(mismatch(path, "a number", "an integer out of range")),
            })),
            Mp::F64(f) => Ok(Value::Number(Number::Float(*f))),
            Mp::F32(f) => Ok(Value::Number(Number::Float(f64::from(*f)))),
            Mp::String(_) => {
                let s = mp_str(v, path, "a number")?;
                parse_decimal(s)
                    .map(Value::Number)
                    .ok_or_else(|| mismatch(path, "a number", format!("the string {s:?}")))
            }
            other => Err(mismatch(path, "a number", mp_kind(other))),
        },
        Type::String => mp_str(v, path, "a string").map(Value::string),
        Type::List(elem) | Type::Set(elem) => {
            let Mp::Array(items) = v else {
                return Err(mismatch(path, TypeName(ty), mp_kind(v)));
            };
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_mp(item, elem, &index(path, i), depth))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(values)
            } else {
                Value::List(values)
            })
        }
        Type::Tuple(types) => {
            let Mp::Array(items) = v else {
                return Err(mismatch(path, TypeName(ty), mp_kind(v)));
            };
            if items.len() != types.len() {
                return Err(mismatch(path, TypeName(ty), mp_kind(v)));
            }
            let values = items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (item, t))| from_mp(item, t, &index(path, i), depth))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(values))
        }
        Type::Map(elem) => {
            let Mp::Map(entries) = v else {
                return Err(mismatch(path, TypeName(ty), mp_kind(v)));
            };
            let mut out = BTreeMap::new();
            for (k, item) in entries {
                let key = mp_str(k, path, "a string map key")?;
                let value = from_mp(item, elem, &path.key(key), depth)?;
                out.insert(key.to_string(), value);
            }
            Ok(Value::Map(out))
        }
        Type::Object(fields) => {
            let Mp::Map(entries) = v else {
                return Err(mismatch(path, "an object", mp_kind(v)));
            };
            let mut out: BTreeMap<String, Value> = fields.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, item) in entries {
                let name = mp_str(k, path, "an attribute name")?;
                let Some(field_ty) = fields.get(name) else {
                    return Err(CodecError::UnsupportedAttribute {
                        path: path.clone(),
                        name: name.to_string(),
                    });
                };
                let value = from_mp(item, field_ty, &path.then(name), depth)?;
                out.insert(name.to_string(), value);
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => {
            let Mp::Array(parts) = v else {
                return Err(mismatch(path, "a [type, value] pair for a dynamic value", mp_kind(v)));
            };
            let [type_json, inner] = parts.as_slice() else {
                return Err(mismatch(path, "a [type, value] pair for a dynamic value", mp_kind(v)));
            };
            let type_bytes = match type_json {
                Mp::Binary(b) => b.as_slice(),
                Mp::String(s) => s.as_bytes(),
                other => return Err(mismatch(path, "a JSON type expression", mp_kind(other))),
            };
            let inner_ty = parse_type(type_bytes, path)?;
            let value = from_mp(inner, &inner_ty, path, depth)?;
            Ok(Value::Dynamic(inner_ty, Box::new(value)))
        }
    }
}

/// Parses the JSON type expression of a dynamic value.
fn parse_type(bytes: &[u8], path: &AttrPath) -> Result<Type, CodecError> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|j| Type::from_json(&j))
        .ok_or_else(|| {
            let shown: String = String::from_utf8_lossy(bytes).chars().take(80).collect();
            mismatch(path, "a JSON type expression", format!("{shown:?}"))
        })
}

/// Accepts a decimal number in the form Terraform writes big numbers
/// (`-12.5e30`); `inf`, `NaN` and hex are refused.
fn parse_decimal(s: &str) -> Option<Number> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int_part) && digits(frac_part) && !(int_part.is_empty() && frac_part.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    if exponent.is_none()
        && frac_part.is_empty()
        && let Ok(i) = s.parse::<i64>()
    {
        return Some(Number::Int(i));
    }
    // A float this codec (or anyone printing shortest round-trip decimals)
    // wrote comes back as the same float; anything longer stays exact.
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
        && f.to_string() == s
    {
        return Some(Number::Float(f));
    }
    Some(Number::Big(s.to_string()))
}

// ---------------------------------------------------------------------------
// msgpack encoding

/// Encodes `v` as a msgpack value of type `ty`: objects carry every attribute
/// of their type (nil where unset), unknowns become the extension Terraform
/// expects (`d4 00 00`).
pub fn encode_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    write_mp(&mut out, v, ty, &AttrPath::default(), 0)?;
    Ok(out)
}

/// Writing to a `Vec` cannot fail; this keeps the signatures honest anyway.
fn io_err<E: fmt::Display>(e: E) -> CodecError {
    CodecError::Malformed {
        format: "msgpack",
        reason: format!("encoding failed: {e}"),
    }
}

fn len_u32(n: usize, path: &AttrPath) -> Result<u32, CodecError> {
    u32::try_from(n).map_err(|_| mismatch(path, "at most 2^32-1 elements", format!("{n} elements")))
}

/// What a value is, for messages.
fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown => "an unknown value",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Set(_) => "a set",
        Value::Map(_) => "a map",
        Value::Object(_) => "an object",
        Value::Tuple(_) => "a tuple",
        Value::Dynamic(..) => "a dynamic value",
    }
}

fn write_mp(out: &mut Vec<u8>, v: &Value, ty: &Type, path: &AttrPath, depth: usize) -> Result<(), CodecError> {
    let depth = check_depth(depth, path)?;
    use rmp::encode as enc;
    match (v, ty) {
        (Value::Null, _) => enc::write_nil(out).map_err(io_err),
        (Value::Unknown, _) => {
            enc::write_ext_meta(out, 1, UNKNOWN_EXT).map_err(io_err)?;
            out.push(0);
            Ok(())
        }
        (Value::Dynamic(inner_ty, inner), Type::Dynamic) => write_dynamic(out, inner, inner_ty, path, depth),
        (_, Type::Dynamic) => {
            let inferred = infer_type(v, path, depth)?;
            write_dynamic(out, v, &inferred, path, depth)
        }
        // A dynamic value placed where a concrete type is expected: its
        // content is what goes on the wire.
        (Value::Dynamic(_, inner), _) => write_mp(out, inner, ty, path, depth),
        (Value::Bool(b), Type::Bool) => enc::write_bool(out, *b).map_err(io_err),
        // Numbers travel as decimal strings, which Terraform parses exactly
        // as it parses numbers in its JSON state. Sent as msgpack integers
        // or floats they decode to a differently shaped number than the same
        // value read back from the state, and Terraform then reports an
        // unchanged object as changed (`plan -refresh-only -detailed-exitcode`
        // exits 2 on "No changes.").
        (Value::Number(n), Type::Number) => match n {
            Number::Int(i) => enc::write_str(out, &i.to_string()).map_err(io_err),
            Number::Float(f) if f.is_finite() => enc::write_str(out, &f.to_string()).map_err(io_err),
            Number::Float(f) => Err(mismatch(path, "a finite number", f.to_string())),
            Number::Big(s) => {
                if parse_decimal(s).is_none() {
                    return Err(mismatch(path, "a decimal number", format!("the string {s:?}")));
                }
                enc::write_str(out, s).map_err(io_err)
            }
        },
        (Value::String(s), Type::String) => enc::write_str(out, s).map_err(io_err),
        (Value::List(items) | Value::Set(items), Type::List(elem) | Type::Set(elem)) => {
            enc::write_array_len(out, len_u32(items.len(), path)?).map_err(io_err)?;
            for (i, item) in items.iter().enumerate() {
                write_mp(out, item, elem, &index(path, i), depth)?;
            }
            Ok(())
        }
        (Value::Tuple(items) | Value::List(items), Type::Tuple(types)) if items.len() == types.len() => {
            enc::write_array_len(out, len_u32(items.len(), path)?).map_err(io_err)?;
            for (i, (item, t)) in items.iter().zip(types).enumerate() {
                write_mp(out, item, t, &index(path, i), depth)?;
            }
            Ok(())
        }
        (Value::Map(entries), Type::Map(elem)) => {
            enc::write_map_len(out, len_u32(entries.len(), path)?).map_err(io_err)?;
            for (k, item) in entries {
                enc::write_str(out, k).map_err(io_err)?;
                write_mp(out, item, elem, &path.key(k.as_str()), depth)?;
            }
            Ok(())
        }
        (Value::Object(attrs), Type::Object(fields)) => {
            if let Some(extra) = attrs.keys().find(|k| !fields.contains_key(*k)) {
                return Err(CodecError::UnsupportedAttribute {
                    path: path.clone(),
                    name: extra.clone(),
                });
            }
            enc::write_map_len(out, len_u32(fields.len(), path)?).map_err(io_err)?;
            for (name, field_ty) in fields {
                enc::write_str(out, name).map_err(io_err)?;
                let item = attrs.get(name).unwrap_or(&Value::Null);
                write_mp(out, item, field_ty, &path.then(name.as_str()), depth)?;
            }
            Ok(())
        }
        (other, _) => Err(mismatch(path, TypeName(ty), value_kind(other))),
    }
}

/// A dynamic value: `[type as JSON bytes, value]`, except null and unknown,
/// which travel bare.
fn write_dynamic(out: &mut Vec<u8>, v: &Value, ty: &Type, path: &AttrPath, depth: usize) -> Result<(), CodecError> {
    use rmp::encode as enc;
    if matches!(v, Value::Null | Value::Unknown) && *ty == Type::Dynamic {
        return write_mp(out, v, ty, path, depth);
    }
    if *ty == Type::Dynamic {
        return Err(mismatch(path, "a concrete type for a dynamic value", "dynamic"));
    }
    enc::write_array_len(out, 2).map_err(io_err)?;
    let type_json = ty.to_json().to_string();
    enc::write_bin(out, type_json.as_bytes()).map_err(io_err)?;
    write_mp(out, v, ty, path, depth)
}

/// The type of a value placed in a `dynamic` attribute without its type.
/// Null and unknown elements count as `dynamic`; collections need elements of
/// one type.
fn infer_type(v: &Value, path: &AttrPath, depth: usize) -> Result<Type, CodecError> {
    let depth = check_depth(depth, path)?;
    let same = |items: &mut dyn Iterator<Item = (AttrPath, &Value)>| -> Result<Type, CodecError> {
        let mut found: Option<Type> = None;
        for (p, item) in items {
            let t = infer_type(item, &p, depth)?;
            match &found {
                None => found = Some(t),
                Some(prev) if *prev == t => {}
                Some(prev) => {
                    return Err(mismatch(
                        &p,
                        format!("{} like the other elements", TypeName(prev)),
                        value_kind(item),
                    ));
                }
            }
        }
        Ok(found.unwrap_or(Type::Dynamic))
    };
    Ok(match v {
        Value::Null | Value::Unknown => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::Dynamic(t, _) => t.clone(),
        Value::List(items) => Type::List(Box::new(same(
            &mut items.iter().enumerate().map(|(i, x)| (index(path, i), x)),
        )?)),
        Value::Set(items) => Type::Set(Box::new(same(
            &mut items.iter().enumerate().map(|(i, x)| (index(path, i), x)),
        )?)),
        Value::Map(entries) => Type::Map(Box::new(same(
            &mut entries.iter().map(|(k, x)| (path.key(k.as_str()), x)),
        )?)),
        Value::Tuple(items) => Type::Tuple(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| infer_type(x, &index(path, i), depth))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(attrs) => Type::Object(
            attrs
                .iter()
                .map(|(k, x)| Ok((k.clone(), infer_type(x, &path.then(k.as_str()), depth)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_with_too_many_values_is_refused_before_decoding() {
        let mut bytes = vec![0xdd];
        let n = u32::try_from(MAX_VALUES).expect("fits");
        bytes.extend_from_slice(&n.to_be_bytes());
        bytes.resize(5 + MAX_VALUES, 0xc0);
        let ty = Type::List(Box::new(Type::String));
        let err = decode_msgpack(&bytes, &ty).expect_err("too many");
        assert!(matches!(err, CodecError::TooMany { format: "msgpack" }), "{err}");
        assert!(err.to_string().contains("more than 1000000 elements"), "{err}");
        // One fewer element decodes.
        bytes[1..5].copy_from_slice(&(n - 1).to_be_bytes());
        bytes.pop();
        assert!(decode_msgpack(&bytes, &ty).is_ok());

        let json = format!("[{}0]", "0,".repeat(MAX_VALUES));
        let err = decode_json(json.as_bytes(), &ty).expect_err("too many");
        assert!(matches!(err, CodecError::TooMany { format: "JSON" }), "{err}");
    }

    fn obj(fields: &[(&str, Type)]) -> Type {
        Type::Object(fields.iter().map(|(k, t)| (k.to_string(), t.clone())).collect())
    }

    fn roundtrip(v: &Value, ty: &Type) -> Value {
        let bytes = encode_msgpack(v, ty).expect("encode");
        decode_msgpack(&bytes, ty).expect("decode")
    }

    fn mp(v: Mp) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &v).expect("write to vec");
        out
    }

    fn mp_map(entries: &[(&str, Mp)]) -> Mp {
        Mp::Map(entries.iter().map(|(k, v)| (Mp::from(*k), v.clone())).collect())
    }

    #[test]
    fn numbers_are_sent_as_decimal_strings() {
        let bytes = encode_msgpack(&Value::Number(Number::Int(20)), &Type::Number).unwrap();
        assert_eq!(bytes, [0xa2, b'2', b'0']);
        let bytes = encode_msgpack(&Value::Number(Number::Float(0.25)), &Type::Number).unwrap();
        assert_eq!(bytes, [0xa4, b'0', b'.', b'2', b'5']);
        assert!(encode_msgpack(&Value::Number(Number::Float(f64::NAN)), &Type::Number).is_err());
    }

    #[test]
    fn primitives_round_trip() {
        let cases = [
            (Value::Bool(true), Type::Bool),
            (Value::Bool(false), Type::Bool),
            (Value::Number(Number::Int(0)), Type::Number),
            (Value::Number(Number::Int(-42)), Type::Number),
            (Value::Number(Number::Int(i64::MAX)), Type::Number),
            (Value::Number(Number::Int(i64::MIN)), Type::Number),
            (Value::Number(Number::Float(1.5)), Type::Number),
            (Value::string(""), Type::String),
            (Value::string("héllo \"quoted\"\n"), Type::String),
            (Value::Null, Type::String),
            (Value::Unknown, Type::Number),
        ];
        for (v, ty) in cases {
            assert_eq!(roundtrip(&v, &ty), v, "{ty:?}");
        }
    }

    #[test]
    fn collections_round_trip() {
        let s = |x: &str| Value::string(x);
        let list = Value::List(vec![s("a"), Value::Null, Value::Unknown]);
        assert_eq!(roundtrip(&list, &Type::List(Box::new(Type::String))), list);
        let set = Value::Set(vec![s("x"), s("y")]);
        assert_eq!(roundtrip(&set, &Type::Set(Box::new(Type::String))), set);
        let map = Value::Map([("env".to_string(), s("prod")), ("empty".to_string(), s(""))].into());
        assert_eq!(roundtrip(&map, &Type::Map(Box::new(Type::String))), map);
        let tuple = Value::Tuple(vec![s("a"), Value::Number(Number::Int(1)), Value::Bool(true)]);
        let tuple_ty = Type::Tuple(vec![Type::String, Type::Number, Type::Bool]);
        assert_eq!(roundtrip(&tuple, &tuple_ty), tuple);
        let empty = Value::List(vec![]);
        assert_eq!(roundtrip(&empty, &Type::List(Box::new(Type::Bool))), empty);
    }

    #[test]
    fn object_encodes_every_attribute_nil_where_missing() {
        let ty = obj(&[("id", Type::String), ("name", Type::String), ("size", Type::Number)]);
        let v = Value::object([("name", Value::string("img"))]);
        let bytes = encode_msgpack(&v, &ty).expect("encode");
        let expected = mp(mp_map(&[("id", Mp::Nil), ("name", Mp::from("img")), ("size", Mp::Nil)]));
        assert_eq!(bytes, expected);
        let back = decode_msgpack(&bytes, &ty).expect("decode");
        assert_eq!(back.get("id"), &Value::Null);
        assert_eq!(back.get("name"), &Value::string("img"));
    }

    #[test]
    fn object_with_missing_attributes_decodes_them_as_null() {
        let ty = obj(&[("id", Type::String), ("tags", Type::Map(Box::new(Type::String)))]);
        let bytes = mp(mp_map(&[("id", Mp::from("uimage-1"))]));
        let v = decode_msgpack(&bytes, &ty).expect("decode");
        assert_eq!(
            v,
            Value::object([("id", Value::string("uimage-1")), ("tags", Value::Null)])
        );
    }

    #[test]
    fn object_with_undeclared_attribute_is_an_error() {
        let ty = obj(&[("id", Type::String)]);
        let bytes = mp(mp_map(&[("id", Mp::from("x")), ("bogus", Mp::from(1))]));
        let err = decode_msgpack(&bytes, &ty).expect_err("must fail");
        assert!(err.to_string().contains("bogus"), "{err}");
        let v = Value::object([("bogus", Value::Null)]);
        assert!(matches!(
            encode_msgpack(&v, &ty),
            Err(CodecError::UnsupportedAttribute { .. })
        ));
    }

    #[test]
    fn unknown_encodes_as_fixext1_type_zero() {
        assert_eq!(
            encode_msgpack(&Value::Unknown, &Type::String).expect("encode"),
            [0xd4, 0, 0]
        );
        let ty = obj(&[("id", Type::String)]);
        let bytes = encode_msgpack(&Value::object([("id", Value::Unknown)]), &ty).expect("encode");
        assert_eq!(bytes, [0x81, 0xa2, b'i', b'd', 0xd4, 0, 0]);
    }

    #[test]
    fn any_extension_decodes_as_unknown() {
        for (code, data) in [(0i8, vec![0u8]), (5, vec![1, 2, 3]), (-1, vec![])] {
            let bytes = mp(Mp::Ext(code, data));
            assert_eq!(decode_msgpack(&bytes, &Type::String).expect("decode"), Value::Unknown);
        }
    }

    #[test]
    fn refined_unknown_decodes_as_unknown() {
        // Terraform's refined unknown: ext 12 wrapping a msgpack map of
        // refinements (1: not null, 2: string prefix "uimage-").
        let refinements = mp(Mp::Map(vec![
            (Mp::from(1), Mp::Boolean(true)),
            (Mp::from(2), Mp::from("uimage-")),
        ]));
        let mut bytes = vec![0xc7, u8::try_from(refinements.len()).expect("short"), 12];
        bytes.extend_from_slice(&refinements);
        assert_eq!(decode_msgpack(&bytes, &Type::String).expect("decode"), Value::Unknown);

        // Inside an object, next to known attributes.
        let ty = obj(&[("id", Type::String), ("name", Type::String)]);
        let mut doc = vec![0x82, 0xa2, b'i', b'd'];
        doc.extend_from_slice(&bytes);
        doc.extend_from_slice(&[0xa4, b'n', b'a', b'm', b'e', 0xa1, b'x']);
        let v = decode_msgpack(&doc, &ty).expect("decode");
        assert_eq!(v, Value::object([("id", Value::Unknown), ("name", Value::string("x"))]));
    }

    #[test]
    fn big_numbers_travel_as_strings() {
        let big = "123456789012345678901234567890.5";
        let bytes = mp(Mp::from(big));
        let v = decode_msgpack(&bytes, &Type::Number).expect("decode");
        assert_eq!(v, Value::Number(Number::Big(big.to_string())));
        assert_eq!(encode_msgpack(&v, &Type::Number).expect("encode"), bytes);

        // u64 beyond i64 stays exact.
        let v = decode_msgpack(&mp(Mp::from(u64::MAX)), &Type::Number).expect("decode");
        assert_eq!(v, Value::Number(Number::Big(u64::MAX.to_string())));

        // A number string that fits i64 becomes an integer.
        let v = decode_msgpack(&mp(Mp::from("-17")), &Type::Number).expect("decode");
        assert_eq!(v, Value::Number(Number::Int(-17)));

        for bad in ["", "abc", "1e", "NaN", "inf", "0x10", "1.2.3", "--1", "."] {
            let err = decode_msgpack(&mp(Mp::from(bad)), &Type::Number);
            assert!(err.is_err(), "{bad:?} must be refused");
        }
        let not_a_number = Value::Number(Number::Big("twelve".into()));
        assert!(encode_msgpack(&not_a_number, &Type::Number).is_err());
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let inner_ty = obj(&[("a", Type::List(Box::new(Type::String)))]);
        let v = Value::Dynamic(
            inner_ty.clone(),
            Box::new(Value::object([("a", Value::List(vec![Value::string("x")]))])),
        );
        let bytes = encode_msgpack(&v, &Type::Dynamic).expect("encode");
        // [bin(type json), value]
        let Mp::Array(parts) = rmpv::decode::read_value(&mut bytes.as_slice()).expect("msgpack") else {
            panic!("not an array");
        };
        assert_eq!(
            parts.first(),
            Some(&Mp::Binary(br#"["object",{"a":["list","string"]}]"#.to_vec()))
        );
        assert_eq!(decode_msgpack(&bytes, &Type::Dynamic).expect("decode"), v);

        // Null and unknown travel bare.
        assert_eq!(roundtrip(&Value::Null, &Type::Dynamic), Value::Null);
        assert_eq!(roundtrip(&Value::Unknown, &Type::Dynamic), Value::Unknown);

        // A plain value in a dynamic slot gets its type inferred.
        let back = roundtrip(&Value::string("s"), &Type::Dynamic);
        assert_eq!(back, Value::Dynamic(Type::String, Box::new(Value::string("s"))));

        // A type sent as a msgpack string is accepted too.
        let bytes = mp(Mp::Array(vec![Mp::from("\"bool\""), Mp::Boolean(true)]));
        let v = decode_msgpack(&bytes, &Type::Dynamic).expect("decode");
        assert_eq!(v, Value::Dynamic(Type::Bool, Box::new(Value::Bool(true))));
    }

    #[test]
    fn malformed_dynamic_values_are_errors() {
        for bad in [
            Mp::Array(vec![Mp::Binary(b"\"bool\"".to_vec())]),
            Mp::Array(vec![Mp::Binary(b"\"wat\"".to_vec()), Mp::Boolean(true)]),
            Mp::Array(vec![Mp::Binary(b"\"bool\"".to_vec()), Mp::from("no")]),
            Mp::from(3),
        ] {
            assert!(decode_msgpack(&mp(bad.clone()), &Type::Dynamic).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncated_and_malformed_bytes_are_errors_not_panics() {
        let ty = obj(&[("id", Type::String), ("tags", Type::Map(Box::new(Type::String)))]);
        let good = encode_msgpack(
            &Value::object([
                ("id", Value::string("uimage-abc")),
                ("tags", Value::Map([("k".to_string(), Value::string("v"))].into())),
            ]),
            &ty,
        )
        .expect("encode");
        for cut in 0..good.len() {
            let err = decode_msgpack(&good[..cut], &ty).expect_err("truncated must fail");
            assert!(err.to_string().contains("msgpack"), "{err}");
        }
        let mut trailing = good.clone();
        trailing.push(0xc0);
        let err = decode_msgpack(&trailing, &ty).expect_err("trailing bytes");
        assert!(err.to_string().contains("after the value"), "{err}");
        // Headers claiming 4 billion elements, a string of invalid UTF-8.
        for bytes in [
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff],
            vec![0xa2, 0xff, 0xfe],
        ] {
            assert!(decode_msgpack(&bytes, &Type::List(Box::new(Type::String))).is_err());
            assert!(decode_msgpack(&bytes, &Type::String).is_err());
        }
    }

    #[test]
    fn randomly_corrupted_bytes_never_panic() {
        let ty = obj(&[
            ("id", Type::String),
            ("size", Type::Number),
            ("auth", Type::Bool),
            ("features", Type::List(Box::new(Type::String))),
            ("tags", Type::Map(Box::new(Type::String))),
            ("timeouts", obj(&[("create", Type::String)])),
            ("any", Type::Dynamic),
        ]);
        let value = Value::object([
            ("id", Value::string("uimage-abc")),
            ("size", Value::Number(Number::Int(20))),
            ("auth", Value::Bool(true)),
            ("features", Value::List(vec![Value::string("HotPlug"), Value::Unknown])),
            ("tags", Value::Map([("k".to_string(), Value::string("v"))].into())),
            ("timeouts", Value::object([("create", Value::string("60m"))])),
            (
                "any",
                Value::Dynamic(Type::Number, Box::new(Value::Number(Number::Float(1.5)))),
            ),
        ]);
        let good = encode_msgpack(&value, &ty).expect("encode");
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..bytes.len());
                bytes[i] = rng.u8(..);
            }
            if rng.bool() {
                bytes.truncate(rng.usize(..=bytes.len()));
            }
            // Either outcome is fine; a panic fails the test.
            let _ = decode_msgpack(&bytes, &ty);
            let _ = decode_json(&bytes, &ty);
        }
    }

    #[test]
    fn wrong_types_name_the_attribute() {
        let ty = obj(&[("size", Type::Number), ("tags", Type::Map(Box::new(Type::String)))]);
        let bytes = mp(mp_map(&[("size", Mp::from("big")), ("tags", Mp::Nil)]));
        let err = decode_msgpack(&bytes, &ty).expect_err("must fail");
        assert_eq!(err.path(), Some(&AttrPath::attr("size")));

        let bytes = mp(mp_map(&[("tags", mp_map(&[("env", Mp::from(1))]))]));
        let err = decode_msgpack(&bytes, &ty).expect_err("must fail");
        assert_eq!(err.path(), Some(&AttrPath::attr("tags").key("env")));
        assert!(err.to_string().contains("tags[\"env\"]"), "{err}");

        let cases: [(Mp, Type); 6] = [
            (Mp::from(1), Type::String),
            (Mp::from("x"), Type::Bool),
            (Mp::Boolean(true), Type::Number),
            (Mp::from("x"), Type::List(Box::new(Type::String))),
            (Mp::Array(vec![]), obj(&[])),
            (Mp::Array(vec![Mp::Nil]), Type::Tuple(vec![Type::String, Type::String])),
        ];
        for (v, t) in cases {
            assert!(
                matches!(decode_msgpack(&mp(v), &t), Err(CodecError::Mismatch { .. })),
                "{t:?}"
            );
        }
        let err = encode_msgpack(&Value::Bool(true), &Type::String).expect_err("must fail");
        assert!(err.to_string().contains("expected string, found a bool"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        // 10_000 nested arrays: rmpv's depth bound stops it before any recursion of ours.
        let mut bytes = vec![0x91; 10_000];
        bytes.push(0xc0);
        let mut ty = Type::String;
        for _ in 0..10 {
            ty = Type::List(Box::new(ty));
        }
        assert!(decode_msgpack(&bytes, &ty).is_err());
        assert!(decode_msgpack(&bytes, &Type::Dynamic).is_err());

        // Nesting within the bound but beyond MAX_DEPTH for our own walk.
        let mut deep_ty = Type::String;
        let mut deep_v = Value::string("x");
        for _ in 0..MAX_DEPTH + 1 {
            deep_ty = Type::List(Box::new(deep_ty));
            deep_v = Value::List(vec![deep_v]);
        }
        assert!(matches!(
            encode_msgpack(&deep_v, &deep_ty),
            Err(CodecError::TooDeep { .. })
        ));
        assert!(matches!(
            encode_json(&deep_v, &deep_ty),
            Err(CodecError::TooDeep { .. })
        ));

        // Reasonable nesting works.
        let mut ty = Type::String;
        let mut v = Value::string("x");
        for _ in 0..20 {
            ty = Type::List(Box::new(ty));
            v = Value::List(vec![v]);
        }
        assert_eq!(roundtrip(&v, &ty), v);
    }

    #[test]
    fn json_state_is_decoded_leniently() {
        let ty = obj(&[
            ("id", Type::String),
            ("size", Type::Number),
            ("enabled", Type::Bool),
            ("timeouts", obj(&[("create", Type::String)])),
        ]);
        let json = br#"{"id":"uimage-1","size":"40","enabled":"true","removed_attr":1}"#;
        let v = decode_json(json, &ty).expect("decode");
        assert_eq!(
            v,
            Value::object([
                ("id", Value::string("uimage-1")),
                ("size", Value::Number(Number::Int(40))),
                ("enabled", Value::Bool(true)),
                ("timeouts", Value::Null),
            ])
        );
        let err = decode_json(br#"{"size":[1]}"#, &ty).expect_err("must fail");
        assert_eq!(err.path(), Some(&AttrPath::attr("size")));
        assert!(matches!(
            decode_json(b"{\"id\":", &ty),
            Err(CodecError::Malformed { .. })
        ));
        // Strings accept other primitives, as Terraform's conversion does.
        let v = decode_json(br#"{"id":7}"#, &ty).expect("decode");
        assert_eq!(v.get("id"), &Value::string("7"));
    }

    #[test]
    fn json_round_trip() {
        let ty = obj(&[
            ("id", Type::String),
            ("n", Type::Number),
            ("f", Type::Number),
            ("big", Type::Number),
            ("list", Type::List(Box::new(Type::String))),
            ("any", Type::Dynamic),
            ("t", Type::Tuple(vec![Type::Bool])),
        ]);
        let v = Value::object([
            ("id", Value::string("x")),
            ("n", Value::Number(Number::Int(3))),
            ("f", Value::Number(Number::Float(2.5))),
            ("big", Value::Number(Number::Big("1e400".into()))),
            ("list", Value::List(vec![Value::string("a")])),
            (
                "any",
                Value::Dynamic(Type::Number, Box::new(Value::Number(Number::Int(1)))),
            ),
            ("t", Value::Tuple(vec![Value::Bool(false)])),
        ]);
        let bytes = encode_json(&v, &ty).expect("encode");
        assert_eq!(decode_json(&bytes, &ty).expect("decode"), v);
        assert!(matches!(
            encode_json(&Value::object([("id", Value::Unknown)]), &ty),
            Err(CodecError::Unknown { .. })
        ));
    }
}
