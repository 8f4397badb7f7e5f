//! Value types that only `TEND_*` variables are written in: byte sizes and booleans
//! (durations, signals and comma lists are shared vocabulary: `crate::duration`,
//! `crate::signals`, `crate::words`). Every parser returns the accepted forms in its error, so the
//! caller can build a message that says what is expected.

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn booleans() {
        assert_eq!(parse_bool("False"), Ok(false));
        assert_eq!(parse_bool("1"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
