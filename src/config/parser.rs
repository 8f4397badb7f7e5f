//! Turns variable values into typed ones through their declarations (`Var`), collecting
//! every error instead of stopping at the first.

use std::collections::BTreeMap;

use super::catalogue::Var;
use super::ConfigError;

pub struct Parser<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: &'a mut Vec<ConfigError>,
    /// The names read, in order: a test checks them against the catalogue.
    #[cfg(test)]
    pub(super) read: Vec<&'static str>,
}

/// Why a parser refused a value, for parsers whose messages may quote the value.
pub enum Refused {
    /// What was expected instead: shown after the value, both redacted.
    Expected(String),
    /// Messages that quote the value, or parts of it, themselves (a probe's do): shown
    /// without the value, with every piece of its URL passwords hidden.
    Quoting(Vec<String>),
}

impl From<String> for Refused {
    fn from(expected: String) -> Self {
        Refused::Expected(expected)
    }
}

impl<'a> Parser<'a> {
    pub fn new(vars: &'a BTreeMap<String, String>, errors: &'a mut Vec<ConfigError>) -> Self {
        Parser {
            vars,
            errors,
            #[cfg(test)]
            read: Vec::new(),
        }
    }

    /// The value of `var`, or its default when it is unset or refused (the refusal
    /// recorded).
    pub fn read<T, E: Into<Refused>>(&mut self, var: &Var<T, E>) -> T {
        #[cfg(test)]
        self.read.push(var.spec.name);
        self.read_as(var, var.spec.name, || var.default_value())
    }

    /// The value of the variable `name`, read by `var`'s parser: a service's setting
    /// (`TEND_SERVICE_WEB_USER`) read as its container-wide twin (`TEND_USER`) is. When it
    /// is unset or refused (the refusal recorded): `unset()`.
    pub fn read_as<T, E: Into<Refused>>(
        &mut self,
        var: &Var<T, E>,
        name: &str,
        unset: impl FnOnce() -> T,
    ) -> T {
        let vars = self.vars;
        let Some(text) = vars.get(name) else {
            return unset();
        };
        match var.parse(text) {
            Ok(value) => value,
            Err(refused) => {
                match refused.into() {
                    Refused::Expected(expected) => self.error(name, text, expected),
                    Refused::Quoting(messages) => {
                        let pieces = crate::redact::Pieces::of(text);
                        for message in messages {
                            self.error_hiding(name, &pieces, &message);
                        }
                    }
                }
                unset()
            }
        }
    }

    /// Whether the variable `name` has a value (an empty one counts as none).
    pub fn is_set(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// The value of the variable `name` as given, when it has one.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Records a refusal found after parsing (a setting that contradicts another).
    pub fn refuse(&mut self, variable: &str, value: &str, expected: String) {
        self.error(variable, value, expected);
    }

    /// Whether an error about the variable `name` was recorded.
    pub fn has_error(&self, name: &str) -> bool {
        self.errors.iter().any(|e| e.variable == name)
    }

    /// Records an error about a variable's name rather than its value.
    pub fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    /// Records an error. Any value may hold a URL with a password (a hook's command
    /// line, a misplaced probe), and an expectation may quote part of it: both are
    /// redacted here, so that no parser can forget to.
    fn error(&mut self, variable: &str, value: &str, expected: String) {
        self.errors.push(ConfigError {
            variable: variable.into(),
            value: Some(crate::redact::value(value)),
            expected: crate::redact::about(&expected, value),
        });
    }

    /// Records an error whose message already shows the value (a probe's), with every
    /// piece of the raw value's passwords hidden all the same.
    fn error_hiding(&mut self, variable: &str, pieces: &crate::redact::Pieces, message: &str) {
        self.errors.push(ConfigError {
            variable: variable.into(),
            value: None,
            expected: pieces.hide(message),
        });
    }
}

/// What `read` makes of an environment where no variable is set: every area's defaults,
/// for the `Default` impls of the areas.
pub fn defaults<T>(read: impl FnOnce(&mut Parser) -> T) -> T {
    let (vars, mut errors) = (BTreeMap::new(), Vec::new());
    read(&mut Parser::new(&vars, &mut errors))
}
