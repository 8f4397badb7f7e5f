//! `TEND_USER` resolution from /etc/passwd and /etc/group, read directly: the same in
//! every image (a static binary has no NSS modules to load, and a scratch image none to
//! offer; `getpwnam` would differ between musl, glibc and the image).
//! Parsing is pure; `resolve` is the one function that reads the files.

use std::ffi::OsString;

use crate::process::spawn::Credentials;

/// `TEND_USER` as written: `name`, `uid`, `name:group` or `uid:gid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

/// Checks the form only; whether the user exists is known when the files are read.
pub fn parse_spec(text: &str) -> Result<UserSpec, String> {
    const EXPECTED: &str = "a user name or uid, optionally :group or :gid (app, 1000, 1000:1000)";
    let text = text.trim();
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (text, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
    };
    if !valid(user) || !group.is_none_or(valid) {
        return Err(EXPECTED.into());
    }
    // All digits is an id: one the system calls cannot take is refused here, where the
    // configuration is checked, not when the child is spawned.
    for (id, kind) in [(user, "uid"), (group.unwrap_or(""), "gid")] {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            match id.parse::<u32>() {
                Ok(n) => usable(n, kind)?,
                Err(_) => return Err(out_of_range(kind)),
            }
        }
    }
    Ok(UserSpec {
        user: user.into(),
        group: group.map(Into::into),
    })
}

/// The largest id the kernel takes: (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to
/// setresuid/setresgid/chown, so a child "switched" to them would keep tend's identity.
const MAX_ID: u32 = u32::MAX - 1;

fn out_of_range(kind: &str) -> String {
    format!(
        "a {kind} from 0 to {MAX_ID} ({} is (uid_t)-1, which the system reads as \"no change\")",
        u32::MAX
    )
}

/// An id tend can switch to, else what is expected instead.
fn usable(id: u32, kind: &str) -> Result<(), String> {
    if id > MAX_ID {
        return Err(out_of_range(kind));
    }
    Ok(())
}

/// One line of /etc/passwd: name, uid, gid, home.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One line of /etc/group: name, gid, members.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    entries(text)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map_or("/", |h| h).to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    entries(text)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| crate::words::split_list(m).map(Into::into).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The colon-separated fields of each non-comment line.
fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// Resolves a spec against the two files' contents. A numeric uid need not be listed (as
/// in Docker); its group is then the same number (Docker would use 0, the root group,
/// which is a needless privilege) and its HOME is `/`.
pub fn resolve_in(spec: &UserSpec, passwd: &str, group: &str) -> Result<Credentials, String> {
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let entry = users.iter().find(|u| u.name == spec.user).or_else(|| {
        let uid: u32 = spec.user.parse().ok()?;
        users.iter().find(|u| u.uid == uid)
    });
    let (uid, primary, home, name) = match (entry, spec.user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(uid)) => (uid, uid, "/".to_string(), None),
        (None, Err(_)) => {
            return Err(format!(
                "no user {} in /etc/passwd",
                crate::shown::quoted(&spec.user)
            ))
        }
    };
    let gid = match &spec.group {
        None => primary,
        Some(g) => match groups.iter().find(|e| &e.name == g) {
            Some(e) => e.gid,
            None => g
                .parse()
                .map_err(|_| format!("no group {} in /etc/group", crate::shown::quoted(g)))?,
        },
    };
    // As initgroups(3): the primary group plus every group that lists the user by name.
    // An explicit group replaces the supplementary list, as `docker run --user u:g` does.
    let mut list = vec![gid];
    if spec.group.is_none() {
        if let Some(name) = &name {
            for g in groups.iter().filter(|g| g.members.contains(name)) {
                if !list.contains(&g.gid) {
                    list.push(g.gid);
                }
            }
        }
    }
    // /etc/passwd or /etc/group may list an id no system call takes.
    let named = |kind: &str, id: u32| {
        usable(id, kind).map_err(|expected| {
            format!(
                "{} resolves to {kind} {id}: expected {expected}",
                crate::shown::quoted(&spec.user)
            )
        })
    };
    named("uid", uid)?;
    for g in &list {
        named("gid", *g)?;
    }
    Ok(Credentials {
        uid,
        gid,
        groups: list,
        home: Some(OsString::from(home)),
        no_new_privs: false,
    })
}

/// Reads /etc/passwd and /etc/group (a missing file counts as empty: numeric ids still work).
pub fn resolve(spec: &UserSpec) -> Result<Credentials, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_in(spec, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\n\
app:x:1000:1000:App:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbroken:x\n";
    const GROUP: &str =
        "root:x:0:\napp:x:1000:\nwheel:x:10:root,app\ndocker:x:999:app\nstaff:x:50:other\n";

    fn spec(text: &str) -> UserSpec {
        parse_spec(text).expect(text)
    }

    #[test]
    fn named_user_gets_supplementary_groups_and_home() {
        let c = resolve_in(&spec("app"), PASSWD, GROUP).expect("app");
        assert_eq!((c.uid, c.gid), (1000, 1000));
        assert_eq!(c.groups, [1000, 10, 999]);
        assert_eq!(c.home.as_deref(), Some(std::ffi::OsStr::new("/home/app")));
    }

    #[test]
    fn uid_and_group_forms() {
        let c = resolve_in(&spec("1000"), PASSWD, GROUP).expect("listed uid");
        assert_eq!((c.uid, c.gid, c.groups.len()), (1000, 1000, 3));
        let c = resolve_in(&spec("4242"), PASSWD, GROUP).expect("unlisted uid");
        assert_eq!((c.uid, c.gid), (4242, 4242));
        assert_eq!(c.groups, [4242]);
        assert_eq!(c.home.as_deref(), Some(std::ffi::OsStr::new("/")));
        let c = resolve_in(&spec("app:wheel"), PASSWD, GROUP).expect("named group");
        assert_eq!((c.uid, c.gid), (1000, 10));
        assert_eq!(c.groups, [10]);
        let c = resolve_in(&spec("65534:7"), PASSWD, GROUP).expect("uid:gid");
        assert_eq!((c.uid, c.gid), (65534, 7));
    }

    #[test]
    fn unknown_names_are_errors() {
        let error = resolve_in(&spec("ghost"), PASSWD, GROUP).expect_err("ghost");
        assert!(
            error.contains("ghost") && error.contains("/etc/passwd"),
            "{error}"
        );
        let error = resolve_in(&spec("app:ghosts"), PASSWD, GROUP).expect_err("group");
        assert!(
            error.contains("ghosts") && error.contains("/etc/group"),
            "{error}"
        );
        assert!(resolve_in(&spec("broken"), PASSWD, GROUP).is_err());
    }

    #[test]
    fn ids_the_system_reads_as_no_change_are_refused() {
        let error = parse_spec("4294967295").expect_err("-1");
        assert!(error.contains("uid from 0 to 4294967294"), "{error}");
        let error = parse_spec("0:4294967295").expect_err("-1");
        assert!(error.contains("gid from 0 to 4294967294"), "{error}");
        assert!(parse_spec("4294967294:4294967294").is_ok());
        let passwd = "neg:x:4294967295:1:::\nneggid:x:5:4294967295:::\n";
        let group = "minus:x:4294967295:neggid\n";
        for user in ["neg", "neggid", "5:minus"] {
            let error = resolve_in(&spec(user), passwd, group).expect_err(user);
            assert!(error.contains("4294967295"), "{error}");
        }
    }

    #[test]
    fn spec_syntax() {
        assert_eq!(
            spec("app:staff"),
            UserSpec {
                user: "app".into(),
                group: Some("staff".into())
            }
        );
        for bad in [
            "",
            ":",
            "app:",
            ":1",
            "a b",
            "a:b:c",
            "\u{1}x",
            "4294967295",
            "4294967296",
            "99999999999999999999",
            "1000:4294967295",
            "app:4294967295",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
