//! Turns raw variable strings into typed values, collecting every error instead of
//! stopping at the first. Each configuration area reads its raw strings with envy into a
//! struct of `Option<String>`s, then converts each field with `Parser::field`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::ConfigError;

pub struct Parser<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Parser<'a> {
    pub fn new(vars: &'a BTreeMap<String, String>, errors: &'a mut Vec<ConfigError>) -> Self {
        Parser { vars, errors }
    }

    /// The raw strings of one area (a struct of `Option<String>` named after the
    /// variables without their `TEND_` prefix).
    pub fn raw<T: DeserializeOwned + Default>(&mut self) -> T {
        match envy::prefixed("TEND_").from_iter(self.vars.clone()) {
            Ok(raw) => raw,
            Err(error) => {
                self.errors.push(ConfigError {
                    variable: "TEND_*".into(),
                    value: None,
                    expected: format!("readable variables ({error})"),
                });
                T::default()
            }
        }
    }

    /// Converts one value, recording an error (and using the default) when it is bad.
    pub fn field<T>(
        &mut self,
        variable: &str,
        raw: Option<String>,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let Some(text) = raw else { return default };
        match parse(&text) {
            Ok(value) => value,
            Err(expected) => {
                self.error(variable, Some(text), expected);
                default
            }
        }
    }

    /// Records an error. Any value may hold a URL with a password (a hook's command
    /// line, a misplaced probe), and an expectation may quote part of it: both are
    /// redacted here, so that no caller can forget to.
    pub fn error(&mut self, variable: &str, value: Option<String>, expected: impl Into<String>) {
        let expected = crate::redact::about(&expected.into(), value.as_deref().unwrap_or(""));
        self.errors.push(ConfigError {
            variable: variable.into(),
            value: value.map(|v| crate::redact::value(&v)),
            expected,
        });
    }

    /// Records an error whose message already shows the value (a probe's), with every
    /// piece of the raw value's passwords hidden all the same.
    pub fn error_hiding(&mut self, variable: &str, pieces: &crate::redact::Pieces, message: &str) {
        self.errors.push(ConfigError {
            variable: variable.into(),
            value: None,
            expected: pieces.hide(message),
        });
    }
}
