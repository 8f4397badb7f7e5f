//! Property tests of the configuration: arbitrary values (control characters, unicode,
//! hundreds of kilobytes, grammar-shaped noise) for every catalogued variable never make
//! the parser panic, and every rejection is a `ConfigError` that names that variable and
//! never repeats a URL password. `PROPTEST_CASES=100000 cargo test props` runs longer.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use proptest::prelude::*;

use super::services::setting_names;
use super::{variables, Config};

/// Values worth throwing at a parser: anything, printable noise, the characters the
/// grammars give meaning to, huge repetitions, and known prefixes followed by noise.
pub(crate) fn value() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        prop::sample::select(vec![
            ',', ':', '/', '\'', '"', '\\', ';', '\n', '\r', '\t', '\0', '\u{1b}', '@', '?', '=',
            '[', ']', ' ', '.', '-', '+', '#', '*', '\u{a0}', '\u{2028}', '\u{feff}', 'é', '😀',
        ]),
        any::<char>(),
        prop::char::range('0', '9'),
        prop::char::range('a', 'z'),
    ];
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        prop::collection::vec(special, 0..60).prop_map(|v| v.into_iter().collect()),
        ("[a-z0-9:/,;'.@ ]{1,8}", 1usize..8_000).prop_map(|(s, n)| s.repeat(n)),
        (prop::sample::select(PREFIXES.to_vec()), any::<String>())
            .prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

const PREFIXES: &[&str] = &[
    "tcp://",
    "tcp://[",
    "http://",
    "http://u:p@",
    "unix:///",
    "file:///",
    "file:///x?max_age=",
    "exec:",
    "exec:sh -c '",
    "30s",
    "1m",
    "1.5",
    "500MB",
    "99999999999999999999",
    "TERM:",
    "RTMIN+",
    "true",
    "restart,",
    "root:",
    "/a:",
    "143,",
];

fn check(name: &str, value: OsString) -> Result<(), TestCaseError> {
    let result = Config::from_vars([(OsString::from(name), value)]);
    if let Err(errors) = result {
        prop_assert!(!errors.is_empty());
        for error in &errors {
            prop_assert_eq!(&error.variable, name, "{}", error);
            prop_assert!(!error.expected.is_empty(), "{}", error);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_variable_accepts_or_names_itself(index in 0usize..64, text in value()) {
        let specs: Vec<_> = variables().collect();
        let spec = specs[index % specs.len()];
        check(spec.name, OsString::from(text))?;
    }

    #[test]
    fn non_utf8_values_are_errors_naming_the_variable(
        index in 0usize..64,
        bytes in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let specs: Vec<_> = variables().collect();
        let spec = specs[index % specs.len()];
        check(spec.name, OsString::from_vec(bytes))?;
    }

    #[test]
    fn every_variable_at_once(texts in prop::collection::vec(value(), 64)) {
        // All variables set together: errors still each name a catalogued variable.
        let pairs: Vec<_> = variables()
            .zip(texts)
            .map(|(spec, text)| (OsString::from(spec.name), OsString::from(text)))
            .collect();
        if let Err(errors) = Config::from_vars(pairs) {
            for error in &errors {
                prop_assert!(variables().any(|s| s.name == error.variable), "{}", error);
            }
        }
    }

    #[test]
    fn url_passwords_never_reach_an_error(
        index in 0usize..64,
        before in value(),
        after in value(),
        secret in "[A-Za-z0-9]{12,20}",
    ) {
        let specs: Vec<_> = variables().collect();
        let spec = specs[index % specs.len()];
        let text = format!("{before} http://user:{secret}@host:80/x {after}");
        if let Err(errors) = Config::from_vars([(OsString::from(spec.name), OsString::from(&text))]) {
            for error in &errors {
                if before.contains(&secret) || after.contains(&secret) {
                    continue;
                }
                prop_assert!(!error.to_string().contains(&secret), "{}", error);
            }
        }
    }

    #[test]
    fn probe_lists_never_show_their_passwords(
        secret in "[A-Za-z0-9]{12,20}",
        noise in value(),
        variable in prop::sample::select(vec!["TEND_WAIT_FOR", "TEND_WAIT_OPTIONAL", "TEND_HEALTH_CHECK"]),
    ) {
        let text = format!("http://admin:{secret}@db:5432/{noise}");
        if noise.contains(&secret) {
            return Ok(());
        }
        match Config::from_vars([(OsString::from(variable), OsString::from(&text))]) {
            Ok(config) => {
                let json = config.to_json().to_string();
                prop_assert!(!json.contains(&secret), "{}", json);
            }
            Err(errors) => {
                for error in &errors {
                    prop_assert!(!error.to_string().contains(&secret), "{}", error);
                }
            }
        }
    }
}

proptest! {
    /// A variable given twice is read as its first (as getenv(3) finds it): the outcome is
    /// exactly that of the first alone, whatever the second says.
    #[test]
    fn a_variable_given_twice_reads_as_its_first(
        index in 0usize..64,
        first in value(),
        second in value(),
    ) {
        let specs: Vec<_> = variables().collect();
        let name = OsString::from(specs[index % specs.len()].name);
        let once = Config::from_vars([(name.clone(), OsString::from(&first))]);
        let twice = Config::from_vars([
            (name.clone(), OsString::from(&first)),
            (name, OsString::from(&second)),
        ]);
        match (once, twice) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.to_json(), b.to_json()),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "once {:?}, twice {:?}", a.is_ok(), b.is_ok()),
        }
    }

    /// A `TEND_` name that is not UTF-8 is refused, named with U+FFFD for its bad bytes,
    /// whatever follows the prefix; other names that are not UTF-8 are not tend's.
    #[test]
    fn tend_names_that_are_not_utf8_are_refused(
        rest in prop::collection::vec(any::<u8>(), 0..40),
        bad in 0x80u8..=0xff,
        value in value(),
    ) {
        let mut name = b"TEND_".to_vec();
        name.push(bad);
        name.extend(&rest);
        let name = OsString::from_vec(name);
        prop_assume!(name.to_str().is_none());
        let errors = Config::from_vars([(name.clone(), OsString::from(&value))])
            .expect_err("refused");
        prop_assert_eq!(errors.len(), 1);
        prop_assert_eq!(&errors[0].variable, &name.to_string_lossy().into_owned());
        prop_assert!(errors[0].expected.contains("not UTF-8"));
        let mut other = b"X".to_vec();
        other.extend(name.as_encoded_bytes());
        prop_assert!(Config::from_vars([(OsString::from_vec(other), OsString::from(&value))]).is_ok());
    }

    /// TEND_USER as a number: accepted exactly when the system can switch to it.
    #[test]
    fn numeric_users_are_accepted_only_when_usable(uid in id(), gid in id()) {
        for (text, usable) in [
            (uid.to_string(), uid < u64::from(u32::MAX)),
            (format!("0:{gid}"), gid < u64::from(u32::MAX)),
        ] {
            let result = Config::from_vars([(OsString::from("TEND_USER"), OsString::from(&text))]);
            prop_assert_eq!(result.is_ok(), usable, "{}", text);
        }
    }
}

/// Numbers around the edges an id can have, and any.
fn id() -> impl Strategy<Value = u64> {
    let max = u64::from(u32::MAX);
    prop_oneof![any::<u64>(), (max - 2)..=(max + 2), 0u64..70_000]
}

/// A URL whose password holds two marker halves (`a` and `b`, either of which must never
/// be shown) joined by what may sit inside a password of that kind of word: `@`, `:`,
/// `#`, `/`, `?` anywhere; a space or the other quote inside quotes.
fn planted_word() -> impl Strategy<Value = (String, String, String)> {
    let half = "[A-Za-z0-9]{8,12}";
    let quoting = prop::sample::select(vec!["", "'", "\"", "\\"]);
    let joint = prop::sample::select(vec![
        "", "@", ":", "#", "/", "?", "@@", " ", " @ ", "'", "\"", "\\",
    ]);
    let inside = prop::sample::select(vec!["", "--url=", "x", "-d@", "db="]);
    let scheme = prop::sample::select(vec!["http", "postgres", "redis", "x+y"]);
    let user = prop::sample::select(vec!["u", "", "admin", "a@b"]);
    let host = prop::sample::select(vec!["h", "db:5432/app", "127.0.0.1/x?y=1", "[::1]:80"]);
    (half, half, quoting, joint, inside, scheme, user, host).prop_filter_map(
        "the joint must fit the quoting",
        |(a, b, quoting, joint, inside, scheme, user, host)| {
            let fits = match quoting {
                // Unquoted: the word ends at a space, quotes and backslashes are syntax.
                "" => !joint.contains([' ', '\'', '"', '\\']),
                "'" => !joint.contains('\''),
                // Inside double quotes `"` and `\\` are written escaped.
                "\"" => true,
                // A backslash-escaped word: every character escaped one by one.
                _ => true,
            };
            if !fits {
                return None;
            }
            let password = format!("{a}{joint}{b}");
            let url = format!("{scheme}://{user}:{password}@{host}");
            let word = match quoting {
                "" => format!("{inside}{url}"),
                "'" => format!("'{inside}{url}'"),
                "\"" => format!(
                    "\"{inside}{}\"",
                    url.replace('\\', "\\\\").replace('"', "\\\"")
                ),
                _ => format!("{inside}{url}")
                    .chars()
                    .flat_map(|c| ['\\', c])
                    .collect(),
            };
            Some((word, a, b))
        },
    )
}

/// What may surround the planted word in a value: commands, probes, lists, noise.
fn context() -> impl Strategy<Value = (String, String)> {
    let before = prop::sample::select(vec![
        "",
        "/bin/true ",
        "exec:",
        "exec:curl -s ",
        "restart, exec:x ",
        "true; curl ",
        "tcp://db:1, exec:x ",
        "30s ",
        "/data/",
        "TERM:",
        "x@y ",
        "http://a@b/ ",
    ]);
    let after = prop::sample::select(vec![
        "",
        " -o /dev/null",
        " a@b",
        ", tcp://db:5432",
        "; touch /x",
        ",restart",
        " 'open",
        " x://c:d",
        "\n",
        ":500MB",
    ]);
    (before, after).prop_map(|(b, a)| (b.to_string(), a.to_string()))
}

proptest! {
    /// Item 5 of issue 12, as a property: for every variable, a password planted in a
    /// URL's userinfo, in a plain, quoted or escaped word, is shown neither by the
    /// errors (what `config_invalid` and `tend check-config` print) nor by the settings
    /// `tend check-config` prints.
    #[test]
    fn a_planted_password_never_shows_for_any_variable(
        index in 0usize..64,
        (word, a, b) in planted_word(),
        (before, after) in context(),
    ) {
        let specs: Vec<_> = variables().collect();
        let spec = specs[index % specs.len()];
        let text = format!("{before}{word}{after}");
        let shown = match Config::from_vars([(OsString::from(spec.name), OsString::from(&text))]) {
            Ok(config) => format!("{:#}", config.to_json()),
            Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        };
        prop_assert!(
            !shown.contains(&a) && !shown.contains(&b),
            "{}={:?} shown as:\n{}", spec.name, text, shown
        );
    }
}

/// The variable of a service's setting (`TEND_SERVICE_SVC_<SETTING>`), or, one time in
/// `settings + 1`, its declaration itself (`TEND_SERVICE_SVC`).
fn service_variable(index: usize) -> String {
    let settings: Vec<&str> = setting_names().collect();
    match settings.get(index % (settings.len() + 1)) {
        Some(setting) => format!("TEND_SERVICE_SVC_{setting}"),
        None => "TEND_SERVICE_SVC".into(),
    }
}

/// The service `svc` declared, and `variable` set to `text` (the declaration replaced
/// when `variable` is it).
fn with_service(variable: &str, text: &str) -> Vec<(OsString, OsString)> {
    let mut pairs = vec![(OsString::from(variable), OsString::from(text))];
    if variable != "TEND_SERVICE_SVC" {
        pairs.push(("TEND_SERVICE_SVC".into(), "svc".into()));
    }
    pairs
}

proptest! {
    /// Every setting of a service, and its declaration, with arbitrary values: accepted,
    /// or refused with errors that each name that variable.
    #[test]
    fn every_service_setting_accepts_or_names_itself(index in 0usize..64, text in value()) {
        let variable = service_variable(index);
        if let Err(errors) = Config::from_vars(with_service(&variable, &text)) {
            for error in &errors {
                prop_assert_eq!(&error.variable, &variable, "{}", error);
                prop_assert!(!error.expected.is_empty(), "{}", error);
            }
        }
    }

    /// Any name after TEND_SERVICE_: a service, or one error naming the variable.
    #[test]
    fn any_service_name_is_a_service_or_named(
        name in "[A-Za-z0-9_\\-é]{0,24}",
        text in value(),
    ) {
        let variable = format!("TEND_SERVICE_{name}");
        match Config::from_vars([(OsString::from(&variable), OsString::from(&text))]) {
            Ok(config) => prop_assert!(config.services.len() <= 1),
            Err(errors) => {
                for error in &errors {
                    prop_assert_eq!(&error.variable, &variable, "{}", error);
                }
            }
        }
    }

    /// As `a_planted_password_never_shows_for_any_variable`, for the settings of a service
    /// and its command.
    #[test]
    fn a_planted_password_never_shows_for_any_service_setting(
        index in 0usize..64,
        (word, a, b) in planted_word(),
        (before, after) in context(),
    ) {
        let variable = service_variable(index);
        let text = format!("{before}{word}{after}");
        let shown = match Config::from_vars(with_service(&variable, &text)) {
            Ok(config) => format!("{:#}", config.to_json()),
            Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        };
        prop_assert!(
            !shown.contains(&a) && !shown.contains(&b),
            "{}={:?} shown as:\n{}", variable, text, shown
        );
    }
}

/// Inputs the properties found, kept as a corpus that always runs.
#[test]
fn found_cases() {
    for (name, value) in [
        (
            "TEND_SHUTDOWN_TIMEOUT",
            " http://user:A0A0Aaa0AAA0@host:80/x ",
        ),
        ("TEND_PRE_START", "psql 'postgres://u:A0A0Aaa0AAA0@db/app"),
        ("TEND_WAIT_FOR", "://http://u:A0A0Aaa0AAA0@"),
    ] {
        let errors =
            Config::from_vars([(OsString::from(name), OsString::from(value))]).expect_err(name);
        for error in errors {
            assert_eq!(error.variable, name);
            assert!(!error.to_string().contains("A0A0Aaa0AAA0"), "{error}");
        }
    }
}
