//! Terraform values as the provider sees them. Null and unknown are states of
//! every value, so no resource can forget that a configuration value may not
//! be known yet. `codec.rs` turns these to and from the wire.

use super::diagnostics::{AttrPath, Diagnostic};
use std::collections::BTreeMap;

/// A Terraform type, as declared in a schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `any`: the value carries its own type on the wire.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    /// The JSON type expression Terraform expects in a schema
    /// (`"string"`, `["list","string"]`, `["object",{...}]`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(fields) => {
                let m: serde_json::Map<String, J> = fields.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", m])
            }
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    /// Parses a JSON type expression; the inverse of [`Type::to_json`].
    pub fn from_json(j: &serde_json::Value) -> Option<Type> {
        use serde_json::Value as J;
        match j {
            J::String(s) => match s.as_str() {
                "bool" => Some(Type::Bool),
                "number" => Some(Type::Number),
                "string" => Some(Type::String),
                "dynamic" => Some(Type::Dynamic),
                _ => None,
            },
            J::Array(parts) if parts.len() == 2 => {
                let kind = parts[0].as_str()?;
                match kind {
                    "list" => Some(Type::List(Box::new(Type::from_json(&parts[1])?))),
                    "set" => Some(Type::Set(Box::new(Type::from_json(&parts[1])?))),
                    "map" => Some(Type::Map(Box::new(Type::from_json(&parts[1])?))),
                    "object" => {
                        let mut fields = BTreeMap::new();
                        for (k, v) in parts[1].as_object()? {
                            fields.insert(k.clone(), Type::from_json(v)?);
                        }
                        Some(Type::Object(fields))
                    }
                    "tuple" => Some(Type::Tuple(
                        parts[1]
                            .as_array()?
                            .iter()
                            .map(Type::from_json)
                            .collect::<Option<Vec<_>>>()?,
                    )),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// A number as Terraform sends it: an integer, a float, or a decimal string
/// too large for either.
#[derive(Clone, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    Big(String),
}

impl Number {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Big(s) => s.parse().ok(),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Big(s) => s.parse().ok(),
        }
    }
}

/// A value of some [`Type`]. Objects hold every attribute of their type.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply. Refinements Terraform attaches are dropped:
    /// the provider never needs them.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value of a `dynamic` attribute: its concrete type travels with it.
    Dynamic(Type, Box<Value>),
}

static NULL: Value = Value::Null;

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// Builds an object from `(name, value)` pairs.
    pub fn object<I, K>(fields: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => vs.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// The attribute `name` of an object; null for a missing attribute or a
    /// value that is not an object.
    pub fn get(&self, name: &str) -> &Value {
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets attribute `name` of an object (no-op on other values).
    pub fn set(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_string(), v);
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// Reads attribute `name` of this object as `T`, with the attribute path
    /// in the error.
    pub fn attr<T: FromValue>(&self, name: &str) -> Result<T, Diagnostic> {
        T::from_value(self.get(name), &AttrPath::attr(name))
    }
}

/// A configuration value that may not be known yet (plan time) or may be unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Maybe<T> {
    Unknown,
    Null,
    Known(T),
}

/// Unset.
impl<T> Default for Maybe<T> {
    fn default() -> Self {
        Maybe::Null
    }
}

impl<T> Maybe<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Maybe::Known(t) => Some(t),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Maybe::Unknown)
    }
}

/// Conversion from a [`Value`] into a Rust type, reporting where it failed.
pub trait FromValue: Sized {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic>;
}

/// Conversion from a Rust type into a [`Value`].
pub trait IntoValue {
    fn into_value(self) -> Value;
}

fn mismatch(path: &AttrPath, want: &str, got: &Value) -> Diagnostic {
    let what = match got {
        Value::Null => "null",
        Value::Unknown => "an unknown value",
        _ => "a value of another type",
    };
    Diagnostic::error(
        "Unexpected value",
        format!("Expected {want} for {path}, got {what}. This is a bug in the provider; please report it."),
    )
    .at(path.clone())
}

impl FromValue for String {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| mismatch(path, "a string", v))
    }
}

impl FromValue for bool {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        v.as_bool().ok_or_else(|| mismatch(path, "a bool", v))
    }
}

impl FromValue for i64 {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        v.as_i64().ok_or_else(|| mismatch(path, "a whole number", v))
    }
}

impl FromValue for Value {
    fn from_value(v: &Value, _: &AttrPath) -> Result<Self, Diagnostic> {
        Ok(v.clone())
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        match v {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_value(item, &path.index(i as i64)))
                .collect(),
            _ => Err(mismatch(path, "a list", v)),
        }
    }
}

/// Null becomes `None`; an unknown is an error (use [`Maybe`] where it may occur).
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        match v {
            Value::Null => Ok(None),
            _ => T::from_value(v, path).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Maybe<T> {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        match v {
            Value::Null => Ok(Maybe::Null),
            Value::Unknown => Ok(Maybe::Unknown),
            _ => T::from_value(v, path).map(Maybe::Known),
        }
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_string())
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Number(Number::Int(self))
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

/// A `Vec` becomes a list value.
impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

impl<T: IntoValue> IntoValue for Maybe<T> {
    fn into_value(self) -> Value {
        match self {
            Maybe::Unknown => Value::Unknown,
            Maybe::Null => Value::Null,
            Maybe::Known(t) => t.into_value(),
        }
    }
}
