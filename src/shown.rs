//! User data inside tend's own messages (a bad value, an unknown argument, a program
//! name): shown in double quotes, with the characters that would make the message lie
//! or break its line escaped. Not Rust's `{:?}`, whose output is Rust syntax (`["--x"]`,
//! `\u{1b}`, `"\xFF"` for non-UTF-8) and changes with the type.

use std::ffi::OsStr;
use std::fmt::Write;

/// `text` in double quotes; `"` and `\` backslashed, control characters, line and
/// paragraph separators and bidirectional overrides as `\n`, `\t`, `\r` or `\u{XXXX}`.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:04X}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An OS string (an argument, a program name) as `quoted` shows text; bytes that are not
/// UTF-8 become U+FFFD.
pub fn quoted_os(text: &OsStr) -> String {
    quoted(&text.to_string_lossy())
}

/// Characters a reader cannot see or that rearrange what follows them.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'                 // line and paragraph separators
            | '\u{200E}' | '\u{200F}'               // directional marks
            | '\u{202A}'..='\u{202E}'               // embeddings and overrides
            | '\u{2066}'..='\u{2069}'               // isolates
            | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(quoted("--foo"), "\"--foo\"");
        assert_eq!(quoted("é 😀"), "\"é 😀\"");
        assert_eq!(quoted(""), "\"\"");
    }

    #[test]
    fn what_could_mislead_is_escaped() {
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("a\nb\t\r"), r#""a\nb\t\r""#);
        assert_eq!(quoted("\u{1b}[31m"), r#""\u{001B}[31m""#);
        assert_eq!(quoted("x\u{202E}y\u{2028}"), r#""x\u{202E}y\u{2028}""#);
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(quoted_os(OsStr::from_bytes(b"a\xffb")), "\"a\u{FFFD}b\"");
    }

    proptest! {
        /// One line, between its own quotes, whatever the input.
        #[test]
        fn always_one_quoted_line(text in any::<String>()) {
            let shown = quoted(&text);
            prop_assert!(shown.starts_with('"') && shown.ends_with('"') && shown.len() >= 2);
            prop_assert!(!shown.chars().any(hidden), "{}", shown);
            let inner = &shown[1..shown.len() - 1];
            prop_assert!(!inner.replace("\\\\", "").replace("\\\"", "").contains('"'));
        }
    }
}
