//! Shell-word splitting without a shell: quotes and backslashes work as in `sh`, nothing
//! is expanded (no `$VAR`, no globs), and unquoted `;` or newlines separate commands.
//! Used for `exec:` probes, pre-start/post-stop hooks and (quote-aware) comma lists.

/// Splits one command into words. Unquoted `;` is an error here: one command is expected.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut commands = split_commands(text)?;
    match commands.len() {
        0 => Ok(Vec::new()),
        1 => Ok(commands.remove(0)),
        _ => Err("one command (an unquoted ';' or newline separates commands)".into()),
    }
}

/// Splits a script of commands separated by unquoted `;` or newlines into word lists.
/// Empty commands (`a;;b`, blank lines) are dropped.
pub fn split_commands(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("a closing single quote (')".into()),
                    }
                }
            }
            '"' => double_quoted(&mut chars, word.get_or_insert_with(String::new))?,
            '\\' => match chars.next() {
                // A backslash before a newline joins the lines, as in sh.
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a character after the final backslash".into()),
            },
            ';' | '\n' => {
                words.extend(word.take());
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

/// Inside double quotes a backslash escapes only `"`, `\`, `$`, `` ` `` and newline.
fn double_quoted(chars: &mut std::str::Chars, word: &mut String) -> Result<(), String> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                Some('\n') => {}
                Some(c) => {
                    word.push('\\');
                    word.push(c);
                }
                None => return Err("a closing double quote (\")".into()),
            },
            Some(c) => word.push(c),
            None => return Err("a closing double quote (\")".into()),
        }
    }
}

/// Splits a comma list whose items may hold quoted commas (`exec:sh -c 'a,b', tcp://x:1`).
/// Items are trimmed and empty ones dropped; quotes are kept for the item's own parser.
pub fn split_quoted_list(text: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ',') => items.push(std::mem::take(&mut item)),
            (None, '\'' | '"') => {
                quote = Some(c);
                item.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                item.push(c);
            }
            (None, '\\') | (Some('"'), '\\') => {
                item.push(c);
                item.extend(chars.next());
            }
            _ => item.push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!("a closing quote ({q})"));
    }
    items.push(item);
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// Joins words into a line that splits back into the same words (for display).
pub fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Splits a comma list, trimming blanks and dropping empty entries.
pub fn split_list(input: &str) -> impl Iterator<Item = &str> {
    input.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_lists() {
        assert_eq!(split_list(" a, ,b ,").collect::<Vec<_>>(), ["a", "b"]);
    }

    fn words(text: &str) -> Vec<String> {
        split_words(text).expect(text)
    }

    #[test]
    fn plain_words_and_blanks() {
        assert_eq!(words("  pg_isready  -h db "), ["pg_isready", "-h", "db"]);
        assert!(words("").is_empty());
        assert!(words("   ").is_empty());
    }

    #[test]
    fn quotes_and_escapes_follow_sh() {
        assert_eq!(
            words(r#"sh -c 'echo "a b"; exit 3'"#),
            ["sh", "-c", r#"echo "a b"; exit 3"#]
        );
        assert_eq!(
            words(r#"echo "a \"q\" \$HOME \n""#),
            ["echo", r#"a "q" $HOME \n"#]
        );
        assert_eq!(words(r"a\ b c\\d"), ["a b", r"c\d"]);
        assert_eq!(words("''"), [""], "an empty quoted word is a word");
        assert_eq!(words("x'y'\"z\""), ["xyz"]);
        assert_eq!(words("$HOME *"), ["$HOME", "*"], "nothing is expanded");
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        for bad in ["'open", "\"open", "trailing\\", "\"esc\\"] {
            assert!(split_words(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn commands_split_on_semicolons_and_newlines() {
        let commands = split_commands("migrate --up; echo 'a;b'\n\n  touch /x ;;").expect("ok");
        assert_eq!(
            commands,
            vec![
                vec!["migrate".to_string(), "--up".into()],
                vec!["echo".into(), "a;b".into()],
                vec!["touch".into(), "/x".into()],
            ]
        );
        assert!(split_words("a; b").is_err());
        assert_eq!(
            split_commands("one \\\n two").expect("ok"),
            vec![vec!["one".to_string(), "two".into()]]
        );
    }

    #[test]
    fn join_round_trips() {
        for text in ["a b", "sh -c 'exit 3'", "echo 'it'\\''s' ''"] {
            let w = words(text);
            assert_eq!(words(&join(&w)), w, "{text}");
        }
        assert_eq!(join(&words("sh -c 'exit 3'")), "sh -c 'exit 3'");
    }

    #[test]
    fn quoted_lists_keep_quoted_commas() {
        assert_eq!(
            split_quoted_list("tcp://a:1, exec:sh -c 'x,y' , ,\"u,v\"").expect("ok"),
            ["tcp://a:1", "exec:sh -c 'x,y'", "\"u,v\""]
        );
        assert!(split_quoted_list("exec:'open,").is_err());
    }
}
