//! Where a tend keeps its status file and control socket, and how the clients find and
//! trust them: a socket another user bound first is refused, two tends of one user never
//! share a place, and `tend health` finds a tend that runs as another uid.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use common::{tend, Mode, Running, Scratch, BIN, MODES};

/// `tend ARGS` as a client, with only the TEND_* variables given.
fn client(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEND_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied()).stdin(Stdio::null());
    cmd.output().expect("run the tend client")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Runs `script` with sh in a private mount namespace with fresh tmpfs mounts on /dev/shm
/// and /run (mode 0755, as on a host): other tends on this machine, and other tests, keep
/// their default places to themselves. Returns the lines the script printed.
fn in_private_mounts(script: &str) -> Vec<String> {
    let setup = "mount -t tmpfs none /dev/shm && mount -t tmpfs -o mode=755 none /run || exit 99";
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &format!("{setup}\n{script}")])
        .env("BIN", BIN)
        .env("TMPDIR", "/dev/shm")
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let (stdout, stderr) = text(&out);
    eprintln!("script output:\n{stdout}\nstderr:\n{stderr}");
    stdout.lines().map(str::to_owned).collect()
}

/// Shell helpers for the scripts: `upto N CMD...` retries CMD for up to N/100 s (a
/// generous bound that only catches hangs); `tend_env` clears the TEND_* variables.
const HELPERS: &str = r#"
for v in $(env | sed -n 's/^\(TEND_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
upto() { _u=$1; shift; until "$@" >/dev/null 2>&1; do _u=$((_u-1)); [ $_u -gt 0 ] || return 1; sleep 0.01; done; }
nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
"#;

/// Item 4: another user binds the configured socket path first, in a sticky directory.
/// Root's `tend status --socket` and `tend stop` must refuse it (naming the path, the
/// owner seen and the uids expected), and stop nobody. The socket file is then made
/// root's (as if replaced after the check): the listener's credentials refuse it still.
#[test]
fn a_socket_another_user_bound_first_is_not_trusted() {
    for mode in MODES {
        let scratch = Scratch::new("impostor");
        let sticky = scratch.path("sticky");
        let theirs = scratch.path("nobody");
        std::fs::create_dir(&sticky).expect("mkdir");
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown");
        let socket = sticky.join("ctl.sock");
        let socket_text = socket.display().to_string();

        // The impostor: any process of another uid listening there (here a tend as nobody).
        let mut impostor = Command::new("setpriv");
        impostor
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(["--", "sleep", "100000"])
            .env("TEND_STATUS_FILE", theirs.join("status.json"))
            .env("TEND_CONTROL_SOCKET", &socket)
            .env("TEND_LOG_LEVEL", "debug")
            .stdin(Stdio::null());
        let mut impostor = Running::start(impostor, Mode::Process);
        impostor.wait_event("control_listening");

        // Root's tend, configured with that path, cannot listen there.
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "100000"]);
        cmd.env("TEND_CONTROL_SOCKET", &socket);
        let mut ours = Running::start(cmd, mode);
        ours.wait_event("control_failed");

        let status = scratch.path("status.json").display().to_string();
        let env = [
            ("TEND_STATUS_FILE", status.as_str()),
            ("TEND_CONTROL_SOCKET", socket_text.as_str()),
        ];
        for args in [&["status", "--socket"][..], &["stop"], &["restart"]] {
            let out = client(args, &env);
            let (stdout, stderr) = text(&out);
            eprintln!("{mode:?} tend {args:?}: {stdout}{stderr}");
            assert_eq!(
                out.status.code(),
                Some(1),
                "{mode:?} tend {args:?} trusted it"
            );
            assert!(
                !stdout.contains("child_pid"),
                "{mode:?}: printed its status"
            );
            for part in [socket_text.as_str(), "owned by uid 65534", "uid 0"] {
                assert!(stderr.contains(part), "{mode:?}: {part:?} not in {stderr}");
            }
        }

        // The file checked, then replaced: what listens is still uid 65534.
        std::os::unix::fs::lchown(&socket, Some(0), Some(0)).expect("chown the socket");
        let out = client(&["stop"], &env);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("runs as uid 65534") && stderr.contains(&socket_text),
            "{mode:?}: {stderr}"
        );

        assert!(
            is_running(impostor.child.id()),
            "{mode:?}: the impostor was stopped"
        );
        ours.signal(libc::SIGTERM);
        assert_eq!(ours.wait_exit(), 143, "{mode:?}");
        impostor.signal(libc::SIGTERM);
        assert_eq!(impostor.wait_exit(), 143);
    }
}

/// Item 9: two tends of one user on one host, both with the default place. The second
/// finds the first's place taken, takes DIR/PID/ inside it and says so; each keeps its
/// file and socket; `tend health`/`status`/`stop` reach the first by default and the
/// second with `--pid`.
#[test]
fn two_tends_of_one_user_keep_their_own_places() {
    let script = format!(
        r#"{HELPERS}
        $BIN -- sleep 100000 2>/dev/shm/a.log & a=$!
        trap 'kill $a $b 2>/dev/null' EXIT
        upto 2000 $BIN health --pid $a || echo "a never healthy"
        $BIN -- sleep 100000 2>/dev/shm/b.log & b=$!
        upto 2000 $BIN health --pid $b || echo "b never healthy"
        grep -q "\"pid\":$a," /run/tend/status.json && echo "default is a"
        grep -q "\"pid\":$b," /run/tend/$b/status.json && echo "b in its own place"
        [ -S /run/tend/$b/control.sock ] && echo "b has its socket"
        grep '"event":"status_place"' /dev/shm/b.log | grep -q "tend health --pid $b" && echo "b says where"
        $BIN status | grep -q "\"child_pid\":" && $BIN status | grep -q "\"pid\":$a," && echo "status finds a"
        $BIN status --pid $b | grep -q "\"pid\":$b," && echo "status --pid finds b"
        $BIN status --socket --pid $b | grep -q "\"pid\":$b," && echo "socket --pid asks b"
        $BIN stop --pid $b >/dev/null || kill $b; wait $b; echo "b exited $?"
        kill -0 $a && echo "a still runs"
        $BIN stop >/dev/null || kill $a; wait $a; echo "a exited $?""#
    );
    assert_eq!(
        in_private_mounts(&script),
        [
            "default is a",
            "b in its own place",
            "b has its socket",
            "b says where",
            "status finds a",
            "status --pid finds b",
            "socket --pid asks b",
            "b exited 143",
            "a still runs",
            "a exited 143",
        ]
    );
}

/// Item 9 as PID 1: a tend as PID 1 of its own PID namespace that shares the host's
/// /run finds the host tend's place taken and takes /run/tend/1/. Inside the namespace,
/// `tend health` and `tend status` find PID 1's tend; outside, the host's.
#[test]
fn a_pid_1_tend_beside_a_host_tend_keeps_its_own_place() {
    let script = format!(
        r#"{HELPERS}
        $BIN -- sleep 100000 2>/dev/null & h=$!
        trap 'kill $h $p 2>/dev/null' EXIT
        upto 2000 $BIN health || echo "host tend never healthy"
        inner="n=0; until $BIN health >/dev/null; do n=\$((n+1)); [ \$n -lt 2000 ] || break; sleep 0.01; done
               $BIN status > /dev/shm/inner.json; $BIN status --socket > /dev/shm/inner-socket.json
               echo > /dev/shm/done; exec sleep 100000"
        unshare --pid --fork --mount-proc --kill-child $BIN -- sh -c "$inner" 2>/dev/shm/p.log & p=$!
        upto 2000 test -e /dev/shm/done || echo "pid 1 never done"
        grep -q "\"pid\":$h," /run/tend/status.json && echo "default is the host's"
        grep -q '"pid":1,' /run/tend/1/status.json && echo "pid 1 in /run/tend/1"
        grep -q '"pid":1,' /dev/shm/inner.json && echo "inside: status finds pid 1"
        grep -q '"pid":1,' /dev/shm/inner-socket.json && echo "inside: socket finds pid 1"
        $BIN status | grep -q "\"pid\":$h," && echo "outside: status finds the host's"
        kill $(cut -d' ' -f1 /proc/$p/task/$p/children); wait $p
        $BIN stop >/dev/null || kill $h; wait $h; echo "host exited $?""#
    );
    assert_eq!(
        in_private_mounts(&script),
        [
            "default is the host's",
            "pid 1 in /run/tend/1",
            "inside: status finds pid 1",
            "inside: socket finds pid 1",
            "outside: status finds the host's",
            "host exited 143",
        ]
    );
}

/// Item 16: `tend health` and `tend status` as root find a tend that runs as nobody, and
/// as nobody find one that runs as root, with no configuration. Forged places are
/// skipped: a `tend-UID` directory others can write, one whose file names a live
/// process of another uid, and one with a FIFO for a status file (which would hang it).
#[test]
fn health_finds_a_tend_of_another_uid() {
    let script = format!(
        r#"{HELPERS}
        mkdir -m 777 /dev/shm/tend-4242
        mkdir -m 755 /dev/shm/tend-4343 && chown 4343 /dev/shm/tend-4343
        ticks=$(cut -d' ' -f22 /proc/$$/stat)
        for d in 4242 4343; do
          echo "{{\"state\":\"running\",\"pid\":$$,\"pid_start_ticks\":$ticks,\"child_pid\":1,\"started_at\":\"FORGED\",\"updated_at\":\"x\",\"restarts\":0,\"last_exit\":null}}" > /dev/shm/tend-$d/status.json
        done
        mkdir -m 755 /dev/shm/tend-4444 && chown 4444 /dev/shm/tend-4444 && mkfifo /dev/shm/tend-4444/status.json
        timeout 10 $BIN status >/dev/null 2>&1; [ $? -ne 124 ] && echo "a FIFO does not hang the reader"
        rm -r /dev/shm/tend-4444
        setpriv --reuid 65534 --regid 65534 --clear-groups $BIN -- sleep 100000 2>/dev/null & n=$!
        trap 'kill $n $r 2>/dev/null' EXIT
        upto 2000 $BIN health && echo "root: healthy"
        $BIN status | grep -q FORGED && echo "root: read a forged file"
        $BIN status --socket | grep -q "\"pid\":$n," && echo "root: socket reaches nobody's tend"
        $BIN stop >/dev/null || kill $n; wait $n; echo "nobody's tend exited $?"
        $BIN -- sleep 100000 2>/dev/null & r=$!
        upto 2000 nobody $BIN health && echo "nobody: healthy"
        nobody $BIN status | grep -q "\"pid\":$r," && echo "nobody: status finds root's"
        $BIN stop >/dev/null || kill $r; wait $r; echo "root's tend exited $?""#
    );
    assert_eq!(
        in_private_mounts(&script),
        [
            "a FIFO does not hang the reader",
            "root: healthy",
            "root: socket reaches nobody's tend",
            "nobody's tend exited 143",
            "nobody: healthy",
            "nobody: status finds root's",
            "root's tend exited 143",
        ]
    );
}

/// Item 16 as PID 1: tend is PID 1 of its namespace and runs as nobody (an image with
/// `USER nobody`); root entering the namespace (`docker exec -u root`) finds it through
/// PID 1's uid.
#[test]
fn health_as_root_finds_a_pid_1_tend_of_another_uid() {
    let script = format!(
        r#"{HELPERS}
        unshare --pid --fork --mount-proc --kill-child setpriv --reuid 65534 --regid 65534 --clear-groups \
            $BIN -- sleep 100000 2>/dev/null & u=$!
        trap 'kill $u 2>/dev/null' EXIT
        upto 2000 grep -q . /proc/$u/task/$u/children || echo "no pid 1"
        t=$(cat /proc/$u/task/$u/children | cut -d' ' -f1)
        upto 2000 test -e /dev/shm/tend-65534/status.json || echo "no status file"
        inside() {{ nsenter --target $t --pid --mount -- "$@"; }}
        upto 2000 inside $BIN health && echo "root inside: healthy"
        inside $BIN status | grep -q '"pid":1,' && echo "root inside: status of pid 1"
        if inside $BIN stop >/dev/null; then echo "root inside: stop accepted"; else kill $t; fi
        wait $u; echo "exited $?""#
    );
    let lines = in_private_mounts(&script);
    assert_eq!(
        lines,
        [
            "root inside: healthy",
            "root inside: status of pid 1",
            "root inside: stop accepted",
            "exited 143",
        ]
    );
}
