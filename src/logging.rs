//! Provider logs in the shape Terraform understands: one JSON object per line
//! on stderr, as hclog writes them (`@level`, `@message`, `@module`,
//! `@timestamp`, then the event's fields). go-plugin reads the provider's
//! stderr and shows these lines with their level in Terraform's log.
//!
//! The level comes from `TF_LOG_PROVIDER`, else `TF_LOG`, like Terraform's.
//! Unset or `off`: no subscriber is installed at all, so every `tracing`
//! call site stays disabled and costs a load and a branch.
//!
//! Fields are written as given, except that control characters become
//! visible escapes ([`inert`]): text from files and API answers must not
//! drive the terminal that shows Terraform's log. Nothing here dumps
//! requests or structs wholesale: redaction is the job of the code that logs
//! (the UCloud client never hands a private key or signature to `tracing`).

use std::borrow::Cow;
use std::io::Write;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// `text` with every control character but newline and tab (C0, DEL, C1)
/// and every bidirectional override written as a visible escape (`\x1b`,
/// `\u{9b}`, `\u{202e}`), so a string taken from a file or an API answer
/// cannot clear a screen, set a window title or reorder what a reader sees.
/// Diagnostics and log lines pass through it.
pub fn inert(text: &str) -> Cow<'_, str> {
    fn live(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(live) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !live(c) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    Cow::Owned(out)
}

/// Crate names whose events are the provider's own; the rest (h2, hyper,
/// tonic, ...) are kept to INFO and above, so TRACE stays readable.
const OWN_CRATES: &[&str] = &["tpu", "terraform_provider_ucloud"];

/// The level asked for by Terraform's variables: `tf_log_provider` wins over
/// `tf_log`. `TRACE|DEBUG|INFO|WARN|ERROR` (any case), `JSON` means TRACE as
/// in Terraform, `OFF` or empty disables, and any other value means TRACE
/// (Terraform too falls back to TRACE for an unknown level).
pub fn level_from(tf_log_provider: Option<&str>, tf_log: Option<&str>) -> Option<Level> {
    let value = tf_log_provider.or(tf_log)?.trim();
    match value.to_ascii_uppercase().as_str() {
        "" | "OFF" => None,
        "ERROR" => Some(Level::ERROR),
        "WARN" => Some(Level::WARN),
        "INFO" => Some(Level::INFO),
        "DEBUG" => Some(Level::DEBUG),
        _ => Some(Level::TRACE),
    }
}

/// Installs the JSON-lines logger on stderr if `TF_LOG_PROVIDER`/`TF_LOG` ask
/// for it; does nothing otherwise (and if a global subscriber already exists).
pub fn init_from_env() {
    let provider = std::env::var("TF_LOG_PROVIDER").ok();
    let global = std::env::var("TF_LOG").ok();
    let Some(level) = level_from(provider.as_deref(), global.as_deref()) else {
        return;
    };
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(HclogLayer::new(level, write_stderr));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Writes one whole line to stderr in a single call, so lines from
/// concurrent tasks never interleave.
fn write_stderr(line: &[u8]) {
    let _ = std::io::stderr().lock().write_all(line);
}

/// A `tracing` layer that renders events as hclog JSON lines and hands each
/// line (newline included) to `sink`.
pub struct HclogLayer<W> {
    max: Level,
    sink: W,
}

impl<W> HclogLayer<W>
where
    W: Fn(&[u8]) + Send + Sync + 'static,
{
    /// Logs events at `max` or more severe; third-party crates at INFO or more severe.
    pub fn new(max: Level, sink: W) -> Self {
        Self { max, sink }
    }

    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        let level = metadata.level();
        level <= &self.max && (is_own(metadata.target()) || level <= &Level::INFO)
    }
}

fn is_own(target: &str) -> bool {
    match target.split_once("::") {
        Some((krate, _)) => OWN_CRATES.contains(&krate),
        None => OWN_CRATES.contains(&target) || !is_known_dependency(target),
    }
}

/// Targets without `::` are custom names chosen by our own code (`target: "ucloud"`),
/// except the few libraries that log under a bare crate name.
fn is_known_dependency(name: &str) -> bool {
    matches!(
        name,
        "h2" | "hyper" | "hyper_util" | "tonic" | "tower" | "rustls" | "reqwest" | "mio" | "tokio"
    )
}

/// `@module` for a target: `provider` plus its first meaningful segment,
/// e.g. `tpu::ucloud::client` -> `provider.ucloud`, `h2::codec` -> `provider.h2`.
pub fn module_for(target: &str) -> String {
    let mut segments = target.split("::").filter(|s| !s.is_empty());
    let first = segments.next();
    let name = match first {
        Some(krate) if OWN_CRATES.contains(&krate) => segments.next(),
        other => other,
    };
    match name {
        Some(name) => format!("provider.{name}"),
        None => "provider".to_owned(),
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// The fields of a span, kept in its extensions so events inside it carry them.
struct SpanFields(Map<String, Value>);

/// Collects `tracing` fields as JSON values; `message` is kept apart.
struct JsonVisitor<'a> {
    fields: &'a mut Map<String, Value>,
    message: Option<String>,
}

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let value = match value {
            Value::String(s) => Value::String(inert(&s).into_owned()),
            other => other,
        };
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl<S, W> Layer<S> for HclogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Fn(&[u8]) + Send + Sync + 'static,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.wants(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor {
            fields: &mut fields,
            message: None,
        });
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor { fields, message: None });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let mut visitor = JsonVisitor {
            fields: &mut fields,
            message: None,
        };
        event.record(&mut visitor);
        let message = visitor.message.take().unwrap_or_default();
        fields.insert("@level".to_owned(), Value::from(level_name(metadata.level())));
        fields.insert("@message".to_owned(), Value::String(message));
        fields.insert("@module".to_owned(), Value::String(module_for(metadata.target())));
        fields.insert(
            "@timestamp".to_owned(),
            Value::String(humantime::format_rfc3339_micros(SystemTime::now()).to_string()),
        );
        let mut line = Value::Object(fields).to_string().into_bytes();
        line.push(b'\n');
        (self.sink)(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `f` with the layer installed and returns the JSON lines it wrote.
    fn capture(level: Level, f: impl FnOnce()) -> Vec<Value> {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = {
            let out = out.clone();
            move |line: &[u8]| out.lock().unwrap().extend_from_slice(line)
        };
        let subscriber = tracing_subscriber::registry().with(HclogLayer::new(level, sink));
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        for (text, shown) in [
            (
                "plain text, tabs\tand\nnewlines stay",
                "plain text, tabs\tand\nnewlines stay",
            ),
            (
                "base\u{1b}]0;pwned\u{7}\u{1b}[2J.qcow2",
                "base\\x1b]0;pwned\\x07\\x1b[2J.qcow2",
            ),
            ("del\u{7f} csi\u{9b}31m", "del\\x7f csi\\u{9b}31m"),
            ("\u{202e}gpj.exe", "\\u{202e}gpj.exe"),
            ("CentOS 7.6 64位", "CentOS 7.6 64位"),
        ] {
            assert_eq!(inert(text), shown, "{text:?}");
        }
        assert!(matches!(inert("nothing to do"), Cow::Borrowed(_)));
    }

    #[test]
    fn log_lines_carry_no_control_characters_from_their_fields() {
        let lines = capture(Level::TRACE, || {
            tracing::warn!(target: "tpu::ucloud::client", answer = "\u{1b}[2Jgone", "read \u{1b}]0;title\u{7}");
        });
        assert_eq!(lines[0]["answer"], "\\x1b[2Jgone");
        assert_eq!(lines[0]["@message"], "read \\x1b]0;title\\x07");
    }

    #[test]
    fn events_become_hclog_json_lines() {
        let lines = capture(Level::TRACE, || {
            tracing::info!(target: "tpu::ucloud::client", action = "DescribeImage", attempt = 2u64, ok = true, "api call");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["@level"], "info");
        assert_eq!(line["@message"], "api call");
        assert_eq!(line["@module"], "provider.ucloud");
        assert_eq!(line["action"], "DescribeImage");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["ok"], true);
        let ts = line["@timestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
        assert_eq!(ts.len(), "2024-01-02T03:04:05.123456Z".len(), "{ts}");
    }

    #[test]
    fn span_fields_are_carried_by_events_inside() {
        let lines = capture(Level::DEBUG, || {
            let span = tracing::info_span!(target: "tpu::framework::server", "rpc", tf_rpc = "PlanResourceChange");
            let _guard = span.enter();
            tracing::debug!(target: "tpu::framework::server", resource = "ucloud_custom_image", "planning");
        });
        assert_eq!(lines[0]["tf_rpc"], "PlanResourceChange");
        assert_eq!(lines[0]["resource"], "ucloud_custom_image");
        assert_eq!(lines[0]["@module"], "provider.framework");
        assert_eq!(lines[0]["@level"], "debug");
    }

    #[test]
    fn levels_filter_and_dependencies_stay_quiet() {
        let lines = capture(Level::INFO, || {
            tracing::debug!(target: "tpu::plugin", "too verbose");
            tracing::warn!(target: "tpu::plugin", "kept");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["@level"], "warn");
        let lines = capture(Level::TRACE, || {
            tracing::trace!(target: "h2::codec", "frame");
            tracing::trace!(target: "tpu::plugin::serve", "ours");
            tracing::warn!(target: "h2::proto", "connection error");
        });
        let messages: Vec<&str> = lines.iter().map(|l| l["@message"].as_str().unwrap()).collect();
        assert_eq!(messages, ["ours", "connection error"]);
        assert_eq!(lines[1]["@module"], "provider.h2");
    }

    #[test]
    fn level_comes_from_tf_log_provider_then_tf_log() {
        assert_eq!(level_from(None, None), None);
        assert_eq!(level_from(None, Some("off")), None);
        assert_eq!(level_from(None, Some("")), None);
        assert_eq!(level_from(None, Some("debug")), Some(Level::DEBUG));
        assert_eq!(level_from(Some("WARN"), Some("TRACE")), Some(Level::WARN));
        assert_eq!(level_from(Some("off"), Some("TRACE")), None);
        assert_eq!(level_from(None, Some("JSON")), Some(Level::TRACE));
        assert_eq!(level_from(None, Some("ERROR")), Some(Level::ERROR));
        assert_eq!(level_from(None, Some("INFO")), Some(Level::INFO));
        assert_eq!(level_from(None, Some("verbose")), Some(Level::TRACE));
    }

    #[test]
    fn module_names() {
        assert_eq!(module_for("tpu"), "provider");
        assert_eq!(module_for("tpu::ucloud::client"), "provider.ucloud");
        assert_eq!(module_for("terraform_provider_ucloud"), "provider");
        assert_eq!(module_for("ucloud"), "provider.ucloud");
        assert_eq!(module_for("hyper_util::client"), "provider.hyper_util");
    }
}
