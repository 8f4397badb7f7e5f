//! Property tests of the probe grammar: no input makes `Probe::parse` panic, what it
//! accepts prints back to a form that parses to the same probe (passwords aside, which
//! print as `***`), and no error repeats a URL password.

use proptest::prelude::*;

use super::Probe;
use crate::config::props::value;
use crate::redact::{text as redact, value as redact_value};

/// Probes built from the grammar's own pieces, so that most of them parse.
fn shaped() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        "[a-z][a-z0-9.-]{0,20}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        Just("[::1]".to_string()),
        Just("[fe80::1]".to_string()),
    ];
    let port = prop_oneof![
        Just(String::new()),
        (1u32..=65535).prop_map(|p| format!(":{p}"))
    ];
    let path = "(/[A-Za-z0-9._~%-]{0,12}){0,4}(\\?[a-z]{1,5}=[a-z0-9]{0,5})?";
    let word = prop_oneof!["[A-Za-z0-9_./=-]{1,12}", "'[^']{0,12}'", "\"[a-z $]{0,8}\""];
    prop_oneof![
        (host.clone(), 1u32..=65535).prop_map(|(h, p)| format!("tcp://{h}:{p}")),
        (
            host,
            port,
            path,
            prop::option::of("[a-z]{1,6}(:[A-Za-z0-9]{1,8})?@")
        )
            .prop_map(|(h, p, path, auth)| format!(
                "http://{}{h}{p}{path}",
                auth.unwrap_or_default()
            )),
        "(/[A-Za-z0-9._-]{1,10}){1,4}".prop_map(|p| format!("unix://{p}")),
        (
            "(/[A-Za-z0-9._-]{1,10}){1,4}",
            prop::option::of("[1-9][0-9]{0,3}(ms|s|m|h)")
        )
            .prop_map(|(p, age)| match age {
                Some(age) => format!("file://{p}?max_age={age}"),
                None => format!("file://{p}"),
            }),
        prop::collection::vec(word, 1..5).prop_map(|w| format!("exec:{}", w.join(" "))),
    ]
}

fn has_password(probe: &Probe) -> bool {
    probe.to_string().contains("***")
}

proptest! {
    #[test]
    fn parse_never_panics(text in value()) {
        let _ = Probe::parse(&text);
    }

    #[test]
    fn accepted_noise_prints_to_a_fixed_point(text in value()) {
        // Whatever is accepted prints as a probe that parses and prints the same again.
        if let Ok(probe) = Probe::parse(&text) {
            let printed = probe.to_string();
            let again = Probe::parse(&printed);
            prop_assert!(again.is_ok(), "{:?} printed as {:?}: {:?}", text, printed, again);
            prop_assert_eq!(again.map(|p| p.to_string()).unwrap_or_default(), printed);
        }
    }

    #[test]
    fn shaped_probes_round_trip(text in shaped()) {
        let probe = Probe::parse(&text);
        prop_assert!(probe.is_ok(), "{:?}: {:?}", text, probe);
        let probe = probe.unwrap_or_else(|_| unreachable!());
        if !has_password(&probe) {
            prop_assert_eq!(Probe::parse(&probe.to_string()), Ok(probe));
        }
    }

    #[test]
    fn errors_never_show_a_password(
        before in "[a-z]{0,6}(://)?",
        secret in "[A-Za-z0-9]{12,20}",
        after in value(),
    ) {
        let text = format!("{before}http://u:{secret}@{after}");
        if let Err(error) = Probe::parse(&text) {
            prop_assume!(!after.contains(&secret));
            prop_assert!(!error.contains(&secret), "{}", error);
        }
    }
}

/// A password of any printable character but whitespace and quotes, with '/', '?', '#',
/// '@' and ':' among them.
fn password() -> impl Strategy<Value = String> {
    "[!#-&(-~]{8,20}"
}

proptest! {
    #[test]
    fn redact_never_shows_a_password(
        before in "[ -~]{0,20}",
        scheme in "[a-z]{1,8}",
        user in "[a-z]{0,6}",
        secret in password(),
        host in "[a-z0-9.:/?#]{0,12}",
        after in "[ -~]{0,20}",
    ) {
        prop_assume!(!before.contains(&secret) && !host.contains(&secret) && !after.contains(&secret));
        prop_assume!(!user.contains(&secret));
        let url = format!("{scheme}://{user}:{secret}@{host}");
        for text in [
            format!("{before} {url} {after}"),
            format!("{before} '{url}' {after}"),
            url.clone(),
        ] {
            let shown = redact(&text);
            prop_assert!(!shown.contains(&secret), "{:?} shown as {:?}", text, shown);
            let shown = redact_value(&text);
            prop_assert!(!shown.contains(&secret), "{:?} shown as {:?}", text, shown);
        }
    }

    #[test]
    fn redact_value_hides_passwords_with_spaces(
        user in "[a-z]{0,6}",
        secret in "[ -~]{8,20}",
        host in "[a-z0-9.:/?#]{1,12}",
    ) {
        prop_assume!(!host.contains(&secret) && !user.contains(&secret));
        let text = format!("http://{user}:{secret}@{host}");
        let shown = redact_value(&text);
        prop_assert!(!shown.contains(&secret), "{:?} shown as {:?}", text, shown);
        if let Err(error) = Probe::parse(&text) {
            prop_assert!(!error.contains(&secret), "{:?}: {}", text, error);
        }
        if let Ok(probe) = Probe::parse(&text) {
            prop_assert!(!probe.to_string().contains(&secret), "{:?}: {}", text, probe);
        }
    }
}
