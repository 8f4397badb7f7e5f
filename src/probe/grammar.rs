//! The probe grammar: one string form for every probe, parsed into `Probe`. What a probe
//! shows of itself goes through `crate::redact`.

use std::path::PathBuf;

use super::{HttpTarget, Probe};
use crate::duration::parse_duration;

/// What every parse error ends with, so a user sees the whole grammar at once.
pub const ACCEPTED_FORMS: &str =
    "tcp://HOST:PORT, unix:///PATH, http://[USER:PASS@]HOST[:PORT][/PATH], \
file:///PATH[?max_age=DURATION] or exec:COMMAND [ARGS...]";

pub fn parse(text: &str) -> Result<Probe, String> {
    let text = text.trim();
    let (scheme, rest) = match text.split_once(':') {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => return Err("a scheme (tcp, unix, http, file or exec)".into()),
    };
    match scheme.as_str() {
        "exec" => parse_exec(rest),
        "tcp" => parse_tcp(after_slashes(rest, "tcp")?),
        "unix" => Ok(Probe::Unix {
            path: absolute(after_slashes(rest, "unix")?, "unix")?,
        }),
        "http" => parse_http(after_slashes(rest, "http")?),
        "file" => parse_file(after_slashes(rest, "file")?),
        "https" => {
            Err("http:// (https is not built into tend; probe the plain port or use exec:)".into())
        }
        other => Err(format!(
            "a known scheme, not {}",
            crate::shown::quoted(other)
        )),
    }
}

fn after_slashes<'a>(rest: &'a str, scheme: &str) -> Result<&'a str, String> {
    rest.strip_prefix("//")
        .ok_or_else(|| format!("{scheme}:// (two slashes after the scheme)"))
}

fn absolute(path: &str, scheme: &str) -> Result<PathBuf, String> {
    if path.starts_with('/') && path.len() > 1 {
        Ok(PathBuf::from(path))
    } else {
        Err(format!("an absolute path after {scheme}:// (three slashes in all, as in {scheme}:///run/app.sock)"))
    }
}

fn parse_exec(rest: &str) -> Result<Probe, String> {
    let argv = crate::words::split_words(rest).map_err(|e| format!("exec: command with {e}"))?;
    if argv.is_empty() {
        return Err("a command after exec:, such as exec:pg_isready -h db".into());
    }
    Ok(Probe::Exec { argv })
}

fn parse_tcp(rest: &str) -> Result<Probe, String> {
    let authority = rest.trim_end_matches('/');
    if authority.contains(['/', '?', '@']) {
        return Err("tcp://HOST:PORT with nothing after the port".into());
    }
    let (host, port) = host_port(authority)?;
    let port = port.ok_or("a port in tcp://HOST:PORT")?;
    Ok(Probe::Tcp { host, port })
}

fn parse_http(rest: &str) -> Result<Probe, String> {
    // The userinfo runs to the last '@' (as `crate::redact` reads it), so a password may hold
    // '/', '?', '#' or spaces; a '@' in the path is written %40.
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hostport, path) = rest.split_at(split);
    let (host, port) = host_port(hostport)?;
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, password)) => (Some(user.to_string()), Some(password.to_string())),
            None => (Some(info.to_string()), None),
        },
    };
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if path.contains(char::is_whitespace) || path.contains('#') {
        return Err("a URL path without spaces or '#'".into());
    }
    Ok(Probe::Http(HttpTarget {
        host,
        port: port.unwrap_or(80),
        path,
        user,
        password,
    }))
}

fn parse_file(rest: &str) -> Result<Probe, String> {
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let path = absolute(path, "file")?;
    let max_age = match query {
        None => None,
        Some(query) => {
            let value = query
                .strip_prefix("max_age=")
                .ok_or("?max_age=DURATION as the only option of file://")?;
            Some(parse_duration(value).map_err(|e| format!("max_age as {e}"))?)
        }
    };
    Ok(Probe::File { path, max_age })
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; the host is returned without brackets.
fn host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("a closing ']' after an IPv6 address")?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or("':PORT' after ']'")?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err("a host name or address".into());
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("a port 1-65535, not {}", crate::shown::quoted(p)))?,
        ),
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok(text: &str) -> Probe {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(
            ok("tcp://db:5432"),
            Probe::Tcp {
                host: "db".into(),
                port: 5432
            }
        );
        assert_eq!(
            ok("TCP://[::1]:80/"),
            Probe::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(
            ok("unix:///run/app.sock"),
            Probe::Unix {
                path: "/run/app.sock".into()
            }
        );
        assert_eq!(
            ok("file:///tmp/ready"),
            Probe::File {
                path: "/tmp/ready".into(),
                max_age: None
            }
        );
        assert_eq!(
            ok("file:///tmp/beat?max_age=1m30s"),
            Probe::File {
                path: "/tmp/beat".into(),
                max_age: Some(Duration::from_secs(90))
            }
        );
        assert_eq!(
            ok("exec:pg_isready -h 'db host'"),
            Probe::Exec {
                argv: vec!["pg_isready".into(), "-h".into(), "db host".into()]
            }
        );
    }

    #[test]
    fn http_parts() {
        let Probe::Http(t) = ok("http://u:p@s@api:8080/health?full=1") else {
            panic!("not http")
        };
        assert_eq!((t.host.as_str(), t.port), ("api", 8080));
        assert_eq!(t.path, "/health?full=1");
        assert_eq!(t.user.as_deref(), Some("u"));
        assert_eq!(t.password.as_deref(), Some("p@s"));
        let Probe::Http(t) = ok("http://localhost") else {
            panic!("not http")
        };
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let Probe::Http(t) = ok("http://[::1]:9?x") else {
            panic!("not http")
        };
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9, "/?x")
        );
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        for (bad, hint) in [
            ("db:5432", "known scheme"),
            ("localhost", "scheme"),
            ("tcp://db", "port"),
            ("tcp:db:5432", "two slashes"),
            ("tcp://db:0", "port 1-65535"),
            ("tcp://db:99999", "port 1-65535"),
            ("tcp://db:80/x", "nothing after"),
            ("unix://relative.sock", "absolute path"),
            ("file://", "absolute path"),
            ("file:///x?max_age=soon", "max_age"),
            ("file:///x?mtime=1", "max_age"),
            ("exec:", "command"),
            ("exec:sh -c 'open", "closing single quote"),
            ("https://x/", "https"),
            ("http://:80/", "host"),
            ("http://[::1/", "']'"),
            ("gopher://x", "known scheme"),
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains(hint), "{bad}: {error:?} lacks {hint:?}");
        }
    }

    #[test]
    fn http_userinfo_runs_to_the_last_at() {
        for (text, password, host, port, path) in [
            (
                "http://admin:pa/ssSECRET@db:5432/",
                "pa/ssSECRET",
                "db",
                5432,
                "/",
            ),
            (
                "http://admin:pa?ss#SECRET@db/x?y",
                "pa?ss#SECRET",
                "db",
                80,
                "/x?y",
            ),
            ("http://admin:pa ss@db", "pa ss", "db", 80, "/"),
        ] {
            let Probe::Http(t) = ok(text) else {
                panic!("not http")
            };
            assert_eq!(t.user.as_deref(), Some("admin"), "{text}");
            assert_eq!(t.password.as_deref(), Some(password), "{text}");
            assert_eq!(
                (t.host.as_str(), t.port, t.path.as_str()),
                (host, port, path)
            );
        }
        // A bad port never repeats part of the password.
        let error = parse("http://admin:pa/ssSECRET@db:x/").expect_err("bad port");
        assert!(
            !error.contains("pa") && !error.contains("SECRET"),
            "{error}"
        );
    }
}
