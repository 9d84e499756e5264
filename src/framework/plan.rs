//! The default plan and the schema's plan rules, as terraform-plugin-framework
//! applies them: what a resource's plan is before its own `modify_plan`, and
//! which changes force a replacement afterwards.
//!
//! - Create: every computed attribute the configuration leaves unset is
//!   unknown (the provider picks it).
//! - Update with a change: the same, so values the provider recomputes are
//!   not promised; attributes marked use-state-for-unknown keep their prior
//!   value instead.
//! - Defaults: an unset attribute with a default is planned as the default.
//! - Replacement: for each attribute with a replacement rule whose planned
//!   value differs from its prior one, the rule decides. No resource
//!   computes `requires_replace` itself.

use super::diagnostics::{AttrPath, Diagnostics};
use super::private::Private;
use super::resource::{AnyResource, Plan, PlanRequest};
use super::schema::{Block, Nesting, Replace, ReplaceRequest};
use super::value::{Number, Value};
use std::collections::BTreeMap;

static NULL: Value = Value::Null;

fn elements(v: &Value) -> &[Value] {
    match v {
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => items,
        _ => &[],
    }
}

fn entries(v: &Value) -> Option<&BTreeMap<String, Value>> {
    match v {
        Value::Map(m) | Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A planned change as PlanResourceChange answers it.
#[derive(Debug)]
pub struct PlannedChange {
    pub planned: Value,
    /// The schema's rules' paths, then the resource's own; empty on create.
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Diagnostics,
    /// The planned private state, as bytes for Terraform.
    pub private: Vec<u8>,
}

/// The whole plan of a create or an update, the one function the server
/// and every unit test of planning call: the default plan, the resource's
/// adjustments, then the schema's replacement rules.
pub fn plan_change<D: 'static>(
    resource: &dyn AnyResource<D>,
    data: &D,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    prior_private: &[u8],
) -> PlannedChange {
    plan_block(
        &resource.schema().block,
        prior,
        proposed,
        config,
        prior_private,
        |req, plan| resource.modify_plan(data, req, plan),
    )
}

/// [`plan_change`] for a schema block, with `adjust` in the resource's place.
pub fn plan_block(
    block: &Block,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    prior_private: &[u8],
    adjust: impl FnOnce(&PlanRequest<Value>, &mut Plan<Value>),
) -> PlannedChange {
    let prior_private = Private::from_bytes(prior_private);
    let mut plan = Plan {
        planned: default_plan(block, prior, proposed, config),
        requires_replace: Vec::new(),
        diagnostics: Diagnostics::new(),
        private: prior_private.clone(),
    };
    let req = PlanRequest {
        prior: (!prior.is_null()).then(|| prior.clone()),
        proposed: proposed.clone(),
        config: config.clone(),
        prior_private,
    };
    adjust(&req, &mut plan);
    let mut requires_replace = requires_replace(block, prior, &plan.planned, config);
    for extra in plan.requires_replace {
        if !prior.is_null() && !requires_replace.contains(&extra) {
            requires_replace.push(extra);
        }
    }
    PlannedChange {
        planned: plan.planned,
        requires_replace,
        diagnostics: plan.diagnostics,
        private: plan.private.to_bytes(),
    }
}

/// What Terraform proposes for `config` over `prior`: the configuration,
/// with the prior value of every computed attribute the configuration
/// leaves null. Unit tests of planning start from it, as the server does
/// from Terraform's proposal.
pub fn proposed_new_state(block: &Block, prior: &Value, config: &Value) -> Value {
    let mut proposed = config.clone();
    if !prior.is_null() {
        for a in block.attributes.iter().filter(|a| a.computed) {
            if config.get(&a.name).is_null() {
                proposed.set(&a.name, prior.get(&a.name).clone());
            }
        }
    }
    proposed
}

/// The framework's plan for an object that is created (`prior` null) or
/// updated, before the resource's own adjustments.
pub fn default_plan(block: &Block, prior: &Value, proposed: &Value, config: &Value) -> Value {
    let mut planned = proposed.clone();
    if prior.is_null() {
        mark_computed_unknown(block, &mut planned, config);
        apply_defaults(block, &mut planned, config);
        return planned;
    }
    mark_new_nested_unknown(block, prior, &mut planned, config);
    apply_defaults(block, &mut planned, config);
    if !same(prior, &planned) {
        mark_unset_computed_unknown(block, prior, &mut planned, config);
    }
    planned
}

/// On create, every computed attribute the configuration leaves unset will
/// be chosen by the provider: plan it unknown. Recurses into nested blocks.
fn mark_computed_unknown(block: &Block, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for a in block.attributes.iter().filter(|a| a.computed) {
        if config.get(&a.name).is_null() {
            attrs.insert(a.name.clone(), Value::Unknown);
        }
    }
    for nb in &block.blocks {
        let Some(nested) = attrs.get_mut(&nb.type_name) else {
            continue;
        };
        let nested_config = config.get(&nb.type_name);
        match (nb.nesting, nested) {
            (Nesting::Single | Nesting::Group, v) => mark_computed_unknown(&nb.block, v, nested_config),
            (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
                let configs = elements(nested_config);
                for (i, item) in items.iter_mut().enumerate() {
                    mark_computed_unknown(&nb.block, item, configs.get(i).unwrap_or(&NULL));
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let c = entries(nested_config).and_then(|m| m.get(k)).unwrap_or(&NULL);
                    mark_computed_unknown(&nb.block, item, c);
                }
            }
            _ => {}
        }
    }
}

/// On an update that changes something, top-level computed attributes the
/// configuration leaves unset are unknown, unless they keep their state.
fn mark_unset_computed_unknown(block: &Block, prior: &Value, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for a in block.attributes.iter().filter(|a| a.computed && a.default.is_none()) {
        if !config.get(&a.name).is_null() {
            continue;
        }
        // Kept even when null: "unset" is a stable value too (a default project).
        attrs.insert(
            a.name.clone(),
            if a.use_state_for_unknown {
                prior.get(&a.name).clone()
            } else {
                Value::Unknown
            },
        );
    }
}

/// Unset attributes with a default are planned as the default, also inside
/// single nested blocks that are present.
fn apply_defaults(block: &Block, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for a in &block.attributes {
        if let Some(default) = &a.default
            && config.get(&a.name).is_null()
        {
            attrs.insert(a.name.clone(), default.clone());
        }
    }
    for nb in block
        .blocks
        .iter()
        .filter(|b| matches!(b.nesting, Nesting::Single | Nesting::Group))
    {
        if let Some(nested) = attrs.get_mut(&nb.type_name) {
            apply_defaults(&nb.block, nested, config.get(&nb.type_name));
        }
    }
}

/// On update, nested block elements that did not exist before are created
/// along with the change: their unset computed attributes are unknown too.
/// (Set elements cannot be matched to prior ones and are left as proposed.)
fn mark_new_nested_unknown(block: &Block, prior: &Value, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for nb in &block.blocks {
        let Some(nested) = attrs.get_mut(&nb.type_name) else {
            continue;
        };
        let (old, nested_config) = (prior.get(&nb.type_name), config.get(&nb.type_name));
        match (nb.nesting, nested) {
            (Nesting::Single | Nesting::Group, v) if old.is_null() => {
                mark_computed_unknown(&nb.block, v, nested_config)
            }
            (Nesting::Single | Nesting::Group, v) => mark_new_nested_unknown(&nb.block, old, v, nested_config),
            (Nesting::List, Value::List(items)) => {
                let (olds, configs) = (elements(old), elements(nested_config));
                for (i, item) in items.iter_mut().enumerate() {
                    let c = configs.get(i).unwrap_or(&NULL);
                    match olds.get(i) {
                        Some(o) => mark_new_nested_unknown(&nb.block, o, item, c),
                        None => mark_computed_unknown(&nb.block, item, c),
                    }
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let c = entries(nested_config).and_then(|m| m.get(k)).unwrap_or(&NULL);
                    match entries(old).and_then(|m| m.get(k)) {
                        Some(o) => mark_new_nested_unknown(&nb.block, o, item, c),
                        None => mark_computed_unknown(&nb.block, item, c),
                    }
                }
            }
            _ => {}
        }
    }
}

fn has_replace_rule(block: &Block) -> bool {
    block.attributes.iter().any(|a| !a.replace.is_never()) || block.blocks.iter().any(|b| has_replace_rule(&b.block))
}

/// The paths whose change forces a replacement of an existing object,
/// sorted by the schema's order and without duplicates.
pub fn requires_replace(block: &Block, prior: &Value, planned: &Value, config: &Value) -> Vec<AttrPath> {
    let mut out = Vec::new();
    if !prior.is_null() && !planned.is_null() {
        changed_replace(block, prior, planned, config, &AttrPath::default(), &mut out);
    }
    out
}

fn changed_replace(
    block: &Block,
    prior: &Value,
    planned: &Value,
    config: &Value,
    path: &AttrPath,
    out: &mut Vec<AttrPath>,
) {
    for a in block.attributes.iter().filter(|a| !a.replace.is_never()) {
        let (before, after) = (prior.get(&a.name), planned.get(&a.name));
        if same(before, after) {
            continue;
        }
        let replace = match a.replace {
            Replace::Never => false,
            Replace::Always => true,
            Replace::If(rule) => rule(&ReplaceRequest {
                prior: before,
                planned: after,
                config: config.get(&a.name),
                prior_object: prior,
            }),
        };
        if replace {
            out.push(path.then(a.name.as_str()));
        }
    }
    for nb in block.blocks.iter().filter(|b| has_replace_rule(&b.block)) {
        let p = path.then(nb.type_name.as_str());
        let (old, new, conf) = (
            prior.get(&nb.type_name),
            planned.get(&nb.type_name),
            config.get(&nb.type_name),
        );
        if new.is_unknown() {
            out.push(p);
            continue;
        }
        match nb.nesting {
            Nesting::Single | Nesting::Group => changed_replace(&nb.block, old, new, conf, &p, out),
            Nesting::List => {
                let (olds, news, confs) = (elements(old), elements(new), elements(conf));
                for i in 0..olds.len().max(news.len()) {
                    let at = p.index(i64::try_from(i).unwrap_or(i64::MAX));
                    changed_replace(
                        &nb.block,
                        olds.get(i).unwrap_or(&NULL),
                        news.get(i).unwrap_or(&NULL),
                        confs.get(i).unwrap_or(&NULL),
                        &at,
                        out,
                    );
                }
            }
            Nesting::Map => {
                let empty = BTreeMap::new();
                let (olds, news) = (entries(old).unwrap_or(&empty), entries(new).unwrap_or(&empty));
                let confs = entries(conf).unwrap_or(&empty);
                for k in olds.keys().chain(news.keys().filter(|k| !olds.contains_key(*k))) {
                    let at = p.key(k.as_str());
                    changed_replace(
                        &nb.block,
                        olds.get(k).unwrap_or(&NULL),
                        news.get(k).unwrap_or(&NULL),
                        confs.get(k).unwrap_or(&NULL),
                        &at,
                        out,
                    );
                }
            }
            // Set elements have no path of their own: a change anywhere in a
            // set holding replacing attributes replaces the object.
            Nesting::Set => {
                if !same(old, new) {
                    out.push(p);
                }
            }
        }
    }
}

/// Value equality as Terraform sees it: `5` equals `5.0`, sets ignore order.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Set(xs), Value::Set(ys)) => xs.len() == ys.len() && xs.iter().all(|x| ys.iter().any(|y| same(x, y))),
        (Value::List(xs), Value::List(ys)) | (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) | (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        (Value::Dynamic(tx, x), Value::Dynamic(ty, y)) => tx == ty && same(x, y),
        _ => a == b,
    }
}

fn same_number(x: &Number, y: &Number) -> bool {
    match (x, y) {
        (Number::Int(a), Number::Int(b)) => a == b,
        (Number::Big(a), Number::Big(b)) if a == b => true,
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => a == b,
            _ => false,
        },
    }
}

/// An imported object's unset attributes that have a default take it: the
/// API cannot say what was configured, and the default is what a matching
/// configuration plans, so the first plan after `terraform import` shows no
/// change for them.
pub fn import_defaults(block: &Block, state: &mut Value) {
    let Value::Object(attrs) = state else { return };
    for a in &block.attributes {
        if let Some(default) = &a.default
            && attrs.get(&a.name).is_none_or(Value::is_null)
        {
            attrs.insert(a.name.clone(), default.clone());
        }
    }
}

/// A replacement rule for arguments the API never returns: the prior value
/// is null right after `terraform import`, and learning the configured
/// value then is no change of the object.
pub fn unless_imported(r: &ReplaceRequest<'_>) -> bool {
    !r.prior.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::Attribute;
    use crate::framework::value::Type;

    fn s(x: &str) -> Value {
        Value::string(x)
    }

    fn block() -> Block {
        Block::new("A thing.")
            .attribute(Attribute::computed("id", Type::String).use_state_for_unknown())
            .attribute(Attribute::required("name", Type::String).requires_replace())
            .attribute(Attribute::required("url", Type::String).requires_replace_if(unless_imported))
            .attribute(Attribute::required("format", Type::String).requires_replace_if(|r| {
                r.prior.as_str().map(str::to_lowercase) != r.planned.as_str().map(str::to_lowercase)
            }))
            .attribute(Attribute::optional("note", Type::String))
            .attribute(Attribute::optional("auth", Type::Bool).default(true).requires_replace())
            .attribute(Attribute::computed("status", Type::String))
            .attribute(Attribute::optional_computed("region", Type::String).use_state_for_unknown())
    }

    fn obj(fields: &[(&str, Value)]) -> Value {
        let mut v = Value::object(
            ["id", "name", "url", "format", "note", "auth", "status", "region"].map(|k| (k, Value::Null)),
        );
        for (k, x) in fields {
            v.set(k, x.clone());
        }
        v
    }

    fn state() -> Value {
        obj(&[
            ("id", s("i-1")),
            ("name", s("n")),
            ("url", s("u")),
            ("format", s("qcow2")),
            ("auth", Value::Bool(true)),
            ("status", s("ok")),
            ("region", s("r1")),
        ])
    }

    fn config(fields: &[(&str, Value)]) -> Value {
        let mut c = obj(&[("name", s("n")), ("url", s("u")), ("format", s("qcow2"))]);
        for (k, x) in fields {
            c.set(k, x.clone());
        }
        c
    }

    /// The plan the server makes for a resource that adjusts nothing.
    fn plan(prior: &Value, config: &Value) -> (Value, Vec<String>) {
        let b = block();
        let proposed = proposed_new_state(&b, prior, config);
        let change = plan_block(&b, prior, &proposed, config, &[], |_, _| {});
        let rr = change.requires_replace.iter().map(ToString::to_string).collect();
        (change.planned, rr)
    }

    #[test]
    fn create_plans_computed_unknown_and_defaults() {
        let (planned, rr) = plan(&Value::Null, &config(&[]));
        assert!(planned.get("id").is_unknown());
        assert!(planned.get("status").is_unknown());
        assert!(planned.get("region").is_unknown());
        assert_eq!(planned.get("auth"), &Value::Bool(true));
        assert!(rr.is_empty());
    }

    #[test]
    fn no_change_plans_the_prior_state() {
        let (planned, rr) = plan(&state(), &config(&[]));
        assert_eq!(planned, state());
        assert!(rr.is_empty());
    }

    #[test]
    fn an_in_place_change_keeps_stable_values_and_recomputes_the_rest() {
        let (planned, rr) = plan(&state(), &config(&[("note", s("hi"))]));
        assert_eq!(planned.get("id"), &s("i-1"), "use_state_for_unknown");
        assert_eq!(planned.get("region"), &s("r1"), "use_state_for_unknown");
        assert!(planned.get("status").is_unknown(), "recomputed");
        assert!(rr.is_empty());
    }

    #[test]
    fn replacement_rules_decide_per_attribute() {
        let (_, rr) = plan(&state(), &config(&[("name", s("m"))]));
        assert_eq!(rr, ["name"]);
        let (_, rr) = plan(&state(), &config(&[("format", s("QCOW2"))]));
        assert!(rr.is_empty(), "letter case only");
        let (_, rr) = plan(&state(), &config(&[("format", s("raw")), ("url", s("v"))]));
        assert_eq!(rr, ["url", "format"]);
        let (_, rr) = plan(&state(), &config(&[("auth", Value::Bool(false))]));
        assert_eq!(rr, ["auth"]);
    }

    #[test]
    fn after_import_learning_an_argument_is_no_replacement() {
        let mut imported = state();
        imported.set("url", Value::Null);
        imported.set("auth", Value::Null);
        let (planned, rr) = plan(&imported, &config(&[]));
        assert_eq!(planned.get("url"), &s("u"), "the configured value is planned");
        assert_eq!(planned.get("auth"), &Value::Bool(true), "the default is planned");
        assert_eq!(rr, ["auth"], "auth has no import rule: its default replaces");
    }

    #[test]
    fn values_compare_as_terraform_does() {
        assert!(same(&Value::Number(Number::Int(5)), &Value::Number(Number::Float(5.0))));
        assert!(same(
            &Value::Set(vec![s("a"), s("b")]),
            &Value::Set(vec![s("b"), s("a")])
        ));
        assert!(!same(
            &Value::List(vec![s("a"), s("b")]),
            &Value::List(vec![s("b"), s("a")])
        ));
        assert!(same(
            &Value::Number(Number::Big("1".repeat(30))),
            &Value::Number(Number::Big("1".repeat(30)))
        ));
    }
}
