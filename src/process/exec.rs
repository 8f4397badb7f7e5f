//! Executing a program the way posix_spawnp does, for the paths that cannot use it (the
//! fork path of `spawn`, and `tend wait` replacing itself): the PATH search of glibc's
//! execvp, but without its fallback of running a file the kernel refuses (ENOEXEC, a
//! script without `#!`) with /bin/sh. tend never runs a shell it was not asked for, and
//! the same command must not run or fail depending on unrelated settings.
//!
//! Everything is prepared before the fork (`program`); `sys::exec::Program::exec` then
//! only calls execve, and so may run between fork and exec: no allocation, no lock.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::sys::exec::{CStrings, Program};

/// glibc's default search path when PATH is unset (confstr(_CS_PATH)).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// glibc's execvp refuses a bare name this long (NAME_MAX) before searching.
const NAME_MAX: usize = 255;

/// `argv` ready to exec: `argv[0]` is the program (searched in PATH when it has no '/');
/// the environment is tend's own, with HOME replaced by `home` when given.
pub fn program(argv: &[OsString], home: Option<&OsStr>) -> io::Result<Program> {
    program_with(argv, home, &[])
}

/// `program`, with `extra` variables added to the environment, each replacing tend's of
/// the same name (a service's `_ENV`); a PATH among them is the one searched.
pub fn program_with(
    argv: &[OsString],
    home: Option<&OsStr>,
    extra: &[(String, String)],
) -> io::Result<Program> {
    let Some(program) = argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let name = program.as_bytes();
    let argv = argv
        .iter()
        .map(|arg| c_string(arg.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let (envp, path) = environment(home, extra)?;
    let searched = !name.contains(&b'/');
    let candidates = if !searched {
        vec![c_string(name)?]
    } else if name.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    } else if name.len() >= NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    } else {
        let path = path.as_deref().unwrap_or(DEFAULT_PATH);
        path.split(|&b| b == b':')
            .map(|dir| {
                // An empty entry is the current directory, as for execvp.
                let mut full = dir.to_vec();
                if !dir.is_empty() {
                    full.push(b'/');
                }
                full.extend_from_slice(name);
                c_string(&full)
            })
            .collect::<io::Result<Vec<_>>>()?
    };
    Ok(Program::new(
        candidates,
        searched,
        CStrings::new(argv),
        CStrings::new(envp),
    ))
}

/// tend's environment as exec would pass it (HOME replaced when `home` is given, each of
/// `extra` replacing tend's of its name), and the value of the first PATH, the one getenv
/// would find.
fn environment(
    home: Option<&OsStr>,
    extra: &[(String, String)],
) -> io::Result<(Vec<CString>, Option<Vec<u8>>)> {
    let mut envp = Vec::new();
    let mut path = None;
    let replaced = |bytes: &[u8]| {
        let name = bytes.split(|&b| b == b'=').next().unwrap_or_default();
        (home.is_some() && name == b"HOME") || extra.iter().any(|(n, _)| n.as_bytes() == name)
    };
    crate::sys::exec::environment(|text| {
        let bytes = text.to_bytes();
        if replaced(bytes) {
            return;
        }
        if path.is_none() {
            path = bytes.strip_prefix(b"PATH=").map(<[u8]>::to_vec);
        }
        envp.push(text.to_owned());
    });
    if let Some(home) = home {
        envp.push(c_string(&[b"HOME=", home.as_bytes()].concat())?);
    }
    for (name, value) in extra {
        if name == "PATH" {
            path = Some(value.as_bytes().to_vec());
        }
        envp.push(c_string(format!("{name}={value}").as_bytes())?);
    }
    Ok((envp, path))
}

/// `bytes` as a C string; a NUL byte inside is an error naming the value.
pub(super) fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} contains a NUL byte",
                crate::shown::quoted_os(OsStr::from_bytes(bytes))
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(name: &str) -> Vec<String> {
        let program = program(&[OsString::from(name)], None).expect("program");
        program
            .candidates()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_name_with_a_slash_is_used_as_given() {
        assert_eq!(candidates("./s"), ["./s"]);
        assert_eq!(candidates("/bin/true"), ["/bin/true"]);
    }

    #[test]
    fn a_bare_name_is_tried_in_every_path_entry() {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
        let expected: Vec<String> = path
            .to_string_lossy()
            .split(':')
            .map(|dir| match dir {
                "" => "true".to_owned(),
                dir => format!("{dir}/true"),
            })
            .collect();
        assert_eq!(candidates("true"), expected);
    }

    #[test]
    fn bad_names_are_errors_not_panics() {
        let nul = program(&[OsString::from("tr\0ue")], None)
            .err()
            .expect("NUL");
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        let empty = program(&[OsString::new()], None).err().expect("empty");
        assert_eq!(empty.raw_os_error(), Some(libc::ENOENT));
        assert!(program(&[], None).is_err());
    }

    #[test]
    fn extra_variables_replace_tends_and_their_path_is_searched() {
        let extra = [
            ("PATH".to_owned(), "/opt/a:/opt/b".to_owned()),
            ("GREETING".to_owned(), "hi, there".to_owned()),
        ];
        let (envp, path) = environment(None, &extra).expect("environment");
        assert_eq!(path.as_deref(), Some(&b"/opt/a:/opt/b"[..]));
        let paths = envp
            .iter()
            .filter(|e| e.to_bytes().starts_with(b"PATH="))
            .count();
        assert_eq!(paths, 1, "tend's own PATH replaced, not repeated");
        assert!(envp.iter().any(|e| e.to_bytes() == b"GREETING=hi, there"));
        let program = program_with(&[OsString::from("app")], None, &extra).expect("program");
        let tried: Vec<_> = program
            .candidates()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(tried, ["/opt/a/app", "/opt/b/app"]);
    }
}
