//! Command-line parsing: which subcommand, and the child's argv, kept as raw OS strings so
//! that non-UTF-8 arguments reach the child unchanged.

use std::ffi::OsString;
use std::time::Duration;

use crate::config::variables;
use crate::control::{services, ServiceVerb, Verb};
use crate::duration::parse_duration;
use crate::probe::Probe;
use crate::readiness::Question;
use crate::shown::{quoted, quoted_os};
use crate::status::place::Target;

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Supervise this command (the default).
    Run(Vec<OsString>),
    /// `tend check-config [--json]`: `true` for JSON.
    CheckConfig(bool),
    /// `tend status [--table]`: `true` for the table.
    Status(bool),
    /// `tend restart`, `tend stop`, `tend status --socket`, `tend start|stop|restart
    /// NAME...|--all`: a request over the control socket.
    Control(Verb),
    /// `tend health [--live | NAME]`; a usage error is kept to be answered with exit code 1.
    Health(Result<Question, String>),
    /// Wait for probes, then optionally exec a command (`tend wait`).
    Wait(WaitArgs),
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct WaitArgs {
    pub probes: Vec<Probe>,
    pub timeout: Duration,
    /// Exec'd when every probe passed; empty = just exit 0.
    pub command: Vec<OsString>,
}

/// `tend wait` gives up after this long unless `--timeout` says otherwise.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The words tend reads as subcommands when they come first (before any `--`).
const SUBCOMMANDS: &[&str] = &[
    "check-config",
    "status",
    "start",
    "restart",
    "stop",
    "health",
    "wait",
    "help",
    "version",
];

/// Parses argv without the program name. Errors are usage errors (exit 64).
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let Some(first) = args.first() else {
        return Err("no command given: use `tend -- CMD [ARGS...]`".into());
    };
    match first.to_str() {
        // Nothing after `--`: the services alone, if there are any (`run` checks).
        Some("--") => Ok(Command::Run(args[1..].to_vec())),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version" | "version") => Ok(Command::Version),
        Some("wait") => parse_wait(&args[1..]).map(Command::Wait),
        Some("health") => Ok(Command::Health(parse_health(&args[1..]))),
        Some("status") if args.len() == 2 && args[1] == "--socket" => {
            Ok(Command::Control(Verb::Status))
        }
        Some(word @ ("start" | "restart" | "stop")) => parse_control(word, &args[1..]),
        Some("check-config") => match &args[1..] {
            [] => Ok(Command::CheckConfig(false)),
            [only] if only == "--json" => Ok(Command::CheckConfig(true)),
            [first, ..] => Err(format!(
                "`tend check-config`: unknown argument {} (only --json)",
                quoted_os(first)
            )),
        },
        Some("status") => match &args[1..] {
            [] => Ok(Command::Status(false)),
            [only] if only == "--table" => Ok(Command::Status(true)),
            [first, ..] => Err(format!(
                "`tend status`: unknown argument {} (only --table or --socket)",
                quoted_os(first)
            )),
        },
        Some(option) if option.starts_with('-') => Err(format!(
            "unknown option {}: tend is configured with TEND_* variables (see `tend --help`)",
            quoted(option)
        )),
        _ => Ok(Command::Run(args)),
    }
}

/// `tend start NAME...|--all`, `tend stop [NAME...|--all]`, `tend restart [NAME...|--all]`:
/// without a name, `stop` and `restart` are about the main command (and tend), as always.
fn parse_control(word: &str, args: &[OsString]) -> Result<Command, String> {
    let Some(verb) = ServiceVerb::from_word(word) else {
        return Err(format!("`tend {word}` is not a control request"));
    };
    let usage = match verb {
        ServiceVerb::Start => "usage: tend start NAME... | --all".to_owned(),
        _ => format!("usage: tend {word} [NAME... | --all]"),
    };
    let mut words = Vec::with_capacity(args.len());
    for arg in args {
        match arg.to_str() {
            Some(text) => words.push(text),
            None => return Err(format!("`tend {word}`: {} is not UTF-8", quoted_os(arg))),
        }
    }
    let all = words.contains(&services::ALL);
    match (verb, words.as_slice()) {
        (ServiceVerb::Start, []) => {
            Err(format!("`tend start` needs the services to start; {usage}"))
        }
        (ServiceVerb::Restart, []) => Ok(Command::Control(Verb::Restart)),
        (ServiceVerb::Stop, []) => Ok(Command::Control(Verb::Stop)),
        (_, [_]) if all => Ok(Command::Control(Verb::Services {
            verb,
            names: Vec::new(),
        })),
        (_, _) if all => Err(format!(
            "`tend {word} --all` takes no service names (--all is every one); {usage}"
        )),
        (_, names) => {
            if let Some(option) = names.iter().find(|n| n.starts_with('-')) {
                return Err(format!(
                    "`tend {word}`: unknown option {}; {usage}",
                    quoted(option)
                ));
            }
            let names = services::names(verb, names).map_err(|e| format!("`tend {word}`: {e}"))?;
            Ok(Command::Control(Verb::Services { verb, names }))
        }
    }
}

/// `tend health [--live | NAME]`: NAME is a service, or `main` for the main command.
fn parse_health(args: &[OsString]) -> Result<Question, String> {
    const USAGE: &str = "usage: tend health [--live | NAME]";
    match args {
        [] => Ok(Question::Ready),
        [first, rest @ ..] if first == "--live" => match rest.first() {
            None => Ok(Question::Live),
            Some(extra) => Err(format!(
                "unexpected argument {} after --live; {USAGE}",
                quoted_os(extra)
            )),
        },
        [first, ..] if first.to_string_lossy().starts_with('-') => {
            Err(format!("unknown argument {}; {USAGE}", quoted_os(first)))
        }
        [name] => Ok(Question::Named(name.to_string_lossy().to_ascii_lowercase())),
        [name, extra, ..] => Err(format!(
            "unexpected argument {} after {}; {USAGE}",
            quoted_os(extra),
            quoted_os(name)
        )),
    }
}

/// `tend wait PROBE... [--timeout 30s] [-- CMD [ARGS...]]`.
fn parse_wait(args: &[OsString]) -> Result<WaitArgs, String> {
    let mut wait = WaitArgs {
        probes: Vec::new(),
        timeout: WAIT_TIMEOUT,
        command: Vec::new(),
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let text = word
            .to_str()
            .ok_or_else(|| format!("`tend wait`: {} is not UTF-8", quoted_os(word)))?;
        let timeout = match text {
            "--" => {
                wait.command = words.by_ref().cloned().collect();
                if wait.command.is_empty() {
                    return Err("`tend wait`: no command after `--`".into());
                }
                break;
            }
            "--timeout" => Some(words.next().and_then(|w| w.to_str()).unwrap_or("")),
            _ => text.strip_prefix("--timeout="),
        };
        match timeout {
            Some(value) => {
                wait.timeout = parse_duration(value)
                    .map_err(|e| format!("`tend wait --timeout {value}`: expected {e}"))?;
            }
            None if text.starts_with('-') => {
                return Err(format!(
                    "`tend wait`: unknown option {} (only --timeout)",
                    quoted(text)
                ))
            }
            None => wait
                .probes
                .push(Probe::parse(text).map_err(|e| format!("`tend wait`: {e}"))?),
        }
    }
    if wait.probes.is_empty() {
        return Err(
            "`tend wait` needs at least one probe, such as `tend wait tcp://db:5432`".into(),
        );
    }
    Ok(wait)
}

/// Takes `--pid PID` (or `--pid=PID`) out of the arguments of the commands that ask a
/// running tend (`status`, `health`, `start`, `stop`, `restart`): which tend they ask. Anything
/// else is left to `parse` (a child's own `--pid` after `tend --` or a command is its own).
pub fn take_pid(args: &mut Vec<OsString>) -> Result<Target, String> {
    let asks = args
        .first()
        .and_then(|w| w.to_str())
        .is_some_and(|w| matches!(w, "status" | "health" | "start" | "stop" | "restart"));
    if !asks {
        return Ok(Target::The);
    }
    let Some(at) = args
        .iter()
        .position(|a| a == "--pid" || a.to_string_lossy().starts_with("--pid="))
    else {
        return Ok(Target::The);
    };
    let word = args.remove(at).to_string_lossy().into_owned();
    let value = match word.strip_prefix("--pid=") {
        Some(value) => value.to_owned(),
        None if at < args.len() => args.remove(at).to_string_lossy().into_owned(),
        None => {
            return Err(
                "--pid expects the process id of a running tend (a positive number), \
                 and none followed it"
                    .to_owned(),
            )
        }
    };
    match value.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(Target::Pid(pid)),
        _ => Err(format!(
            "--pid expects the process id of a running tend (a positive number), got {value:?}"
        )),
    }
}

/// A hint for a program that failed to start and looks like a mistyped subcommand.
pub fn subcommand_hint(program: &str) -> Option<&'static str> {
    // Short words ("help") are too easy to hit by accident to be worth a hint.
    let candidates = SUBCOMMANDS.iter().copied().filter(|sub| sub.len() > 4);
    crate::config::closest_name(program, candidates).filter(|sub| *sub != program)
}

pub fn help() -> String {
    let mut text = format!(
        "tend {} - a small, capable init for containers\n\n\
USAGE:\n    \
    tend [--] CMD [ARGS...]   run CMD as the supervised child (no shell)\n    \
    tend check-config [--json]\n                              \
run every check a start runs (creating nothing), print the\n                              \
effective configuration (JSON with --json); 78 on any problem\n    \
    tend status [--socket]    print the running tend's status snapshot as JSON\n                              \
(from the status file, or asked over the control socket)\n    \
    tend status --table       the same as a table: the main command, then each service\n    \
    tend restart              ask the running tend to restart the child (control socket)\n    \
    tend stop                 ask the running tend to shut down, as SIGTERM does\n    \
    tend start|stop|restart NAME... | --all\n                              \
start, stop or restart those services (--all: every one);\n                              \
answered when done (at most 90s)\n    \
    tend health [--live | NAME]\n                              \
exit 0 if ready (--live: alive; NAME: that service, main:\n                              \
the main command alone), else 1 with the reason (64: no such NAME)\n    \
    tend wait PROBE... [--timeout 30s] [-- CMD [ARGS...]]\n                              \
wait until every probe passes (69 if one never does), then exec CMD\n    \
    tend --help | --version\n\n\
status, health, start, stop and restart ask the tend that is PID 1 here, else the one in\n\
the default place; `--pid PID` (or TEND_STATUS_FILE) names another.\n\
A first word that is a subcommand is read as one; use `tend -- CMD` to run a program\n\
with such a name.\n\nVARIABLES (default in brackets):\n",
        env!("CARGO_PKG_VERSION")
    );
    for spec in variables() {
        text.push_str(&format!(
            "    {:<26} [{}]\n        {}\n",
            spec.name,
            spec.default.text(),
            spec.help
        ));
    }
    text.push_str(
        "    TEND_SERVICE_<NAME>=CMD ARGS... declares a service; TEND_SERVICE_<NAME>_<SETTING> sets it up (docs/reference.md#services)\n\
\nEXIT CODES:\n    the child's code; 128+N if it died of signal N; 0 for TEND_SUCCESS_EXIT_CODES;\n    \
64 usage, 69 a required dependency never came up, 70 internal error,\n    \
71 a pre-start hook failed, 75 still unhealthy (TEND_REMEDIATION exit),\n    \
78 invalid configuration or environment,\n    \
126 not executable, 127 not found\n    \
tend start / restart / stop / status --socket: 0 accepted (done), 1 refused, failed or\n    \
no tend answered\n\n\
PROBES (TEND_WAIT_FOR, TEND_WAIT_OPTIONAL, tend wait):\n    \
tcp://HOST:PORT  unix:///PATH  http://[USER:PASS@]HOST[:PORT][/PATH]  file:///PATH[?max_age=30s]\n    \
exec:CMD ARGS... (no shell; quote commas inside a list)\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn run_with_and_without_separator() {
        assert_eq!(
            parse(args(&["--", "sleep", "1"])),
            Ok(Command::Run(args(&["sleep", "1"])))
        );
        assert_eq!(
            parse(args(&["sleep", "1"])),
            Ok(Command::Run(args(&["sleep", "1"])))
        );
        assert_eq!(
            parse(args(&["--", "status"])),
            Ok(Command::Run(args(&["status"])))
        );
    }

    #[test]
    fn usage_errors() {
        assert!(parse(args(&[])).is_err());
        // `tend --` alone runs the services alone (refused by `run` when there are none).
        assert_eq!(parse(args(&["--"])), Ok(Command::Run(Vec::new())));
        assert!(parse(args(&["--frobnicate"])).is_err());
        assert!(parse(args(&["status", "extra"])).is_err());
        assert!(parse(args(&["status", "--table", "--socket"])).is_err());
        assert!(parse(args(&["restart", "--now"])).is_err());
        assert!(parse(args(&["stop", "--force"])).is_err());
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            parse(args(&["check-config"])),
            Ok(Command::CheckConfig(false))
        );
        assert_eq!(
            parse(args(&["check-config", "--json"])),
            Ok(Command::CheckConfig(true))
        );
        assert!(parse(args(&["check-config", "--yaml"])).is_err());
        assert_eq!(parse(args(&["--help"])), Ok(Command::Help));
        assert_eq!(parse(args(&["-V"])), Ok(Command::Version));
        assert_eq!(parse(args(&["status"])), Ok(Command::Status(false)));
        assert_eq!(
            parse(args(&["status", "--table"])),
            Ok(Command::Status(true))
        );
        assert_eq!(
            parse(args(&["status", "--socket"])),
            Ok(Command::Control(Verb::Status))
        );
        assert_eq!(
            parse(args(&["restart"])),
            Ok(Command::Control(Verb::Restart))
        );
        assert_eq!(parse(args(&["stop"])), Ok(Command::Control(Verb::Stop)));
        assert_eq!(
            parse(args(&["--", "stop"])),
            Ok(Command::Run(args(&["stop"])))
        );
        assert_eq!(
            parse(args(&["health"])),
            Ok(Command::Health(Ok(Question::Ready)))
        );
        assert_eq!(
            parse(args(&["health", "--live"])),
            Ok(Command::Health(Ok(Question::Live)))
        );
        assert_eq!(
            parse(args(&["health", "--bogus"])),
            Ok(Command::Health(Err(
                "unknown argument \"--bogus\"; usage: tend health [--live | NAME]".into()
            )))
        );
        assert_eq!(
            parse(args(&["health", "--live", "now"])),
            Ok(Command::Health(Err(
                "unexpected argument \"now\" after --live; usage: tend health [--live | NAME]"
                    .into()
            )))
        );
    }

    #[test]
    fn health_of_one_service_or_main() {
        assert_eq!(
            parse(args(&["health", "web"])),
            Ok(Command::Health(Ok(Question::Named("web".into()))))
        );
        assert_eq!(
            parse(args(&["health", "PHP_FPM"])),
            Ok(Command::Health(Ok(Question::Named("php_fpm".into()))))
        );
        assert_eq!(
            parse(args(&["health", "main"])),
            Ok(Command::Health(Ok(Question::Named("main".into()))))
        );
        // Whether it is a service is for the status file to say (exit 64 if not).
        assert_eq!(
            parse(args(&["health", "no such"])),
            Ok(Command::Health(Ok(Question::Named("no such".into()))))
        );
        assert_eq!(
            parse(args(&["health", "web", "api"])),
            Ok(Command::Health(Err(
                "unexpected argument \"api\" after \"web\"; usage: tend health [--live | NAME]"
                    .into()
            )))
        );
        assert!(matches!(
            parse(args(&["health", "web", "--live"])),
            Ok(Command::Health(Err(_)))
        ));
    }

    fn services(verb: ServiceVerb, names: &[&str]) -> Result<Command, String> {
        let names = names.iter().map(|n| n.to_string()).collect();
        Ok(Command::Control(Verb::Services { verb, names }))
    }

    #[test]
    fn control_verbs_with_services() {
        use ServiceVerb::{Restart, Start, Stop};
        assert_eq!(parse(args(&["start", "web"])), services(Start, &["web"]));
        assert_eq!(
            parse(args(&["stop", "web", "api", "web"])),
            services(Stop, &["web", "api"])
        );
        assert_eq!(
            parse(args(&["restart", "PHP_FPM"])),
            services(Restart, &["php_fpm"])
        );
        assert_eq!(
            parse(args(&["restart", "now"])),
            services(Restart, &["now"])
        );
        for verb in [Start, Stop, Restart] {
            assert_eq!(parse(args(&[verb.word(), "--all"])), services(verb, &[]));
        }
        // Without names, stop and restart are about the main command, as always.
        assert_eq!(parse(args(&["stop"])), Ok(Command::Control(Verb::Stop)));
        assert_eq!(
            parse(args(&["restart"])),
            Ok(Command::Control(Verb::Restart))
        );
        assert_eq!(
            parse(args(&["--", "start", "x"])),
            Ok(Command::Run(args(&["start", "x"])))
        );
    }

    #[test]
    fn control_verbs_refuse_what_they_cannot_mean() {
        let error = |words: &[&str]| parse(args(words)).expect_err(&words.join(" "));
        assert_eq!(
            error(&["start"]),
            "`tend start` needs the services to start; usage: tend start NAME... | --all"
        );
        assert_eq!(
            error(&["stop", "--all", "web"]),
            "`tend stop --all` takes no service names (--all is every one); usage: tend stop \
             [NAME... | --all]"
        );
        assert!(error(&["start", "web", "--all"]).contains("takes no service names"));
        assert!(error(&["start", "--all", "--all"]).contains("takes no service names"));
        assert_eq!(
            error(&["restart", "web", "--force"]),
            "`tend restart`: unknown option \"--force\"; usage: tend restart [NAME... | --all]"
        );
        assert!(error(&["stop", "main"]).contains("main is the main command"));
        assert!(error(&["start", "we b"]).contains("is not a service name"));
        assert!(error(&["restart", "web-1"]).contains("is not a service name"));
    }

    #[test]
    fn wait_arguments() {
        let Ok(Command::Wait(w)) = parse(args(&[
            "wait",
            "tcp://db:5432",
            "--timeout",
            "5s",
            "file:///tmp/x",
            "--",
            "app",
            "--flag",
        ])) else {
            panic!("wait not parsed")
        };
        assert_eq!(w.probes.len(), 2);
        assert_eq!(w.timeout, Duration::from_secs(5));
        assert_eq!(w.command, args(&["app", "--flag"]));
        let Ok(Command::Wait(w)) = parse(args(&["wait", "--timeout=1m", "tcp://db:1"])) else {
            panic!("wait not parsed")
        };
        assert_eq!((w.timeout, w.command.len()), (Duration::from_secs(60), 0));
        for bad in [
            &["wait"][..],
            &["wait", "db:5432"],
            &["wait", "tcp://db:1", "--timeout"],
            &["wait", "tcp://db:1", "--timeout", "soon"],
            &["wait", "tcp://db:1", "--"],
            &["wait", "tcp://db:1", "--verbose"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn pid_names_the_tend_asked() {
        let take = |words: &[&str]| {
            let mut a = args(words);
            (take_pid(&mut a), a)
        };
        assert_eq!(
            take(&["health", "--pid", "42", "--live"]),
            (Ok(Target::Pid(42)), args(&["health", "--live"]))
        );
        assert_eq!(
            take(&["status", "--socket", "--pid=7"]),
            (Ok(Target::Pid(7)), args(&["status", "--socket"]))
        );
        assert_eq!(take(&["stop"]), (Ok(Target::The), args(&["stop"])));
        // A child's own option stays the child's.
        assert_eq!(
            take(&["--", "app", "--pid", "3"]),
            (Ok(Target::The), args(&["--", "app", "--pid", "3"]))
        );
        for bad in [
            &["stop", "--pid"][..],
            &["health", "--pid", "0"],
            &["status", "--pid=x"],
        ] {
            assert!(take(bad).0.is_err(), "{bad:?}");
        }
        // Nothing after it is said so, not shown as an empty value.
        let error = take(&["status", "--pid"]).0.expect_err("no value");
        assert!(error.ends_with("none followed it"), "{error}");
    }

    #[test]
    fn hints_for_typos() {
        assert_eq!(subcommand_hint("stauts"), Some("status"));
        assert_eq!(subcommand_hint("restrat"), Some("restart"));
        assert_eq!(subcommand_hint("sleep"), None);
    }

    #[test]
    fn help_lists_every_variable() {
        let text = help();
        for spec in variables() {
            assert!(
                text.contains(spec.name),
                "{} missing from --help",
                spec.name
            );
        }
    }
}
