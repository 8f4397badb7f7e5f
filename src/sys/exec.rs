//! tend's environment as libc holds it, and execve over a list of candidate paths, built
//! before a fork so that the exec itself needs no allocation and no lock.

use std::ffi::{CStr, CString};
use std::io;

extern "C" {
    /// libc's environment: a null-terminated array of C strings.
    static environ: *const *mut libc::c_char;
}

/// Calls `each` with every `NAME=value` of tend's environment, in order. Read from
/// libc's `environ` directly: `std::env::vars_os` copies every variable into two owned
/// strings first, a sixth of the instructions tend runs to start a child and exit.
pub fn environment(mut each: impl FnMut(&CStr)) {
    // SAFETY: environ is libc's null-terminated array of C strings. It changes only when
    // a variable is set, and tend never sets one in its own process (no `set_var`, no
    // `setenv`), so every entry stays valid while it is read.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            each(CStr::from_ptr(*entry));
            entry = entry.add(1);
        }
    }
}

/// The raw environment, for posix_spawn (see `environment` for why it stays valid).
pub(super) fn environ_ptr() -> *const *mut libc::c_char {
    // SAFETY: reads the pointer libc keeps; see `environment`.
    unsafe { environ }
}

/// C strings with the null-terminated pointer array that exec takes (argv, envp).
pub struct CStrings {
    strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into the heap buffers of the CStrings held alongside them,
// which neither move nor change when the CStrings move, and nothing mutates them: the
// struct is as shareable as the Vec<CString> it holds.
unsafe impl Send for CStrings {}
// SAFETY: as above; nothing is ever written through a shared reference.
unsafe impl Sync for CStrings {}

impl CStrings {
    pub fn new(strings: Vec<CString>) -> CStrings {
        let pointers = strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        CStrings { strings, pointers }
    }

    pub fn first(&self) -> Option<&CStr> {
        self.strings.first().map(CString::as_c_str)
    }

    /// The null-terminated array, valid while `self` lives.
    pub(super) fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// A program ready to exec: the paths to try, argv and envp as C arrays.
pub struct Program {
    /// The name as given when it has a '/', else one `dir/name` per PATH entry.
    candidates: Vec<CString>,
    /// Whether `candidates` came from a PATH search.
    searched: bool,
    argv: CStrings,
    envp: CStrings,
}

impl Program {
    pub fn new(candidates: Vec<CString>, searched: bool, argv: CStrings, envp: CStrings) -> Self {
        Program {
            candidates,
            searched,
            argv,
            envp,
        }
    }

    /// The paths that `exec` tries, in order.
    #[cfg(test)]
    pub fn candidates(&self) -> &[CString] {
        &self.candidates
    }

    /// Replaces the process with the program; returns only on failure, with the error
    /// posix_spawnp would give: the one of the path given, or, after a PATH search, the
    /// first error that is not "not there" (ENOEXEC included: no shell), else EACCES if
    /// some entry was not executable, else ENOENT. Async-signal-safe, allocation-free, so
    /// it may run between fork and exec.
    pub fn exec(&self) -> io::Error {
        let mut denied = false;
        for path in &self.candidates {
            // SAFETY: the path is a C string, argv and envp null-terminated arrays of C
            // strings, all owned by `self` for the call. execve returns only on failure.
            unsafe { libc::execve(path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
            let error = io::Error::last_os_error();
            if !self.searched {
                return error;
            }
            match error.raw_os_error() {
                Some(libc::EACCES) => denied = true,
                Some(
                    libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT,
                ) => {}
                _ => return error,
            }
        }
        io::Error::from_raw_os_error(if denied { libc::EACCES } else { libc::ENOENT })
    }
}
