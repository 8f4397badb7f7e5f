//! Requests about services (`tend start|stop|restart NAME...|--all`): the verbs, the
//! names a request may carry, and the check of those names against the services the
//! asked tend runs (its snapshot's). Pure: the CLI, the wire format and the server share it.

use crate::config::closest_name;
use crate::services::graph::MAIN;
use crate::shown::quoted;

/// What a request does to the services it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    Start,
    Stop,
    Restart,
}

impl ServiceVerb {
    pub fn word(self) -> &'static str {
        match self {
            ServiceVerb::Start => "start",
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
        }
    }

    pub fn from_word(word: &str) -> Option<ServiceVerb> {
        match word {
            "start" => Some(ServiceVerb::Start),
            "stop" => Some(ServiceVerb::Stop),
            "restart" => Some(ServiceVerb::Restart),
            _ => None,
        }
    }
}

/// The word that stands for every service, on the command line and on the wire.
pub const ALL: &str = "--all";

/// The request line: `start web api`, `stop --all` (no names: every service).
pub fn line(verb: ServiceVerb, names: &[String]) -> String {
    if names.is_empty() {
        return format!("{} {ALL}", verb.word());
    }
    format!("{} {}", verb.word(), names.join(" "))
}

/// `name` can be a service's name as tend shows it (`php_fpm` for TEND_SERVICE_PHP_FPM):
/// lowercase words of letters and digits joined by single `_`. Err says why not; `main`
/// is refused with what to use instead (the main command is not one of the services).
pub fn check_name(verb: ServiceVerb, name: &str) -> Result<(), String> {
    let words_ok = !name.is_empty()
        && name.split('_').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !words_ok {
        return Err(format!(
            "{} is not a service name: expected the name tend shows, lowercase words of \
             letters and digits joined by _ (php_fpm for TEND_SERVICE_PHP_FPM)",
            quoted(name)
        ));
    }
    if name == MAIN {
        let instead = match verb {
            ServiceVerb::Start => "it runs as long as tend does",
            ServiceVerb::Stop => "`tend stop` without a name stops it, and tend with it",
            ServiceVerb::Restart => "`tend restart` without a name restarts it",
        };
        return Err(format!(
            "main is the main command, not a service: {instead}"
        ));
    }
    Ok(())
}

/// The names of a request as given (lowercased: `PHP_FPM` is `php_fpm`), without repeats,
/// in the order given. Err with the first bad one.
pub fn names(verb: ServiceVerb, given: &[&str]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::with_capacity(given.len());
    for name in given {
        let name = name.to_ascii_lowercase();
        check_name(verb, &name)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The known name `name` is likely a typo of: the closest one by edit distance that
/// begins with the same letter (`wbe` is near `web`; `db` is near nothing).
pub fn near<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let first = name.chars().next()?;
    let alike = known.iter().copied().filter(|k| k.starts_with(first));
    closest_name(name, alike).filter(|near| *near != name)
}

/// The names of a request against the services the tend runs (`known`, sorted as the
/// snapshot has them). Err, for the client, naming each unknown one and listing the
/// known ones.
pub fn check_known(verb: ServiceVerb, names: &[String], known: &[&str]) -> Result<(), String> {
    if known.is_empty() {
        return Err(format!(
            "this tend runs no services (none is declared with TEND_SERVICE_<NAME>): there \
             is nothing to {}",
            verb.word()
        ));
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| match near(name, known) {
            Some(near) => format!("{} (did you mean {near}?)", quoted(name)),
            None => quoted(name),
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let noun = if unknown.len() == 1 {
        "no service named"
    } else {
        "no services named"
    };
    Err(format!(
        "{noun} {}: the services are {}",
        unknown.join(", "),
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_lines() {
        for verb in [ServiceVerb::Start, ServiceVerb::Stop, ServiceVerb::Restart] {
            assert_eq!(ServiceVerb::from_word(verb.word()), Some(verb));
        }
        assert_eq!(ServiceVerb::from_word("status"), None);
        let names = vec!["web".to_owned(), "php_fpm".to_owned()];
        assert_eq!(line(ServiceVerb::Start, &names), "start web php_fpm");
        assert_eq!(line(ServiceVerb::Stop, &[]), "stop --all");
    }

    #[test]
    fn names_are_lowercased_deduplicated_and_checked() {
        assert_eq!(
            names(ServiceVerb::Start, &["PHP_FPM", "web", "php_fpm"]),
            Ok(vec!["php_fpm".to_owned(), "web".to_owned()])
        );
        for bad in [
            "", "we b", "web-1", "_web", "web_", "a__b", "wéb", "--force",
        ] {
            let error = names(ServiceVerb::Stop, &[bad]).expect_err(bad);
            assert!(error.contains("is not a service name"), "{bad:?}: {error}");
        }
        let error = names(ServiceVerb::Restart, &["main"]).expect_err("main");
        assert!(error.contains("`tend restart` without a name"), "{error}");
        let error = names(ServiceVerb::Stop, &["MAIN"]).expect_err("MAIN");
        assert!(error.contains("main is the main command"), "{error}");
    }

    #[test]
    fn near_names() {
        let known = ["api", "php_fpm", "web"];
        assert_eq!(near("wbe", &known), Some("web"));
        assert_eq!(near("php-fpm", &known), Some("php_fpm"));
        assert_eq!(near("db", &known), None);
        assert_eq!(near("", &known), None);
        assert_eq!(near("web", &known), None);
    }

    #[test]
    fn unknown_names_are_named_with_the_known_ones() {
        let known = ["api", "php_fpm", "web"];
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_known(ServiceVerb::Start, &names(&["web", "api"]), &known),
            Ok(())
        );
        let error = check_known(ServiceVerb::Start, &names(&["wbe"]), &known).unwrap_err();
        assert_eq!(
            error,
            "no service named \"wbe\" (did you mean web?): the services are api, php_fpm, web"
        );
        let error =
            check_known(ServiceVerb::Stop, &names(&["web", "db", "queue"]), &known).unwrap_err();
        assert!(
            error.starts_with("no services named \"db\", \"queue\": the services are "),
            "{error}"
        );
        let error = check_known(ServiceVerb::Start, &names(&["web"]), &[]).unwrap_err();
        assert!(
            error.contains("runs no services") && error.ends_with("nothing to start"),
            "{error}"
        );
    }
}
