//! Variables that harden the child beyond the user switch.

use super::catalogue::{Var, VarSpec};
use super::parser::Parser;
use super::values::parse_bool;

const NO_NEW_PRIVS: Var<bool> = Var::new(
    "TEND_NO_NEW_PRIVS",
    "false",
    parse_bool,
    "set no_new_privs on the child before exec: setuid binaries and file capabilities cannot raise its privileges",
);

pub(super) const VARIABLES: &[&VarSpec] = &[&NO_NEW_PRIVS.spec];

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` in the child before exec (inherited by all it starts).
    pub no_new_privs: bool,
}

/// The settings of an environment that sets none of the variables.
impl Default for SecurityConfig {
    fn default() -> Self {
        super::parser::defaults(SecurityConfig::parse)
    }
}

impl SecurityConfig {
    pub(crate) fn parse(parser: &mut Parser) -> Self {
        SecurityConfig {
            no_new_privs: parser.read(&NO_NEW_PRIVS),
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
