//! Printing for the client commands (`tend health`, `tend status`, `--help`…). std's
//! `print!` panics when the write fails, and tend ignores SIGPIPE (its own stderr must
//! not kill it), so `tend status | head -c1` ended in a panic and exit 134 instead of the
//! answer's code. Here a reader that went away is ignored: the exit code still answers.

/// `print!` that ignores a failed write.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that ignores a failed write.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
