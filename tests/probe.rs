//! Probes against real servers started by the test, through `tend wait` (which also proves
//! the subcommand: exit codes, --timeout, exec of the command).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{tend, Mode, Running, Scratch, MODES};

/// A port with nothing listening (bound once by the OS, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A tiny HTTP/1.1 server: `/ok` 200, `/moved` 302, `/auth` 200 only with the expected
/// Basic credentials (user:hunter2), anything else 503.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream));
        }
    });
    port
}

fn answer(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut auth = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if line.to_ascii_lowercase().starts_with("authorization:") {
            auth = line["authorization:".len()..].trim().to_string();
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let status = match path {
        "/ok" => "200 OK",
        "/moved" => "302 Found",
        // base64("user:hunter2")
        "/auth" if auth == "Basic dXNlcjpodW50ZXIy" => "200 OK",
        "/auth" => "401 Unauthorized",
        _ => "503 Service Unavailable",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// Runs `tend wait ARGS` to the end; returns (code, stdout, running).
fn wait(mode: Mode, scratch: &Scratch, args: &[&str]) -> (i32, String, Running) {
    let mut full = vec!["wait"];
    full.extend_from_slice(args);
    let mut cmd = tend(mode, scratch, &full);
    cmd.stdout(Stdio::piped());
    let mut running = Running::start(cmd, mode);
    let code = running.wait_exit();
    let mut out = String::new();
    if let Some(mut stdout) = running.child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    (code, out, running)
}

#[test]
fn tcp_listener_then_exec_command() {
    let scratch = Scratch::new("probe-tcp");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!(
        "tcp://127.0.0.1:{}",
        listener.local_addr().expect("a").port()
    );
    let (code, out, running) = wait(
        Mode::Process,
        &scratch,
        &[&target, "--", "sh", "-c", "echo ran $0", "x"],
    );
    assert_eq!(code, 0, "{}", running.raw.join("\n"));
    assert_eq!(
        out, "ran x\n",
        "the command replaced tend and got its stdout"
    );
    assert_eq!(running.events("dependencies_ready").len(), 1);
}

#[test]
fn unix_socket_that_appears_later() {
    let scratch = Scratch::new("probe-unix");
    let path = scratch.path("app.sock");
    let bind_path = path.clone();
    let server = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        UnixListener::bind(bind_path).expect("bind unix")
    });
    let target = format!("unix://{}", path.display());
    let (code, _, running) = wait(Mode::Process, &scratch, &[&target, "--timeout", "10s"]);
    assert_eq!(code, 0, "{}", running.raw.join("\n"));
    let _listener = server.join().expect("server");
    let failed = running
        .seen
        .iter()
        .filter(|e| e["event"] == "dependency_attempt_failed")
        .count();
    assert_eq!(
        failed, 0,
        "attempt failures are debug events, hidden at info"
    );
}

#[test]
fn http_statuses_and_basic_auth() {
    let scratch = Scratch::new("probe-http");
    let port = http_server();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let (code, _, running) = wait(Mode::Process, &scratch, &[&url("/ok"), &url("/moved")]);
    assert_eq!(code, 0, "2xx and 3xx pass: {}", running.raw.join("\n"));

    let secret = format!("http://user:hunter2@127.0.0.1:{port}/auth");
    let (code, _, running) = wait(Mode::Process, &scratch, &[&secret]);
    assert_eq!(code, 0, "basic auth sent: {}", running.raw.join("\n"));
    let all = running.raw.join("\n");
    assert!(!all.contains("hunter2"), "password leaked: {all}");
    assert!(all.contains("http://user:***@127.0.0.1"), "{all}");

    let (code, _, running) = wait(Mode::Process, &scratch, &[&url("/down"), "--timeout", "1s"]);
    assert_eq!(code, 69);
    let failed = running.events("dependency_failed");
    assert!(
        failed[0]["error"].as_str().unwrap_or("").contains("503"),
        "{failed:?}"
    );
}

#[test]
fn file_exists_and_max_age() {
    let scratch = Scratch::new("probe-file");
    let path = scratch.path("heartbeat");
    std::fs::write(&path, "beat").expect("write");
    let fresh = format!("file://{}?max_age=30s", path.display());
    let (code, _, running) = wait(Mode::Process, &scratch, &[&fresh]);
    assert_eq!(code, 0, "{}", running.raw.join("\n"));

    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(old))
        .expect("age the file");
    let (code, _, running) = wait(Mode::Process, &scratch, &[&fresh, "--timeout", "1s"]);
    assert_eq!(code, 69);
    let error = running.events("dependency_failed")[0]["error"].to_string();
    assert!(error.contains("max_age"), "{error}");
}

/// An exec probe that hangs is killed with its whole process group at the timeout; as
/// PID 1, the exec probes that come and go are reaped (else the wait would never see them).
#[test]
fn exec_probes_are_reaped_and_killed_with_their_group() {
    for mode in MODES {
        let scratch = Scratch::new("probe-exec");
        let flag = scratch.path("flag");
        let check = format!("exec:test -e {}", flag.display());
        let setter = flag.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(700));
            std::fs::write(setter, "").expect("flag");
        });
        let (code, _, running) = wait(mode, &scratch, &[&check, "--timeout", "10s"]);
        assert_eq!(code, 0, "{mode:?}: {}", running.raw.join("\n"));

        let started = Instant::now();
        let hang = "exec:sh -c 'sleep 987.25 & sleep 987.25'";
        let (code, _, running) = wait(mode, &scratch, &[hang, "--timeout", "1s"]);
        assert_eq!(code, 69, "{mode:?}: {}", running.raw.join("\n"));
        // 1 s timeout against a probe that sleeps 987 s; the bound (10x) catches a probe
        // that was not killed, not a slow machine.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{mode:?}: took {:?}",
            started.elapsed()
        );
        let error = running.events("dependency_failed")[0]["error"].to_string();
        assert!(error.contains("killed its process group"), "{error}");
        common::wait_for("the probe's processes to be gone", || {
            sleepers("987.25") == 0
        });
    }
}

/// Processes whose command line holds `marker`.
fn sleepers(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .filter(|cmd| String::from_utf8_lossy(cmd).contains(marker))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn stop_signal_ends_the_wait_at_once() {
    for mode in MODES {
        let scratch = Scratch::new("probe-stop");
        let target = format!("tcp://127.0.0.1:{}", closed_port());
        let mut running = Running::start(
            tend(mode, &scratch, &["wait", &target, "--timeout", "60s"]),
            mode,
        );
        running.wait_event("dependency_waiting");
        let sent = Instant::now();
        running.signal(libc::SIGTERM);
        let code = running.wait_exit();
        let took = sent.elapsed();
        assert_eq!(code, 143, "{mode:?}");
        // "At once" against the 60 s timeout: the bound catches a wait that goes on.
        assert!(
            took < Duration::from_secs(10),
            "{mode:?}: exit took {took:?}"
        );
        eprintln!("{mode:?}: tend wait exited {took:?} after SIGTERM");
    }
}

#[test]
fn usage_errors_and_missing_command() {
    let scratch = Scratch::new("probe-usage");
    let (code, _, running) = wait(Mode::Process, &scratch, &["db:5432"]);
    assert_eq!(code, 64);
    assert!(
        running.raw.join("\n").contains("tcp://HOST:PORT"),
        "accepted forms listed"
    );
    let (code, _, _) = wait(Mode::Process, &scratch, &["file:///", "--", "x"]);
    assert_eq!(code, 64, "file:/// has no path");
    let passwd = "file:///etc/passwd";
    let (code, _, running) = wait(
        Mode::Process,
        &scratch,
        &[passwd, "--", "/nonexistent/tool"],
    );
    assert_eq!(code, 127, "{}", running.raw.join("\n"));
}

/// A dependency's exec probe: its output never reaches tend's stderr or stdout; a failure
/// carries an excerpt.
#[test]
fn exec_probe_output_is_captured_in_tend_wait() {
    let scratch = Scratch::new("probe-wait-output");
    let (code, out, running) = wait(
        Mode::Process,
        &scratch,
        &[
            // Computed, so that the probe's own text (in the events) never holds it.
            "exec:sh -c 'echo WAIT-PROBE-$((40+2)); echo too >&2'",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(code, 0, "{}", running.raw.join("\n"));
    assert_eq!(out, "");
    assert!(
        running.raw.iter().all(|l| !l.contains("WAIT-PROBE-42")),
        "{}",
        running.raw.join("\n")
    );
    let (code, _, running) = wait(
        Mode::Process,
        &scratch,
        &[
            "exec:sh -c 'echo refusing connections; exit 2'",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, 69);
    let failed = &running.events("dependency_failed")[0];
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("exited with code 2; output: refusing connections"),
        "{failed}"
    );
    assert!(
        running.raw.iter().all(|l| l.starts_with('{')),
        "{:?}",
        running.raw
    );
}

/// Turns the calling thread's network and mount namespaces into fresh ones in which name
/// lookups hang: loopback up, /etc/resolv.conf (bind-mounted over, in this thread's mount
/// namespace only) names 127.0.0.2, where a UDP socket takes the queries and never
/// answers. Processes spawned from this thread inherit both namespaces. Returns the socket
/// (to prove that the resolver was asked), or None where namespaces cannot be made.
fn hanging_resolver(scratch: &Scratch) -> Option<std::net::UdpSocket> {
    let conf = scratch.path("resolv.conf");
    std::fs::write(
        &conf,
        "nameserver 127.0.0.2\noptions timeout:5 attempts:3\n",
    )
    .ok()?;
    // Safety: plain system calls on this thread's own namespaces and an ifreq it owns.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS) != 0 {
            eprintln!("skipped: unshare: {}", std::io::Error::last_os_error());
            return None;
        }
        let root = c"/";
        let private = libc::MS_REC | libc::MS_PRIVATE;
        assert_eq!(
            libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null()
            ),
            0
        );
        let source = std::ffi::CString::new(conf.display().to_string()).expect("path");
        let target = c"/etc/resolv.conf";
        let bind = libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        );
        assert_eq!(
            bind,
            0,
            "bind resolv.conf: {}",
            std::io::Error::last_os_error()
        );
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr), 0);
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr), 0, "lo up");
        libc::close(fd);
    }
    Some(std::net::UdpSocket::bind("127.0.0.2:53").expect("bind the silent resolver"))
}

/// A name lookup that hangs (the resolver never answers: getaddrinfo alone would take
/// 5 s × 3 tries per address family) is abandoned at the deadline: `tend wait` ends
/// within its --timeout, and says which target did not pass within what time.
#[test]
fn a_hanging_name_lookup_is_abandoned_at_the_deadline() {
    for mode in MODES {
        let scratch = Scratch::new("dns-hang");
        let scratch_path = scratch.0.clone();
        // A thread of its own: the namespaces go with it.
        let outcome = thread::spawn(move || {
            let scratch = Scratch(scratch_path);
            let resolver = hanging_resolver(&scratch)?;
            let began = Instant::now();
            let (code, _, running) =
                wait(mode, &scratch, &["tcp://name.invalid:1", "--timeout", "2s"]);
            let took = began.elapsed();
            resolver.set_nonblocking(true).expect("nonblocking");
            let asked = resolver.peek_from(&mut [0u8; 512]).is_ok();
            std::mem::forget(scratch);
            Some((
                code,
                took,
                asked,
                running.raw.join("\n"),
                running
                    .events("dependency_failed")
                    .first()
                    .map(|e| e.to_string()),
            ))
        })
        .join()
        .expect("the namespace thread");
        let Some((code, took, asked, raw, failed)) = outcome else {
            return;
        };
        assert!(asked, "{mode:?}: the resolver was asked");
        assert_eq!(code, 69, "{mode:?}: {raw}");
        assert!(
            took < Duration::from_secs(10),
            "{mode:?}: took {took:?}: {raw}"
        );
        let failed = failed.unwrap_or_default();
        assert!(
            failed.contains("tcp://name.invalid:1 did not pass within 2s"),
            "{mode:?}: {failed}"
        );
        assert!(
            failed.contains("name lookup of name.invalid did not finish"),
            "{mode:?}: {failed}"
        );
    }
}
