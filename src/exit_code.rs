//! tend's own exit codes, in one place. The child's code, 128 + N for a child killed by
//! signal N, and 0 for TEND_SUCCESS_EXIT_CODES pass the child's outcome on and are not
//! listed here. The README's exit-code table and `tend --help` are tested against this.

/// An outcome of tend's own: sysexits where one fits, the shell's 126 and 127 for a
/// command that cannot run, and 1 for a client's "no". `as i32` gives the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// A client's answer is no: `tend health` not ready (or, with `--live`, not alive) or
    /// given a bad argument (Docker reads only 0 and 1); `tend status` found no current,
    /// readable status file; `tend restart`, `tend stop`, `tend status --socket` refused or
    /// no tend answered.
    No = 1,
    /// EX_USAGE: bad command line (no command, unknown option, bad `tend wait` arguments,
    /// `tend start` without a service name); `tend health NAME` with a NAME that is not one
    /// of the services (a typo in a healthcheck is not a service that is down).
    Usage = 64,
    /// EX_UNAVAILABLE: a required dependency (TEND_WAIT_FOR, a `tend wait` probe) never
    /// passed within the timeout.
    Unavailable = 69,
    /// EX_SOFTWARE: tend itself failed (a panic, no signal handlers, no runtime, the
    /// reaper gone).
    Software = 70,
    /// A pre-start hook (TEND_PRE_START) failed; the post-stop commands ran.
    HookFailed = 71,
    /// EX_TEMPFAIL: the child stayed unhealthy (TEND_REMEDIATION reached `exit`, or the
    /// restarts ran out on a health failure): replace the container and retry.
    Unhealthy = 75,
    /// EX_CONFIG: invalid configuration or a failed environment check; nothing started.
    /// `tend check-config` exits with it for the same problems.
    Config = 78,
    /// The command exists but cannot be executed, or no process could be created for it.
    NotExecutable = 126,
    /// The command was not found.
    NotFound = 127,
}

#[cfg(test)]
mod tests {
    use super::ExitCode::{self, *};

    /// Every variant (add a new one here too, so that the README is checked for it).
    const ALL: [ExitCode; 9] = [
        No,
        Usage,
        Unavailable,
        Software,
        HookFailed,
        Unhealthy,
        Config,
        NotExecutable,
        NotFound,
    ];

    fn codes() -> Vec<i32> {
        ALL.iter().map(|&code| code as i32).collect()
    }

    /// The codes in the first column of README.md's "Exit codes" table.
    fn readme_codes() -> Vec<i32> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README.md has an `## Exit codes` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|line| line.strip_prefix('|')?.split('|').next())
            .filter_map(|cell| cell.trim().parse().ok())
            .collect()
    }

    #[test]
    fn the_readme_table_lists_exactly_tends_own_codes() {
        // 0 is the child's success (TEND_SUCCESS_EXIT_CODES), passed on, not tend's own.
        let mut documented: Vec<i32> = readme_codes().into_iter().filter(|&c| c != 0).collect();
        documented.sort_unstable();
        let mut codes = codes();
        codes.sort_unstable();
        assert_eq!(
            documented, codes,
            "README.md's exit-code table against ExitCode"
        );
    }

    #[test]
    fn the_help_names_every_code() {
        let help = crate::cli::help();
        let section = help
            .split("EXIT CODES:")
            .nth(1)
            .expect("the help has an EXIT CODES section");
        let section = section.split("\n\n").next().unwrap_or(section);
        let mentioned: Vec<i32> = section
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .collect();
        for code in codes() {
            assert!(mentioned.contains(&code), "--help misses {code}: {section}");
        }
    }

    #[test]
    fn the_codes_are_distinct_and_fit_an_exit_status() {
        let mut codes = codes();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        assert!(codes.iter().all(|&c| (1..=127).contains(&c)), "{codes:?}");
    }
}
