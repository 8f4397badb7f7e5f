//! Property tests of the restart backoff and the health thresholds.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{backoff_delay, Backoff, Health, HealthTracker, Thresholds};

fn millis(max: u64) -> impl Strategy<Value = Duration> {
    (0..=max).prop_map(Duration::from_millis)
}

proptest! {
    #[test]
    fn delay_is_monotone_capped_and_doubles(
        base in millis(100_000),
        max in millis(1_000_000),
        a in any::<u32>(),
        b in any::<u32>(),
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (d_lo, d_hi) = (backoff_delay(base, max, lo), backoff_delay(base, max, hi));
        prop_assert!(d_lo <= d_hi, "n={} gives {:?}, n={} gives {:?}", lo, d_lo, hi, d_hi);
        prop_assert!(d_hi <= max);
        prop_assert_eq!(backoff_delay(base, max, 0), base.min(max));
        // Doubling stops after five steps.
        prop_assert_eq!(backoff_delay(base, max, hi.max(5)), backoff_delay(base, max, 5));
        if lo < 5 {
            prop_assert_eq!(backoff_delay(base, max, lo + 1), (base * 2u32.pow(lo + 1)).min(max));
        }
    }

    #[test]
    fn huge_bases_saturate_instead_of_overflowing(secs in any::<u64>(), n in any::<u32>()) {
        let base = Duration::from_secs(secs);
        prop_assert!(backoff_delay(base, Duration::MAX, n) >= base);
        prop_assert!(backoff_delay(base, Duration::from_secs(60), n) <= Duration::from_secs(60));
    }

    #[test]
    fn backoff_counts_and_resets_after_a_quiet_window(
        base in millis(10_000),
        max in millis(100_000),
        window in millis(60_000),
        gaps in prop::collection::vec(millis(120_000), 1..40),
    ) {
        let mut backoff = Backoff::new(base, max, window);
        let mut now = Instant::now();
        let mut expected_attempts = 0u32;
        let mut previous: Option<Duration> = None;
        for (i, gap) in gaps.iter().enumerate() {
            now += *gap;
            let quiet = i > 0 && *gap >= window;
            if quiet {
                expected_attempts = 0;
                previous = None;
            }
            let (attempt, delay) = backoff.next(now);
            expected_attempts += 1;
            prop_assert_eq!(attempt, expected_attempts);
            prop_assert!(delay <= max);
            prop_assert_eq!(delay, backoff_delay(base, max, attempt - 1));
            if let Some(previous) = previous {
                prop_assert!(delay >= previous, "delay shrank without a quiet window");
            }
            previous = Some(delay);
        }
    }

    #[test]
    fn tracker_follows_its_thresholds(
        start_period in millis(10_000),
        failure in 1u32..6,
        success in 1u32..6,
        results in prop::collection::vec((any::<bool>(), millis(20_000), any::<bool>()), 0..80),
    ) {
        let thresholds = Thresholds { start_period, failure, success };
        let mut tracker = HealthTracker::new(thresholds);
        // A model: the current runs of counted failures and of passes.
        let (mut failures, mut passes) = (0u32, 0u32);
        let mut health = Health::Unknown;
        let mut since_start = Duration::ZERO;
        for (passed, step, starting) in results {
            since_start += step;
            let before = tracker.health;
            let changed = tracker.record_in(passed, since_start, starting);
            if passed {
                failures = 0;
                passes += 1;
                if passes >= success {
                    health = Health::Healthy;
                }
            } else {
                passes = 0;
                if !starting && since_start >= start_period {
                    failures += 1;
                    if failures >= failure {
                        health = Health::Unhealthy;
                    }
                }
            }
            prop_assert_eq!(tracker.health, health);
            prop_assert_eq!(tracker.consecutive_failures, failures);
            prop_assert_eq!(tracker.consecutive_successes, passes);
            prop_assert_eq!(changed, (before != health).then_some(health));
            if tracker.health == Health::Unhealthy && before != Health::Unhealthy {
                prop_assert!(failures >= failure, "unhealthy after {} counted failures", failures);
            }
            if !passed && (starting || since_start < start_period) {
                prop_assert_ne!(changed, Some(Health::Unhealthy), "a failure in the start period counted");
            }
        }
    }
}
