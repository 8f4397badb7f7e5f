//! The subscriber: each of tracing's events becomes one line, a JSON object or text, written
//! whole to tend's stderr (and the report's timeline). tend has no spans, so there is no
//! span registry to keep: tracing-subscriber's costs a 32 KiB zeroed allocation at start
//! and about 15,000 instructions per event, this about a quarter of that.
//!
//! JSON: `{"timestamp":"…","level":"INFO",` then the event's fields in the order the call
//! gives them (`message` first), strings for text and `Debug`/`Display` values, numbers
//! and booleans as such. Text: `TIMESTAMP  LEVEL message field=value …`, strings quoted.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::{Event, Level, Metadata, Subscriber};

pub struct Lines {
    pub json: bool,
    pub max: LevelFilter,
    /// Where each line goes and the clock it is stamped with: stderr and the system
    /// clock, but for the tests.
    pub out: fn(&[u8]),
    pub now: fn() -> SystemTime,
}

impl Subscriber for Lines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn event(&self, event: &Event<'_>) {
        let line = format(self.json, event.metadata().level(), (self.now)(), |v| {
            event.record(v)
        });
        (self.out)(line.as_bytes());
    }

    // No spans: tend creates none, and none of its dependencies is built with tracing.
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// One line, newline included: the fields come from `record`, which hands the visitor
/// to the event.
fn format(
    json: bool,
    level: &Level,
    at: SystemTime,
    record: impl FnOnce(&mut dyn Visit),
) -> String {
    let mut line = String::with_capacity(384);
    if json {
        line.push_str("{\"timestamp\":\"");
        super::push_rfc3339_millis(&mut line, at);
        line.push_str("\",\"level\":\"");
        line.push_str(level.as_str());
        line.push('"');
        record(&mut JsonFields(&mut line));
        line.push_str("}\n");
    } else {
        super::push_rfc3339_millis(&mut line, at);
        let _ = write!(line, " {level:>5}");
        record(&mut TextFields(&mut line));
        line.push('\n');
    }
    line
}

/// Appends `,"name":value` for each field, straight into the line: no value is formatted
/// into a string of its own first (a signal forwarded costs one event, and this is most
/// of its cost).
struct JsonFields<'a>(&'a mut String);

impl JsonFields<'_> {
    /// Field names are Rust identifiers: nothing in them needs escaping.
    fn key(&mut self, field: &Field) {
        self.0.push_str(",\"");
        self.0.push_str(field.name());
        self.0.push_str("\":");
    }

    fn number(&mut self, field: &Field, value: impl fmt::Display) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }
}

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.0.push('"');
        let _ = write!(Escaped(self.0), "{value:?}");
        self.0.push('"');
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.0.push('"');
        push_escaped(self.0, value);
        self.0.push('"');
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, value);
    }

    /// As serde_json writes floats (shortest round-trip form; not finite is null).
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        match serde_json::to_string(&value) {
            Ok(text) => self.0.push_str(&text),
            Err(_) => self.0.push_str("null"),
        }
    }
}

/// Writes what it is given JSON-escaped, for `Debug` and `Display` values.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_escaped(self.0, text);
        Ok(())
    }
}

/// Appends `text` escaped for the inside of a JSON string, as serde_json escapes it: `"`,
/// `\\` and the control characters, the common ones by name, the others as `\u00xx`.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        out.push_str(&text[plain..at]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain = at + 1;
    }
    out.push_str(&text[plain..]);
}

/// Appends ` message` then ` name=value` for each other field.
struct TextFields<'a>(&'a mut String);

impl Visit for TextFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut out = NoControl(self.0);
        let _ = if field.name() == "message" {
            write!(out, " {value:?}")
        } else {
            write!(out, " {}={value:?}", field.name())
        };
    }
}

/// Writes through to the line with control characters escaped (`\n`, `\u{1b}`): the
/// message and values given with `%` are written as they are, and a newline in one (a
/// program's name, an error's text) must not start a line of its own, which a reader of
/// the log would take for tend's.
struct NoControl<'a>(&'a mut String);

impl fmt::Write for NoControl<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            if c.is_control() {
                self.0.extend(c.escape_default());
            } else {
                self.0.push(c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};
    use tracing::subscriber::with_default;

    /// The lines `Lines` writes for the events of `emit`, through tracing's own macros,
    /// stamped at a fixed time.
    fn lines_of(json: bool, emit: impl FnOnce()) -> Vec<String> {
        CAPTURED.with(|c| c.borrow_mut().clear());
        let subscriber = Lines {
            json,
            max: LevelFilter::INFO,
            out: |line| {
                CAPTURED.with(|c| c.borrow_mut().push(String::from_utf8_lossy(line).into()))
            },
            now: || UNIX_EPOCH + Duration::from_millis(1_795_425_637_123),
        };
        with_default(subscriber, emit);
        CAPTURED.with(|c| c.borrow().clone())
    }

    thread_local! {
        static CAPTURED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn sample() {
        let path = "/tmp/a \"b\"\n";
        let signal: Option<&str> = None;
        tracing::warn!(event = "force_kill", pid = 12, late_ms = 2.5, ok = true, error = %"no such file",
            path = ?path, signal, count = -3i64, "pid {} still running", 12);
        tracing::debug!(event = "filtered_out", "below the level");
    }

    #[test]
    fn json_lines_match_the_catalogue_format() {
        let lines = lines_of(true, sample);
        assert_eq!(lines.len(), 1, "debug is filtered out: {lines:?}");
        assert_eq!(
            lines[0],
            "{\"timestamp\":\"2026-11-23T09:20:37.123Z\",\"level\":\"WARN\",\
             \"message\":\"pid 12 still running\",\"event\":\"force_kill\",\"pid\":12,\
             \"late_ms\":2.5,\"ok\":true,\"error\":\"no such file\",\
             \"path\":\"\\\"/tmp/a \\\\\\\"b\\\\\\\"\\\\n\\\"\",\"count\":-3}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&lines[0]).expect("valid JSON");
        assert_eq!(value["path"], format!("{:?}", "/tmp/a \"b\"\n"));
        assert!(value.get("signal").is_none(), "None fields are left out");
    }

    #[test]
    fn text_lines_put_the_message_first_and_quote_strings() {
        let lines = lines_of(false, sample);
        assert_eq!(
            lines,
            [
                "2026-11-23T09:20:37.123Z  WARN pid 12 still running event=\"force_kill\" pid=12 \
              late_ms=2.5 ok=true error=no such file path=\"/tmp/a \\\"b\\\"\\n\" count=-3\n"
            ]
        );
    }

    #[test]
    fn text_lines_escape_control_characters_in_messages_and_display_values() {
        let lines = lines_of(false, || {
            let name = "prog\nFAKE 2026-01-01T00:00:00.000Z  INFO injected\u{1b}[2J";
            tracing::info!(error = %name, "started {name}");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].matches('\n').count(), 1, "{lines:?}");
        assert!(lines[0].contains("started prog\\nFAKE"), "{lines:?}");
        assert!(lines[0].contains("error=prog\\nFAKE"), "{lines:?}");
        assert!(lines[0].contains("\\u{1b}[2J"), "{lines:?}");
    }

    proptest::proptest! {
        /// Strings come out escaped exactly as serde_json escapes them.
        #[test]
        fn strings_are_escaped_as_serde_json_does(text in ".*|[\\x00-\\x7f]*") {
            let mut escaped = String::from("\"");
            push_escaped(&mut escaped, &text);
            escaped.push('"');
            proptest::prop_assert_eq!(escaped, serde_json::to_string(&text).unwrap());
        }
    }

    #[test]
    fn control_characters_quotes_and_backslashes_are_escaped() {
        let text = "\u{8}\u{c}\u{1}\u{1f}\"\\\t\r\n\u{7f}é";
        let mut escaped = String::from("\"");
        push_escaped(&mut escaped, text);
        escaped.push('"');
        assert_eq!(escaped, serde_json::to_string(text).unwrap());
        assert_eq!(escaped, "\"\\b\\f\\u0001\\u001f\\\"\\\\\\t\\r\\n\u{7f}é\"");
    }

    #[test]
    fn a_float_that_is_not_finite_is_null() {
        let lines = lines_of(true, || tracing::info!(event = "x", ratio = f64::NAN, "m"));
        assert!(lines[0].contains("\"ratio\":null"), "{lines:?}");
    }
}
