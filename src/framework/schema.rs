//! The schema model: what a provider, resource or data source declares about
//! its attributes. It is the single source for the wire schema, the plan
//! (defaults, replacement rules, use-state-for-unknown: see `plan.rs`), value
//! decoding and the generated docs.
//!
//! Attributes are usually declared next to a typed model field (see
//! `model.rs`): the builders here then take only a description, and the
//! field supplies the name and the type. What values an attribute accepts
//! is declared on it too (`.validate(v::non_empty())`, see `validate.rs`).

use super::validate::Validator;
use super::value::{IntoValue, Type, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A versioned schema: the root block of a provider, resource or data source.
#[derive(Clone, Debug)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

/// A set of attributes and nested blocks, with a markdown description.
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    pub deprecated: bool,
}

/// The values a replacement rule compares: the attribute's prior, planned
/// and configured values, and the whole prior object (for rules that look
/// at siblings).
#[derive(Clone, Copy, Debug)]
pub struct ReplaceRequest<'a> {
    pub prior: &'a Value,
    pub planned: &'a Value,
    pub config: &'a Value,
    pub prior_object: &'a Value,
}

/// When a change of an attribute forces the object to be replaced. The
/// framework evaluates it on every update plan where the attribute's planned
/// value differs from its prior one; no resource computes `requires_replace`.
#[derive(Clone, Copy, Default)]
pub enum Replace {
    /// Changed in place (or not changeable at all).
    #[default]
    Never,
    /// Every change replaces the object.
    Always,
    /// A change replaces the object when the function says so: for changes
    /// that are not real ones (letter case, a value first learnt after
    /// `terraform import`).
    If(fn(&ReplaceRequest<'_>) -> bool),
}

impl Replace {
    pub fn is_never(&self) -> bool {
        matches!(self, Replace::Never)
    }
}

impl fmt::Debug for Replace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Replace::Never => "Never",
            Replace::Always => "Always",
            Replace::If(_) => "If(..)",
        })
    }
}

/// One attribute. Exactly one of required / optional / computed-only holds;
/// optional + computed means "the user may set it, otherwise the provider does".
#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub deprecated: bool,
    /// What a change means for the object.
    pub replace: Replace,
    /// Planned when the configuration leaves the attribute unset (the
    /// attribute is then optional + computed).
    pub default: Option<Value>,
    /// Computed and stable: an update plan keeps the prior value instead of
    /// planning it unknown.
    pub use_state_for_unknown: bool,
    /// The environment variable that supplies the value when it is unset
    /// (documentation only; the provider reads it).
    pub env: Option<&'static str>,
    /// A default the provider applies itself (not planned), as documented.
    pub shown_default: Option<String>,
    /// What a configured value must be; the framework checks them before
    /// the object's own `validate` (see `validate.rs`).
    pub validators: Vec<Validator>,
}

/// How a nested block may repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
    Group,
}

/// A nested block such as `timeouts { ... }`.
#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

impl Attribute {
    fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_string(),
            ty,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecated: false,
            replace: Replace::Never,
            default: None,
            use_state_for_unknown: false,
            env: None,
            shown_default: None,
            validators: Vec::new(),
        }
    }

    pub fn required(name: &str, ty: Type) -> Self {
        Attribute {
            required: true,
            ..Attribute::new(name, ty)
        }
    }

    pub fn optional(name: &str, ty: Type) -> Self {
        Attribute {
            optional: true,
            ..Attribute::new(name, ty)
        }
    }

    /// Set by the user or, when unset, by the provider.
    pub fn optional_computed(name: &str, ty: Type) -> Self {
        Attribute {
            optional: true,
            computed: true,
            ..Attribute::new(name, ty)
        }
    }

    /// Read-only: only the provider sets it.
    pub fn computed(name: &str, ty: Type) -> Self {
        Attribute {
            computed: true,
            ..Attribute::new(name, ty)
        }
    }

    pub fn description(mut self, markdown: impl Into<String>) -> Self {
        self.description = markdown.into();
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Every change replaces the object.
    pub fn requires_replace(mut self) -> Self {
        self.replace = Replace::Always;
        self
    }

    /// A change replaces the object when `rule` says so.
    pub fn requires_replace_if(mut self, rule: fn(&ReplaceRequest<'_>) -> bool) -> Self {
        self.replace = Replace::If(rule);
        self
    }

    /// The value planned when the configuration leaves the attribute unset;
    /// makes the attribute optional + computed.
    pub fn default(mut self, value: impl IntoValue) -> Self {
        self.default = Some(value.into_value());
        self.optional = true;
        self.computed = true;
        self.required = false;
        self
    }

    /// Keeps the prior value in update plans: for computed values that
    /// never change once the object exists.
    pub fn use_state_for_unknown(mut self) -> Self {
        self.use_state_for_unknown = true;
        self
    }

    pub fn env(mut self, var: &'static str) -> Self {
        self.env = Some(var);
        self
    }

    /// Adds a rule a configured value must follow, e.g. `v::length(1, 63)`;
    /// the rules are checked in order, and only the first failure is
    /// reported.
    pub fn validate(mut self, rule: Validator) -> Self {
        self.validators.push(rule);
        self
    }

    /// Documents a default that the provider applies itself.
    pub fn shown_default(mut self, shown: impl Into<String>) -> Self {
        self.shown_default = Some(shown.into());
        self
    }

    /// The default as the docs show it: the planned default, or the one the
    /// provider applies itself.
    pub fn documented_default(&self) -> Option<String> {
        if let Some(shown) = &self.shown_default {
            return Some(shown.clone());
        }
        self.default.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.as_f64().map_or_else(String::new, |f| f.to_string()),
            other => format!("{other:?}"),
        })
    }

    /// What leaving the attribute unset means, in plain words for a
    /// message: the documented default, or the description's `Default:
    /// ...` sentence (for defaults that depend on something else, such as
    /// the provider's region), without markdown.
    pub fn default_in_words(&self) -> Option<String> {
        if let Some(d) = self.documented_default() {
            return Some(format!("{d:?}"));
        }
        let rest = self.description.split("Default: ").nth(1)?;
        let sentence = rest.split(". ").next().unwrap_or(rest).trim_end_matches('.');
        Some(
            sentence
                .replace('`', "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// Sets name and type: what a model field supplies to its declaration.
    pub fn named(mut self, name: &str, ty: Type) -> Self {
        self.name = name.to_string();
        self.ty = ty;
        self
    }
}

/// Declaration builders for model fields: a description, no name or type
/// (the field gives both).
pub mod attr {
    use super::Attribute;
    use crate::framework::value::Type;

    pub fn required(description: impl Into<String>) -> Attribute {
        Attribute::required("", Type::Dynamic).description(description)
    }

    pub fn optional(description: impl Into<String>) -> Attribute {
        Attribute::optional("", Type::Dynamic).description(description)
    }

    pub fn optional_computed(description: impl Into<String>) -> Attribute {
        Attribute::optional_computed("", Type::Dynamic).description(description)
    }

    pub fn computed(description: impl Into<String>) -> Attribute {
        Attribute::computed("", Type::Dynamic).description(description)
    }
}

impl Block {
    pub fn new(description: impl Into<String>) -> Self {
        Block {
            description: description.into(),
            ..Block::default()
        }
    }

    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    /// The attribute called `name`, if the block has one.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The object type of this block's values; what the codec decodes with.
    pub fn value_type(&self) -> Type {
        let mut fields = BTreeMap::new();
        for a in &self.attributes {
            fields.insert(a.name.clone(), a.ty.clone());
        }
        for b in &self.blocks {
            fields.insert(b.type_name.clone(), b.value_type());
        }
        Type::Object(fields)
    }
}

impl NestedBlock {
    /// A block written at most once, like `timeouts { ... }`; its name
    /// comes from the model field that declares it.
    pub fn single(block: Block) -> Self {
        NestedBlock {
            type_name: String::new(),
            block,
            nesting: Nesting::Single,
            min_items: 0,
            max_items: 0,
        }
    }

    /// The type of the block's value in its parent object.
    pub fn value_type(&self) -> Type {
        let inner = self.block.value_type();
        match self.nesting {
            Nesting::Single | Nesting::Group => inner,
            Nesting::List => Type::List(Box::new(inner)),
            Nesting::Set => Type::Set(Box::new(inner)),
            Nesting::Map => Type::Map(Box::new(inner)),
        }
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }

    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}
