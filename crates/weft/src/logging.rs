//! Log lines in Weaviate's shape: one JSON object per line with `level` (`warning`, not
//! `warn`), `msg`, `time` (RFC 3339, seconds), `action`, the event's fields and build info,
//! keys sorted as logrus sorts them. `LOG_FORMAT=text` gives logrus-style `key=value` lines.
//!
//! An event with the field `fatal = true` is printed with level `fatal`.

use std::fmt::Debug;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::config::{LogFormat, LogLevel};

/// Installs the global logger.
pub fn init(level: LogLevel, format: LogFormat) {
    let max = match level {
        LogLevel::Trace => Level::TRACE,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warning => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    // Libraries (hyper, h2, tonic) only get through at info and above: their debug output is
    // not about weft.
    let filter = filter_fn(move |meta| {
        meta.level() <= &max && (meta.target().starts_with("weft") || meta.level() <= &Level::INFO)
    });
    let subscriber = tracing_subscriber::registry().with(LineLayer { format }.with_filter(filter));
    // Only fails if a logger is already installed, which is then used instead.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct LineLayer {
    format: LogFormat,
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let line = render(self.format, *event.metadata().level(), fields.0);
        let mut out = std::io::stderr().lock();
        let _ = out.write_all(line.as_bytes());
    }
}

/// Builds one log line (with its trailing newline).
fn render(format: LogFormat, level: Level, mut fields: Map<String, Value>) -> String {
    let msg = fields
        .remove("message")
        .unwrap_or(Value::String(String::new()));
    let fatal = fields
        .remove("fatal")
        .is_some_and(|v| v == Value::Bool(true));
    let level = if fatal { "fatal" } else { level_name(level) };
    fields.insert("level".into(), Value::String(level.into()));
    fields.insert("msg".into(), msg);
    fields.insert("time".into(), Value::String(now()));
    fields.insert(
        "build_weft_version".into(),
        Value::String(env!("CARGO_PKG_VERSION").into()),
    );
    fields.insert(
        "build_wv_version".into(),
        Value::String(weft_api_version().into()),
    );
    match format {
        LogFormat::Json => format!("{}\n", Value::Object(fields)),
        LogFormat::Text => {
            let mut line = String::new();
            for key in ["time", "level", "msg"] {
                if let Some(v) = fields.remove(key) {
                    push_pair(&mut line, key, &v);
                }
            }
            for (k, v) in &fields {
                push_pair(&mut line, k, v);
            }
            line.push('\n');
            line
        }
    }
}

fn weft_api_version() -> &'static str {
    weft_server::WEAVIATE_API_VERSION
}

fn push_pair(line: &mut String, key: &str, value: &Value) {
    if !line.is_empty() {
        line.push(' ');
    }
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let quote =
        text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
    if quote {
        line.push_str(&format!("{key}={text:?}"));
    } else {
        line.push_str(&format!("{key}={text}"));
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warning",
        Level::ERROR => "error",
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_weaviate_keys() {
        let mut fields = Map::new();
        fields.insert("message".into(), Value::String("hello".into()));
        fields.insert("action".into(), Value::String("startup".into()));
        let line = render(LogFormat::Json, Level::WARN, fields);
        let v: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "warning");
        assert_eq!(v["msg"], "hello");
        assert_eq!(v["action"], "startup");
        let time = v["time"].as_str().unwrap();
        assert!(
            time.parse::<jiff::Timestamp>().is_ok() && time.ends_with('Z'),
            "{time}"
        );
        assert_eq!(v["build_weft_version"], env!("CARGO_PKG_VERSION"));
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
    }

    #[test]
    fn fatal_field_sets_level_and_text_format_quotes() {
        let mut fields = Map::new();
        fields.insert("message".into(), Value::String("two words".into()));
        fields.insert("fatal".into(), Value::Bool(true));
        let line = render(LogFormat::Text, Level::ERROR, fields);
        assert!(line.contains("level=fatal"), "{line}");
        assert!(line.contains("msg=\"two words\""), "{line}");
        assert!(!line.contains("fatal=true"), "{line}");
    }
}
