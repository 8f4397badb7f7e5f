//! Tests of the configuration file: the merge under the environment, the forms of the
//! values, the errors (file, line, key; redacted), and reading the file safely.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::config::services::ServiceConfig;
use crate::config::{variables, Config, ConfigError};
use crate::policy::RestartPolicy;

const PATH: &str = "/etc/tend/tend.toml";

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(name, value)| (OsString::from(name), OsString::from(value)))
        .collect()
}

fn merged(pairs: &[(&str, &str)], text: &str) -> (Config, Vec<ConfigError>) {
    Config::with_file_text(env(pairs), PATH, text)
}

fn valid(pairs: &[(&str, &str)], text: &str) -> Config {
    let (config, errors) = merged(pairs, text);
    assert!(errors.is_empty(), "{}", lines(&errors));
    config
}

fn refused(pairs: &[(&str, &str)], text: &str) -> String {
    let (_, errors) = merged(pairs, text);
    assert!(!errors.is_empty(), "accepted: {text}");
    lines(&errors)
}

/// The errors, one line each, as the user reads them.
fn lines(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

fn service<'a>(config: &'a Config, name: &str) -> &'a ServiceConfig {
    config
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name} in {:?}", config.services))
}

fn names(config: &Config) -> Vec<&str> {
    config.services.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn the_file_alone_sets_the_container_and_its_services() {
    let config = valid(
        &[],
        r#"
shutdown_timeout = "10s"
restart = "on-failure"
subreaper = false
success_exit_codes = [0, 143]
depends_on = ["web", "migrate:completed"]

[services.web]
command = "nginx -g 'daemon off;'"
restart_delay = "2s"
health_check = "tcp://127.0.0.1:80"

[services.migrate]
command = "/app/migrate up"
oneshot = true
"#,
    );
    assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(config.restart.policy, RestartPolicy::OnFailure);
    assert!(!config.subreaper);
    assert_eq!(config.success_exit_codes, [0, 143]);
    let deps: Vec<String> = config.depends_on.iter().map(ToString::to_string).collect();
    assert_eq!(deps, ["web:started", "migrate:completed"]);
    assert_eq!(names(&config), ["migrate", "web"]);
    let web = service(&config, "web");
    assert_eq!(web.variable, "TEND_SERVICE_WEB");
    assert_eq!(web.command, ["nginx", "-g", "daemon off;"]);
    assert_eq!(web.restart.delay, Duration::from_secs(2));
    assert!(web.health.check.is_some());
    assert_eq!(
        web.shutdown_timeout,
        Duration::from_secs(10),
        "inherited from the file's container-wide value"
    );
    assert!(service(&config, "migrate").oneshot);
    assert_eq!(
        config.file.keys,
        [
            "depends_on",
            "restart",
            "services.migrate.command",
            "services.migrate.oneshot",
            "services.web.command",
            "services.web.health_check",
            "services.web.restart_delay",
            "shutdown_timeout",
            "subreaper",
            "success_exit_codes",
        ]
    );
    assert!(config.file.overridden.is_empty());
}

#[test]
fn the_environment_wins_and_an_empty_variable_is_no_value() {
    let text = r#"
shutdown_timeout = "10s"
drain_delay = "1s"
log_level = "debug"
[services.web]
command = "nginx"
output = "prefix"
"#;
    let config = valid(
        &[
            ("TEND_SHUTDOWN_TIMEOUT", "20s"),
            ("TEND_DRAIN_DELAY", ""),
            ("TEND_LOG_LEVEL", "  "),
            ("TEND_SERVICE_WEB_OUTPUT", "inherit"),
        ],
        text,
    );
    assert_eq!(config.shutdown_timeout, Duration::from_secs(20));
    assert_eq!(
        config.drain_delay,
        Duration::from_secs(1),
        "empty: the file's"
    );
    assert_eq!(config.log_level, "debug", "blank: the file's");
    assert_eq!(
        service(&config, "web").output,
        crate::config::services::Output::Inherit
    );
    assert_eq!(
        config.file.overridden,
        [
            "services.web.output (TEND_SERVICE_WEB_OUTPUT)",
            "shutdown_timeout (TEND_SHUTDOWN_TIMEOUT)",
        ]
    );
    assert_eq!(
        config.file.place("TEND_DRAIN_DELAY"),
        "/etc/tend/tend.toml:3: drain_delay"
    );
    assert_eq!(
        config.file.place("TEND_SHUTDOWN_TIMEOUT"),
        "TEND_SHUTDOWN_TIMEOUT"
    );
    // The file's error is not reported when the environment overrides the value.
    valid(
        &[("TEND_SHUTDOWN_TIMEOUT", "20s")],
        "shutdown_timeout = \"soon\"",
    );
}

#[test]
fn an_empty_declaration_in_the_environment_disables_the_files_service() {
    let text = "[services.worker]\ncommand = \"work\"\nrestart = \"always\"\n\
                [services.web]\ncommand = \"nginx\"\n";
    let config = valid(&[("TEND_SERVICE_WORKER", "")], text);
    assert_eq!(names(&config), ["web"]);
    assert_eq!(
        config.file.overridden,
        ["services.worker.command (TEND_SERVICE_WORKER)"]
    );
    // Depending on it says so, naming the file's key.
    let errors = refused(
        &[("TEND_SERVICE_WORKER", "")],
        &format!("{text}depends_on = \"worker\"\n"),
    );
    assert!(
        errors.contains("tend.toml:6: services.web.depends_on=\"worker\"")
            && errors.contains("it is disabled (TEND_SERVICE_WORKER is empty)"),
        "{errors}"
    );
}

#[test]
fn a_command_array_keeps_its_words() {
    let config = valid(
        &[],
        r#"[services.web]
command = ["nginx", "-g", "daemon off;", "it's", "", "a\\b", "$HOME", 8080]
"#,
    );
    assert_eq!(
        service(&config, "web").command,
        [
            "nginx",
            "-g",
            "daemon off;",
            "it's",
            "",
            "a\\b",
            "$HOME",
            "8080"
        ]
    );
    let errors = refused(&[], "[services.web]\ncommand = []\n");
    assert!(
        errors.contains("tend.toml:2: services.web.command: expected a command"),
        "{errors}"
    );
    let errors = refused(&[], "[services.web]\ncommand = [\"a\", [\"b\"]]\n");
    assert!(
        errors.contains("tend.toml:2: services.web.command[1]: expected a string or a number"),
        "{errors}"
    );
}

#[test]
fn dependencies_as_a_string_or_an_array() {
    let text = |deps: &str| {
        format!(
            "[services.db]\ncommand = \"postgres\"\nhealth_check = \"tcp://127.0.0.1:5432\"\n\
             [services.web]\ncommand = \"nginx\"\ndepends_on = {deps}\n"
        )
    };
    for deps in [
        r#""db:healthy""#,
        r#"["db:healthy"]"#,
        r#"[ "DB : healthy" ]"#,
    ] {
        let config = valid(&[], &text(deps));
        let list: Vec<String> = service(&config, "web")
            .depends_on
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(list, ["db:healthy"], "{deps}");
    }
    let errors = refused(&[], &text(r#"["db,cache"]"#));
    assert!(
        errors.contains("services.web.depends_on[0]: expected one item, without a comma"),
        "{errors}"
    );
}

#[test]
fn env_as_a_table_an_array_or_a_string() {
    let expected = [
        ("GREETING", "a, b"),
        ("PORT", "8080"),
        ("QUOTE", "it's \"x\""),
        ("DEBUG", "true"),
    ];
    for env in [
        r#"{ GREETING = "a, b", PORT = 8080, QUOTE = "it's \"x\"", DEBUG = true }"#,
        r#"["GREETING=a, b", "PORT=8080", "QUOTE=it's \"x\"", "DEBUG=true"]"#,
        r#""GREETING='a, b',PORT=8080,QUOTE='it'\\''s \"x\"',DEBUG=true""#,
    ] {
        let config = valid(
            &[],
            &format!("[services.web]\ncommand = \"x\"\nenv = {env}\n"),
        );
        let mut got: Vec<(&str, &str)> = service(&config, "web")
            .env
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        got.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{env}");
    }
    // Errors never show a value: it is often a secret.
    for (env, needle) in [
        (r#"{ "1X" = "hunter2" }"#, "\"1X\" is not a variable name"),
        (
            r#"{ "A=B" = "hunter2" }"#,
            "services.web.env.\"A=B\": expected a variable name",
        ),
        (
            r#"{ A = ["hunter2"] }"#,
            "services.web.env.A: expected a string or a number",
        ),
        (r#"["hunter2"]"#, "has no '='"),
    ] {
        let errors = refused(
            &[],
            &format!("[services.web]\ncommand = \"x\"\nenv = {env}\n"),
        );
        assert!(errors.contains(needle), "{env}: {errors}");
        assert!(!errors.contains("hunter2"), "{errors}");
    }
}

#[test]
fn lists_probes_and_hooks_as_arrays() {
    let config = valid(
        &[],
        r#"
wait_for = ["tcp://db:5432", "exec:sh -c 'test -f /a,b'"]
pre_start = [["echo", "a; b"], "migrate up", ["true"]]
remediation = ["restart", "exit"]
signal_rewrite = ["TERM:QUIT"]
"#,
    );
    assert_eq!(config.startup.wait_for.len(), 2);
    assert_eq!(
        config.startup.pre_start,
        [
            vec!["echo".to_string(), "a; b".into()],
            vec!["migrate".into(), "up".into()],
            vec!["true".into()],
        ]
    );
    assert_eq!(config.health.remediation.len(), 2);
    assert_eq!(config.rewrite(libc::SIGTERM), libc::SIGQUIT);
    let errors = refused(&[], r#"wait_for = ["tcp://a:1,tcp://b:2"]"#);
    assert!(
        errors.contains("tend.toml:1: wait_for[0]: expected one item: quote a comma"),
        "{errors}"
    );
    let errors = refused(&[], r#"pre_start = ["echo 'open"]"#);
    assert!(
        errors.contains("pre_start[0]: expected a command; expected a closing single quote"),
        "{errors}"
    );
}

#[test]
fn numbers_booleans_and_durations() {
    let config = valid(
        &[],
        "restart_max_attempts = 0x10\nhealth_failure_threshold = 1_000\n\
         drain_delay = 0.5\nleftover_grace = 2\nno_new_privs = true\n",
    );
    assert_eq!(config.restart.max_attempts, 16);
    assert_eq!(config.health.thresholds.failure, 1000);
    assert_eq!(config.drain_delay, Duration::from_millis(500));
    assert_eq!(config.leftover_grace, Duration::from_secs(2));
    assert!(config.security.no_new_privs);
    let errors = refused(&[], "shutdown_timeout = 1979-05-27\nrestart = { a = 1 }\n");
    assert!(
        errors.contains("tend.toml:1: shutdown_timeout: expected one value")
            && errors.contains("not a date"),
        "{errors}"
    );
    assert!(
        errors.contains("tend.toml:2: restart: expected one value"),
        "{errors}"
    );
}

#[test]
fn unknown_keys_are_named_with_the_nearest_known_one() {
    for (text, needle) in [
        (
            "shutdown_timout = \"1s\"",
            "1: shutdown_timout: not a setting; did you mean shutdown_timeout?",
        ),
        (
            "SHUTDOWN_TIMEOUT = \"1s\"",
            "did you mean shutdown_timeout?",
        ),
        (
            "TEND_SHUTDOWN_TIMEOUT = \"1s\"",
            "did you mean shutdown_timeout?",
        ),
        ("servics = 1", "did you mean services?"),
        (
            "service_web = \"x\"",
            "not a setting; a service is a table: [services.web]",
        ),
        (
            "[services.web]\ncommand = \"x\"\nhelth_check = \"tcp://a:1\"",
            "3: services.web.helth_check: not a setting; did you mean health_check?",
        ),
        (
            "[services.web]\ncommand = \"x\"\ncheck = \"tcp://a:1\"",
            "did you mean health_check?",
        ),
        (
            "[services.web]\ncommand = \"x\"\nCOMMAND = \"x\"",
            "services.web.COMMAND: not a setting; did you mean command?",
        ),
        ("\"odd key\" = 1", "tend.toml:1: \"odd key\": not a setting"),
        (
            "[services.web]\ncommand = \"x\"\nzzzzzzzz = 1",
            "the keys are the variables' names",
        ),
    ] {
        let errors = refused(&[], text);
        assert!(errors.contains(needle), "{text}: {errors}");
    }
}

#[test]
fn the_environments_own_variables_are_refused_in_the_file() {
    for (key, variable) in [
        ("config", "TEND_CONFIG"),
        ("status_file", "TEND_STATUS_FILE"),
        ("control_socket", "TEND_CONTROL_SOCKET"),
    ] {
        let errors = refused(&[], &format!("{key} = \"/x\""));
        assert!(
            errors.contains(&format!(
                "{key}: not a setting of the file: {variable} is read from the environment only"
            )),
            "{errors}"
        );
    }
}

#[test]
fn a_bad_value_names_the_file_line_and_key_and_hides_passwords() {
    let text = "\n[services.web]\ncommand = \"nginx\"\nrestart_delay = \"soon\"\n\
                health_check = \"http://user:hunter2@web:notaport/\"\n";
    let (_, errors) = merged(&[], text);
    let shown = lines(&errors);
    assert!(
        shown.contains(
            "/etc/tend/tend.toml:4: services.web.restart_delay=\"soon\": expected a duration"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("/etc/tend/tend.toml:5: services.web.health_check"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    // An error about a variable of the environment still names the variable.
    let errors = refused(&[("TEND_SERVICE_WEB_RESTART_DELAY", "later")], text);
    assert!(
        errors.contains("TEND_SERVICE_WEB_RESTART_DELAY=\"later\""),
        "{errors}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let errors = refused(&[], "a = 1\nb = \"open\nc = 2\n");
    assert!(
        errors.starts_with("/etc/tend/tend.toml:2: not valid TOML: "),
        "{errors}"
    );
    let errors = refused(&[], "restart = \"no\"\nrestart = \"always\"\n");
    assert!(errors.contains("not valid TOML"), "{errors}");
}

#[test]
fn services_from_both_sources_make_one_graph() {
    // A service only in the file, another only in the environment, depending on each other.
    let config = valid(
        &[
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm"),
            ("TEND_DEPENDS_ON", "web"),
        ],
        "[services.php_fpm]\ncommand = \"php-fpm -F\"\n",
    );
    assert_eq!(names(&config), ["php_fpm", "web"]);
    let graph = config.service_graph().expect("no cycle");
    assert_eq!(
        graph.start_waves(),
        [
            vec!["php_fpm".to_string()],
            vec!["web".into()],
            vec!["main".into()]
        ]
    );
    // A cycle through both names the file's key for the file's part.
    let errors = refused(
        &[
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm"),
        ],
        "[services.php_fpm]\ncommand = \"php-fpm\"\ndepends_on = \"web\"\n",
    );
    assert!(
        errors.contains("/etc/tend/tend.toml:3: services.php_fpm.depends_on=\"web\": expected no dependency cycle"),
        "{errors}"
    );
}

#[test]
fn a_service_declared_in_the_environment_is_set_up_in_the_file() {
    let config = valid(
        &[("TEND_SERVICE_WORKER", "work --hard")],
        "[services.worker]\nrestart = \"always\"\nstop_signal = \"QUIT\"\n",
    );
    let worker = service(&config, "worker");
    assert_eq!(worker.command, ["work", "--hard"]);
    assert_eq!(worker.restart.policy, RestartPolicy::Always);
    assert_eq!(worker.stop_signal, libc::SIGQUIT);
}

#[test]
fn a_service_table_without_a_command_is_an_error_and_its_settings_are_not_read() {
    let errors = refused(&[], "[services.db]\nhealth_check = \"tcp://a:1\"\n");
    assert!(
        errors.contains("tend.toml:1: services.db: expected a command = ")
            && errors.contains("TEND_SERVICE_DB in the environment"),
        "{errors}"
    );
    assert_eq!(errors.lines().count(), 1, "{errors}");
    let errors = refused(&[], "[services.db]\n");
    assert!(
        errors.contains("services.db: expected a command"),
        "{errors}"
    );
    // A refused command is the one error: the settings are not read as another name's.
    let errors = refused(
        &[],
        "[services.db]\ncommand = []\nhealth_check = \"tcp://a:1\"\n",
    );
    assert_eq!(errors.lines().count(), 1, "{errors}");
}

#[test]
fn a_service_read_as_anothers_setting_is_an_error() {
    let errors = refused(
        &[],
        "[services.web]\ncommand = \"nginx\"\n[services.web_user]\ncommand = \"bob\"\n",
    );
    assert!(
        errors.contains("tend.toml:4: services.web_user.command: another service name: TEND_SERVICE_WEB_USER is read as a setting of the service web"),
        "{errors}"
    );
    // Also when the other is the environment's.
    let errors = refused(
        &[("TEND_SERVICE_WEB", "nginx")],
        "[services.web_user]\ncommand = \"bob\"\n",
    );
    assert!(
        errors.contains("services.web_user.command: another service name"),
        "{errors}"
    );
    // A name that is no setting of the other is an error of the naming rule, named by key.
    let errors = refused(
        &[],
        "[services.php]\ncommand = \"php\"\n[services.php_fpm]\ncommand = \"php-fpm\"\n",
    );
    assert!(
        errors.contains("services.php_fpm.command: a setting of the service php"),
        "{errors}"
    );
}

#[test]
fn service_names_are_lowercase_words() {
    for name in ["Web", "web-1", "_web", "web__x", "\"\""] {
        let errors = refused(&[], &format!("[services.{name}]\ncommand = \"x\"\n"));
        assert!(
            errors.contains("expected a service name"),
            "{name}: {errors}"
        );
    }
    let errors = refused(&[], "[services.main]\ncommand = \"x\"\n");
    assert!(
        errors.contains("services.main.command: another name: main"),
        "{errors}"
    );
    let errors = refused(&[], "services = 1");
    assert!(
        errors.contains("services: expected a table of services"),
        "{errors}"
    );
    let errors = refused(&[], "services.web = \"x\"");
    assert!(
        errors.contains("services.web: expected a table"),
        "{errors}"
    );
}

#[test]
fn check_config_shows_where_the_values_came_from() {
    let config = valid(
        &[("TEND_CONFIG", PATH), ("TEND_DRAIN_DELAY", "2s")],
        "drain_delay = \"1s\"\nlog_level = \"warn\"\n",
    );
    let document = config.to_json();
    assert_eq!(
        document["config_file"],
        serde_json::json!({
            "path": PATH,
            "settings": ["log_level"],
            "overridden_by_environment": ["drain_delay (TEND_DRAIN_DELAY)"],
        })
    );
    // Without TEND_CONFIG, nothing of it.
    let plain = Config::from_vars(env(&[])).expect("valid");
    assert!(plain.to_json().get("config_file").is_none());
}

#[test]
fn logging_reads_the_file_under_the_environment() {
    let file = Settings::parse(PATH, "log_format = \"text\"\nlog_level = \"debug\"\n");
    let sources = Sources {
        env: env(&[("TEND_LOG_LEVEL", "warn")]),
        file: Some(file),
    };
    assert_eq!(
        sources.logging(),
        (crate::config::LogFormat::Text, "warn".to_string())
    );
}

#[test]
fn every_variable_has_a_key_or_is_the_environments() {
    // `--help`'s list and the file's keys are one list.
    let keys = document::container_keys();
    for spec in variables() {
        let key = spec.name["TEND_".len()..].to_ascii_lowercase();
        assert_eq!(
            keys.contains(&key),
            environment_only(spec.name).is_none(),
            "{}",
            spec.name
        );
    }
}

#[test]
fn every_list_takes_an_array() {
    // A variable whose help speaks of several things reads an array of them from the file.
    const LISTS: &[&str] = &[
        "comma list",
        "comma separated",
        "pairs",
        "steps",
        "commands",
        "split into words",
    ];
    let specs = variables()
        .chain(crate::config::services::settings())
        .chain([crate::config::services::declaration()]);
    for spec in specs {
        let list = LISTS.iter().any(|word| spec.help.contains(word));
        assert_eq!(
            list,
            spec.items.is_some(),
            "{}: {} (its `Items`)",
            spec.name,
            spec.help
        );
    }
}

// ---------------------------------------------------------------------------------------
// Reading the file

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tend-config-file-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn load_error(path: &Path) -> String {
    let settings = Settings::load(path);
    assert_eq!(settings.errors.len(), 1, "{:?}", settings.errors);
    let error = &settings.errors[0];
    assert_eq!(error.variable, "TEND_CONFIG");
    error.to_string()
}

#[test]
fn only_a_regular_file_of_utf8_text_up_to_a_mebibyte_is_read() {
    let dir = scratch("read");
    let file = dir.join("tend.toml");
    std::fs::write(&file, "restart = \"always\"\n").expect("write");
    let settings = Settings::load(&file);
    assert!(settings.errors.is_empty(), "{:?}", settings.errors);
    assert_eq!(settings.entries.len(), 1);
    // Through a symlink too (a ConfigMap's mount).
    std::os::unix::fs::symlink(&file, dir.join("link.toml")).expect("symlink");
    assert!(Settings::load(&dir.join("link.toml")).errors.is_empty());

    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    // Never opened: a reader would block until a writer came.
    assert!(load_error(&fifo).contains("a regular file, and this is a named pipe"));
    assert!(load_error(&dir).contains("this is a directory"));
    assert!(load_error(&dir.join("missing")).contains("No such file"));
    assert!(load_error(Path::new("/dev/null")).contains("a character device"));

    let big = dir.join("big.toml");
    let line = "# padding\n".repeat(1 + (read::MAX_BYTES as usize) / 10);
    std::fs::write(&big, line).expect("write");
    assert!(load_error(&big).contains("at most 1024 KiB"));
    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"# caf\xe9\n").expect("write");
    assert!(load_error(&latin1).contains("UTF-8 text (TOML is), and byte 6 is not"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sources_read_the_file_the_environment_names() {
    let dir = scratch("sources");
    let file = dir.join("tend.toml");
    std::fs::write(&file, "drain_delay = \"1s\"\n").expect("write");
    let name = file.display().to_string();
    let (config, errors) = Sources::read(env(&[("TEND_CONFIG", &name)])).config();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(config.drain_delay, Duration::from_secs(1));
    assert_eq!(config.config_file.as_deref(), Some(file.as_path()));
    // A relative path is refused by the variable's parser, and nothing is read.
    let (_, errors) = Sources::read(env(&[("TEND_CONFIG", "tend.toml")])).config();
    assert_eq!(
        lines(&errors),
        "TEND_CONFIG=\"tend.toml\": expected an absolute path\n"
    );
    // Empty: no file.
    let (config, errors) = Sources::read(env(&[("TEND_CONFIG", " ")])).config();
    assert!(errors.is_empty() && config.config_file.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// The file is the environment

/// A TOML basic string holding `text` exactly.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every variable the file can set: the container's, and the service `svc`'s.
fn settable() -> Vec<(String, String)> {
    let container = variables()
        .filter(|spec| environment_only(spec.name).is_none())
        .map(|spec| {
            let key = spec.name["TEND_".len()..].to_ascii_lowercase();
            (spec.name.to_string(), key)
        });
    let service = crate::config::services::setting_names().map(|setting| {
        (
            format!("TEND_SERVICE_SVC_{setting}"),
            format!("services.svc.{}", setting.to_ascii_lowercase()),
        )
    });
    container
        .chain(service)
        .chain([("TEND_SERVICE_SVC".into(), "services.svc.command".into())])
        .collect()
}

/// The pairs as a TOML document: top-level keys first, then the service's table.
fn as_toml(pairs: &[(String, String, String)]) -> String {
    let mut top = String::new();
    let mut svc = String::new();
    for (_, key, value) in pairs {
        match key.strip_prefix("services.svc.") {
            Some(key) => svc.push_str(&format!("{key} = {}\n", toml_string(value))),
            None => top.push_str(&format!("{key} = {}\n", toml_string(value))),
        }
    }
    if svc.is_empty() {
        top
    } else {
        format!("{top}[services.svc]\n{svc}")
    }
}

proptest! {
    /// Any values, set as variables or written as strings in the file, make the same
    /// configuration and the same errors, each named by the file's key instead.
    #[test]
    fn the_file_reads_as_the_environment(
        chosen in prop::collection::vec((0usize..200, crate::config::props::value()), 0..6),
    ) {
        let all = settable();
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        for (index, value) in chosen {
            let (variable, key) = &all[index % all.len()];
            if pairs.iter().all(|(v, _, _)| v != variable) {
                pairs.push((variable.clone(), key.clone(), value));
            }
        }
        let service_setting = pairs.iter().any(|(v, _, _)| v.starts_with("TEND_SERVICE_SVC_"));
        if service_setting && pairs.iter().all(|(v, _, _)| v != "TEND_SERVICE_SVC") {
            pairs.push(("TEND_SERVICE_SVC".into(), "services.svc.command".into(), "svc".into()));
        }
        let vars: Vec<(OsString, OsString)> = pairs
            .iter()
            .map(|(v, _, value)| (OsString::from(v), OsString::from(value)))
            .collect();
        let (from_env, env_errors) = Config::with_errors(vars);
        let text = as_toml(&pairs);
        let (mut from_file, file_errors) = Config::with_file_text(Vec::new(), PATH, &text);
        prop_assert_eq!(file_errors.len(), env_errors.len(), "{}\n{}", text, lines(&file_errors));
        for (by_env, by_file) in env_errors.iter().zip(&file_errors) {
            prop_assert_eq!(from_file.file.place(&by_env.variable), &by_file.variable);
            prop_assert_eq!(&by_env.value, &by_file.value);
            prop_assert_eq!(&by_env.expected, &by_file.expected);
        }
        from_file.file = FileUse::default();
        prop_assert_eq!(format!("{from_env:?}"), format!("{from_file:?}"));
    }
}
