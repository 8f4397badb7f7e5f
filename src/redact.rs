//! Redaction: a URL password (`scheme://user:PASSWORD@host`) never reaches an output.
//! Everything tend shows that may hold one (a command line, a probe, a variable's value, an
//! error's text, an event's fields) goes through here; this module depends on nothing of
//! tend's but the word quoting, so that config, events, status and report can all use it.
//!
//! The rule, conservative by design: text is first split into words as the exec splits a
//! command (`words`: quotes, backslashes, `;` and newlines), because a quoted word may
//! hold spaces. Inside each word, the userinfo of a URL runs from its first `://` to the
//! LAST `@` of the word, and everything after the first `:` of that userinfo is the
//! password, whatever `/`, `?`, `#`, `:`, quote or space it holds. A raw variable value
//! is also read as a probe list: an item (or the whole value) that starts with
//! `scheme://` keeps its password up to the item's last `@` (an unquoted `http://u:p w@h`
//! probe is valid). Masking too much is accepted; showing a piece of a password is not.

use std::ops::Range;

/// What a password is shown as.
pub const MASK: &str = "***";

/// One word with its URL password masked (a word as the exec passes it, quotes removed).
pub fn word(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    match password(&chars) {
        Some((colon, at)) => {
            let mut out: String = chars[..=colon].iter().collect();
            out.push_str(MASK);
            out.extend(&chars[at..]);
            out
        }
        None => word.to_string(),
    }
}

/// A command's words, each redacted, joined into a line that splits back into them.
pub fn words<S: AsRef<str>>(argv: &[S]) -> String {
    let shown: Vec<String> = argv.iter().map(|w| word(w.as_ref())).collect();
    crate::words::join(&shown)
}

/// Free text (a message, an error, a command line as typed): every word's password
/// masked in place, the rest of the text shown as it is.
pub fn text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let masks = word_masks(text);
    apply(text, masks)
}

/// A variable's raw value, read every way tend may read it: as words, as a probe list
/// and as one probe.
pub fn value(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut masks = word_masks(text);
    masks.extend(item_masks(text));
    apply(text, masks)
}

/// A message about `value` (a parser's expectation, which may quote a piece of the value
/// it stopped at: `"pw@h": expected a size`): redacted as text, and every run of three or
/// more characters that also occurs in one of the value's passwords masked, since a piece
/// cut out of a URL no longer looks like one.
pub fn about(message: &str, value: &str) -> String {
    Pieces::of(value).hide(message)
}

/// The three-character pieces of a value's passwords, found once for the many messages
/// a long list may produce.
pub struct Pieces(std::collections::HashSet<[char; 3]>);

impl Pieces {
    pub fn of(value: &str) -> Pieces {
        let mut grams = std::collections::HashSet::new();
        for secret in passwords(value) {
            let chars: Vec<char> = secret.chars().collect();
            grams.extend(chars.windows(3).map(|w| [w[0], w[1], w[2]]));
        }
        Pieces(grams)
    }

    /// `message` redacted as text, with every piece of a password in it masked.
    pub fn hide(&self, message: &str) -> String {
        let message = text(message);
        if self.0.is_empty() {
            return message;
        }
        let chars: Vec<char> = message.chars().collect();
        let mut hidden = vec![false; chars.len()];
        for (at, window) in chars.windows(3).enumerate() {
            if self.0.contains(&[window[0], window[1], window[2]]) {
                hidden[at..at + 3].iter_mut().for_each(|h| *h = true);
            }
        }
        let mut out = String::with_capacity(message.len());
        for (at, &c) in chars.iter().enumerate() {
            match (hidden[at], at > 0 && hidden[at - 1]) {
                (false, _) => out.push(c),
                (true, false) => out.push_str(MASK),
                (true, true) => {}
            }
        }
        out
    }
}

/// The passwords `value` masks, as written and as the exec reads them (quotes removed).
fn passwords(text: &str) -> Vec<String> {
    if !text.contains("://") {
        return Vec::new();
    }
    let mut found: Vec<String> = word_masks(text)
        .into_iter()
        .chain(item_masks(text))
        .map(|range| text[range].to_string())
        .collect();
    for word in split_spans(text) {
        let chars: Vec<char> = word.iter().map(|&(c, _)| c).collect();
        if let Some((colon, at)) = password(&chars) {
            found.push(chars[colon + 1..at].iter().collect());
        }
    }
    found
}

/// Every string inside a JSON document read as a value (`value`): for what shows settings
/// whole (`tend check-config`), so that no setting can show a password, a path included.
pub fn json(document: &mut serde_json::Value) {
    match document {
        serde_json::Value::String(text) if text.contains("://") => *text = value(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(json),
        _ => {}
    }
}

/// The password in a word's characters, as the positions of the `:` before it and of
/// the `@` after it: the userinfo runs from the first `://` to the last `@`.
fn password(chars: &[char]) -> Option<(usize, usize)> {
    let slashes = chars.windows(3).position(|w| w == [':', '/', '/'])?;
    let info_start = slashes + 3;
    let at = chars.iter().rposition(|&c| c == '@')?;
    if at < info_start {
        return None;
    }
    let colon = chars[info_start..at].iter().position(|&c| c == ':')?;
    Some((info_start + colon, at))
}

/// Byte ranges of `text` holding a password, word by word.
fn word_masks(text: &str) -> Vec<Range<usize>> {
    split_spans(text)
        .iter()
        .filter_map(|word| {
            let chars: Vec<char> = word.iter().map(|&(c, _)| c).collect();
            let (colon, at) = password(&chars)?;
            // From the source right after the ':' to that of the '@', so that quotes and
            // backslashes inside the password go with it.
            Some(word[colon].1 + 1..word[at].1)
        })
        .collect()
}

/// Byte ranges of passwords of URLs that begin the value or one of its comma items.
fn item_masks(text: &str) -> Vec<Range<usize>> {
    let mut items = quoted_items(text);
    items.push(0..text.len());
    items
        .into_iter()
        .filter_map(|item| {
            let trimmed = text[item.clone()].trim_start();
            let offset = item.start + (item.len() - trimmed.len());
            let scheme = trimmed.find("://")?;
            let is_scheme = scheme > 0
                && trimmed[..scheme]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
            if !is_scheme {
                return None;
            }
            let info = scheme + 3;
            let at = trimmed.rfind('@').filter(|&at| at >= info)?;
            let colon = trimmed[info..at].find(':')?;
            Some(offset + info + colon + 1..offset + at)
        })
        .collect()
}

/// The byte ranges of a comma list's items, commas inside quotes kept (as
/// `words::split_quoted_list` reads a probe list).
fn quoted_items(text: &str) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (None, ',') => {
                items.push(start..at);
                start = at + 1;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '\\') | (Some('"'), '\\') => {
                chars.next();
            }
            _ => {}
        }
    }
    items.push(start..text.len());
    items
}

/// Splits as `words::split_commands` does, but never fails (an open quote runs to the
/// end), keeps for each character of a word the byte offset it came from, and does not
/// end a word at `;` (a password may hold one: bigger words only mask more).
fn split_spans(text: &str) -> Vec<Vec<(char, usize)>> {
    let mut words = Vec::new();
    let mut word: Option<Vec<(char, usize)>> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' => {
                let current = word.get_or_insert_with(Vec::new);
                for (at, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    current.push((c, at));
                }
            }
            '"' => {
                let current = word.get_or_insert_with(Vec::new);
                while let Some((at, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek().copied() {
                            Some((next, c @ ('"' | '\\' | '$' | '`'))) => {
                                chars.next();
                                current.push((c, next));
                            }
                            Some((_, '\n')) => {
                                chars.next();
                            }
                            _ => current.push(('\\', at)),
                        },
                        c => current.push((c, at)),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((at, c)) => word.get_or_insert_with(Vec::new).push((c, at)),
                None => word.get_or_insert_with(Vec::new).push(('\\', at)),
            },
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(Vec::new).push((c, at)),
        }
    }
    words.extend(word);
    words
}

/// `text` with each range (merged where they overlap) replaced by the mask.
fn apply(text: &str, mut masks: Vec<Range<usize>>) -> String {
    masks.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for range in masks {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut shown = 0;
    for range in merged {
        out.push_str(&text[shown..range.start]);
        out.push_str(MASK);
        shown = range.end;
    }
    out.push_str(&text[shown..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_nothing_else() {
        for (input, shown) in [
            ("http://admin:s3cret@db:80/x", "http://admin:***@db:80/x"),
            ("http://admin@db/", "http://admin@db/"),
            (
                "exec:psql postgres://u:pw@db/app -c 'select 1'",
                "exec:psql postgres://u:***@db/app -c 'select 1'",
            ),
            ("a://x:y@h b://p:q@r", "a://x:***@h b://p:***@r"),
            ("no urls here", "no urls here"),
            ("tcp://db:5432", "tcp://db:5432"),
            // Free text is split as a command: an apostrophe opens a quote, and what
            // follows is one word, masked to its last '@'. Too much, never too little.
            ("it's http://db:80/ a@b", "it's http://db:***@b"),
            // A URL nested after another scheme: the first `://` starts the userinfo.
            ("://http://u:pw@h/", "://http:***@h/"),
            ("x://y://a:b@c", "x://y:***@c"),
            ("x://u:pw://a@c", "x://u:***@c"),
            ("http://u:@h/", "http://u:***@h/"),
        ] {
            assert_eq!(text(input), shown, "{input}");
        }
    }

    #[test]
    fn a_password_runs_to_the_last_at_of_its_word() {
        for (input, shown) in [
            ("http://admin:pa#ssSECRET@db/", "http://admin:***@db/"),
            ("http://admin:p@s:/?#SECRET@db/x", "http://admin:***@db/x"),
            (
                "curl http://admin:pa#ss@db/ -o x",
                "curl http://admin:***@db/ -o x",
            ),
            // Quoted words, as the exec reads them: the space is inside the word.
            (
                "/bin/true '--url=http://u:SEC RET@127.0.0.1/'",
                "/bin/true '--url=http://u:***@127.0.0.1/'",
            ),
            (
                "curl \"http://u:a b 'SECRET@h\" and x@y",
                "curl \"http://u:***@h\" and x@y",
            ),
            ("x http://u:a\\ b@h/ y", "x http://u:***@h/ y"),
            ("a 'http://u:x'\"y z\"'@h' b", "a 'http://u:***@h' b"),
            // An open quote runs to the end.
            (
                "echo 'open http://u:Bad Pw@x/",
                "echo 'open http://u:***@x/",
            ),
            // A ';' does not end the word: it may be part of the password.
            ("a http://u:p;q@h;b c@d", "a http://u:***@h;b c@d"),
            ("x http://u:a\\b@h", "x http://u:***@h"),
            ("http://db:80/ -u x@y", "http://db:80/ -u x@y"),
            // Conservative: a '@' in the path takes the path with it.
            ("http://db:80/x?mail=a@b", "http://db:***@b"),
        ] {
            assert_eq!(text(input), shown, "{input}");
        }
    }

    #[test]
    fn a_value_is_also_read_as_a_probe_list() {
        assert_eq!(
            value(" http://admin:pa ssSECRET@db/ "),
            " http://admin:***@db/ "
        );
        assert_eq!(text("http://admin:pa ss@db/"), "http://admin:pa ss@db/");
        assert_eq!(
            value("exec:x, http://admin:pa ss@db/, tcp://h:1"),
            "exec:x, http://admin:***@db/, tcp://h:1"
        );
        assert_eq!(value("exec:x http://a:b@h"), "exec:x http://a:***@h");
        assert_eq!(value("a://x:y@h b://p:q@r"), "a://x:***@r");
        assert_eq!(value("30s"), "30s");
    }

    #[test]
    fn words_are_redacted_one_by_one_and_joined() {
        let argv = ["/bin/true", "--url=http://u:SEC RET@127.0.0.1/", "a@b"];
        assert_eq!(
            words(&argv),
            "/bin/true '--url=http://u:***@127.0.0.1/' a@b"
        );
        assert_eq!(word("http://u:p w@h@i/x"), "http://u:***@i/x");
        assert_eq!(word("plain"), "plain");
    }

    #[test]
    fn a_message_never_quotes_a_piece_of_a_password() {
        let value = "/bin/true 'http://u:aaAa0a:0aA@h'";
        assert_eq!(
            about("\"0aA@h'\": expected a size", value),
            "\"***@h'\": expected a size"
        );
        assert_eq!(
            about("\"aaAa0a\" is not absolute", value),
            "\"***\" is not absolute"
        );
        // Without a password in the value, the message is only redacted as text.
        assert_eq!(about("\"0aA\": bad", "0aA"), "\"0aA\": bad");
        assert_eq!(about("x http://u:pw@h", ""), "x http://u:***@h");
    }

    #[test]
    fn redaction_is_idempotent() {
        for input in [
            "/bin/true '--url=http://u:SEC RET@127.0.0.1/'",
            "http://a:b@c, d://e:f@g",
            "x://u:pw://a@c",
        ] {
            let once = value(input);
            assert_eq!(value(&once), once, "{input}");
            assert_eq!(text(&text(input)), text(input), "{input}");
        }
    }
}
