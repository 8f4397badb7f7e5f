//! The catalogue of `TEND_*` variables. Each variable is declared once, as a `Var` in the
//! file of its area: name, default, parser and help together. The parser reads the values
//! through these declarations (`Parser::read`), and `--help`, unknown-variable detection
//! and the README check list them: the default shown is the one the parser stands at.

/// What `--help` and the README show of a variable.
pub struct VarSpec {
    pub name: &'static str,
    pub default: Shown,
    pub help: &'static str,
    /// What a TOML array or table stands for in the configuration file (`config::file`);
    /// `None`: the variable takes one value there.
    pub items: Option<Items>,
}

/// How the items of a TOML array (the configuration file) become the variable's text, so
/// that its one parser reads them as the user wrote them and nothing is split again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// A comma list split at every comma (`143,130`): an item may hold none.
    Commas,
    /// A comma list whose items may quote a comma (probes: `exec:sh -c 'a,b'`).
    QuotedCommas,
    /// Commands, one per item (a string, or an array of words), joined by newlines.
    Lines,
    /// The words of one command, quoted so that they split back into the same words.
    Words,
    /// `NAME=VALUE` items, or a table of `NAME = VALUE`; each value quoted whole.
    Env,
}

/// The default of a variable, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Written as a user would write the value: the parser reads this very text when the
    /// variable is unset.
    Value(&'static str),
    /// Unset means no value (no list, no path, off; the status file's place is then chosen
    /// at run time): the parser stands at the type's `Default`, and this says what that is.
    Nothing(&'static str),
}

impl Shown {
    pub fn text(self) -> &'static str {
        match self {
            Shown::Value(text) | Shown::Nothing(text) => text,
        }
    }
}

/// One variable: what is shown of it, and how its value is read. `E` is what its parser
/// returns on refusal: the expected forms (a `String`), or a `Refused` for parsers whose
/// messages quote the value themselves.
pub struct Var<T, E = String> {
    pub spec: VarSpec,
    parse: fn(&str) -> Result<T, E>,
    /// The value when unset, for a `Shown::Nothing` default; `None`: parse the shown value.
    nothing: Option<fn() -> T>,
}

impl<T, E> Var<T, E> {
    /// A variable whose default is a value (`"30s"`), read by `parse` like any other.
    pub const fn new(
        name: &'static str,
        default: &'static str,
        parse: fn(&str) -> Result<T, E>,
        help: &'static str,
    ) -> Self {
        Var {
            spec: VarSpec {
                name,
                default: Shown::Value(default),
                help,
                items: None,
            },
            parse,
            nothing: None,
        }
    }

    /// The same variable, taking `items` from an array in the configuration file.
    pub const fn items(mut self, items: Items) -> Self {
        self.spec.items = Some(items);
        self
    }

    pub fn parse(&self, text: &str) -> Result<T, E> {
        (self.parse)(text)
    }

    /// The value the variable stands at when it is unset or its value is refused.
    pub fn default_value(&self) -> T {
        if let Some(nothing) = self.nothing {
            return nothing();
        }
        match (self.parse)(self.spec.default.text()) {
            Ok(value) => value,
            // Never: `tests::help_shows_the_defaults_the_parser_stands_at` reads each one.
            Err(_) => panic!(
                "tend's own default of {} is refused by its parser",
                self.spec.name
            ),
        }
    }
}

impl<T: Default, E> Var<T, E> {
    /// A variable that is off, empty or absent unless set: `T::default()` (`None`, an
    /// empty list), described by `shown` (`"(none)"`).
    pub const fn unset(
        name: &'static str,
        shown: &'static str,
        parse: fn(&str) -> Result<T, E>,
        help: &'static str,
    ) -> Self {
        Var {
            spec: VarSpec {
                name,
                default: Shown::Nothing(shown),
                help,
                items: None,
            },
            parse,
            nothing: Some(T::default),
        }
    }
}

/// Every variable tend reads, area by area, in the order `--help` lists them.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    [
        super::file::VARIABLES,
        super::general::VARIABLES,
        super::startup::VARIABLES,
        super::health::VARIABLES,
        super::lifecycle::VARIABLES,
        super::security::VARIABLES,
        super::services::VARIABLES,
        DEBUG_ONLY,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// Fault injection for the test suite; debug builds only, so a release binary rejects it.
/// The supervisor reads it from its environment itself; the configuration accepts any value.
#[cfg(debug_assertions)]
pub(super) const FAULT_INJECT: Var<Option<String>> = Var::unset(
    "TEND_FAULT_INJECT",
    "(none)",
    |text| Ok(Some(text.into())),
    "debug builds only: panic_on_signal makes tend panic when it receives SIGUSR2",
);
#[cfg(debug_assertions)]
const DEBUG_ONLY: &[&VarSpec] = &[&FAULT_INJECT.spec];
#[cfg(not(debug_assertions))]
const DEBUG_ONLY: &[&VarSpec] = &[];

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    use super::{variables, Shown};
    use crate::config::parser::Parser;
    use crate::config::Config;

    /// The whole configuration, exactly (`Debug` shows every field).
    fn config_of(pairs: &[(&str, &str)]) -> String {
        let vars = pairs
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        match Config::from_vars(vars) {
            Ok(config) => format!("{config:?}"),
            Err(errors) => panic!("{pairs:?} refused: {errors:?}"),
        }
    }

    /// Defaults that describe no value but a place tend chooses when the variable is
    /// unset; every other `Shown::Nothing` says "(…)".
    const CHOSEN_AT_RUN_TIME: &[&str] = &["TEND_STATUS_FILE", "TEND_CONTROL_SOCKET"];

    #[test]
    fn help_shows_the_defaults_the_parser_stands_at() {
        let help = crate::cli::help();
        let unset = config_of(&[]);
        let mut shown = 0;
        for line in help.lines() {
            let Some((name, rest)) = line.trim_start().split_once(' ') else {
                continue;
            };
            let Some(spec) = variables().find(|spec| spec.name == name) else {
                continue;
            };
            let default = rest
                .trim()
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{name}: no [default] in {line:?}"));
            assert_eq!(default, spec.default.text(), "{name}");
            match spec.default {
                Shown::Value(_) => assert_eq!(
                    config_of(&[(name, default)]),
                    unset,
                    "{name}={default} is not what tend does when {name} is unset"
                ),
                Shown::Nothing(_) => assert!(
                    default.starts_with('(') && default.ends_with(')')
                        || CHOSEN_AT_RUN_TIME.contains(&name),
                    "{name}: [{default}] looks like a value, but unset means nothing"
                ),
            }
            shown += 1;
        }
        assert_eq!(shown, variables().count(), "{help}");
    }

    #[test]
    fn the_readme_shows_the_same_defaults() {
        let readme = include_str!("../../README.md");
        for spec in variables().filter(|spec| spec.name != "TEND_FAULT_INJECT") {
            let row = format!("| `{}` | ", spec.name);
            let cell = readme
                .lines()
                .find_map(|line| line.strip_prefix(&row))
                .and_then(|rest| rest.split(" | ").next())
                .unwrap_or_else(|| panic!("README misses the row of {}", spec.name));
            assert_eq!(cell.replace('`', ""), spec.default.text(), "{}", spec.name);
        }
    }

    #[test]
    fn the_parser_reads_every_catalogued_variable_once() {
        let (vars, mut errors) = (BTreeMap::new(), Vec::new());
        let mut parser = Parser::new(&vars, &mut errors);
        crate::config::build(&mut parser);
        let mut read = parser.read.clone();
        read.sort_unstable();
        let mut catalogued: Vec<_> = variables().map(|spec| spec.name).collect();
        catalogued.sort_unstable();
        assert_eq!(read, catalogued);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
