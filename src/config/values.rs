//! Value types that `TEND_*` variables are written in: durations, byte sizes, signals,
//! booleans and comma lists. Every parser returns the accepted forms in its error, so the
//! caller can build a message that says what is expected.

use std::time::Duration;

/// Parses `500ms`, `30s`, `1m30s`, `2h`, `1d` or a bare number of seconds (`30`, `0.5`).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "a duration such as 500ms, 30s, 1m30s, 2h or a number of seconds";
    let text = input.trim();
    if text.is_empty() {
        return Err(EXPECTED.into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs).ok_or_else(|| EXPECTED.into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| String::from(EXPECTED))?;
        if digits == 0 {
            return Err(EXPECTED.into());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| String::from(EXPECTED))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(EXPECTED.into()),
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(seconds(number * scale).ok_or_else(|| String::from(EXPECTED))?)
            .ok_or_else(|| String::from(EXPECTED))?;
    }
    Ok(total)
}

fn seconds(value: f64) -> Option<Duration> {
    // Ten years is far beyond any sensible timeout and keeps deadline arithmetic safe.
    const MAX_SECONDS: f64 = 10.0 * 365.0 * 86400.0;
    (value.is_finite() && (0.0..=MAX_SECONDS).contains(&value))
        .then(|| Duration::from_secs_f64(value))
}

/// Formats a duration the way the parser reads it back (`1m30s`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// Parses `500MB`, `1GiB`, `64k`, or a bare number of bytes. Decimal units are powers of
/// 1000 and binary ones (`KiB`, `MiB`, `GiB`) powers of 1024, as `df` and Kubernetes read them.
#[allow(dead_code)] // TEND_MIN_DISK_FREE and TEND_MIN_MEMORY (startup gate) read sizes
pub fn parse_size(input: &str) -> Result<u64, String> {
    const EXPECTED: &str = "a size such as 500MB, 1GiB, 64KB or a number of bytes";
    let text = input.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if split == 0 {
        return Err(EXPECTED.into());
    }
    let number: u64 = text[..split].parse().map_err(|_| String::from(EXPECTED))?;
    let scale: u64 = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return Err(EXPECTED.into()),
    };
    number.checked_mul(scale).ok_or_else(|| EXPECTED.into())
}

/// Parses a boolean the way container environments spell them.
pub fn parse_bool(input: &str) -> Result<bool, String> {
    match input.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("true or false (also 1/0, yes/no, on/off)".into()),
    }
}

/// Splits a comma list, trimming blanks and dropping empty entries.
pub fn split_list(input: &str) -> impl Iterator<Item = &str> {
    input.split(',').map(str::trim).filter(|s| !s.is_empty())
}

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

/// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, or `RTMIN+3`.
pub fn parse_signal(input: &str) -> Result<i32, String> {
    const EXPECTED: &str = "a signal name such as TERM, SIGTERM, RTMIN+3 or a number 1-64";
    let text = input.trim();
    if let Ok(number) = text.parse::<i32>() {
        return (1..=libc::SIGRTMAX())
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
        (libc::SIGRTMIN(), rest)
    } else {
        (libc::SIGRTMAX(), name.strip_prefix("RTMAX")?)
    };
    let offset: i32 = match rest {
        "" => 0,
        _ => rest.parse().ok()?,
    };
    let number = base.checked_add(offset)?;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&number)
        .then_some(number)
}

/// The conventional name of a signal (`TERM`, `RTMIN+3`), for events and messages.
pub fn signal_name(number: i32) -> String {
    if let Some((name, _)) = SIGNAL_NAMES
        .iter()
        .find(|(n, s)| *s == number && *n != "IOT" && *n != "POLL")
    {
        return (*name).to_string();
    }
    match number - libc::SIGRTMIN() {
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
    fn durations_in_every_accepted_form() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn durations_rejected() {
        for bad in [
            "", "s", "banana", "10x", "-1", "1e400", "NaN", "inf", "5m-3s", "1..2s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn duration_round_trip() {
        for text in ["0s", "500ms", "30s", "1m30s", "1h", "2h1m5s"] {
            let d = parse_duration(text).expect(text);
            assert_eq!(format_duration(d), text);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("123"), Ok(123));
        for bad in ["", "MB", "5XB", "-5MB", "99999999999999999999GB"] {
            assert!(parse_size(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn signals_by_name_prefix_and_number() {
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigquit"), Ok(libc::SIGQUIT));
        assert_eq!(parse_signal("10"), Ok(10));
        assert_eq!(parse_signal("RTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("SIGRTMAX"), Ok(libc::SIGRTMAX()));
        for bad in ["", "0", "65", "TERMINATE", "RTMIN+99", "RTMAX+1"] {
            assert!(parse_signal(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn signal_names_read_back() {
        for n in 1..=libc::SIGRTMAX() {
            assert_eq!(parse_signal(&signal_name(n)), Ok(n), "signal {n}");
        }
    }

    #[test]
    fn booleans_and_lists() {
        assert_eq!(parse_bool("False"), Ok(false));
        assert_eq!(parse_bool("1"), Ok(true));
        assert!(parse_bool("maybe").is_err());
        assert_eq!(split_list(" a, ,b ,").collect::<Vec<_>>(), ["a", "b"]);
    }
}
