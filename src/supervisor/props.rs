//! Property tests of the transitions: any sequence of what the world can do, answered by
//! the simulated edges of `tests.rs`, keeps the invariants (`Sim` asserts them at every
//! step: signals only to the live child, at most one exit, no child started after a
//! stop signal), and a stop signal is never lost: the run then always comes to its exit.

use proptest::prelude::*;

use super::input::{Input, Timer};
use super::tests::{phases, Job, Sim};
use crate::control::Ask;
use crate::process::Exit;

/// Something the world does.
#[derive(Debug, Clone)]
enum Event {
    Signal(i32),
    Request(bool),
    Check(bool),
    ChildExit(i32),
    StrayExit,
    Fire(usize),
    JobEnds(bool),
    HookExit(i32),
    Wait(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        prop::sample::select(vec![
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGWINCH
        ])
        .prop_map(Event::Signal),
        any::<bool>().prop_map(Event::Request),
        any::<bool>().prop_map(Event::Check),
        (0..3i32).prop_map(Event::ChildExit),
        Just(Event::StrayExit),
        (0..Timer::ALL.len()).prop_map(Event::Fire),
        any::<bool>().prop_map(Event::JobEnds),
        (0..2i32).prop_map(Event::HookExit),
        (0..5000u64).prop_map(Event::Wait),
    ]
}

fn apply(sim: &mut Sim, event: &Event) {
    match event {
        Event::Signal(sig) => {
            sim.signal(*sig);
        }
        Event::Request(stop) => {
            sim.feed(Input::Request(if *stop { Ask::Stop } else { Ask::Restart }));
        }
        Event::Check(passed) if sim.health => {
            sim.check(*passed);
        }
        Event::ChildExit(code) if sim.child.is_some() => {
            sim.exit_child(Exit::Code(*code));
        }
        Event::StrayExit => {
            sim.feed(Input::ChildExited {
                pid: 7,
                exit: Exit::Code(0),
            });
        }
        Event::Fire(index) => {
            sim.fire(Timer::ALL[*index]);
        }
        Event::JobEnds(ok) => match sim.job {
            Some(Job::Wait) if *ok => {
                sim.feed(Input::DependenciesReady);
            }
            Some(Job::Wait) => {
                sim.feed(Input::DependenciesFailed);
            }
            Some(Job::Remediation) => {
                sim.feed(Input::RemediationDone(Ok(())));
            }
            Some(Job::Sweep) => {
                sim.feed(Input::SweepDone);
            }
            None => {}
        },
        Event::HookExit(code) if sim.hook.is_some() => {
            sim.feed(Input::HookExited(Exit::Code(*code)));
        }
        Event::Wait(ms) => sim.advance(std::time::Duration::from_millis(*ms)),
        _ => {}
    }
}

const CONFIGS: &[&[(&str, &str)]] = &[
    &[],
    &[
        ("TEND_RESTART", "always"),
        ("TEND_RESTART_MAX_ATTEMPTS", "3"),
    ],
    &[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_REMEDIATION", "exec:/fix, restart, exit"),
        ("TEND_RESTART_MAX_ATTEMPTS", "2"),
    ],
    &[
        ("TEND_WAIT_FOR", "tcp://db:5432"),
        ("TEND_PRE_START", "a; b"),
        ("TEND_POST_STOP", "c"),
        ("TEND_DRAIN_DELAY", "2s"),
    ],
    &[
        ("TEND_SHUTDOWN_TIMEOUT", "0s"),
        ("TEND_RESTART", "on-failure"),
    ],
];

proptest! {
    /// The invariants hold whatever happens, in whatever order.
    #[test]
    fn no_sequence_breaks_the_invariants(
        config in 0..CONFIGS.len(),
        events in prop::collection::vec(event(), 0..60),
    ) {
        let mut sim = Sim::new(CONFIGS[config]);
        for event in &events {
            apply(&mut sim, event);
        }
        // Whatever state it is in, the run can still be brought to its one exit.
        sim.run_out();
    }

    /// A stop signal is never lost: once one came, no child starts, and the world's
    /// ordinary answers bring the run to its exit.
    #[test]
    fn a_stop_signal_always_ends_the_run(
        config in 0..CONFIGS.len(),
        before in prop::collection::vec(event(), 0..30),
        after in prop::collection::vec(event(), 0..30),
    ) {
        let mut sim = Sim::new(CONFIGS[config]);
        for event in &before {
            apply(&mut sim, event);
        }
        sim.signal(libc::SIGTERM);
        for event in &after {
            apply(&mut sim, event);
        }
        sim.run_out();
        prop_assert_eq!(sim.exits.len(), 1);
    }

    /// From every phase, any input sequence keeps the invariants.
    #[test]
    fn from_every_phase(
        phase in 0..16usize,
        events in prop::collection::vec(event(), 0..30),
    ) {
        let mut all = phases();
        let index = phase % all.len();
        let (_, mut sim) = all.swap_remove(index);
        sim.feed(Input::Begin { failed: None });
        for event in &events {
            apply(&mut sim, event);
        }
        sim.run_out();
    }
}
