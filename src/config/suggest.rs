//! "Did you mean": the closest known name to a mistyped one.

/// The known name nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, candidate)| *d <= (candidate.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_near_names() {
        let known = ["TEND_SHUTDOWN_TIMEOUT", "TEND_DRAIN_DELAY"];
        assert_eq!(
            closest("TEND_SHUTDOWN_TIMOUT", known.into_iter()),
            Some("TEND_SHUTDOWN_TIMEOUT")
        );
        assert_eq!(closest("TEND_COMPLETELY_OTHER", known.into_iter()), None);
    }
}
