//! Variables that harden the child beyond the user switch.

use serde::Deserialize;

use super::catalogue::{var, VarSpec};
use super::parser::Parser;
use super::values::parse_bool;

pub const VARIABLES: &[VarSpec] = &[var(
    "TEND_NO_NEW_PRIVS",
    "false",
    "set no_new_privs on the child before exec: setuid binaries and file capabilities cannot raise its privileges",
)];

#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` in the child before exec (inherited by all it starts).
    pub no_new_privs: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    no_new_privs: Option<String>,
}

impl SecurityConfig {
    pub(crate) fn parse(parser: &mut Parser) -> Self {
        let raw: Raw = parser.raw();
        SecurityConfig {
            no_new_privs: parser.field("TEND_NO_NEW_PRIVS", raw.no_new_privs, false, parse_bool),
        }
    }

    /// The effective settings, as `tend check-config` prints them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "no_new_privs": self.no_new_privs })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_new_privs_is_a_boolean() {
        let on = crate::config::from_pairs(&[("TEND_NO_NEW_PRIVS", "yes")]).expect("valid");
        assert!(on.security.no_new_privs);
        let off = crate::config::from_pairs(&[]).expect("valid");
        assert!(!off.security.no_new_privs);
        let bad = crate::config::from_pairs(&[("TEND_NO_NEW_PRIVS", "maybe")]).expect_err("bad");
        assert_eq!(bad[0].variable, "TEND_NO_NEW_PRIVS");
    }
}
