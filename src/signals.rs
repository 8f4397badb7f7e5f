//! Signal names and numbers (`TERM`, `SIGTERM`, `15`, `RTMIN+3`) and which signals are
//! faults: read by the configuration, written in events, used by the signal edge.
//! Shared vocabulary: uses no other module.

/// Signal names known to Linux on every architecture tend builds for.
const SIGNAL_NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The first real-time signal as tend names it: 34, glibc's SIGRTMIN, which is what
/// `kill -l` prints and what most programs in images mean by RTMIN+n. Not libc's
/// `SIGRTMIN()`: musl, which tend is linked with, reserves one more and says 35, and
/// the name a user writes must mean the same signal whatever tend is linked with.
pub const RTMIN: i32 = 34;
/// The last signal Linux has.
pub const RTMAX: i32 = 64;

/// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, or `RTMIN+3`.
pub fn parse_signal(input: &str) -> Result<i32, String> {
    const EXPECTED: &str = "a signal name such as TERM, SIGTERM, RTMIN+3 or a number 1-64";
    let text = input.trim();
    if let Ok(number) = text.parse::<i32>() {
        return (1..=RTMAX)
            .contains(&number)
            .then_some(number)
            .ok_or_else(|| EXPECTED.into());
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = SIGNAL_NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(number);
    }
    parse_realtime(name).ok_or_else(|| EXPECTED.into())
}

fn parse_realtime(name: &str) -> Option<i32> {
    let (base, rest) = if let Some(rest) = name.strip_prefix("RTMIN") {
        (RTMIN, rest)
    } else {
        (RTMAX, name.strip_prefix("RTMAX")?)
    };
    let offset: i32 = match rest {
        "" => 0,
        _ => rest.parse().ok()?,
    };
    let number = base.checked_add(offset)?;
    (RTMIN..=RTMAX).contains(&number).then_some(number)
}

/// The conventional name of a signal (`TERM`, `RTMIN+3`), for events and messages.
pub fn signal_name(number: i32) -> String {
    if let Some((name, _)) = SIGNAL_NAMES
        .iter()
        .find(|(n, s)| *s == number && *n != "IOT" && *n != "POLL")
    {
        return (*name).to_string();
    }
    match number - RTMIN {
        0 => "RTMIN".into(),
        offset if offset > 0 => format!("RTMIN+{offset}"),
        _ => number.to_string(),
    }
}

/// The signals an init must never catch or forward: the kernel raises them for a fault in
/// tend itself, and swallowing them would turn a crash into a hang.
pub fn is_fault_signal(sig: i32) -> bool {
    [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGABRT,
        libc::SIGTRAP,
        libc::SIGSYS,
    ]
    .contains(&sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_prefix_and_number() {
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigquit"), Ok(libc::SIGQUIT));
        assert_eq!(parse_signal("10"), Ok(10));
        // glibc's numbering, whatever libc tend is linked with (musl says RTMIN is 35).
        assert_eq!(parse_signal("RTMIN+3"), Ok(37));
        assert_eq!(signal_name(34), "RTMIN");
        assert_eq!(parse_signal("SIGRTMAX"), Ok(RTMAX));
        for bad in ["", "0", "65", "TERMINATE", "RTMIN+99", "RTMAX+1"] {
            assert!(parse_signal(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn signal_names_read_back() {
        for n in 1..=RTMAX {
            assert_eq!(parse_signal(&signal_name(n)), Ok(n), "signal {n}");
        }
    }
}
