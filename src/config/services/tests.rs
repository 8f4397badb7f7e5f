//! Tests of the services' configuration: declaring, naming, settings, inheritance, the
//! graph's errors as configuration errors, and the reference's table.

use super::*;
use crate::config::from_pairs;
use crate::config::ConfigError;

/// The container-wide variables a service takes the value of when its own is unset, as
/// the documentation lists them (a test holds the two together).
const INHERITED: &[&str] = &[
    "TEND_RESTART_MAX_ATTEMPTS",
    "TEND_RESTART_DELAY",
    "TEND_RESTART_MAX_DELAY",
    "TEND_RESTART_WINDOW",
    "TEND_HEALTH_INTERVAL",
    "TEND_HEALTH_START_INTERVAL",
    "TEND_HEALTH_TIMEOUT",
    "TEND_HEALTH_START_PERIOD",
    "TEND_HEALTH_FAILURE_THRESHOLD",
    "TEND_HEALTH_SUCCESS_THRESHOLD",
    "TEND_STARTUP_TIMEOUT",
    "TEND_USER",
    "TEND_SHUTDOWN_TIMEOUT",
    "TEND_SIGNAL_TARGET",
];

fn valid(pairs: &[(&str, &str)]) -> Config {
    from_pairs(pairs).unwrap_or_else(|errors| panic!("{pairs:?}: {errors:?}"))
}

fn refused(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
    from_pairs(pairs).expect_err("refused")
}

fn service<'a>(config: &'a Config, name: &str) -> &'a ServiceConfig {
    config
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name} in {:?}", config.services))
}

/// The errors, one line each, as the user reads them.
fn text(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

#[test]
fn services_are_declared_named_in_lowercase_and_sorted() {
    let config = valid(&[
        ("TEND_SERVICE_WEB", "nginx -g 'daemon off;'"),
        ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm, MIGRATE:Completed"),
        ("TEND_SERVICE_WEB_USER", "www:www"),
        ("TEND_SERVICE_WEB_OUTPUT", "prefix"),
        ("TEND_SERVICE_WEB_ENV", "PORT=8080, GREETING='a, b',EMPTY="),
        ("TEND_SERVICE_WEB_WORKDIR", "/srv"),
        ("TEND_SERVICE_WEB_STOP_SIGNAL", "SIGQUIT"),
        ("TEND_SERVICE_PHP_FPM", "php-fpm -F"),
        ("TEND_SERVICE_MIGRATE", "migrate up"),
        ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
        ("TEND_SERVICE_MIGRATE_RESTART", "on-failure"),
    ]);
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["migrate", "php_fpm", "web"]);
    let web = service(&config, "web");
    assert_eq!(web.variable, "TEND_SERVICE_WEB");
    assert_eq!(web.command, ["nginx", "-g", "daemon off;"]);
    let deps: Vec<String> = web.depends_on.iter().map(ToString::to_string).collect();
    assert_eq!(deps, ["php_fpm:started", "migrate:completed"]);
    assert_eq!(web.user.as_ref().map(user_text).as_deref(), Some("www:www"));
    assert_eq!(web.output, Output::Prefix);
    let env: Vec<(&str, &str)> = web
        .env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("PORT", "8080"), ("GREETING", "a, b"), ("EMPTY", "")]);
    assert_eq!(web.workdir, Some(PathBuf::from("/srv")));
    assert_eq!(web.stop_signal, libc::SIGQUIT);
    let migrate = service(&config, "migrate");
    assert!(migrate.oneshot);
    assert_eq!(migrate.restart.policy, RestartPolicy::OnFailure);
    let php = service(&config, "php_fpm");
    assert_eq!(php.stop_signal, libc::SIGTERM);
    assert_eq!(php.output, Output::Inherit);
    assert!(!php.oneshot && php.workdir.is_none() && php.env.is_empty());
    let graph = config.service_graph().expect("valid graph");
    assert_eq!(
        graph.start_waves(),
        [vec!["main", "migrate", "php_fpm"], vec!["web"]]
    );
}

#[test]
fn without_services_nothing_changes() {
    let plain = valid(&[]);
    assert!(plain.services.is_empty() && plain.depends_on.is_empty());
    assert_eq!(plain.exit_with, ExitWith::Main);
    assert!(!plain.has_services());
    let document = plain.to_json();
    for key in ["services", "depends_on", "exit_with", "start_order"] {
        assert!(document.get(key).is_none(), "{key} in {document}");
    }
    let with = valid(&[("TEND_SERVICE_DB", "postgres"), ("TEND_EXIT_WITH", "all")]);
    let document = with.to_json();
    assert_eq!(document["exit_with"], "all");
    assert_eq!(document["start_order"], serde_json::json!([["db", "main"]]));
    assert_eq!(document["stop_order"], serde_json::json!([["db", "main"]]));
    assert_eq!(document["services"]["db"]["command"], "postgres");
}

#[test]
fn a_setting_of_a_declared_service_must_be_known() {
    let errors = refused(&[
        ("TEND_SERVICE_WEB", "nginx"),
        ("TEND_SERVICE_WEB_USR", "www"),
        ("TEND_SERVICE_WEB_HEALTHCHECK", "tcp://x:1"),
        ("TEND_SERVICE_WEB_FPM", "php-fpm"),
    ]);
    let shown = text(&errors);
    assert_eq!(errors.len(), 3, "{shown}");
    assert!(
        shown.contains("TEND_SERVICE_WEB_USR: ")
            && shown.contains("did you mean TEND_SERVICE_WEB_USER?"),
        "{shown}"
    );
    assert!(
        shown.contains("did you mean TEND_SERVICE_WEB_HEALTH_CHECK?"),
        "{shown}"
    );
    // Not near any setting: the settings are listed, and the rule said.
    let fpm = errors
        .iter()
        .find(|e| e.variable == "TEND_SERVICE_WEB_FPM")
        .expect("named");
    assert!(fpm.expected.contains("DEPENDS_ON, ONESHOT"), "{fpm}");
    assert!(
        fpm.expected.contains("cannot begin with another's"),
        "{fpm}"
    );
    assert!(fpm.value.is_none(), "a name error shows no value: {fpm}");
}

#[test]
fn a_setting_without_its_service_is_no_service() {
    let errors = refused(&[
        ("TEND_SERVICE_WEB_USER", "www"),
        ("TEND_SERVICE_WBE", "nginx"),
    ]);
    assert_eq!(errors.len(), 1, "{}", text(&errors));
    assert_eq!(errors[0].variable, "TEND_SERVICE_WEB_USER");
    assert!(
        errors[0].expected.contains("TEND_SERVICE_WEB is not set"),
        "{}",
        errors[0]
    );
    // A name that is a setting's, alone, is a service's name like any other.
    let config = valid(&[("TEND_SERVICE_USER", "useradd-daemon")]);
    assert_eq!(config.services[0].name, "user");
}

#[test]
fn names_are_capitals_digits_and_single_underscores() {
    for bad in [
        "TEND_SERVICE_web",
        "TEND_SERVICE_",
        "TEND_SERVICE__WEB",
        "TEND_SERVICE_WEB_",
        "TEND_SERVICE_A__B",
        "TEND_SERVICE_PHP-FPM",
        "TEND_SERVICE_WÉB",
    ] {
        let errors = refused(&[(bad, "x")]);
        assert_eq!(errors.len(), 1, "{bad}: {}", text(&errors));
        assert_eq!(errors[0].variable, bad);
        assert!(
            errors[0].expected.contains("capitals and digits"),
            "{}",
            errors[0]
        );
    }
    let errors = refused(&[("TEND_SERVICE_MAIN", "x")]);
    assert!(errors[0]
        .expected
        .contains("main is the command after `--`"));
    let config = valid(&[("TEND_SERVICE_2ND_WORKER_3", "worker")]);
    assert_eq!(config.services[0].name, "2nd_worker_3");
}

#[test]
fn an_empty_declaration_disables_the_service_and_its_settings() {
    let config = valid(&[
        ("TEND_SERVICE_CACHE", ""),
        ("TEND_SERVICE_CACHE_USER", "redis"),
        ("TEND_SERVICE_CACHE_RESTART", "always"),
    ]);
    assert!(config.services.is_empty());
    let errors = refused(&[
        ("TEND_SERVICE_CACHE", " "),
        ("TEND_SERVICE_WEB", "nginx"),
        ("TEND_SERVICE_WEB_DEPENDS_ON", "cache"),
    ]);
    assert_eq!(errors.len(), 1, "{}", text(&errors));
    assert!(
        errors[0]
            .expected
            .contains("it is disabled (TEND_SERVICE_CACHE is empty)"),
        "{}",
        errors[0]
    );
}

#[test]
fn graph_errors_name_the_depends_on_variable_and_the_services() {
    let errors = refused(&[
        ("TEND_SERVICE_WEB", "nginx"),
        ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm"),
        ("TEND_SERVICE_PHP_FPM", "php-fpm"),
        (
            "TEND_SERVICE_PHP_FPM_DEPENDS_ON",
            "web,dbb,cache:healthy,cron:completed",
        ),
        ("TEND_SERVICE_DB", "postgres"),
        ("TEND_SERVICE_CACHE", "redis"),
        ("TEND_SERVICE_CRON", "crond -f"),
    ]);
    let shown = text(&errors);
    assert_eq!(errors.len(), 4, "{shown}");
    assert!(
        errors
            .iter()
            .all(|e| e.variable == "TEND_SERVICE_PHP_FPM_DEPENDS_ON"),
        "{shown}"
    );
    for needle in [
        "php_fpm → web → php_fpm",
        "\"dbb\" is none; did you mean db?",
        "healthy only of a service with a health check, and cache has none (TEND_SERVICE_CACHE_HEALTH_CHECK)",
        "completed only of a one-shot, and cron is not one (TEND_SERVICE_CRON_ONESHOT=true)",
        "TEND_SERVICE_PHP_FPM_DEPENDS_ON=\"web,dbb,cache:healthy,cron:completed\"",
    ] {
        assert!(shown.contains(needle), "{needle} missing from\n{shown}");
    }
}

#[test]
fn main_depends_through_tend_depends_on() {
    let config = valid(&[
        ("TEND_DEPENDS_ON", "db:healthy,migrate:completed"),
        ("TEND_SERVICE_DB", "postgres"),
        ("TEND_SERVICE_DB_HEALTH_CHECK", "tcp://127.0.0.1:5432"),
        ("TEND_SERVICE_MIGRATE", "migrate"),
        ("TEND_SERVICE_MIGRATE_ONESHOT", "yes"),
        ("TEND_SERVICE_MIGRATE_DEPENDS_ON", "db:healthy"),
        ("TEND_SERVICE_SIDECAR", "shipper"),
        ("TEND_SERVICE_SIDECAR_DEPENDS_ON", "main"),
    ]);
    let graph = config.service_graph().expect("valid");
    assert_eq!(
        graph.start_waves(),
        [vec!["db"], vec!["migrate"], vec!["main"], vec!["sidecar"]]
    );
    for (pairs, needle) in [
        (&[("TEND_DEPENDS_ON", "ghost")][..], "\"ghost\" is none"),
        (&[("TEND_DEPENDS_ON", "main")], "main → main"),
        (
            &[
                ("TEND_SERVICE_X", "x"),
                ("TEND_SERVICE_X_DEPENDS_ON", "main:healthy"),
            ],
            "main has none (TEND_HEALTH_CHECK)",
        ),
        (
            &[
                ("TEND_SERVICE_X", "x"),
                ("TEND_SERVICE_X_DEPENDS_ON", "main:completed"),
            ],
            "main is never one",
        ),
    ] {
        let errors = refused(pairs);
        assert_eq!(errors.len(), 1, "{pairs:?}: {}", text(&errors));
        assert!(errors[0].to_string().contains(needle), "{}", errors[0]);
    }
    let errors = refused(&[("TEND_DEPENDS_ON", "ghost")]);
    assert_eq!(errors[0].variable, "TEND_DEPENDS_ON");
    let main_healthy = valid(&[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:80"),
        ("TEND_SERVICE_X", "x"),
        ("TEND_SERVICE_X_DEPENDS_ON", "main:healthy"),
    ]);
    assert_eq!(main_healthy.services.len(), 1);
}

#[test]
fn a_refused_health_check_is_not_reported_twice() {
    let errors = refused(&[
        ("TEND_SERVICE_DB", "postgres"),
        ("TEND_SERVICE_DB_HEALTH_CHECK", "db:5432"),
        ("TEND_SERVICE_WEB", "nginx"),
        ("TEND_SERVICE_WEB_DEPENDS_ON", "db:healthy"),
    ]);
    assert_eq!(errors.len(), 1, "{}", text(&errors));
    assert_eq!(errors[0].variable, "TEND_SERVICE_DB_HEALTH_CHECK");
}

#[test]
fn dependency_lists_are_checked() {
    for (value, needle) in [
        ("db:ready", "\"ready\" is no condition"),
        ("db,db:healthy", "db appears twice"),
        ("php-fpm", "\"php-fpm\" is no service name"),
        ("db:", "\"\" is no condition"),
    ] {
        let errors = refused(&[("TEND_DEPENDS_ON", value)]);
        assert_eq!(errors.len(), 1, "{value}: {}", text(&errors));
        assert!(errors[0].expected.contains(needle), "{}", errors[0]);
    }
}

#[test]
fn a_one_shot_is_not_restarted_forever() {
    let errors = refused(&[
        ("TEND_SERVICE_MIGRATE", "migrate"),
        ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
        ("TEND_SERVICE_MIGRATE_RESTART", "always"),
    ]);
    assert_eq!(errors.len(), 1, "{}", text(&errors));
    assert_eq!(
        errors[0].to_string(),
        "TEND_SERVICE_MIGRATE_RESTART=\"always\": expected no or on-failure: a one-shot \
         (TEND_SERVICE_MIGRATE_ONESHOT=true) runs to completion"
    );
}

#[test]
fn every_setting_is_read() {
    // A setting in settings() that `read_service` does not read would be accepted and ignored.
    for setting in setting_names() {
        let variable = format!("TEND_SERVICE_SVC_{setting}");
        let errors = refused(&[
            ("TEND_SERVICE_SVC", "svc"),
            (&variable, "\u{1}invalid\u{1}"),
        ]);
        assert!(
            errors.iter().any(|e| e.variable == variable),
            "{variable} accepted a nonsense value: {}",
            text(&errors)
        );
    }
    let errors = refused(&[("TEND_SERVICE_SVC", "svc \u{1}")]);
    assert_eq!(errors[0].variable, "TEND_SERVICE_SVC");
    for bad in ["''", "'open", "a;b", "a\nb"] {
        let errors = refused(&[("TEND_SERVICE_SVC", bad)]);
        assert_eq!(errors[0].variable, "TEND_SERVICE_SVC", "{bad}");
    }
}

/// A value for each container-wide twin, other than its default.
const SAMPLES: &[(&str, &str)] = &[
    ("TEND_DEPENDS_ON", "svc"),
    ("TEND_RESTART", "always"),
    ("TEND_RESTART_MAX_ATTEMPTS", "9"),
    ("TEND_RESTART_DELAY", "7s"),
    ("TEND_RESTART_MAX_DELAY", "9m"),
    ("TEND_RESTART_WINDOW", "2h"),
    ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
    ("TEND_HEALTH_INTERVAL", "3s"),
    ("TEND_HEALTH_START_INTERVAL", "2s"),
    ("TEND_HEALTH_TIMEOUT", "4s"),
    ("TEND_HEALTH_START_PERIOD", "5s"),
    ("TEND_HEALTH_FAILURE_THRESHOLD", "7"),
    ("TEND_HEALTH_SUCCESS_THRESHOLD", "6"),
    ("TEND_STARTUP_TIMEOUT", "9s"),
    ("TEND_REMEDIATION", "exit"),
    ("TEND_USER", "4321"),
    ("TEND_SHUTDOWN_TIMEOUT", "5s"),
    ("TEND_SIGNAL_TARGET", "group"),
];

#[test]
fn a_service_inherits_exactly_the_listed_container_values() {
    let plain = valid(&[("TEND_SERVICE_SVC", "svc")]);
    let before = service(&plain, "svc").to_json();
    let twins: Vec<&str> = settings()
        .map(|spec| spec.name)
        .filter(|name| !name.starts_with(PREFIX))
        .collect();
    let sampled: Vec<&str> = SAMPLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(twins, sampled, "a sample for every twin");
    for (name, value) in SAMPLES {
        let config = valid(&[("TEND_SERVICE_SVC", "svc"), (name, value)]);
        let after = service(&config, "svc").to_json();
        assert_eq!(
            before != after,
            INHERITED.contains(name),
            "{name}={value}: {before} vs {after}"
        );
    }
    // What is meant for the main command alone stays its own.
    let config = valid(&[
        ("TEND_SERVICE_SVC", "svc"),
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_USER", "4321"),
    ]);
    let svc = service(&config, "svc");
    assert!(svc.health.check.is_none());
    assert_eq!(svc.user.as_ref().map(user_text).as_deref(), Some("4321"));
    // A service's own value wins.
    let config = valid(&[
        ("TEND_SERVICE_SVC", "svc"),
        ("TEND_SERVICE_SVC_USER", "1"),
        ("TEND_USER", "4321"),
    ]);
    assert_eq!(
        service(&config, "svc")
            .user
            .as_ref()
            .map(user_text)
            .as_deref(),
        Some("1")
    );
}

#[test]
fn the_reference_lists_every_setting_and_what_it_inherits() {
    let reference = include_str!("../../../docs/reference.md");
    for spec in settings() {
        let row = format!("| `_{}` | ", suffix(spec));
        let cells: Vec<&str> = reference
            .lines()
            .find_map(|line| line.strip_prefix(&row))
            .unwrap_or_else(|| panic!("docs/reference.md misses the row of {}", spec.name))
            .split(" | ")
            .collect();
        let twin = !spec.name.starts_with(PREFIX);
        if twin {
            assert_eq!(cells[0], format!("`{}`", spec.name), "read as its twin");
        }
        let inherits = cells[1].contains(&format!("the value of `{}`", spec.name));
        assert_eq!(
            inherits,
            INHERITED.contains(&spec.name),
            "{}: {}",
            spec.name,
            cells[1]
        );
    }
    let rows = reference.lines().filter(|l| l.starts_with("| `_")).count();
    assert_eq!(rows, settings().count(), "a row for each setting, no more");
}

#[test]
fn env_errors_never_show_a_value() {
    for value in [
        "A=hunter2 x",
        "hunter2",
        "A=1,A=hunter2",
        "A='hunter2",
        "1A=hunter2",
    ] {
        let errors = refused(&[("TEND_SERVICE_SVC", "svc"), ("TEND_SERVICE_SVC_ENV", value)]);
        assert_eq!(errors.len(), 1, "{value}: {}", text(&errors));
        assert_eq!(errors[0].variable, "TEND_SERVICE_SVC_ENV");
        assert!(!errors[0].to_string().contains("hunter2"), "{}", errors[0]);
    }
    let config = valid(&[
        ("TEND_SERVICE_SVC", "svc"),
        ("TEND_SERVICE_SVC_ENV", "PASSWORD=hunter2"),
    ]);
    assert!(!config.to_json().to_string().contains("hunter2"));
}

#[test]
fn stop_signals_and_other_values() {
    for (setting, value) in [
        ("STOP_SIGNAL", "SEGV"),
        ("STOP_SIGNAL", "STOP"),
        ("STOP_SIGNAL", "NOPE"),
        ("OUTPUT", "tee"),
        ("WORKDIR", "srv"),
        ("ONESHOT", "maybe"),
    ] {
        let variable = format!("TEND_SERVICE_SVC_{setting}");
        let errors = refused(&[("TEND_SERVICE_SVC", "svc"), (&variable, value)]);
        assert_eq!(errors.len(), 1, "{variable}={value}: {}", text(&errors));
        assert_eq!(errors[0].variable, variable);
    }
    let config = valid(&[
        ("TEND_SERVICE_SVC", "svc"),
        ("TEND_SERVICE_SVC_STOP_SIGNAL", "KILL"),
    ]);
    assert_eq!(config.services[0].stop_signal, libc::SIGKILL);
    assert!(refused(&[("TEND_EXIT_WITH", "any")])[0]
        .expected
        .contains("main or all"));
}
