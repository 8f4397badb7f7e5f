//! The subscriber: each of tracing's events becomes one line, a JSON object or text, written
//! whole to tend's stderr (and the report's timeline). tend has no spans, so there is no
//! span registry to keep. Not tracing-subscriber's formatters: they do not redact what they
//! print, and their JSON nests or orders the fields in a way of their own, where tend's
//! lines are a format users parse (below). They also cost 80 µs of start-up and 165 KiB
//! (the glibc build, docs/benchmark.md), which the bounds could now afford.
//!
//! JSON: `{"timestamp":"…","level":"INFO",` then the event's fields in the order the call
//! gives them (`message` first), strings for text and `Debug`/`Display` values, numbers
//! and booleans as such. Text: `TIMESTAMP  LEVEL message field=value …`, each value quoted
//! by one rule (`text_value`), characters that do not print escaped.
//!
//! Every string goes through `crate::redact` on its way out: an event, the report's
//! timeline and the text of an error can never show a URL password, whatever code
//! emitted it.

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
        if let Some(service) = super::current_service() {
            line.push_str(",\"service\":\"");
            push_escaped(&mut line, &service);
            line.push('"');
        }
        record(&mut JsonFields(&mut line));
        line.push_str("}\n");
    } else {
        super::push_rfc3339_millis(&mut line, at);
        let _ = write!(line, " {level:>5}");
        record(&mut TextFields(&mut line));
        if let Some(service) = super::current_service() {
            line.push_str(" service=");
            text_value(&mut line, &service);
        }
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
        let start = self.0.len();
        let _ = write!(Escaped(self.0), "{value:?}");
        // Escaping leaves ':' and '/' alone: only a value that may hold a URL is formatted
        // a second time, on its own, to be redacted.
        if self.0[start..].contains("://") {
            self.0.truncate(start);
            push_escaped(self.0, &crate::redact::text(&format!("{value:?}")));
        }
        self.0.push('"');
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.0.push('"');
        if value.contains("://") {
            push_escaped(self.0, &crate::redact::text(value));
        } else {
            push_escaped(self.0, value);
        }
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

impl TextFields<'_> {
    fn field(&mut self, field: &Field, value: &str) {
        let redacted;
        let value = if value.contains("://") {
            redacted = crate::redact::text(value);
            &redacted
        } else {
            value
        };
        if field.name() == "message" {
            self.0.push(' ');
            push_text(self.0, value, false);
        } else {
            self.0.push(' ');
            self.0.push_str(field.name());
            self.0.push('=');
            text_value(self.0, value);
        }
    }
}

impl Visit for TextFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }
}

/// One value of the text format. It is quoted if and only if it is empty or holds
/// whitespace, `=`, `"` or anything escaped, so that `name=value` pairs split back
/// unambiguously (as logfmt reads them), whatever the field.
fn text_value(out: &mut String, value: &str) {
    let quoted = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || needs_escape(c, true));
    if quoted {
        out.push('"');
        push_text(out, value, true);
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Appends `text` with every character that does not print escaped, so that no value
/// can start a line of its own (a newline, U+2028, U+0085), reorder what a terminal
/// shows (the bidi controls U+202A-U+202E, U+2066-U+2069, U+200E/U+200F) or hide
/// itself (zero-width and other format characters): `\n`, `\r`, `\t` by name, the
/// others as `\u{202e}`. In a quoted value, `"` and `\\` are escaped too.
fn push_text(out: &mut String, text: &str, quoted: bool) {
    for c in text.chars() {
        if !needs_escape(c, quoted) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
}

fn needs_escape(c: char, quoted: bool) -> bool {
    (quoted && (c == '"' || c == '\\')) || !crate::shown::prints(c)
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
    fn events_of_a_service_carry_its_name() {
        let name: std::rc::Rc<str> = "php_fpm".into();
        let json = lines_of(true, || crate::events::in_service(Some(&name), sample));
        assert!(
            json[0].starts_with(
                "{\"timestamp\":\"2026-11-23T09:20:37.123Z\",\"level\":\"WARN\",\"service\":\"php_fpm\",\"message\""
            ),
            "{json:?}"
        );
        let text = lines_of(false, || crate::events::in_service(Some(&name), sample));
        assert!(text[0].ends_with(" service=php_fpm\n"), "{text:?}");
        // Outside the scope, nothing is added.
        assert!(!lines_of(true, sample)[0].contains("service"));
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
    fn text_lines_put_the_message_first_and_quote_values_by_one_rule() {
        let lines = lines_of(false, sample);
        // `event` (a str), `error` (Display) and `path` (Debug, so its own quotes are
        // part of the value) follow the same rule: quoted iff empty or holding
        // whitespace, '=', '"' or an escape.
        assert_eq!(
            lines,
            [
                "2026-11-23T09:20:37.123Z  WARN pid 12 still running event=force_kill pid=12 \
              late_ms=2.5 ok=true error=\"no such file\" \
              path=\"\\\"/tmp/a \\\\\\\"b\\\\\\\"\\\\n\\\"\" count=-3\n"
            ]
        );
        let lines = lines_of(false, || {
            tracing::info!(event = "x", empty = "", eq = "a=b", quote = "a\"b", back = "a\\b",
                plain = "/run/tend/status.json", shown = %"http://db:80/", "m");
        });
        assert_eq!(
            lines[0],
            "2026-11-23T09:20:37.123Z  INFO m event=x empty=\"\" eq=\"a=b\" quote=\"a\\\"b\" \
             back=\"a\\\\b\" plain=/run/tend/status.json shown=http://db:80/\n"
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
        assert!(lines[0].contains("error=\"prog\\nFAKE"), "{lines:?}");
        assert!(lines[0].contains("\\u{1b}[2J"), "{lines:?}");
    }

    #[test]
    fn text_lines_escape_separators_bidi_and_invisible_characters() {
        let tricky = "a\u{2028}b\u{2029}c\u{85}d\u{202e}e\u{202a}f\u{2066}g\u{2069}h\u{200e}i\u{200f}j\u{200b}k\u{feff}l\u{7f}m";
        let lines = lines_of(false, || {
            tracing::info!(value = %tricky, word = "x\u{202e}y", "msg {tricky}");
        });
        let escaped = "a\\u{2028}b\\u{2029}c\\u{85}d\\u{202e}e\\u{202a}f\\u{2066}g\\u{2069}h\\u{200e}i\\u{200f}j\\u{200b}k\\u{feff}l\\u{7f}m";
        assert_eq!(
            lines[0],
            format!("2026-11-23T09:20:37.123Z  INFO msg {escaped} value=\"{escaped}\" word=\"x\\u{{202e}}y\"\n")
        );
        assert!(
            lines[0]
                .chars()
                .all(|c| c == '\n' || crate::shown::prints(c)),
            "{lines:?}"
        );
        // Printable text beyond ASCII is shown as it is.
        let lines = lines_of(false, || tracing::info!(name = "café 😀", "é"));
        assert!(lines[0].ends_with(" é name=\"café 😀\"\n"), "{lines:?}");
        // JSON keeps serde_json's escaping: U+2028 raw is valid JSON.
        let lines = lines_of(true, || tracing::info!(value = %tricky, "{tricky}"));
        let value: serde_json::Value = serde_json::from_str(&lines[0]).expect("valid JSON");
        assert_eq!(value["value"], tricky);
        assert_eq!(value["message"], tricky);
    }

    #[test]
    fn every_field_and_message_is_redacted_in_both_formats() {
        for json in [true, false] {
            let lines = lines_of(json, || {
                let command = "/bin/true '--url=http://u:SEC RET@h/'";
                tracing::info!(event = "hook_started", command = %command, raw = command,
                    debug = ?command, "running {command}");
            });
            assert!(
                !lines[0].contains("SEC") && !lines[0].contains("RET"),
                "{lines:?}"
            );
            assert_eq!(lines[0].matches("u:***@h/").count(), 4, "{lines:?}");
        }
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
