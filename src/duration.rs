//! Durations as tend reads and writes them (`500ms`, `30s`, `1m30s`): in `TEND_*`
//! variables, probe options, events and messages. Shared vocabulary: uses no other module.

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
}
