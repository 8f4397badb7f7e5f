//! Pure policy: when a run of health check results changes the verdict, and how long to
//! wait before a restart. No I/O and no clock reads: callers pass the time in, so every
//! rule here is tested without sleeping.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// TEND_RESTART: which exits of the child lead to a new start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    OnFailure,
    /// As `always`; the difference in Docker (a `docker stop` survives a daemon restart)
    /// has no meaning inside the container, where a stop ends tend itself.
    UnlessStopped,
}

impl RestartPolicy {
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

/// The verdict on the child's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// No verdict yet (or no health check configured).
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The verdict's word, as in the status file (serde's `snake_case` name).
    pub fn name(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// The Kubernetes-style thresholds of TEND_HEALTH_*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failures within this long of the child's start do not count.
    pub start_period: Duration,
    /// Consecutive counted failures that make the child unhealthy (at least 1).
    pub failure: u32,
    /// Consecutive passes that make it healthy (at least 1).
    pub success: u32,
}

/// Consecutive results and the verdict they lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    thresholds: Thresholds,
    pub health: Health,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
}

impl HealthTracker {
    pub fn new(thresholds: Thresholds) -> Self {
        HealthTracker {
            thresholds,
            health: Health::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
        }
    }

    /// Records one result of a running child, `since_start` after it started; returns
    /// the new verdict when it changed.
    #[cfg(test)]
    pub fn record(&mut self, passed: bool, since_start: Duration) -> Option<Health> {
        self.record_in(passed, since_start, false)
    }

    /// Whether a failure counts towards the failure threshold. While the child is
    /// `starting` (no pass yet, TEND_STARTUP_TIMEOUT not reached) failures are expected:
    /// only the startup timeout ends that wait. Within TEND_HEALTH_START_PERIOD of the
    /// start they do not count either, even after a first pass.
    pub fn counts(&self, since_start: Duration, starting: bool) -> bool {
        !starting && since_start >= self.thresholds.start_period
    }

    /// Records one result, `since_start` after the child started, `starting` or not;
    /// returns the new verdict when it changed.
    pub fn record_in(
        &mut self,
        passed: bool,
        since_start: Duration,
        starting: bool,
    ) -> Option<Health> {
        let before = self.health;
        if passed {
            self.consecutive_failures = 0;
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            if self.consecutive_successes >= self.thresholds.success.max(1) {
                self.health = Health::Healthy;
            }
        } else {
            self.consecutive_successes = 0;
            // A slow starter's early failures are expected, so they are not counted.
            if self.counts(since_start, starting) {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.consecutive_failures >= self.thresholds.failure.max(1) {
                    self.health = Health::Unhealthy;
                }
            }
        }
        (self.health != before).then_some(self.health)
    }
}

/// One step of the remediation ladder (TEND_REMEDIATION).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run a command (an `exec:` probe: no shell, killed with its group at its timeout).
    Exec(crate::probe::Probe),
    /// Stop the child (bounded, as at shutdown) and start a new one.
    Restart,
    /// Stop everything and exit, so that the orchestrator replaces the container.
    Exit,
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Exec(_) => "exec",
            Step::Restart => "restart",
            Step::Exit => "exit",
        }
    }
}

/// Where an unhealthy episode is on the ladder: each step once, the next one after
/// another failure threshold of failed checks; a healthy verdict ends the episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<Step>,
    next: usize,
}

impl Ladder {
    pub fn new(steps: Vec<Step>) -> Self {
        Ladder { steps, next: 0 }
    }

    /// Whether a step is left in this episode: without one, tend does nothing more
    /// about a failure (TEND_REMEDIATION=none, or every step taken).
    pub fn has_next(&self) -> bool {
        self.next < self.steps.len()
    }

    /// The next step regardless of the count (the first check never passed in time).
    pub fn take(&mut self) -> Option<Step> {
        let step = self.steps.get(self.next).cloned();
        self.next += usize::from(step.is_some());
        step
    }

    /// The step to take after a check the tracker has just recorded, if any.
    pub fn after_check(&mut self, tracker: &HealthTracker) -> Option<Step> {
        match tracker.health {
            Health::Healthy => {
                self.next = 0;
                None
            }
            Health::Unhealthy
                if tracker
                    .consecutive_failures
                    .is_multiple_of(tracker.thresholds.failure.max(1)) =>
            {
                self.take()
            }
            _ => None,
        }
    }
}

/// TEND_RESTART: whether an exit with tend's (mapped) exit `code` starts the child again.
pub fn restart_wanted(policy: RestartPolicy, code: i32) -> bool {
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure => code != 0,
    }
}

/// `base × 2^min(n, 5)`, capped at `max`: n = 0 for the first restart.
pub fn backoff_delay(base: Duration, max: Duration, n: u32) -> Duration {
    base.saturating_mul(1 << n.min(5)).min(max)
}

/// The restart count with its quiet-window reset (TEND_RESTART_WINDOW).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub window: Duration,
    /// Restarts counted since the last reset.
    pub attempts: u32,
    last: Option<Instant>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, window: Duration) -> Self {
        Backoff {
            base,
            max,
            window,
            attempts: 0,
            last: None,
        }
    }

    /// Counts a restart at `now` and returns (attempt number from 1, delay before it).
    /// A quiet window since the previous restart starts the count afresh.
    pub fn next(&mut self, now: Instant) -> (u32, Duration) {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) >= self.window)
        {
            self.attempts = 0;
        }
        let delay = backoff_delay(self.base, self.max, self.attempts);
        self.attempts = self.attempts.saturating_add(1);
        self.last = Some(now);
        (self.attempts, delay)
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(start: u64, failure: u32, success: u32) -> HealthTracker {
        HealthTracker::new(Thresholds {
            start_period: Duration::from_secs(start),
            failure,
            success,
        })
    }

    const LATE: Duration = Duration::from_secs(3600);

    #[test]
    fn failures_turn_unhealthy_only_at_the_threshold() {
        let mut t = tracker(0, 3, 1);
        assert_eq!(t.record(false, LATE), None);
        assert_eq!(t.record(false, LATE), None);
        assert_eq!(t.record(false, LATE), Some(Health::Unhealthy));
        assert_eq!(t.consecutive_failures, 3);
        assert_eq!(t.record(false, LATE), None, "no repeated change");
        assert_eq!(t.record(true, LATE), Some(Health::Healthy));
        assert_eq!(t.consecutive_failures, 0);
    }

    #[test]
    fn a_pass_resets_the_failure_count() {
        let mut t = tracker(0, 2, 1);
        t.record(true, LATE);
        t.record(false, LATE);
        t.record(true, LATE);
        assert_eq!(t.record(false, LATE), None);
        assert_eq!(t.health, Health::Healthy);
    }

    #[test]
    fn success_threshold_needs_consecutive_passes() {
        let mut t = tracker(0, 1, 3);
        assert_eq!(t.record(false, LATE), Some(Health::Unhealthy));
        t.record(true, LATE);
        t.record(true, LATE);
        t.record(false, LATE);
        t.record(true, LATE);
        assert_eq!(t.record(true, LATE), None);
        assert_eq!(t.record(true, LATE), Some(Health::Healthy));
    }

    #[test]
    fn start_period_failures_do_not_count() {
        let mut t = tracker(30, 1, 1);
        for s in 0..30 {
            assert_eq!(t.record(false, Duration::from_secs(s)), None);
        }
        assert_eq!(t.consecutive_failures, 0);
        assert_eq!(t.health, Health::Unknown);
        assert_eq!(
            t.record(false, Duration::from_secs(30)),
            Some(Health::Unhealthy)
        );
    }

    #[test]
    fn failures_while_starting_never_count() {
        let mut t = tracker(0, 1, 1);
        for s in [0, 1, 3600] {
            assert_eq!(t.record_in(false, Duration::from_secs(s), true), None);
        }
        assert_eq!((t.consecutive_failures, t.health), (0, Health::Unknown));
        assert_eq!(t.record_in(true, LATE, true), Some(Health::Healthy));
        assert_eq!(t.record_in(false, LATE, false), Some(Health::Unhealthy));
    }

    #[test]
    fn zero_thresholds_behave_as_one() {
        let mut t = tracker(0, 0, 0);
        assert_eq!(t.record(false, LATE), Some(Health::Unhealthy));
        assert_eq!(t.record(true, LATE), Some(Health::Healthy));
    }

    /// A small deterministic generator: enough to walk many result sequences.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    }

    #[test]
    fn property_verdict_follows_the_last_run_of_results() {
        let mut seed = 7;
        for _ in 0..500 {
            let failure = (lcg(&mut seed) % 5 + 1) as u32;
            let success = (lcg(&mut seed) % 4 + 1) as u32;
            let mut t = tracker(0, failure, success);
            let mut history = Vec::new();
            for _ in 0..60 {
                let passed = !lcg(&mut seed).is_multiple_of(3);
                let changed = t.record(passed, LATE);
                history.push(passed);
                let run = history.iter().rev().take_while(|p| **p == passed).count() as u32;
                // A change happens exactly when the run reaches its threshold.
                let threshold = if passed { success } else { failure };
                if changed.is_some() {
                    assert_eq!(run, threshold, "changed at run {run}: {history:?}");
                }
                if run >= threshold {
                    let want = if passed {
                        Health::Healthy
                    } else {
                        Health::Unhealthy
                    };
                    assert_eq!(t.health, want, "{history:?}");
                }
                let counted = if passed {
                    t.consecutive_successes
                } else {
                    t.consecutive_failures
                };
                assert_eq!(counted, run);
            }
        }
    }

    #[test]
    fn ladder_takes_each_step_once_per_episode() {
        let mut t = tracker(0, 2, 1);
        let mut ladder = Ladder::new(vec![Step::Restart, Step::Exit]);
        let mut steps = Vec::new();
        for _ in 0..8 {
            t.record(false, LATE);
            steps.push(ladder.after_check(&t));
        }
        use Step::*;
        assert_eq!(
            steps,
            [
                None,
                Some(Restart),
                None,
                Some(Exit),
                None,
                None,
                None,
                None
            ]
        );
        t.record(true, LATE);
        assert_eq!(ladder.after_check(&t), None);
        t.record(false, LATE);
        ladder.after_check(&t);
        t.record(false, LATE);
        assert_eq!(ladder.after_check(&t), Some(Restart), "a new episode");
    }

    #[test]
    fn take_walks_the_ladder_once() {
        let mut ladder = Ladder::new(vec![Step::Restart, Step::Exit]);
        assert_eq!(ladder.take(), Some(Step::Restart));
        assert_eq!(ladder.take(), Some(Step::Exit));
        assert_eq!(ladder.take(), None);
        assert!(Ladder::new(Vec::new()).take().is_none());
        let mut ladder = Ladder::new(vec![Step::Exit]);
        assert!(ladder.has_next());
        ladder.take();
        assert!(!ladder.has_next());
        assert!(!Ladder::new(Vec::new()).has_next());
    }

    #[test]
    fn ladder_continues_across_a_fresh_tracker() {
        // A restart gives the new child a fresh tracker; the episode goes on.
        let mut ladder = Ladder::new(vec![Step::Restart, Step::Exit]);
        for want in [Some(Step::Restart), Some(Step::Exit), None] {
            let mut t = tracker(0, 3, 1);
            let mut got = None;
            for _ in 0..3 {
                t.record(false, LATE);
                got = got.or(ladder.after_check(&t));
            }
            assert_eq!(got, want);
        }
    }

    #[test]
    fn backoff_doubles_to_the_sixth_step_and_is_capped() {
        let s = Duration::from_secs;
        let delays: Vec<_> = (0..8).map(|n| backoff_delay(s(1), s(300), n)).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 32, 32].map(s));
        assert_eq!(backoff_delay(s(10), s(60), 3), s(60));
        assert_eq!(backoff_delay(s(1), s(300), u32::MAX), s(32));
    }

    #[test]
    fn property_backoff_is_monotonic_and_bounded() {
        let mut seed = 11;
        for _ in 0..500 {
            let base = Duration::from_millis(lcg(&mut seed) % 10_000);
            let max = Duration::from_millis(lcg(&mut seed) % 600_000);
            let mut previous = Duration::ZERO;
            for n in 0..40 {
                let d = backoff_delay(base, max, n);
                assert!(d <= max && d >= previous && d <= base * 32);
                assert_eq!(d, (base * 2u32.pow(n.min(5))).min(max));
                previous = d;
            }
        }
    }

    #[test]
    fn restart_count_resets_after_a_quiet_window() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let mut b = Backoff::new(s(1), s(300), s(60));
        assert_eq!(b.next(t0), (1, s(1)));
        assert_eq!(b.next(t0 + s(10)), (2, s(2)));
        assert_eq!(b.next(t0 + s(69)), (3, s(4)), "59s is within the window");
        assert_eq!(b.next(t0 + s(129)), (1, s(1)), "a full window later");
    }

    #[test]
    fn restart_policies() {
        use RestartPolicy::*;
        for (policy, on_zero, on_failure) in [
            (No, false, false),
            (Always, true, true),
            (UnlessStopped, true, true),
            (OnFailure, false, true),
        ] {
            assert_eq!(restart_wanted(policy, 0), on_zero, "{policy:?} after 0");
            for code in [1, 2, 127, 137, 143] {
                assert_eq!(
                    restart_wanted(policy, code),
                    on_failure,
                    "{policy:?} after {code}"
                );
            }
        }
    }
}
