//! Validators as declarations: an attribute says what values it accepts
//! (`attr::required("...").validate(v::length(1, 63))`), and the framework
//! checks every configuration against the declarations before the object's
//! own `validate` runs (ValidateResourceConfig, ValidateDataResourceConfig,
//! ValidateProviderConfig). A message is derived from the declaration: the
//! attribute path comes from the schema, the allowed values or lengths from
//! the validator, so no resource writes "must not be empty" by hand, and
//! the generated docs list the same rules.
//!
//! Unknown values are skipped (they are checked again once known); nulls
//! are skipped unless the attribute is required. An attribute's validators
//! run in order and stop at the first that fails: one error per argument.

use super::diagnostics::{AttrPath, Diagnostic, Diagnostics};
use super::schema::{Attribute, Block, Nesting};
use super::timeouts::parse_duration;
use super::value::Value;

/// One rule an attribute's value must follow (see [`v`] for the builders),
/// with an optional sentence of help appended to its message.
#[derive(Clone, Debug)]
pub struct Validator {
    rule: Rule,
    help: Option<String>,
}

#[derive(Clone, Debug)]
enum Rule {
    NonEmpty,
    Length { min: usize, max: usize },
    OneOf { values: Vec<String>, any_case: bool },
    Matches { pattern: String, what: String },
    Is { test: fn(&str) -> bool, what: String },
    RegexSyntax,
    Url(UrlRule),
    Between { min: i64, max: i64 },
    Duration,
    ConflictsWith(Vec<String>),
    ExactlyOneOf(Vec<String>),
}

#[derive(Clone, Debug)]
struct UrlRule {
    schemes: Vec<String>,
    path: bool,
    query: bool,
}

/// The validator builders: `v::non_empty()`, `v::length(1, 63)`, ...
pub mod v {
    use super::{Rule, UrlRule, Validator};

    fn rule(rule: Rule) -> Validator {
        Validator { rule, help: None }
    }

    fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
        items.into_iter().map(Into::into).collect()
    }

    /// A string with something besides whitespace in it.
    pub fn non_empty() -> Validator {
        rule(Rule::NonEmpty)
    }

    /// A string of `min` to `max` characters (not bytes); with `min >= 1`
    /// a blank string counts as empty.
    pub fn length(min: usize, max: usize) -> Validator {
        rule(Rule::Length { min, max })
    }

    /// One of `values`, exactly as written.
    pub fn one_of<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Validator {
        rule(Rule::OneOf {
            values: strings(values),
            any_case: false,
        })
    }

    /// One of `values`, in any letter case.
    pub fn one_of_any_case<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Validator {
        rule(Rule::OneOf {
            values: strings(values),
            any_case: true,
        })
    }

    /// A string matching the regular expression `pattern`; `what` says in
    /// words what such a string is ("a project id (org-...)").
    pub fn regex(pattern: &str, what: impl Into<String>) -> Validator {
        rule(Rule::Matches {
            pattern: pattern.to_string(),
            what: what.into(),
        })
    }

    /// A string `test` accepts; `what` says in words what such a string is.
    /// For a fact another layer owns (an image id's shape).
    pub fn is(test: fn(&str) -> bool, what: impl Into<String>) -> Validator {
        rule(Rule::Is {
            test,
            what: what.into(),
        })
    }

    /// A regular expression that compiles (RE2 syntax, as the `regex` crate).
    pub fn regex_syntax() -> Validator {
        rule(Rule::RegexSyntax)
    }

    /// An absolute URL with a host and one of `schemes`; see
    /// [`Validator::with_path`] and [`Validator::without_query`].
    pub fn url<S: Into<String>>(schemes: impl IntoIterator<Item = S>) -> Validator {
        rule(Rule::Url(UrlRule {
            schemes: strings(schemes),
            path: false,
            query: true,
        }))
    }

    /// A whole number from `min` to `max`.
    pub fn between(min: i64, max: i64) -> Validator {
        rule(Rule::Between { min, max })
    }

    /// A positive Go duration (`90s`, `60m`, `1h30m`): what a `timeouts`
    /// operation holds.
    pub fn duration() -> Validator {
        rule(Rule::Duration)
    }

    /// Not set together with any of the sibling attributes `others`.
    pub fn conflicts_with<S: Into<String>>(others: impl IntoIterator<Item = S>) -> Validator {
        rule(Rule::ConflictsWith(strings(others)))
    }

    /// Exactly one of this attribute and the sibling attributes `others`
    /// is set. Declare it on one attribute of the group.
    pub fn exactly_one_of<S: Into<String>>(others: impl IntoIterator<Item = S>) -> Validator {
        rule(Rule::ExactlyOneOf(strings(others)))
    }
}

/// A string as quoted in a message: a URL loses its query and fragment,
/// which may carry a signature.
fn quoted(s: &str) -> String {
    format!("{:?}", s.split(['?', '#']).next().unwrap_or(s))
}

/// A list for a message: `a, b, c`.
fn listed(items: &[String]) -> String {
    items.join(", ")
}

/// A list for the docs: `` `a`, `b` ``.
fn ticked(items: &[String]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Whether an attribute's value counts as set for the rules between
/// attributes.
enum Presence {
    Set,
    Unset,
    Unknown,
}

fn presence(v: &Value) -> Presence {
    match v {
        Value::Null => Presence::Unset,
        Value::Unknown => Presence::Unknown,
        _ => Presence::Set,
    }
}

impl Validator {
    /// A sentence appended to the message, saying what to write instead.
    pub fn help(mut self, sentence: impl Into<String>) -> Self {
        self.help = Some(sentence.into());
        self
    }

    /// For [`v::url`]: the path must name something (a file), not be `/`.
    pub fn with_path(mut self) -> Self {
        if let Rule::Url(u) = &mut self.rule {
            u.path = true;
        }
        self
    }

    /// For [`v::url`]: no query and no fragment.
    pub fn without_query(mut self) -> Self {
        if let Rule::Url(u) = &mut self.rule {
            u.query = false;
        }
        self
    }

    /// The sibling attributes a block rule names (for conformance checks).
    pub fn siblings(&self) -> &[String] {
        match &self.rule {
            Rule::ConflictsWith(names) | Rule::ExactlyOneOf(names) => names,
            _ => &[],
        }
    }

    /// The rule as the docs state it, if it says more than the type does.
    pub fn doc(&self) -> Option<String> {
        Some(match &self.rule {
            Rule::NonEmpty => "Must not be empty.".to_string(),
            Rule::Length { min, max } if min == max => format!("Exactly {min} characters."),
            Rule::Length { min, max } => format!("{min} to {max} characters."),
            Rule::OneOf { values, any_case } => format!(
                "One of {}{}.",
                ticked(values),
                if *any_case { " (any letter case)" } else { "" }
            ),
            Rule::Matches { what, .. } | Rule::Is { what, .. } => format!("Must be {what}."),
            Rule::RegexSyntax => "Must be a valid regular expression.".to_string(),
            Rule::Url(u) => {
                let with: Vec<&str> = [(u.path, "a path"), (!u.query, "no query")]
                    .into_iter()
                    .filter_map(|(on, what)| on.then_some(what))
                    .collect();
                let with = if with.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", with.join(" and "))
                };
                format!("Must be an {} URL{with}.", u.schemes.join(" or "))
            }
            Rule::Between { min, max } => format!("From {min} to {max}."),
            Rule::Duration => return None,
            Rule::ConflictsWith(others) => format!("Conflicts with {}.", ticked(others)),
            Rule::ExactlyOneOf(others) => format!("Set exactly one of this and {}.", ticked(others)),
        })
    }

    /// Checks `value` (known, not null) of the attribute at `path`; the
    /// message says what is wrong, or `None` when the value is fine.
    fn check_value(&self, a: &Attribute, path: &AttrPath, value: &Value) -> Option<String> {
        let text = value.as_str();
        let empty = || match a.default_in_words() {
            _ if a.required => format!("{path} must not be empty."),
            Some(default) => format!("{path} must not be empty; remove the argument to use the default, {default}."),
            None => format!("{path} must not be empty; remove the argument to leave it unset."),
        };
        match &self.rule {
            Rule::NonEmpty => text.filter(|s| s.trim().is_empty()).map(|_| empty()),
            Rule::Length { min, max } => {
                let s = text?;
                let n = s.chars().count();
                if *min >= 1 && s.trim().is_empty() {
                    Some(empty())
                } else if n < *min {
                    Some(format!("{path} is {n} characters long; at least {min} are needed."))
                } else if n > *max {
                    Some(format!("{path} is {n} characters long; at most {max} are allowed."))
                } else {
                    None
                }
            }
            Rule::OneOf { values, any_case } => {
                let s = text?;
                let ok = values
                    .iter()
                    .any(|v| v == s || (*any_case && v.eq_ignore_ascii_case(s)));
                (!ok).then(|| {
                    format!(
                        "{s:?} is not allowed for {path}. Use one of: {}{}.",
                        listed(values),
                        if *any_case { " (any letter case)" } else { "" }
                    )
                })
            }
            Rule::Matches { pattern, what } => {
                let s = text?;
                match regex::Regex::new(pattern) {
                    Ok(re) => (!re.is_match(s)).then(|| format!("{s:?} is not {what}.")),
                    Err(e) => Some(format!(
                        "{path} cannot be checked: the provider's pattern is broken ({e}). This is a bug in the \
                         provider; please report it."
                    )),
                }
            }
            Rule::Is { test, what } => text.filter(|s| !test(s)).map(|s| format!("{s:?} is not {what}.")),
            Rule::RegexSyntax => {
                let s = text?;
                regex::Regex::new(s)
                    .err()
                    .map(|e| format!("{s:?} is not a valid regular expression: {e}"))
            }
            Rule::Url(u) => check_url(u, text?).err(),
            Rule::Between { min, max } => {
                let Value::Number(n) = value else { return None };
                let whole = n.as_i64().filter(|i| (*min..=*max).contains(i));
                whole.is_none().then(|| {
                    let got = n.as_f64().map_or_else(|| format!("{n:?}"), |f| f.to_string());
                    format!("{path} must be a whole number from {min} to {max}; got {got}.")
                })
            }
            Rule::Duration => {
                let s = text?;
                match parse_duration(s) {
                    Ok(d) if d.is_zero() => Some(format!(
                        "{path} must be longer than zero; remove it to use the default."
                    )),
                    Ok(_) => None,
                    Err(e) => Some(format!("{path} {s:?} is not valid: {e}.")),
                }
            }
            Rule::ConflictsWith(_) | Rule::ExactlyOneOf(_) => None,
        }
    }

    /// Checks a rule between this attribute (`name`, `value`) and its
    /// siblings in `object`; `None` when fine or not decidable yet.
    fn check_siblings(&self, name: &str, value: &Value, object: &Value) -> Option<String> {
        match &self.rule {
            Rule::ConflictsWith(others) => {
                if !matches!(presence(value), Presence::Set) {
                    return None;
                }
                let other = others
                    .iter()
                    .find(|o| matches!(presence(object.get(o)), Presence::Set))?;
                Some(format!("Set {other} or {name}, not both."))
            }
            Rule::ExactlyOneOf(others) => {
                let group: Vec<String> = std::iter::once(name.to_string())
                    .chain(others.iter().cloned())
                    .collect();
                let mut chosen = Vec::new();
                for member in &group {
                    let v = if member == name { value } else { object.get(member) };
                    match presence(v) {
                        Presence::Unknown => return None,
                        Presence::Set => chosen.push(member.clone()),
                        Presence::Unset => {}
                    }
                }
                match chosen.len() {
                    1 => None,
                    0 => Some(format!("Set one of {}.", listed(&group))),
                    _ => Some(format!(
                        "Set only one of {}; {} are set.",
                        listed(&group),
                        chosen.join(" and ")
                    )),
                }
            }
            _ => None,
        }
    }
}

fn check_url(u: &UrlRule, raw: &str) -> Result<(), String> {
    let shown = quoted(raw);
    let url = url::Url::parse(raw).map_err(|e| format!("{shown} is not a URL ({e})."))?;
    if !u.schemes.iter().any(|s| s == url.scheme()) {
        return Err(format!("{shown} does not use {}.", u.schemes.join(" or ")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{shown} has no host."));
    }
    if u.path && url.path().trim_matches('/').is_empty() {
        return Err(format!("{shown} has no path to a file."));
    }
    if !u.query && (url.query().is_some() || url.fragment().is_some()) {
        return Err(format!("{shown} must not have a query or fragment."));
    }
    Ok(())
}

/// The diagnostic of a failed check at `path`.
fn invalid(path: &AttrPath, detail: String, help: Option<&String>) -> Diagnostic {
    let detail = match help {
        Some(h) => format!("{detail} {h}"),
        None => detail,
    };
    Diagnostic::error(format!("Invalid {path}"), detail).at(path.clone())
}

fn check_attribute(a: &Attribute, object: &Value, path: &AttrPath, diags: &mut Diagnostics) {
    let value = object.get(&a.name);
    // The block rules decide about null and unknown values themselves.
    for rule in a.validators.iter().filter(|r| !r.siblings().is_empty()) {
        if let Some(detail) = rule.check_siblings(&a.name, value, object) {
            diags.push(invalid(path, detail, rule.help.as_ref()));
            return;
        }
    }
    match value {
        Value::Unknown => {}
        Value::Null if a.required => diags.push(invalid(path, format!("{path} must be set."), None)),
        Value::Null => {}
        v => {
            let failed = a
                .validators
                .iter()
                .find_map(|r| r.check_value(a, path, v).map(|d| (d, r.help.as_ref())));
            if let Some((detail, help)) = failed {
                diags.push(invalid(path, detail, help));
            }
        }
    }
}

fn check_block(block: &Block, value: &Value, path: &AttrPath, diags: &mut Diagnostics) {
    let Value::Object(fields) = value else { return };
    for key in fields.keys() {
        let declared = block.get(key).is_some() || block.blocks.iter().any(|b| &b.type_name == key);
        if !declared {
            let names: Vec<String> = block
                .attributes
                .iter()
                .map(|a| a.name.clone())
                .chain(block.blocks.iter().map(|b| b.type_name.clone()))
                .collect();
            let at = path.then(key.as_str());
            diags.push(
                Diagnostic::error(
                    "Unsupported argument",
                    format!("{at} is not an argument here. The arguments are: {}.", listed(&names)),
                )
                .at(at),
            );
        }
    }
    for a in &block.attributes {
        check_attribute(a, value, &path.then(a.name.as_str()), diags);
    }
    for b in &block.blocks {
        let at = path.then(b.type_name.as_str());
        match (b.nesting, value.get(&b.type_name)) {
            (Nesting::Single | Nesting::Group, v) => check_block(&b.block, v, &at, diags),
            (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
                for (i, item) in (0_i64..).zip(items) {
                    check_block(&b.block, item, &at.index(i), diags);
                }
            }
            (Nesting::Map, Value::Map(items) | Value::Object(items)) => {
                for (k, item) in items {
                    check_block(&b.block, item, &at.key(k.as_str()), diags);
                }
            }
            _ => {}
        }
    }
}

/// Checks a configuration against the validators `block` declares, nested
/// blocks included (a `timeouts` block's durations among them).
pub fn declared(block: &Block, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    check_block(block, config, &AttrPath::default(), &mut diags);
    diags
}

/// What a Validate*Config call runs: the declared validators of `block`,
/// then the object's own plan-time checks (`own`), which see the same
/// configuration and may add cross-attribute rules.
pub fn config(block: &Block, config: &Value, own: impl FnOnce(&Value) -> Diagnostics) -> Diagnostics {
    let mut diags = declared(block, config);
    diags.extend(own(config));
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock};
    use crate::framework::timeouts::{self, Op};
    use crate::framework::value::{Number, Type};
    use std::time::Duration;

    fn s(x: &str) -> Value {
        Value::string(x)
    }

    fn n(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    /// The one diagnostic that `value` for an attribute declared `a` gets,
    /// as (path, summary, detail); `None` when it passes.
    fn one(a: Attribute, value: Value) -> Option<(String, String, String)> {
        let name = a.name.clone();
        let block = Block::new("").attribute(a);
        let diags = declared(&block, &Value::object([(name.as_str(), value)]));
        assert!(diags.0.len() <= 1, "{diags}");
        diags.0.first().map(|d| {
            let path = d.attribute.as_ref().map(ToString::to_string).unwrap_or_default();
            (path, d.summary.clone(), d.detail.clone())
        })
    }

    fn detail(a: Attribute, value: Value) -> String {
        one(a, value).map(|(_, _, d)| d).unwrap_or_default()
    }

    fn req(name: &str) -> Attribute {
        Attribute::required(name, Type::String)
    }

    fn opt(name: &str) -> Attribute {
        Attribute::optional(name, Type::String)
    }

    #[test]
    fn non_empty_names_the_path_and_says_how_to_get_the_default() {
        assert_eq!(
            one(req("os_type").validate(v::non_empty()), s(" ")),
            Some((
                "os_type".into(),
                "Invalid os_type".into(),
                "os_type must not be empty.".into()
            ))
        );
        assert_eq!(
            detail(opt("tag").validate(v::non_empty()), s("")),
            "tag must not be empty; remove the argument to leave it unset."
        );
        let region = opt("region")
            .description("The region. Default: the provider's `region`. Keep it near.")
            .validate(v::non_empty());
        assert_eq!(
            detail(region, s("")),
            "region must not be empty; remove the argument to use the default, the provider's region."
        );
        let shown = opt("base").shown_default("https://api").validate(v::non_empty());
        assert_eq!(
            detail(shown, s("")),
            "base must not be empty; remove the argument to use the default, \"https://api\"."
        );
        assert_eq!(one(req("os_type").validate(v::non_empty()), s("CentOS")), None);
    }

    #[test]
    fn help_is_appended_to_the_message() {
        let a = req("os_type").validate(v::non_empty().help("Name the platform."));
        assert_eq!(detail(a, s("")), "os_type must not be empty. Name the platform.");
    }

    #[test]
    fn length_counts_characters_and_refuses_blanks() {
        let a = || req("name").validate(v::length(1, 3));
        assert_eq!(
            detail(a(), s("abcd")),
            "name is 4 characters long; at most 3 are allowed."
        );
        assert_eq!(detail(a(), s("  ")), "name must not be empty.");
        assert_eq!(one(a(), s("镜镜镜")), None);
        assert_eq!(
            detail(req("code").validate(v::length(2, 3)), s("a")),
            "code is 1 characters long; at least 2 are needed."
        );
    }

    #[test]
    fn one_of_lists_the_allowed_values() {
        let exact = req("status").validate(v::one_of(["Available", "Making"]));
        assert_eq!(
            detail(exact, s("available")),
            "\"available\" is not allowed for status. Use one of: Available, Making."
        );
        let any = || req("format").validate(v::one_of_any_case(["RAW", "qcow2"]));
        assert_eq!(one(any(), s("QCOW2")), None);
        assert_eq!(
            detail(any(), s("iso")),
            "\"iso\" is not allowed for format. Use one of: RAW, qcow2 (any letter case)."
        );
    }

    #[test]
    fn regex_and_predicates_say_what_is_expected() {
        let re = req("project_id").validate(v::regex("^org-[a-z0-9]+$", "a project id (org-...)"));
        assert_eq!(detail(re, s("proj-1")), "\"proj-1\" is not a project id (org-...).");
        let is = req("id").validate(v::is(|s| s.starts_with("uimage-"), "an image id (uimage-...)"));
        assert_eq!(detail(is, s("image-1")), "\"image-1\" is not an image id (uimage-...).");
        let broken = req("x").validate(v::regex("(", "x"));
        assert!(detail(broken, s("a")).contains("bug in the provider"));
    }

    #[test]
    fn regex_syntax_reports_why_a_pattern_does_not_compile() {
        let a = || opt("name_regex").validate(v::regex_syntax());
        assert!(detail(a(), s("web-(")).starts_with("\"web-(\" is not a valid regular expression: "));
        assert_eq!(one(a(), s("^web-[0-9]+$")), None);
    }

    #[test]
    fn url_checks_scheme_host_path_and_query_and_never_shows_the_query() {
        let file = || {
            req("ufile_url")
                .validate(v::url(["http", "https"]).with_path())
                .validate(v::non_empty())
        };
        assert_eq!(
            detail(file(), s("ftp://b.example.com/a.raw?Signature=s3cr3t")),
            "\"ftp://b.example.com/a.raw\" does not use http or https."
        );
        assert!(detail(file(), s("bucket/a.raw")).starts_with("\"bucket/a.raw\" is not a URL ("));
        assert_eq!(
            detail(file(), s("https://b.example.com/")),
            "\"https://b.example.com/\" has no path to a file."
        );
        assert_eq!(
            detail(file(), s("file:///a.raw")),
            "\"file:///a.raw\" does not use http or https."
        );
        assert_eq!(
            detail(req("to").validate(v::url(["mailto"])), s("mailto:a@b")),
            "\"mailto:a@b\" has no host."
        );
        let base = || opt("base").validate(v::url(["http", "https"]).without_query());
        assert_eq!(
            detail(base(), s("http://h/?q=1")),
            "\"http://h/\" must not have a query or fragment."
        );
        assert_eq!(one(base(), s("http://127.0.0.1:8080/ufile")), None);
    }

    #[test]
    fn between_wants_a_whole_number_in_range() {
        let a = || Attribute::optional("max_retries", Type::Number).validate(v::between(0, 10));
        assert_eq!(
            detail(a(), n(-1)),
            "max_retries must be a whole number from 0 to 10; got -1."
        );
        assert_eq!(
            detail(a(), Value::Number(Number::Float(1.5))),
            "max_retries must be a whole number from 0 to 10; got 1.5."
        );
        assert_eq!(one(a(), n(10)), None);
    }

    #[test]
    fn durations_must_parse_and_be_positive() {
        let a = || opt("create").validate(v::duration());
        assert_eq!(
            detail(a(), s("10")),
            "create \"10\" is not valid: \"10\" has no unit; add one of h, m, s, ms, us, ns (for example \"10m\")."
        );
        assert_eq!(
            detail(a(), s("-5m")),
            "create \"-5m\" is not valid: a duration cannot be negative."
        );
        assert_eq!(
            detail(a(), s("0s")),
            "create must be longer than zero; remove it to use the default."
        );
        assert_eq!(one(a(), s("1h30m")), None);
    }

    fn pair(rule: Validator, a: Value, b: Value) -> Diagnostics {
        let block = Block::new("").attribute(opt("a").validate(rule)).attribute(opt("b"));
        declared(&block, &Value::object([("a", a), ("b", b)]))
    }

    #[test]
    fn conflicts_with_refuses_both_and_waits_for_unknowns() {
        let d = pair(v::conflicts_with(["b"]), s("x"), s("y"));
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("a")));
        assert_eq!(d.0[0].detail, "Set b or a, not both.");
        assert!(pair(v::conflicts_with(["b"]), s("x"), Value::Null).is_empty());
        assert!(pair(v::conflicts_with(["b"]), s("x"), Value::Unknown).is_empty());
        assert!(pair(v::conflicts_with(["b"]), Value::Null, s("y")).is_empty());
    }

    #[test]
    fn exactly_one_of_wants_one_of_the_group() {
        let rule = || v::exactly_one_of(["b"]);
        assert_eq!(pair(rule(), Value::Null, Value::Null).0[0].detail, "Set one of a, b.");
        assert_eq!(
            pair(rule(), s("x"), s("y")).0[0].detail,
            "Set only one of a, b; a and b are set."
        );
        assert!(pair(rule(), Value::Null, s("y")).is_empty());
        assert!(pair(rule(), Value::Unknown, Value::Null).is_empty());
    }

    #[test]
    fn unknowns_and_optional_nulls_are_skipped_but_a_required_null_is_not() {
        let a = || req("name").validate(v::non_empty());
        assert_eq!(one(a(), Value::Unknown), None);
        assert_eq!(detail(a(), Value::Null), "name must be set.");
        assert_eq!(one(opt("tag").validate(v::non_empty()), Value::Null), None);
    }

    #[test]
    fn the_first_failing_validator_is_the_only_one_reported() {
        let a = req("name").validate(v::non_empty()).validate(v::length(1, 3));
        assert_eq!(detail(a, s("")), "name must not be empty.");
    }

    #[test]
    fn nested_blocks_are_checked_at_their_path_and_undeclared_keys_refused() {
        let t = timeouts::block(&[(Op::Create, Duration::from_secs(60))]);
        let list = NestedBlock {
            type_name: "disk".into(),
            block: Block::new("").attribute(req("size").validate(v::non_empty())),
            nesting: Nesting::List,
            min_items: 0,
            max_items: 0,
        };
        let block = Block::new("").block(t).block(list);
        let config = Value::object([
            ("timeouts", Value::object([("create", s("soon")), ("update", s("5m"))])),
            ("disk", Value::List(vec![Value::object([("size", s(""))])])),
        ]);
        let diags = declared(&block, &config);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(paths, ["timeouts.update", "timeouts.create", "disk[0].size"], "{diags}");
        assert!(diags.0[0].detail.contains("The arguments are: create."), "{diags}");
        assert!(declared(&block, &Value::object([("timeouts", Value::Null)])).is_empty());
    }

    #[test]
    fn config_runs_the_declarations_then_the_objects_own_checks() {
        let block = Block::new("").attribute(req("name").validate(v::non_empty()));
        let own = |_: &Value| Diagnostics::from(Diagnostic::error("Own", "own check"));
        let diags = config(&block, &Value::object([("name", s(""))]), own);
        let summaries: Vec<&str> = diags.iter().map(|d| d.summary.as_str()).collect();
        assert_eq!(summaries, ["Invalid name", "Own"]);
    }

    #[test]
    fn docs_state_each_rule() {
        let docs: Vec<Option<String>> = [
            v::non_empty(),
            v::length(1, 63),
            v::one_of_any_case(["RAW", "qcow2"]),
            v::regex("^org-", "a project id"),
            v::url(["http", "https"]).with_path().without_query(),
            v::between(0, 10),
            v::conflicts_with(["name"]),
            v::exactly_one_of(["a", "b"]),
            v::duration(),
        ]
        .iter()
        .map(Validator::doc)
        .collect();
        assert_eq!(
            docs,
            [
                Some("Must not be empty.".to_string()),
                Some("1 to 63 characters.".to_string()),
                Some("One of `RAW`, `qcow2` (any letter case).".to_string()),
                Some("Must be a project id.".to_string()),
                Some("Must be an http or https URL with a path and no query.".to_string()),
                Some("From 0 to 10.".to_string()),
                Some("Conflicts with `name`.".to_string()),
                Some("Set exactly one of this and `a`, `b`.".to_string()),
                None,
            ]
        );
    }
}
