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
                // The same form as the text log format (`events::lines`) and Rust's own `{:?}`.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
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
    !prints(c)
}

/// Whether a character shows as itself: not a control (C0, DEL, C1 with U+0085), not a
/// line or paragraph separator, not an invisible format character (Unicode's Cf: bidi
/// controls, zero-width characters, the BOM, tags).
pub fn prints(c: char) -> bool {
    !(c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}' | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'))
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
        assert_eq!(quoted("\u{1b}[31m"), r#""\u{1b}[31m""#);
        assert_eq!(quoted("x\u{202E}y\u{2028}"), r#""x\u{202e}y\u{2028}""#);
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
