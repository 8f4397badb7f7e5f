//! The catalogue of `TEND_*` variables: the single list that `--help`, unknown-variable
//! detection and the README table are checked against.

pub struct VarSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every variable tend reads, area by area.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    [
        CORE,
        super::startup::VARIABLES,
        super::health::VARIABLES,
        super::lifecycle::VARIABLES,
        super::security::VARIABLES,
        DEBUG_ONLY,
    ]
    .into_iter()
    .flatten()
}

/// Fault injection for the test suite; debug builds only, so a release binary rejects it.
#[cfg(debug_assertions)]
const DEBUG_ONLY: &[VarSpec] = &[var(
    "TEND_FAULT_INJECT",
    "(none)",
    "debug builds only: panic_on_signal makes tend panic when it receives SIGUSR2",
)];
#[cfg(not(debug_assertions))]
const DEBUG_ONLY: &[VarSpec] = &[];

pub(crate) const fn var(name: &'static str, default: &'static str, help: &'static str) -> VarSpec {
    VarSpec {
        name,
        default,
        help,
    }
}

const CORE: &[VarSpec] = &[
    var(
        "TEND_SHUTDOWN_TIMEOUT",
        "30s",
        "time the child gets after the stop signal before SIGKILL (0s = kill at once)",
    ),
    var(
        "TEND_LEFTOVER_GRACE",
        "3s",
        "time other processes left behind get after SIGTERM before SIGKILL, once the child is gone (at most TEND_SHUTDOWN_TIMEOUT)",
    ),
    var(
        "TEND_DRAIN_DELAY",
        "0s",
        "wait this long in state draining before forwarding the stop signal",
    ),
    var(
        "TEND_SUCCESS_EXIT_CODES",
        "(none)",
        "comma list of child exit codes that tend reports as 0, e.g. 143,130",
    ),
    var(
        "TEND_SIGNAL_TARGET",
        "child",
        "forward signals to the child (child) or its whole process group (group)",
    ),
    var(
        "TEND_SIGNAL_REWRITE",
        "(none)",
        "FROM:TO pairs that change a received signal before forwarding, e.g. TERM:QUIT",
    ),
    var(
        "TEND_SUBREAPER",
        "true",
        "when not PID 1, register as child subreaper so orphans are reaped",
    ),
    var(
        "TEND_LOG_FORMAT",
        "json",
        "json (one object per line on stderr) or text",
    ),
    var(
        "TEND_LOG_LEVEL",
        "info",
        "trace, debug, info, warn or error",
    ),
    var(
        "TEND_STATUS_FILE",
        "/run/tend/status.json",
        "where the status snapshot is kept (/dev/shm/tend-UID first when /run is not a tmpfs; then /tmp)",
    ),
];
