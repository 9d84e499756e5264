//! Terraform timeouts: the `timeouts { create = "60m" }` block every
//! long-running resource offers, and the Go duration syntax its values use.
//!
//! Terraform itself enforces no timeouts; the provider reads them from the
//! plan or state. This is the one place that knows the block's shape and
//! how a value is parsed. Every operation is declared with
//! [`v::duration`], so the framework checks the block of any model that has
//! one at plan time, with no call from the resource.

use super::diagnostics::{AttrPath, Diagnostic};
use super::model::TfType;
use super::schema::{Attribute, Block, NestedBlock, Nesting};
use super::validate::v;
use super::value::{FromValue, IntoValue, Type, Value};
use std::time::Duration;

/// The name of the nested block in a resource's schema.
pub const BLOCK_NAME: &str = "timeouts";

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("the duration is empty")]
    Empty,
    #[error("a duration cannot be negative")]
    Negative,
    #[error("{0:?} has no unit; add one of h, m, s, ms, us, ns (for example \"{0}m\")")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in {input:?}; use h, m, s, ms, us or ns")]
    UnknownUnit { input: String, unit: String },
    #[error("{0:?} is not a duration; write it like \"90s\", \"60m\" or \"1h30m\"")]
    Invalid(String),
    #[error("{0:?} is too long a duration")]
    Overflow(String),
}

/// Parses a Go duration (`90s`, `60m`, `1h30m`, `1.5h`, `300ms`,
/// `2h45m30.5s`): a sequence of decimal numbers, each with a unit among `h`,
/// `m`, `s`, `ms`, `us` (or `µs`), `ns`. A bare `0` is allowed, as in Go;
/// negative durations are not.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.strip_prefix('+').unwrap_or(input);
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DurationError::Invalid(input.to_string()));
    }
    let overflow = || DurationError::Overflow(input.to_string());
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(tail) => tail.split_at(tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len())),
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(DurationError::Invalid(input.to_string()));
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, tail) = after_number.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "" => return Err(DurationError::MissingUnit(input.to_string())),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    input: input.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(nanos_per_unit).ok_or_else(overflow)?;
        // Fraction digits beyond nanosecond precision are ignored, as Go does.
        let mut scale = nanos_per_unit;
        for d in frac_digits.bytes().take(20) {
            scale /= 10;
            nanos = nanos.checked_add(u128::from(d - b'0') * scale).ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        rest = tail;
    }
    // Go durations are int64 nanoseconds; anything longer is a typo.
    if total > i64::MAX as u128 {
        return Err(overflow());
    }
    u64::try_from(total).map(Duration::from_nanos).map_err(|_| overflow())
}

/// Formats a duration the way a user would write it in a configuration:
/// `60m`, `90s`, `2m30s`, `300ms`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if nanos != 0 {
        let total_nanos = d.as_nanos();
        return if total_nanos.is_multiple_of(1_000_000) {
            format!("{}ms", total_nanos / 1_000_000)
        } else {
            format!("{total_nanos}ns")
        };
    }
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// An operation a `timeouts` block can bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
}

impl Op {
    /// The attribute name inside the block.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// The standard `timeouts` block for the given operations and their
/// defaults: nesting single, each operation an optional string whose
/// description states its default and whose value must be a positive
/// duration.
pub fn block(ops: &[(Op, Duration)]) -> NestedBlock {
    let mut b = Block::new(
        "How long to wait for each operation before giving up, as a duration such as `90s`, `60m` or `1h30m`.",
    );
    for (op, default) in ops {
        let shown = format_duration(*default);
        let op = op.as_str();
        b = b.attribute(
            Attribute::optional(op, Type::String)
                .description(format!(
                    "How long the {op} operation may take, for example `30m` or `1h` (default `{shown}`)."
                ))
                .shown_default(shown)
                .validate(v::duration()),
        );
    }
    NestedBlock {
        type_name: BLOCK_NAME.to_string(),
        block: b,
        nesting: Nesting::Single,
        min_items: 0,
        max_items: 0,
    }
}

/// The timeout for `op` in a `timeouts` block's value, or `default` when it
/// is unset, unknown or invalid (the declared validators already reported
/// invalid values).
pub fn get(block: &Value, op: Op, default: Duration) -> Duration {
    block
        .get(op.as_str())
        .as_str()
        .and_then(|s| parse_duration(s).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// A resource's operations and their default timeouts, declared once and
/// used for both the schema block and the lookups.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    ops: &'static [(Op, Duration)],
}

impl Timeouts {
    /// Declares the operations, e.g. `&[(Op::Create, Duration::from_secs(3600))]`.
    pub const fn new(ops: &'static [(Op, Duration)]) -> Self {
        Timeouts { ops }
    }

    /// The `timeouts` block for the schema.
    pub fn block(&self) -> NestedBlock {
        block(self.ops)
    }

    /// The declared default for `op`; an operation that was never declared
    /// gets 20 minutes, Terraform's customary default.
    pub fn default_for(&self, op: Op) -> Duration {
        self.ops
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(Duration::from_secs(20 * 60), |(_, d)| *d)
    }
}

/// A model field holding a `timeouts` block as configured (null when the
/// block is absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeoutsBlock(pub Value);

impl TimeoutsBlock {
    /// The configured timeout of `op`, or its declared default.
    pub fn get(&self, declared: &Timeouts, op: Op) -> Duration {
        get(&self.0, op, declared.default_for(op))
    }
}

impl TfType for TimeoutsBlock {
    fn tf_type() -> Type {
        Type::Dynamic
    }
}

impl FromValue for TimeoutsBlock {
    fn from_value(v: &Value, _: &AttrPath) -> Result<Self, Diagnostic> {
        Ok(TimeoutsBlock(v.clone()))
    }
}

impl IntoValue for TimeoutsBlock {
    fn into_value(self) -> Value {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("90s", secs(90)),
            ("60m", secs(3600)),
            ("1h30m", secs(5400)),
            ("1.5h", secs(5400)),
            ("300ms", Duration::from_millis(300)),
            (
                "2h45m30.5s",
                Duration::from_millis((2 * 3600 + 45 * 60 + 30) * 1000 + 500),
            ),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("+5m", secs(300)),
            (".5s", Duration::from_millis(500)),
            ("1.s", secs(1)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1m1m", secs(120)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("0.0000000019s", Duration::from_nanos(1)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_bad_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("-5m"), Err(DurationError::Negative));
        assert_eq!(parse_duration("10"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(parse_duration("1h30"), Err(DurationError::MissingUnit("1h30".into())));
        assert!(matches!(parse_duration("5d"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "d"));
        assert!(matches!(parse_duration("5 m"), Err(DurationError::UnknownUnit { .. })));
        for bad in ["m", "h5", ".s", "+", "1..5s", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(matches!(parse_duration("3000000h"), Err(DurationError::Overflow(_))));
        assert!(matches!(
            parse_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
        // Messages say what to write instead.
        assert!(parse_duration("10").unwrap_err().to_string().contains("10m"));
    }

    #[test]
    fn formats_like_a_user_would_write() {
        assert_eq!(format_duration(secs(3600)), "60m");
        assert_eq!(format_duration(secs(600)), "10m");
        assert_eq!(format_duration(secs(90)), "1m30s");
        assert_eq!(format_duration(secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        for d in [
            secs(3600),
            secs(90),
            Duration::from_millis(1500),
            Duration::from_nanos(7),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn block_declares_optional_strings_with_defaults() {
        let b = block(&[(Op::Create, secs(3600)), (Op::Delete, secs(600))]);
        assert_eq!(b.type_name, "timeouts");
        assert_eq!(b.nesting, Nesting::Single);
        let create = b.block.get("create").expect("create attribute");
        assert!(create.optional && !create.required && !create.computed);
        assert_eq!(create.ty, Type::String);
        assert!(create.description.contains("(default `60m`)"), "{}", create.description);
        assert_eq!(create.shown_default.as_deref(), Some("60m"));
        assert!(b.block.get("delete").expect("delete").description.contains("`10m`"));
        assert!(b.block.get("update").is_none());
    }

    fn block_with(ops: &[(&str, Value)]) -> Value {
        Value::object(ops.iter().map(|(k, v)| (*k, v.clone())))
    }

    #[test]
    fn every_operation_is_checked_by_the_framework() {
        let b = block(&[(Op::Create, secs(3600)), (Op::Delete, secs(600))]);
        let root = Block::new("").block(b);
        let config = Value::object([(
            BLOCK_NAME,
            block_with(&[("create", Value::string("10")), ("delete", Value::string("5m"))]),
        )]);
        let diags = crate::framework::validate::declared(&root, &config);
        assert_eq!(diags.0.len(), 1, "{diags}");
        let d = &diags.0[0];
        assert_eq!(d.attribute, Some(AttrPath::attr("timeouts").then("create")));
        assert!(d.detail.contains("no unit"), "{}", d.detail);
    }

    #[test]
    fn get_reads_the_configured_value_or_the_default() {
        let plan = block_with(&[("create", Value::string("90m")), ("delete", Value::Null)]);
        assert_eq!(get(&plan, Op::Create, secs(60)), secs(5400));
        assert_eq!(get(&plan, Op::Delete, secs(60)), secs(60));
        assert_eq!(get(&plan, Op::Update, secs(60)), secs(60));
        assert_eq!(get(&Value::Null, Op::Create, secs(7)), secs(7));
        let bad = block_with(&[("create", Value::string("soon"))]);
        assert_eq!(get(&bad, Op::Create, secs(7)), secs(7));

        const T: Timeouts = Timeouts::new(&[(Op::Create, Duration::from_secs(3600))]);
        assert_eq!(TimeoutsBlock(Value::Null).get(&T, Op::Create), secs(3600));
        assert_eq!(TimeoutsBlock(plan).get(&T, Op::Create), secs(5400));
        assert_eq!(T.default_for(Op::Delete), secs(1200));
        assert_eq!(T.block().block.attributes.len(), 1);
    }
}
