//! Typed models: a resource's, data source's or provider block's values as a
//! Rust struct, declared once with the [`model!`](crate::model) macro.
//!
//! Each field of a model carries its declaration (`= attr::required("...")
//! .requires_replace()`): the field's identifier is the attribute's name and
//! the field's type gives the Terraform type, so neither is ever written a
//! second time. From that one declaration the macro derives the conversion
//! to and from [`Value`] and the schema block ([`Model::block`]).
//!
//! Why a `macro_rules!` macro and not serde: a serde `Deserializer` over
//! `Value` would need out-of-band tricks to carry Terraform's third state
//! (unknown) and raw nested blocks, and serde's derive has no place for the
//! schema facts (required, replacement rule, description) that must sit next
//! to the field. A declarative macro keeps the field, its wire name and its
//! schema in one place, compiles with no extra crate, and a misspelt
//! attribute name in code is a misspelt field: a compile error. Code that
//! needs an attribute's name or path (diagnostics) asks for it by field with
//! [`attr_path!`](crate::attr_path), checked by the compiler too.

use super::diagnostics::{AttrPath, Diagnostic};
use super::schema::{Attribute, Block, NestedBlock, Schema};
use super::value::{FromValue, IntoValue, Maybe, Number, Type, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The Terraform type a Rust field type stands for.
pub trait TfType {
    fn tf_type() -> Type;
}

impl TfType for String {
    fn tf_type() -> Type {
        Type::String
    }
}

impl TfType for bool {
    fn tf_type() -> Type {
        Type::Bool
    }
}

impl TfType for i64 {
    fn tf_type() -> Type {
        Type::Number
    }
}

/// A raw value: a nested block's (whose type its declaration gives) or a
/// dynamic attribute's.
impl TfType for Value {
    fn tf_type() -> Type {
        Type::Dynamic
    }
}

impl<T: TfType> TfType for Vec<T> {
    fn tf_type() -> Type {
        Type::List(Box::new(T::tf_type()))
    }
}

impl<T: TfType> TfType for BTreeMap<String, T> {
    fn tf_type() -> Type {
        Type::Map(Box::new(T::tf_type()))
    }
}

impl<T: TfType> TfType for Maybe<T> {
    fn tf_type() -> Type {
        T::tf_type()
    }
}

impl<T: TfType> TfType for Option<T> {
    fn tf_type() -> Type {
        T::tf_type()
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        match v {
            Value::Map(m) | Value::Object(m) => m
                .iter()
                .map(|(k, item)| Ok((k.clone(), T::from_value(item, &path.key(k.as_str()))?)))
                .collect(),
            _ => Err(Diagnostic::error(
                "Unexpected value",
                format!("Expected a map for {path}. This is a bug in the provider; please report it."),
            )
            .at(path.clone())),
        }
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        Value::Map(self.into_iter().map(|(k, v)| (k, v.into_value())).collect())
    }
}

/// A value that must never be shown: `Debug` prints a placeholder, so a
/// model holding a key can be logged safely.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(pub T);

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sensitive>")
    }
}

impl<T: TfType> TfType for Sensitive<T> {
    fn tf_type() -> Type {
        T::tf_type()
    }
}

impl<T: FromValue> FromValue for Sensitive<T> {
    fn from_value(v: &Value, path: &AttrPath) -> Result<Self, Diagnostic> {
        T::from_value(v, path).map(Sensitive)
    }
}

impl<T: IntoValue> IntoValue for Sensitive<T> {
    fn into_value(self) -> Value {
        self.0.into_value()
    }
}

/// One declared field of a model: an attribute or a nested block.
#[derive(Clone, Debug)]
pub enum Field {
    Attribute(Attribute),
    Block(NestedBlock),
}

/// What may stand after a model field's `=`: an attribute declaration (the
/// field gives name and type) or a nested block (the field gives the name).
pub trait Declaration {
    fn declare(self, name: &str, ty: Type) -> Field;
}

impl Declaration for Attribute {
    fn declare(self, name: &str, ty: Type) -> Field {
        Field::Attribute(self.named(name, ty))
    }
}

impl Declaration for NestedBlock {
    fn declare(mut self, name: &str, _ty: Type) -> Field {
        self.type_name = name.to_string();
        Field::Block(self)
    }
}

/// A typed model of an object's values (see the module doc).
pub trait Model: Sized + Clone + Send + Sync + 'static {
    /// False only for raw values, which declare nothing to check.
    const TYPED: bool = true;

    /// The declarations of the fields, in order.
    fn fields() -> Vec<Field>;

    fn from_value(v: &Value) -> Result<Self, Diagnostic>;

    fn to_value(&self) -> Value;

    /// The schema block these fields declare.
    fn block(description: impl Into<String>) -> Block {
        let mut block = Block::new(description);
        for f in Self::fields() {
            match f {
                Field::Attribute(a) => block.attributes.push(a),
                Field::Block(b) => block.blocks.push(b),
            }
        }
        block
    }

    /// The schema these fields declare, at `version`.
    fn schema(version: i64, description: impl Into<String>) -> Schema {
        Schema::new(version, Self::block(description))
    }
}

/// Raw values as a model: for tests and the rare schema written by hand.
impl Model for Value {
    const TYPED: bool = false;

    fn fields() -> Vec<Field> {
        Vec::new()
    }

    fn from_value(v: &Value) -> Result<Self, Diagnostic> {
        Ok(v.clone())
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// Declares a model struct (see the module doc):
///
/// ```ignore
/// model! {
///     #[derive(Clone, Debug, PartialEq)]
///     pub struct ThingModel {
///         pub id: Maybe<String> = attr::computed("The id.").use_state_for_unknown(),
///         pub name: Maybe<String> = attr::required("The name.").requires_replace(),
///     }
/// }
/// ```
#[macro_export]
macro_rules! model {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty = $decl:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }

        impl $crate::framework::value::FromValue for $name {
            fn from_value(
                v: &$crate::framework::value::Value,
                path: &$crate::framework::diagnostics::AttrPath,
            ) -> ::std::result::Result<Self, $crate::framework::diagnostics::Diagnostic> {
                ::std::result::Result::Ok($name {
                    $(
                        $field: <$ty as $crate::framework::value::FromValue>::from_value(
                            v.get(stringify!($field)),
                            &path.then(stringify!($field)),
                        )?,
                    )*
                })
            }
        }

        impl $crate::framework::value::IntoValue for $name {
            fn into_value(self) -> $crate::framework::value::Value {
                $crate::framework::value::Value::object([
                    $( (stringify!($field), $crate::framework::value::IntoValue::into_value(self.$field)), )*
                ])
            }
        }

        impl $crate::framework::model::TfType for $name {
            fn tf_type() -> $crate::framework::value::Type {
                <$name as $crate::framework::model::Model>::block("").value_type()
            }
        }

        impl $crate::framework::model::Model for $name {
            fn fields() -> ::std::vec::Vec<$crate::framework::model::Field> {
                ::std::vec![
                    $(
                        $crate::framework::model::Declaration::declare(
                            $decl,
                            stringify!($field),
                            <$ty as $crate::framework::model::TfType>::tf_type(),
                        ),
                    )*
                ]
            }

            fn from_value(
                v: &$crate::framework::value::Value,
            ) -> ::std::result::Result<Self, $crate::framework::diagnostics::Diagnostic> {
                <$name as $crate::framework::value::FromValue>::from_value(
                    v,
                    &$crate::framework::diagnostics::AttrPath::default(),
                )
            }

            fn to_value(&self) -> $crate::framework::value::Value {
                $crate::framework::value::IntoValue::into_value(::std::clone::Clone::clone(self))
            }
        }
    };
}

/// The path of a model field's attribute, for diagnostics: `attr_path!(Model,
/// field)`. A field that does not exist is a compile error.
#[macro_export]
macro_rules! attr_path {
    ($model:ty, $field:ident) => {{
        #[allow(dead_code)]
        fn field_exists(m: &$model) {
            let _ = &m.$field;
        }
        $crate::framework::diagnostics::AttrPath::attr(stringify!($field))
    }};
}

/// The attribute name of a model field: `attr_name!(Model, field)`, checked
/// like [`attr_path!`](crate::attr_path).
#[macro_export]
macro_rules! attr_name {
    ($model:ty, $field:ident) => {{
        #[allow(dead_code)]
        fn field_exists(m: &$model) {
            let _ = &m.$field;
        }
        stringify!($field)
    }};
}

/// A value of type `ty` with every part set, for conformance checks.
fn sample(ty: &Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(true),
        Type::Number => Value::Number(Number::Int(7)),
        Type::String | Type::Dynamic => Value::string("x"),
        Type::List(t) => Value::List(vec![sample(t)]),
        Type::Set(t) => Value::Set(vec![sample(t)]),
        Type::Map(t) => Value::Map(BTreeMap::from([("k".to_string(), sample(t))])),
        Type::Object(fields) => Value::Object(fields.iter().map(|(k, t)| (k.clone(), sample(t))).collect()),
        Type::Tuple(ts) => Value::Tuple(ts.iter().map(sample).collect()),
    }
}

fn compare_blocks(served: &Block, declared: &Block, at: &str, problems: &mut Vec<String>) {
    for a in &served.attributes {
        let Some(d) = declared.get(&a.name) else {
            problems.push(format!("{at}{}: in the schema but not a field of the model", a.name));
            continue;
        };
        if a.ty != d.ty {
            problems.push(format!("{at}{}: schema type {:?}, model type {:?}", a.name, a.ty, d.ty));
        }
        if (a.required, a.optional, a.computed) != (d.required, d.optional, d.computed) {
            problems.push(format!(
                "{at}{}: schema required/optional/computed {:?}, model {:?}",
                a.name,
                (a.required, a.optional, a.computed),
                (d.required, d.optional, d.computed)
            ));
        }
    }
    for d in &declared.attributes {
        if served.get(&d.name).is_none() {
            problems.push(format!("{at}{}: a field of the model but not in the schema", d.name));
        }
    }
    for b in &served.blocks {
        match declared.blocks.iter().find(|x| x.type_name == b.type_name) {
            Some(d) => compare_blocks(&b.block, &d.block, &format!("{at}{}.", b.type_name), problems),
            None => problems.push(format!(
                "{at}{}: a block of the schema but not of the model",
                b.type_name
            )),
        }
    }
    for d in &declared.blocks {
        if !served.blocks.iter().any(|b| b.type_name == d.type_name) {
            problems.push(format!(
                "{at}{}: a block of the model but not of the schema",
                d.type_name
            ));
        }
    }
}

/// Rules between attributes (`conflicts_with`, `exactly_one_of`) must name
/// siblings that exist: a misspelt name would silently never match.
fn check_rules(block: &Block, at: &str, problems: &mut Vec<String>) {
    for a in &block.attributes {
        for name in a.validators.iter().flat_map(|v| v.siblings()) {
            if block.get(name).is_none() && !block.blocks.iter().any(|b| b.type_name == *name) {
                problems.push(format!(
                    "{at}{}: a rule names {name}, which is not a sibling attribute or block",
                    a.name
                ));
            }
        }
    }
    for b in &block.blocks {
        check_rules(&b.block, &format!("{at}{}.", b.type_name), problems);
    }
}

/// Checks that model `M` and the schema a provider serves agree: every
/// attribute has a field of the same name, type and required / optional /
/// computed flags, a value of the schema's type survives the round trip
/// through the model, and rules between attributes name real ones. Run by a
/// unit test over every resource, data source and the provider block.
pub fn check_conformance<M: Model>(served: &Schema) -> Result<(), String> {
    if !M::TYPED {
        return Ok(());
    }
    let mut problems = Vec::new();
    compare_blocks(&served.block, &M::block(""), "", &mut problems);
    check_rules(&served.block, "", &mut problems);
    let value = sample(&served.value_type());
    match M::from_value(&value) {
        Ok(m) if m.to_value() == value => {}
        Ok(m) => problems.push(format!(
            "a value does not survive the round trip through the model: {value:?} became {:?}",
            m.to_value()
        )),
        Err(d) => problems.push(format!("the model cannot hold a value of the schema's type: {d}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::attr;
    use crate::framework::timeouts::{Op, Timeouts, TimeoutsBlock};
    use std::time::Duration;

    const TIMEOUTS: Timeouts = Timeouts::new(&[(Op::Create, Duration::from_secs(60))]);

    crate::model! {
        #[derive(Clone, Debug, PartialEq)]
        struct Disk {
            size: Maybe<i64> = attr::required("Size."),
        }
    }

    crate::model! {
        #[derive(Clone, Debug, PartialEq)]
        struct Thing {
            id: Maybe<String> = attr::computed("The id.").use_state_for_unknown(),
            name: Maybe<String> = attr::required("The name.").requires_replace(),
            enabled: Maybe<bool> = attr::optional("On?").default(true),
            tags: Maybe<Vec<String>> = attr::optional("Tags."),
            labels: Maybe<BTreeMap<String, String>> = attr::optional("Labels."),
            disks: Maybe<Vec<Disk>> = attr::optional("Disks."),
            secret: Maybe<Sensitive<String>> = attr::optional("Key.").sensitive(),
            timeouts: TimeoutsBlock = TIMEOUTS.block(),
        }
    }

    #[test]
    fn a_model_declares_its_schema_and_converts_both_ways() {
        let block = Thing::block("A thing.");
        let names: Vec<&str> = block.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "enabled", "tags", "labels", "disks", "secret"]);
        assert_eq!(block.blocks[0].type_name, "timeouts");
        let name = block.get("name").expect("name");
        assert!(name.required && matches!(name.replace, crate::framework::schema::Replace::Always));
        let enabled = block.get("enabled").expect("enabled");
        assert!(enabled.optional && enabled.computed && enabled.default == Some(Value::Bool(true)));
        assert_eq!(
            block.get("disks").map(|a| a.ty.clone()),
            Some(Type::List(Box::new(Type::Object(BTreeMap::from([(
                "size".to_string(),
                Type::Number
            )])))))
        );

        let v = Value::object([
            ("id", Value::Unknown),
            ("name", Value::string("n")),
            ("enabled", Value::Null),
            ("tags", Value::List(vec![Value::string("a")])),
            ("labels", Value::Null),
            (
                "disks",
                Value::List(vec![Value::object([("size", Value::Number(Number::Int(3)))])]),
            ),
            ("secret", Value::string("hush")),
            ("timeouts", Value::Null),
        ]);
        let m = <Thing as Model>::from_value(&v).expect("model");
        assert_eq!(m.id, Maybe::Unknown);
        assert_eq!(m.name, Maybe::Known("n".into()));
        assert_eq!(m.enabled, Maybe::Null);
        assert_eq!(m.disks.known().map(|d| d[0].size.clone()), Some(Maybe::Known(3)));
        assert!(!format!("{m:?}").contains("hush"), "Debug hides sensitive values");
        assert_eq!(m.to_value(), v);
        assert_eq!(check_conformance::<Thing>(&Thing::schema(0, "")), Ok(()));
    }

    #[test]
    fn a_wrong_type_names_the_attribute_path() {
        let v = Value::object([(
            "disks",
            Value::List(vec![Value::object([("size", Value::string("big"))])]),
        )]);
        let err = <Thing as Model>::from_value(&v).expect_err("size is a number");
        assert_eq!(err.attribute.map(|p| p.to_string()).as_deref(), Some("disks[0].size"));
    }

    #[test]
    fn conformance_finds_every_kind_of_disagreement() {
        let mut schema = Thing::schema(0, "");
        schema.block.attributes.retain(|a| a.name != "tags");
        schema
            .block
            .attributes
            .push(crate::framework::Attribute::optional("nmae", Type::String));
        if let Some(a) = schema.block.attributes.iter_mut().find(|a| a.name == "name") {
            a.required = false;
            a.optional = true;
        }
        if let Some(a) = schema.block.attributes.iter_mut().find(|a| a.name == "enabled") {
            a.ty = Type::String;
        }
        if let Some(a) = schema.block.attributes.iter_mut().find(|a| a.name == "id") {
            a.validators.push(crate::framework::v::conflicts_with(["nmae2"]));
        }
        let problems = check_conformance::<Thing>(&schema).expect_err("disagreements");
        for needle in [
            "id: a rule names nmae2, which is not a sibling attribute",
            "tags: a field of the model but not in the schema",
            "nmae: in the schema but not a field",
            "name: schema required/optional/computed",
            "enabled: schema type",
        ] {
            assert!(problems.contains(needle), "{needle} in {problems}");
        }
    }

    #[test]
    fn attribute_paths_and_names_come_from_fields() {
        assert_eq!(crate::attr_path!(Thing, name), AttrPath::attr("name"));
        assert_eq!(crate::attr_name!(Thing, timeouts), "timeouts");
    }
}
