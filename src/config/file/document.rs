//! The TOML document as variables: each key named after the variable it sets, each value
//! turned into the text that variable would hold (`Items` says how an array is written),
//! so that the one parser of each variable reads it.

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::{environment_only, Entry, Role, Table};
use crate::config::catalogue::{Items, VarSpec};
use crate::config::services::{self, PREFIX};
use crate::config::{suggest, variables, ConfigError};
use crate::shown::quoted;

/// The table of services.
const SERVICES: &str = "services";
/// A service's declaration (`TEND_SERVICE_<NAME>`).
const COMMAND: &str = "command";

/// What is expected of a value that is not a string, a number or a boolean.
const ONE_VALUE: &str =
    "one value (a string, a number or a boolean; a duration is a string: \"30s\")";

/// The document in `text`: its entries, its services' tables, and what is wrong in it
/// (in the file's order).
#[derive(Default)]
pub(super) struct Document {
    pub entries: Vec<Entry>,
    pub tables: Vec<Table>,
    pub errors: Vec<ConfigError>,
}

pub(super) fn read(path: &str, text: &str) -> Document {
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            return Document {
                errors: vec![syntax(path, text, &error)],
                ..Document::default()
            }
        }
    };
    let mut walk = Walk {
        path,
        text,
        entries: Vec::new(),
        tables: Vec::new(),
        errors: Vec::new(),
    };
    for (key, value) in document.get_ref() {
        walk.top(key, value);
    }
    walk.errors.sort_by_key(|(at, _)| *at);
    Document {
        entries: walk.entries,
        tables: walk.tables,
        errors: walk.errors.into_iter().map(|(_, error)| error).collect(),
    }
}

fn syntax(path: &str, text: &str, error: &toml::de::Error) -> ConfigError {
    let at = error.span().map_or(0, |span| span.start);
    ConfigError {
        variable: format!("{path}:{}", line(text, at)),
        value: None,
        expected: format!("not valid TOML: {}", error.message()),
    }
}

/// The line (from 1) of the byte at `at`.
pub(super) fn line(text: &str, at: usize) -> usize {
    let before = text.as_bytes().get(..at).unwrap_or(text.as_bytes());
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// A key as shown in a key path: quoted when it is not a plain word.
fn shown(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        key.to_string()
    } else {
        quoted(key)
    }
}

type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
type Value<'i> = Spanned<DeValue<'i>>;

/// A value that cannot be written as its variable: where, below the key, and why.
struct Problem {
    at: usize,
    /// `[2]` or `.PORT`: the place below the setting's key.
    below: String,
    expected: String,
}

impl Problem {
    fn new(value: &Value, below: String, expected: impl Into<String>) -> Problem {
        Problem {
            at: value.span().start,
            below,
            expected: expected.into(),
        }
    }
}

struct Walk<'t> {
    path: &'t str,
    text: &'t str,
    entries: Vec<Entry>,
    tables: Vec<Table>,
    /// With the byte each is about, to sort them in the file's order.
    errors: Vec<(usize, ConfigError)>,
}

impl Walk<'_> {
    /// `/etc/tend/tend.toml:3: services.web`.
    fn label(&self, at: usize, key: &str) -> String {
        format!("{}:{}: {key}", self.path, line(self.text, at))
    }

    fn error(&mut self, at: usize, key: &str, expected: String) {
        let variable = self.label(at, key);
        let error = ConfigError {
            variable,
            value: None,
            expected,
        };
        self.errors.push((at, error));
    }

    /// A container-wide setting, or the table of services.
    fn top(&mut self, key: &Key, value: &Value) {
        let name: &str = key.get_ref();
        if name == SERVICES {
            return self.services(value);
        }
        match container_setting(name) {
            Ok(spec) => self.setting(
                spec,
                spec.name.to_string(),
                shown(name),
                key,
                value,
                Role::Container,
            ),
            Err(expected) => self.error(key.span().start, &shown(name), expected),
        }
    }

    fn services(&mut self, value: &Value) {
        let Some(table) = value.get_ref().as_table() else {
            let expected = "expected a table of services, each [services.NAME]".to_string();
            return self.error(value.span().start, SERVICES, expected);
        };
        for (name, service) in table {
            self.service(name, service);
        }
    }

    fn service(&mut self, name: &Key, service: &Value) {
        let name: &str = name.get_ref();
        let path = format!("{SERVICES}.{}", shown(name));
        if !service_name(name) {
            let expected = "expected a service name: lowercase words of letters and digits \
                            joined by single _, such as php_fpm"
                .to_string();
            return self.error(service.span().start, &path, expected);
        }
        let Some(table) = service.get_ref().as_table() else {
            let expected = format!("expected a table of the service's settings ([{path}])");
            return self.error(service.span().start, &path, expected);
        };
        let declared = format!("{PREFIX}{}", name.to_ascii_uppercase());
        self.tables.push(Table {
            variable: declared.clone(),
            label: self.label(service.span().start, &path),
            command: table.keys().any(|key| key.get_ref() == COMMAND),
        });
        for (key, value) in table {
            let key_path = format!("{path}.{}", shown(key.get_ref()));
            match service_setting(key.get_ref()) {
                Ok(None) => {
                    let spec = services::declaration();
                    let role = Role::Declares;
                    self.setting(spec, declared.clone(), key_path, key, value, role);
                }
                Ok(Some((spec, setting))) => {
                    let variable = format!("{declared}_{setting}");
                    let role = Role::Of(declared.clone());
                    self.setting(spec, variable, key_path, key, value, role);
                }
                Err(expected) => self.error(key.span().start, &key_path, expected),
            }
        }
    }

    fn setting(
        &mut self,
        spec: &VarSpec,
        variable: String,
        key_path: String,
        key: &Key,
        value: &Value,
        role: Role,
    ) {
        match text(value, spec.items) {
            Ok(text) => self.entries.push(Entry {
                variable,
                line: line(self.text, key.span().start),
                key: key_path,
                value: text,
                role,
            }),
            Err(problem) => {
                let place = format!("{key_path}{}", problem.below);
                self.error(problem.at, &place, format!("expected {}", problem.expected));
            }
        }
    }
}

/// The variable a top-level key sets: `shutdown_timeout` is TEND_SHUTDOWN_TIMEOUT.
fn container_setting(name: &str) -> Result<&'static VarSpec, String> {
    let variable = format!("TEND_{}", name.to_ascii_uppercase());
    let spec = variables().find(|spec| spec.name == variable);
    match spec {
        Some(spec) if is_lowercase(name) => match environment_only(spec.name) {
            Some(why) => Err(format!(
                "not a setting of the file: {} is read from the environment only ({why})",
                spec.name
            )),
            None => Ok(spec),
        },
        _ if name.starts_with("service_") => Err(format!(
            "not a setting; a service is a table: [{SERVICES}.{}]",
            &name["service_".len()..]
        )),
        _ => Err(unknown(name, container_keys())),
    }
}

/// The keys of the top level: every variable's name after TEND_, lowercase.
pub(super) fn container_keys() -> Vec<String> {
    variables()
        .filter(|spec| environment_only(spec.name).is_none())
        .filter_map(|spec| spec.name.strip_prefix("TEND_"))
        .map(str::to_ascii_lowercase)
        .chain([SERVICES.to_string()])
        .collect()
}

/// What a key of a service's table sets: `None` for its declaration (`command`), else
/// the setting with its `<SETTING>` name.
fn service_setting(key: &str) -> Result<Option<(&'static VarSpec, String)>, String> {
    if key == COMMAND {
        return Ok(None);
    }
    let setting = key.to_ascii_uppercase();
    match services::setting(&setting) {
        Some(spec) if is_lowercase(key) => Ok(Some((spec, setting))),
        _ => Err(unknown(key, service_keys())),
    }
}

fn service_keys() -> Vec<String> {
    services::setting_names()
        .map(str::to_ascii_lowercase)
        .chain([COMMAND.to_string()])
        .collect()
}

/// "not a setting", with the nearest known key: a typo, the variable's own name, capitals.
fn unknown(key: &str, known: Vec<String>) -> String {
    let lower = key.to_ascii_lowercase();
    let candidates = [key, &lower, lower.strip_prefix("tend_").unwrap_or(&lower)];
    let near = candidates
        .iter()
        .find_map(|candidate| suggest::closest(candidate, known.iter().map(String::as_str)))
        // `check` for `health_check`: the end of a known key.
        .or_else(|| {
            let end = format!("_{lower}");
            known.iter().map(String::as_str).find(|k| k.ends_with(&end))
        });
    match near {
        Some(known) => format!("not a setting; did you mean {known}?"),
        None => "not a setting; the keys are the variables' names without TEND_, lowercase \
                 (docs/reference.md#configuration-file)"
            .into(),
    }
}

fn is_lowercase(key: &str) -> bool {
    !key.bytes().any(|b| b.is_ascii_uppercase())
}

/// `php_fpm`: the lowercase form of a `TEND_SERVICE_<NAME>` name.
fn service_name(name: &str) -> bool {
    is_lowercase(name) && services::valid_name(&name.to_ascii_uppercase())
}

/// The variable's text for a value: a string as it is, a number or a boolean as written,
/// an array or a table as `items` says.
fn text(value: &Value, items: Option<Items>) -> Result<String, Problem> {
    match (value.get_ref(), items) {
        (DeValue::Array(array), Some(items)) => array_text(value, array, items),
        (DeValue::Table(table), Some(Items::Env)) => env_table(table),
        (DeValue::Array(_), None) => Err(Problem::new(
            value,
            String::new(),
            format!("{ONE_VALUE}, not an array"),
        )),
        (scalar, _) => one(scalar).ok_or_else(|| {
            let what = if scalar.is_table() {
                "a table"
            } else {
                "a date"
            };
            let expected = match items {
                Some(items) => format!("{ONE_VALUE}, or {}; not {what}", array_of(items)),
                None => format!("{ONE_VALUE}, not {what}"),
            };
            Problem::new(value, String::new(), expected)
        }),
    }
}

/// What an array holds for each form, for the messages.
fn array_of(items: Items) -> &'static str {
    match items {
        Items::Commas | Items::QuotedCommas => "an array of items",
        Items::Lines => "an array of commands",
        Items::Words => "an array of words",
        Items::Env => "an array of \"NAME=VALUE\", or a table of NAME = \"VALUE\"",
    }
}

/// A string, a number or a boolean as the text a variable would hold.
fn one(value: &DeValue) -> Option<String> {
    match value {
        DeValue::String(text) => Some(text.to_string()),
        DeValue::Integer(n) if n.radix() == 10 => Some(n.as_str().to_string()),
        DeValue::Integer(n) => i128::from_str_radix(n.as_str(), n.radix())
            .ok()
            .map(|n| n.to_string()),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok().map(|f| f.to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn array_text(value: &Value, array: &DeArray, items: Items) -> Result<String, Problem> {
    let mut texts = Vec::new();
    for (i, item) in array.iter().enumerate() {
        let below = format!("[{i}]");
        let text = match (item.get_ref(), items) {
            (DeValue::Array(words), Items::Lines) => crate::words::join(&words_of(words)?),
            (scalar, _) => one(scalar)
                .ok_or_else(|| Problem::new(item, below.clone(), "a string or a number"))?,
        };
        if let Err(expected) = one_item(&text, items) {
            return Err(Problem::new(item, below, expected));
        }
        texts.push(text);
    }
    if items == Items::Words && texts.is_empty() {
        let expected = "a command (its program, then its arguments), not an empty array";
        return Err(Problem::new(value, String::new(), expected));
    }
    Ok(match items {
        Items::Commas | Items::QuotedCommas => texts.join(","),
        Items::Lines => texts.join("\n"),
        Items::Words => crate::words::join(&texts),
        Items::Env => quoted_items(texts),
    })
}

/// The words of a command given as an array inside an array of commands.
fn words_of(words: &DeArray) -> Result<Vec<String>, Problem> {
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            one(word.get_ref()).ok_or_else(|| Problem::new(word, format!("[{i}]"), "a word"))
        })
        .collect()
}

/// Whether `text` stays one item once the items are joined and split again.
fn one_item(text: &str, items: Items) -> Result<(), String> {
    match items {
        Items::Commas if text.contains(',') => {
            Err("one item, without a comma (give each item its own element)".into())
        }
        Items::QuotedCommas => match crate::words::split_quoted_list(text) {
            Ok(list) if list.len() <= 1 => Ok(()),
            Ok(_) => Err("one item: quote a comma that is part of it \
                          (exec:sh -c 'a,b'), or give each item its own element"
                .into()),
            Err(e) => Err(format!("one item; expected {e}")),
        },
        Items::Lines => crate::words::split_commands(text)
            .map(drop)
            .map_err(|e| format!("a command; expected {e}")),
        _ => Ok(()),
    }
}

/// `NAME=VALUE` items, each quoted whole so that a comma or a space in a value stays in it.
fn quoted_items(items: Vec<String>) -> String {
    items
        .into_iter()
        .map(|item| crate::words::join(&[item]))
        .collect::<Vec<_>>()
        .join(",")
}

/// `env = { PORT = 8080 }`. The values are never shown (they are often secrets).
fn env_table(table: &DeTable) -> Result<String, Problem> {
    let mut items = Vec::new();
    for (name, value) in table {
        let name: &str = name.get_ref();
        let below = format!(".{}", shown(name));
        // A `=` in the name would move the rest of it into the value.
        if name.is_empty() || name.contains('=') {
            let expected = "a variable name (letters, digits, _)";
            return Err(Problem::new(value, below, expected));
        }
        let Some(text) = one(value.get_ref()) else {
            return Err(Problem::new(value, below, "a string or a number"));
        };
        items.push(format!("{name}={text}"));
    }
    Ok(quoted_items(items))
}
