#!/usr/bin/env python3
"""tend's benchmark: tend beside tini, dumb-init and catatonit on the same work.

Run through scripts/bench.sh (which installs the peers and builds tend), or directly:

    python3 scripts/bench/bench.py [--quick] [--tend PATH] [--json PATH]

Every measurement runs all inits in one interleaved sequence (round-robin, order rotated
each round) or, for the idle and memory measurements, side by side at the same time. The
timing-critical loops are in benchhelp.c, compiled here with gcc into a temporary
directory. Prints a Markdown table to stdout and writes the raw numbers as JSON.

Environment: TEND_BIN (tend binary, overridden by --tend), BENCH_IDLE_SECS (idle window,
default 10, --quick 2), BENCH_DEBUG=1 (keep the inits' stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BASELINE = "tini"


@dataclass
class Init:
    name: str
    path: str
    prefix: list[str]  # argv before the child's command
    note: str = ""
    ok: bool = True
    why: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pct(xs: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summary(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "median": med(xs),
        "p99": pct(xs, 99),
        "mean": statistics.fmean(xs),
        "min": min(xs),
        "max": max(xs),
    }


def read_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kib(v: str | None) -> int | None:
    return int(v.split()[0]) if v else None


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def proc_cost(pid: int) -> dict:
    """CPU time (ticks and ns) and context switches of a process, summed over its threads."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])  # utime + stime
    ns = vol = invol = threads = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
            st = read_status_path(f"/proc/{pid}/task/{tid}/status")
            vol += int(st.get("voluntary_ctxt_switches", 0))
            invol += int(st.get("nonvoluntary_ctxt_switches", 0))
            threads += 1
        except OSError:
            pass
    return {"ticks": ticks, "cpu_ns": ns, "vol": vol, "invol": invol, "threads": threads}


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes mapping them, so
    the sum over an init and its services counts libc once, not eleven times."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def read_status_path(path: str) -> dict[str, str]:
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def elf_info(path: str) -> dict:
    """static (no PT_INTERP) and stripped (no .symtab) from the ELF headers."""
    info = {"static": None, "stripped": None}
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2:
            return info
        (phoff,) = struct.unpack_from("<Q", data, 0x20)
        (shoff,) = struct.unpack_from("<Q", data, 0x28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
        info["static"] = not any(
            struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum)
        )
        types = [struct.unpack_from("<I", data, shoff + i * shentsize + 4)[0] for i in range(shnum)]
        info["stripped"] = 2 not in types  # SHT_SYMTAB
    except (OSError, struct.error, IndexError):
        pass
    return info


def run_driver(bh: str, args: list[str], env: dict, timeout: float) -> list[list[int]]:
    # The driver writes into a file, read once it is done: read from a pipe, this
    # process would wake up during the measured runs and take one of the CPUs that the
    # inits and their children share (on a 2-CPU machine that moved start-up ratios by
    # 0.1 either way, depending on how much each init runs on both CPUs at once).
    with tempfile.TemporaryFile(mode="w+") as out:
        subprocess.run([bh, *args], env=env, stdout=out, timeout=timeout)
        out.seek(0)
        text = out.read()
    rows = []
    for line in text.splitlines():
        try:
            rows.append([int(x) for x in line.split()])
        except ValueError:
            pass
    return rows


def write_cmds(path: Path, lines: list[list[str]]) -> None:
    path.write_text("".join("\t".join(a) + "\n" for a in lines))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        out = (p.stdout or p.stderr).strip().splitlines()
        return out[0] if out and p.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def pkg_version(pkg: str) -> str:
    return first_line(["dpkg-query", "-W", "-f=${Version}", pkg])


# ---------------------------------------------------------------- the benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.quick = args.quick
        self.tmp = Path(tempfile.mkdtemp(prefix="tend-bench-"))
        # tend's status file where tend itself puts it in a container: on a tmpfs
        # (/dev/shm; see TEND_STATUS_FILE in the README), not on the disk of $TMPDIR.
        shm = Path("/dev/shm")
        self.state = Path(tempfile.mkdtemp(prefix="tend-bench-", dir=shm)) if shm.is_dir() else self.tmp
        self.procs: list[subprocess.Popen] = []
        self.res: dict = {"mode": "quick" if self.quick else "full", "measurements": {}}
        self.inits: list[Init] = []
        self.env = dict(os.environ)
        self.env.update(
            {
                "BENCH_TMP": str(self.tmp),
                "TEND_SHUTDOWN_TIMEOUT": "1s",
                "TEND_STATUS_FILE": str(self.state / "status.json"),
            }
        )
        # TEND_BIN is ours, not tend's: tend rejects unknown TEND_* variables (exit 78)
        for k in ("TEND_HEALTH_CHECK", "TEND_HEALTH_INTERVAL", "TEND_BIN"):
            self.env.pop(k, None)

    # -- setup

    def setup(self) -> None:
        self.bh = str(self.tmp / "benchhelp")
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-o", self.bh, str(HERE / "benchhelp.c")], check=True
        )
        cands = [
            ("tini", shutil.which("tini"), ["--"], "Debian tini (dynamic)"),
            ("tini-static", shutil.which("tini-static"), ["--"], "Debian tini-static"),
            ("dumb-init", shutil.which("dumb-init"), [], ""),
            ("catatonit", shutil.which("catatonit"), ["--"], ""),
        ]
        for name, path, pre, note in cands:
            if path:
                run = self.fresh_copy(name, path)
                self.inits.append(Init(name, path, [run, *pre], note))
            elif name == BASELINE:
                sys.exit("bench: tini is required (scripts/bench.sh installs it)")
            else:
                log(f"{name} not found: skipped")
        tend = self.a.tend or os.environ.get("TEND_BIN") or ""
        t = Init("tend", tend, [tend, "--"], "this build")
        if not tend or not os.access(tend, os.X_OK):
            t.ok, t.why = False, f"no tend binary ({tend or 'unset'})"
        else:
            t.prefix = [self.fresh_copy("tend", tend), "--"]
            t.ok, t.why = self.try_tend(tend, self.env)
            if not t.ok:
                # an older tend may not know TEND_STATUS_FILE: try once without it
                env = {k: v for k, v in self.env.items() if k != "TEND_STATUS_FILE"}
                ok, _why = self.try_tend(tend, env)
                if ok:
                    log("tend rejects TEND_STATUS_FILE: running it without a status file")
                    self.env, t.ok, t.why = env, True, ""
                    t.extra["no_status_file"] = True
        if not t.ok:
            log(f"tend: n/a ({t.why})")
        self.inits.append(t)
        self.res["tend_unavailable"] = None if t.ok else t.why

    def fresh_copy(self, name: str, path: str) -> str:
        """Every init runs from a copy written the same way, in the same directory: how a
        file came to be in the page cache changes how the kernel maps it at exec (a
        linker's output, written through a shared mapping, is mapped in smaller pieces
        than a file written with write(2), as a package or an image layer is), and that
        alone moved tend's start-up by a third between two runs of the same build."""
        d = self.tmp / "bin"
        d.mkdir(exist_ok=True)
        dst = d / name
        shutil.copyfile(path, dst)
        os.chmod(dst, 0o755)
        return str(dst)

    @staticmethod
    def try_tend(tend: str, env: dict) -> tuple[bool, str]:
        try:
            p = subprocess.run([tend, "--", "/bin/true"], env=env, capture_output=True,
                               text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False, "`tend -- /bin/true` did not exit within 15 s"
        except OSError as e:
            return False, f"`tend -- /bin/true`: {e}"
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or [""])[-1][:300]
            return False, f"`tend -- /bin/true` exited {p.returncode}: {last}"
        return True, ""

    def live(self) -> list[Init]:
        return [i for i in self.inits if i.ok]

    def machine(self) -> dict:
        model = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        mem = read_status_path("/proc/meminfo").get("MemTotal", "")
        vers = {
            "tini": pkg_version("tini"),
            "dumb-init": pkg_version("dumb-init"),
            "catatonit": pkg_version("catatonit"),
            "hyperfine": pkg_version("hyperfine"),
            "curl": pkg_version("curl"),
            "wget": pkg_version("wget"),
            "supervisor": pkg_version("supervisor"),
        }
        tend = next(i for i in self.inits if i.name == "tend")
        vers["tend"] = first_line([tend.path, "--version"]) if tend.ok else ""
        return {
            "nproc": len(os.sched_getaffinity(0)),
            "cpu": model,
            "kernel": platform.release(),
            "memory": mem,
            "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
            "versions": vers,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    # -- 1. start-up

    def startup(self) -> None:
        rounds = 40 if self.quick else 500
        warm = 5 if self.quick else 30
        inits = self.live()
        lines = [["/bin/true"]] + [[*i.prefix, "/bin/true"] for i in inits]
        cf = self.tmp / "startup.cmds"
        write_cmds(cf, lines)
        log(f"1/10 start-up: {rounds} interleaved rounds")
        rows = run_driver(self.bh, ["run", str(rounds + warm), str(cf)], self.env, 600)
        walls: dict[int, list[float]] = {}
        bad: dict[int, int] = {}
        for r, idx, ns, _rss, code in rows:
            if r < warm:
                continue
            if code != 0 or ns < 0:
                bad[idx] = bad.get(idx, 0) + 1
                continue
            walls.setdefault(idx, []).append(ns / 1e3)
        base = med(walls.get(0, []))
        out = {"unit": "us", "rounds": rounds, "true_alone": summary(walls.get(0, []))}
        for k, i in enumerate(inits, 1):
            s = summary(walls.get(k, []))
            s["failed_runs"] = bad.get(k, 0)
            s["overhead"] = (s["median"] - base) if s.get("median") is not None else None
            out[i.name] = s
        if not self.quick and shutil.which("hyperfine"):
            out["hyperfine"] = self.hyperfine(lines)
        self.res["measurements"]["startup"] = out

    def hyperfine(self, lines: list[list[str]]) -> dict:
        """Cross-check with hyperfine (sequential per command, not interleaved)."""
        jf = self.tmp / "hyperfine.json"
        cmds = [" ".join(c) for c in lines]
        log("1/10 start-up: hyperfine cross-check")
        try:
            subprocess.run(
                ["hyperfine", "-N", "--warmup", "20", "--runs", "300", "--export-json", str(jf),
                 "--style", "none", *cmds],
                env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=600,
            )
        except (subprocess.SubprocessError, OSError) as e:
            return {"error": str(e)}
        data = json.loads(jf.read_text())["results"]
        base = data[0]["median"]
        out = {"unit": "us"}
        for i, r in zip(self.live(), data[1:]):
            out[i.name] = {"median": r["median"] * 1e6, "overhead": (r["median"] - base) * 1e6}
        out["true_alone"] = {"median": base * 1e6}
        return out

    # -- 2. memory and 4. idle cost: all inits side by side

    def spawn_supervising(self, i: Init, health: bool, tag: str) -> subprocess.Popen:
        env = dict(self.env)
        env["TEND_STATUS_FILE"] = str(self.state / f"status-{tag}.json")
        if health:
            env["TEND_HEALTH_CHECK"] = "exec:/bin/true"
            env["TEND_HEALTH_INTERVAL"] = "1s"
        errf = open(self.tmp / f"stderr-{tag}.log", "wb")
        p = subprocess.Popen(
            [*i.prefix, "/bin/sleep", "3600"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=errf,
        )
        errf.close()
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        kids = children_of(p.pid)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for k in kids:  # a non-subreaper init killed hard leaves its child behind
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def fleet(self) -> list[tuple[str, Init, bool]]:
        out = [(i.name, i, False) for i in self.live()]
        t = next((i for i in self.live() if i.name == "tend"), None)
        if t:
            out.append(("tend+health", t, True))
        return out

    def memory(self) -> None:
        rounds = 1 if self.quick else 5
        secs = 2.5 if self.quick else 3.5
        log(f"2/10 memory: {rounds} round(s) of {secs} s, the inits side by side, tend+health apart")
        samples: dict[str, dict[str, list[int]]] = {}
        notes: dict[str, str] = {}
        # Each binary is mapped by one process at a time, as every peer's is: a second
        # process mapping the same file (tend+health beside tend) raises the first one's
        # VmRSS by a third (the kernel maps more of the file at each fault; see
        # scripts/bench/README.md), which no peer pays here.
        fleet = self.fleet()
        groups = [[f for f in fleet if not f[2]], [f for f in fleet if f[2]]]
        for r, group in ((r, g) for r in range(rounds) for g in groups if g):
            running = [(n, self.spawn_supervising(i, h, f"mem{r}-{n}")) for n, i, h in group]
            time.sleep(secs)
            for n, p in running:
                if p.poll() is not None:
                    notes[n] = f"exited {p.returncode} while supervising sleep"
                    errs = (self.tmp / f"stderr-mem{r}-{n}.log").read_text(errors="replace")
                    notes[n + "/stderr"] = errs[-1500:]
                    continue
                st = read_status(p.pid)
                d = samples.setdefault(n, {"VmRSS": [], "VmHWM": [], "threads": []})
                d["VmRSS"].append(kib(st.get("VmRSS")))
                d["VmHWM"].append(kib(st.get("VmHWM")))
                d["threads"].append(int(st.get("Threads", "1")))
            for _n, p in running:
                self.stop(p)
        out: dict = {"unit": "KiB", "rounds": rounds, "after_s": secs}
        for n, d in samples.items():
            out[n] = {k: med(v) for k, v in d.items()} | {"raw": d}
        for n, why in notes.items():
            if n.endswith("/stderr"):
                out.setdefault(n[: -len("/stderr")], {})["stderr_tail"] = why
            else:
                out.setdefault(n, {})["error"] = why
        if "tend+health" in out and "stderr_tail" not in out["tend+health"]:
            log_tail = (self.tmp / "stderr-mem0-tend+health.log").read_text(errors="replace")[-2000:]
            out["tend+health"]["stderr_tail"] = log_tail
        self.res["measurements"]["memory"] = out

    def idle(self) -> None:
        secs = float(os.environ.get("BENCH_IDLE_SECS", "2" if self.quick else "10"))
        log(f"4/10 idle cost: {secs:g} s window, all inits side by side")
        running = [(n, self.spawn_supervising(i, h, f"idle-{n}")) for n, i, h in self.fleet()]
        time.sleep(1.0)
        before = {n: proc_cost(p.pid) for n, p in running if p.poll() is None}
        time.sleep(secs)
        out: dict = {"window_s": secs}
        for n, p in running:
            if p.poll() is not None or n not in before:
                out[n] = {"error": f"exited {p.returncode}"}
                continue
            a, b = before[n], proc_cost(p.pid)
            out[n] = {
                "cpu_ticks": b["ticks"] - a["ticks"],
                "cpu_ms": (b["cpu_ns"] - a["cpu_ns"]) / 1e6,
                "voluntary_ctxt_switches": b["vol"] - a["vol"],
                "nonvoluntary_ctxt_switches": b["invol"] - a["invol"],
                "threads": b["threads"],
            }
        for _n, p in running:
            self.stop(p)
        self.res["measurements"]["idle"] = out

    # -- 3. binary size

    def size(self) -> None:
        log("3/10 binary size")
        out: dict = {"unit": "bytes"}
        strip = shutil.which("strip")
        for i in self.inits:
            if not i.path or not os.path.exists(i.path):
                continue
            real = os.path.realpath(i.path)
            d = {"path": real, "on_disk": os.path.getsize(real)} | elf_info(real)
            d["stripped_size"] = d["on_disk"]
            if strip and not d.get("stripped"):
                tmp = self.tmp / f"stripped-{i.name}"
                if subprocess.run([strip, "-o", str(tmp), real], capture_output=True).returncode == 0:
                    d["stripped_size"] = tmp.stat().st_size
            out[i.name] = d
        self.res["measurements"]["size"] = out

    # -- 5. signal latency

    def signals(self) -> None:
        rounds, per = (2, 50) if self.quick else (10, 100)
        inits = self.live()
        cf = self.tmp / "sig.cmds"
        write_cmds(cf, [i.prefix for i in inits])
        log(f"5/10 signal latency: {rounds} x {per} SIGUSR1 per init")
        rows = run_driver(self.bh, ["sig", str(rounds), str(per), str(cf), self.bh], self.env, 900)
        lat: dict[int, list[float]] = {}
        lost: dict[int, int] = {}
        for _r, idx, ns in rows:
            if ns < 0:
                lost[idx] = lost.get(idx, 0) + 1
            else:
                lat.setdefault(idx, []).append(ns / 1e3)
        out: dict = {"unit": "us", "signals": rounds * per}
        for k, i in enumerate(inits):
            out[i.name] = summary(lat.get(k, [])) | {"lost": lost.get(k, 0)}
        self.res["measurements"]["signal"] = out

    # -- 6. reaping

    def reaping(self) -> None:
        n = 2000 if self.quick else 10000
        rounds = 1 if self.quick else 3
        spread = n // 10  # stream: n orphans over n/10 ms = 10,000 exits/s
        unshare = shutil.which("unshare")
        out: dict = {"orphans": n, "rounds": rounds, "stream_spread_ms": spread}
        if not unshare:
            out["error"] = "unshare not found"
            self.res["measurements"]["reap"] = out
            return
        inits = self.live()
        log(f"6/10 reaping: {n} orphans, burst and stream, {rounds} round(s), init as PID 1")
        raw: dict[str, dict[str, list[dict]]] = {}
        for mode, sp in (("burst", 0), ("stream", spread)):
            for r in range(rounds):
                for j in range(len(inits)):
                    i = inits[(j + r) % len(inits)]
                    of = self.tmp / f"reap-{mode}-{r}-{i.name}.json"
                    cmd = [unshare, "--pid", "--fork", "--mount-proc", *i.prefix, self.bh,
                           "child-reap", str(n), str(of), str(sp)]
                    try:
                        p = subprocess.run(cmd, env=self.env, capture_output=True, timeout=120)
                        rc = p.returncode
                    except subprocess.TimeoutExpired:
                        rc = "timeout"
                    try:
                        d = json.loads(of.read_text())
                    except (OSError, ValueError):
                        d = {"error": f"no result (exit {rc})"}
                    d["exit"] = rc
                    raw.setdefault(i.name, {}).setdefault(mode, []).append(d)
        for name, modes in raw.items():
            o = {}
            for mode, ds in modes.items():
                good = [d for d in ds if d.get("reap_ms", -1) >= 0]
                reap = [d["reap_ms"] for d in good]
                if mode == "stream":
                    # The init's own lag: its last reaping after the last orphan's exit
                    # (reap_ms and all_exited_ms count from the same origin). How late the
                    # orphans themselves exited, after their slots, is the machine's.
                    o_late = med([d["all_exited_ms"] - spread for d in good])
                    reap = [d["reap_ms"] - d["all_exited_ms"] for d in good]
                o[mode] = {
                    ("reap_ms" if mode == "burst" else "lag_ms"): med(reap),
                    "max_zombies_median": med([d["max_zombies"] for d in good]),
                    "max_zombies_worst": max((d["max_zombies"] for d in good), default=None),
                    "failed": len(ds) - len(good),
                    "raw": ds,
                }
                if mode == "stream":
                    o[mode]["orphans_late_ms"] = o_late
            out[name] = o
        self.res["measurements"]["reap"] = out

    # -- 7. exit latency

    def exit_latency(self) -> None:
        rounds = 30 if self.quick else 300
        inits = self.live()
        cf = self.tmp / "exit.cmds"
        write_cmds(cf, [i.prefix for i in inits])
        log(f"7/10 exit latency: {rounds} interleaved rounds")
        rows = run_driver(self.bh, ["exit", str(rounds), str(cf), self.bh], self.env, 600)
        lat: dict[int, list[float]] = {}
        for _r, idx, ns in rows:
            if ns >= 0:
                lat.setdefault(idx, []).append(ns / 1e3)
        out: dict = {"unit": "us", "rounds": rounds}
        for k, i in enumerate(inits):
            out[i.name] = summary(lat.get(k, []))
        # the same as PID 1 of a new PID namespace, where the init sees only its own processes
        unshare = shutil.which("unshare")
        if unshare:
            rounds = 10 if self.quick else 100
            ns = [unshare, "--pid", "--fork", "--mount-proc"]
            write_cmds(cf, [ns + i.prefix for i in inits])
            log(f"7/10 exit latency as PID 1: {rounds} interleaved rounds")
            rows = run_driver(self.bh, ["exit", str(rounds), str(cf), self.bh], self.env, 600)
            lat = {}
            for _r, idx, ns_ in rows:
                if ns_ >= 0:
                    lat.setdefault(idx, []).append(ns_ / 1e3)
            out["pid1"] = {"rounds": rounds, "via": " ".join(ns)}
            for k, i in enumerate(inits):
                out["pid1"][i.name] = summary(lat.get(k, []))
        self.res["measurements"]["exit"] = out

    # -- 8. shutdown precision

    def shutdown(self) -> None:
        out: dict = {"unit": "ms", "timeout_ms": 1000}
        tend = [i for i in self.live() if i.name == "tend"]
        peers = [i for i in self.live() if i.name != "tend"]
        peer_cap = 1500 if self.quick else 2000
        log("8/10 shutdown precision")
        if tend:
            rounds = 3 if self.quick else 15
            cf = self.tmp / "term-tend.cmds"
            write_cmds(cf, [tend[0].prefix])
            rows = run_driver(self.bh, ["term", str(rounds), str(cf), self.bh, "4000"], self.env,
                              rounds * 10 + 30)
            kill = [(c / 1e6) - 1000 for _r, _i, c, _e in rows if c >= 0]
            ex = [e / 1e6 for _r, _i, _c, e in rows if e >= 0]
            out["tend"] = {
                "kill_after_timeout": summary(kill),
                "init_exit_after_sigterm": summary(ex),
                "child_survived": sum(1 for r in rows if r[2] < 0),
            }
        if peers:
            cf = self.tmp / "term-peers.cmds"
            write_cmds(cf, [i.prefix for i in peers])
            rows = run_driver(self.bh, ["term", "1", str(cf), self.bh, str(peer_cap)], self.env, 60)
            for _r, idx, c, e in rows:
                i = peers[idx]
                out[i.name] = {
                    "child_dead_ms": c / 1e6 if c >= 0 else None,
                    "init_exit_ms": e / 1e6 if e >= 0 else None,
                    "note": "no shutdown timeout: the child ignoring SIGTERM was still alive "
                    f"after {peer_cap} ms" if c < 0 else "",
                }
        self.res["measurements"]["shutdown"] = out

    # -- 9. health-check cost

    def healthcheck(self) -> None:
        rounds = 20 if self.quick else 200
        log(f"9/10 health-check cost: {rounds} interleaved rounds")
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        (www / "health").write_text("ok\n")
        port = free_port()
        bb = shutil.which("busybox")
        if bb and subprocess.run([bb, "httpd", "--help"], capture_output=True).returncode in (0, 1):
            server = [bb, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(www)]
            sname = "busybox httpd"
        else:
            server = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(www), str(port)]
            sname = "python http.server"
        srv = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(srv)
        url = f"http://127.0.0.1:{port}/health"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        out: dict = {"unit": "us / KiB", "rounds": rounds, "server": sname}
        cmds: list[tuple[str, list[str]]] = []
        tend = next((i for i in self.live() if i.name == "tend"), None)
        sup = None
        env = dict(self.env)
        if tend:
            env["TEND_STATUS_FILE"] = str(self.state / "status-hc.json")
            sup = subprocess.Popen([*tend.prefix, "/bin/sleep", "3600"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(sup)
            time.sleep(1.0)
            cmds.append(("tend health", [tend.prefix[0], "health"]))
        for name, argv in (("curl", ["curl", "-fsS", url]), ("wget", ["wget", "-q", "-O-", url])):
            path = shutil.which(argv[0])
            if path:
                cmds.append((name, [path, *argv[1:]]))
        cf = self.tmp / "hc.cmds"
        write_cmds(cf, [c for _n, c in cmds])
        rows = run_driver(self.bh, ["run", str(rounds + 3), str(cf)], env, 600)
        for k, (name, _c) in enumerate(cmds):
            mine = [r for r in rows if r[1] == k and r[0] >= 3]
            okr = [r for r in mine if r[4] == 0]
            codes = sorted({r[4] for r in mine})
            d = summary([r[2] / 1e3 for r in okr])
            d["peak_rss_kib"] = med([r[3] for r in okr])
            d["exit_codes"] = codes
            d["failed_runs"] = len(mine) - len(okr)
            out[name] = d
        if sup:
            self.stop(sup)
        self.stop(srv)
        self.res["measurements"]["healthcheck"] = out

    # -- 10. services: tend beside supervisord, each running the same 10 services

    N_SERVICES = 10

    def services(self) -> None:
        out: dict = {"services": self.N_SERVICES}
        tend = next((i for i in self.live() if i.name == "tend"), None)
        sv = shutil.which("supervisord")
        out["supervisord_path"] = sv
        runners: list[tuple[str, callable]] = []
        if tend:
            runners.append(("tend", lambda cmd, tag: self.tend_services(tend, cmd, tag)))
        else:
            out["tend"] = {"error": "tend not available"}
        if sv:
            runners.append(("supervisord", lambda cmd, tag: self.supervisord_services(sv, cmd, tag)))
        else:
            out["supervisord"] = {"error": "supervisord not found (Debian's package supervisor)"}
        # A supervisord daemon started by the package's install script would wake every
        # second beside the measurement: say so in the results.
        others = [q for q in os.listdir("/proc") if q.isdigit() and comm(int(q)) == "supervisord"]
        if others:
            out["note"] = f"other supervisord processes running: {', '.join(others)}"
            log(f"services: {out['note']}")
        if runners:
            self.services_idle(runners, out)
            self.services_timing(runners, out)
        self.res["measurements"]["services"] = out

    def tend_services(self, tend: Init, cmd: str, tag: str) -> tuple[list[str], dict]:
        """tend -- with nothing after it: the services alone, each restarted whenever it
        exits (as supervisord's autorestart=true)."""
        env = dict(self.env)
        env["TEND_STATUS_FILE"] = str(self.state / f"status-{tag}.json")
        for k in range(1, self.N_SERVICES + 1):
            env[f"TEND_SERVICE_S{k}"] = cmd
            env[f"TEND_SERVICE_S{k}_RESTART"] = "always"
        return [tend.prefix[0], "--"], env

    def supervisord_services(self, sv: str, cmd: str, tag: str) -> tuple[list[str], dict]:
        """supervisord in the foreground, one [program:sN] per service, no HTTP server nor
        socket; startsecs=0 so that a service counts as running once spawned, as in tend.
        Its own log goes where tend's stderr goes (a file, or /dev/null in the drivers)."""
        log = self.tmp / f"supervisord-{tag}.log" if tag != "driver" or os.environ.get("BENCH_DEBUG") \
            else Path("/dev/null")
        conf = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={log}",
            "logfile_maxbytes=0",
            f"pidfile={self.tmp}/supervisord-{tag}.pid",
            f"childlogdir={self.tmp}",
        ]
        for k in range(1, self.N_SERVICES + 1):
            conf += [
                "",
                f"[program:s{k}]",
                f"command={cmd}",
                "autorestart=true",
                "startsecs=0",
                "stdout_logfile=/dev/null",
                "stdout_logfile_maxbytes=0",
                "stderr_logfile=/dev/null",
                "stderr_logfile_maxbytes=0",
            ]
        path = self.tmp / f"supervisord-{tag}.conf"
        path.write_text("\n".join(conf) + "\n")
        return [sv, "-n", "-c", str(path)], dict(self.env)

    def services_idle(self, runners: list, out: dict) -> None:
        """1. and 2.: both inits side by side with 10 `sleep` services: the init's VmRSS,
        the init and its services together, and the init's context switches over the idle
        window."""
        rounds = 1 if self.quick else 3
        settle = 2.5 if self.quick else 3.5
        secs = float(os.environ.get("BENCH_IDLE_SECS", "2" if self.quick else "10"))
        out |= {"rounds": rounds, "after_s": settle, "window_s": secs, "idle_cmd": "/bin/sleep 1000"}
        log(f"10/10 services: {rounds} round(s), {self.N_SERVICES} `sleep` each, memory after "
            f"{settle:g} s, then {secs:g} s idle, side by side")
        samples: dict[str, dict[str, list]] = {}
        for r in range(rounds):
            running = []
            for name, make in runners:
                argv, env = make("/bin/sleep 1000", f"svc{r}-{name}")
                errf = open(self.tmp / f"stderr-svc{r}-{name}.log", "wb")
                p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=errf)
                errf.close()
                self.procs.append(p)
                running.append((name, p))
            time.sleep(settle)
            before = {}
            for name, p in running:
                kids = [k for k in children_of(p.pid) if comm(k) == "sleep"]
                if p.poll() is not None or len(kids) != self.N_SERVICES:
                    why = f"exited {p.returncode}" if p.poll() is not None else \
                        f"{len(kids)} of {self.N_SERVICES} services running after {settle:g} s"
                    out.setdefault(name, {})["error"] = why
                    continue
                st = read_status(p.pid)
                d = samples.setdefault(name, {k: [] for k in (
                    "VmRSS", "VmHWM", "threads", "total_VmRSS", "total_Pss", "wakeups", "cpu_ms")})
                d["VmRSS"].append(kib(st.get("VmRSS")))
                d["VmHWM"].append(kib(st.get("VmHWM")))
                d["threads"].append(int(st.get("Threads", "1")))
                d["total_VmRSS"].append(sum(kib(read_status(q).get("VmRSS")) or 0 for q in [p.pid, *kids]))
                d["total_Pss"].append(sum(pss_kib(q) for q in [p.pid, *kids]))
                before[name] = proc_cost(p.pid)
            time.sleep(secs)
            for name, p in running:
                if name not in before:
                    continue
                if p.poll() is not None:
                    out.setdefault(name, {})["error"] = f"exited {p.returncode} while idle"
                    continue
                a, b = before[name], proc_cost(p.pid)
                samples[name]["wakeups"].append(b["vol"] - a["vol"] + b["invol"] - a["invol"])
                samples[name]["cpu_ms"].append((b["cpu_ns"] - a["cpu_ns"]) / 1e6)
            for _n, p in running:
                self.stop(p)
        for name, d in samples.items():
            o = out.setdefault(name, {})
            o |= {k: med(v) for k, v in d.items()} | {"raw": d}
            o["wakeups_max"] = max(d["wakeups"], default=None)

    def services_timing(self, runners: list, out: dict) -> None:
        """3. and 4.: `benchhelp svc`: each service is `benchhelp child-svc FIFO`, which
        reports its start through the FIFO and dies at once on SIGTERM; launch to the
        tenth start, then SIGTERM to the init's exit, interleaved rounds."""
        rounds = 3 if self.quick else 20
        fifo = self.tmp / "svc.fifo"
        cmd = f"{self.bh} child-svc {fifo}"
        env = dict(self.env)
        lines = []
        for _name, make in runners:
            argv, e = make(cmd, "driver")
            env |= {k: v for k, v in e.items() if k.startswith("TEND_")}
            lines.append(argv)
        cf = self.tmp / "svc.cmds"
        write_cmds(cf, lines)
        log(f"10/10 services: {rounds} interleaved rounds of launch, 10 started, SIGTERM, exit")
        cap = 15000
        rows = run_driver(self.bh, ["svc", str(rounds), str(cf), str(self.N_SERVICES), str(fifo),
                                    str(cap)], env, rounds * len(lines) * (10 + cap / 1000) + 30)
        out["timing_rounds"] = rounds
        out["timing_cmd"] = "benchhelp child-svc FIFO"
        for k, (name, _m) in enumerate(runners):
            mine = [r for r in rows if r[1] == k]
            o = out.setdefault(name, {})
            o["start_ms"] = summary([r[2] / 1e6 for r in mine if r[2] >= 0])
            o["stop_ms"] = summary([r[4] / 1e6 for r in mine if r[4] >= 0])
            o["services_dead_ms"] = summary([r[5] / 1e6 for r in mine if r[5] >= 0])
            o["timing_failed"] = {
                "not_all_started": sum(1 for r in mine if r[2] < 0),
                "no_exit_within_cap": sum(1 for r in mine if r[2] >= 0 and r[4] < 0),
                "services_left_after_cap": sum(1 for r in mine if r[2] >= 0 and r[5] < 0),
                "started_counts": sorted({r[3] for r in mine}),
            }

    # -- all

    def run(self) -> dict:
        self.setup()
        self.res["machine"] = self.machine()
        self.res["inits"] = {
            i.name: {"path": i.path, "argv": i.prefix + ["CMD"], "available": i.ok, "why": i.why}
            for i in self.inits
        }
        self.res["tend_env"] = {
            "TEND_SHUTDOWN_TIMEOUT": "1s",
            "TEND_STATUS_FILE": "<temp file on /dev/shm>",
            "health loop": "TEND_HEALTH_CHECK=exec:/bin/true TEND_HEALTH_INTERVAL=1s",
        }
        only = set(self.a.only.split(",")) if self.a.only else None
        steps = [
            ("startup", self.startup), ("memory", self.memory), ("size", self.size),
            ("idle", self.idle), ("signal", self.signals), ("reap", self.reaping),
            ("exit", self.exit_latency), ("shutdown", self.shutdown),
            ("healthcheck", self.healthcheck), ("services", self.services),
        ]
        t0 = time.monotonic()
        for name, fn in steps:
            if only and name not in only:
                continue
            try:
                fn()
            except Exception as e:  # one broken measurement must not lose the others
                log(f"{name} failed: {e!r}")
                self.res["measurements"][name] = {"error": repr(e)}
        self.res["duration_s"] = round(time.monotonic() - t0, 1)
        return self.res

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    self.stop(p)
                except Exception:
                    pass
        if not self.a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            log(f"kept {self.tmp}")


# ---------------------------------------------------------------- the table

NA = "n/a"


def fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return NA
    return f"{v:,.{digits}f}{unit}"


def ratio(v: float | None, base: float | None) -> str:
    if v is None or base is None or base == 0:
        return ""
    return f" ({v / base:.2f}×)"


def render(res: dict) -> str:
    m = res["machine"]
    M = res["measurements"]
    names = [n for n in res["inits"]]
    avail = {n: res["inits"][n]["available"] for n in names}
    L: list[str] = []
    L.append(f"## Benchmark: tend beside tini, dumb-init and catatonit ({res['mode']} run)")
    L.append("")
    L.append(
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}, {m['memory']} RAM, "
        f"{m['os']}; {m['date']}."
    )
    v = m["versions"]
    L.append(
        f"Versions: tini {v['tini'] or '?'}, dumb-init {v['dumb-init'] or '?'}, catatonit "
        f"{v['catatonit'] or '?'}, curl {v['curl'] or '?'}, wget {v['wget'] or '?'}"
        + (f", supervisor {v['supervisor']}" if v.get("supervisor") else "")
        + (f", tend `{v['tend']}`" if v.get("tend") else "")
        + "."
    )
    if res.get("tend_unavailable"):
        L.append(f"tend: n/a ({res['tend_unavailable']}).")
    L.append(
        "Medians; the ratio in brackets is to tini (the Debian build, dynamically linked). "
        "tend runs with TEND_SHUTDOWN_TIMEOUT=1s and a status file; peers with their defaults."
    )
    L.append("")
    L.append("| measurement | " + " | ".join(names) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in names) + " |")

    def row(label: str, get, unit: str = "", digits: int = 1, with_ratio: bool = True) -> None:
        base = get(BASELINE)
        cells = []
        for n in names:
            if not avail[n]:
                cells.append(NA)
                continue
            val = get(n)
            if isinstance(val, str):
                cells.append(val)
                continue
            cells.append(fmt(val, unit, digits) + (ratio(val, base) if with_ratio and n != BASELINE else ""))
        L.append(f"| {label} | " + " | ".join(cells) + " |")

    def g(*path):
        def f(n):
            d = M
            for p in path[:1]:
                d = d.get(p, {})
            d = d.get(n, {})
            for p in path[1:]:
                if not isinstance(d, dict):
                    return None
                d = d.get(p)
            return d
        return f

    s = M.get("startup", {})
    if "true_alone" in s:
        row(f"1. start-up overhead, µs (`INIT -- /bin/true` − `/bin/true` {fmt(s['true_alone'].get('median'))} µs)",
            g("startup", "overhead"))
        hf = s.get("hyperfine", {})
        if hf and "error" not in hf:
            row("1. start-up overhead, µs (hyperfine cross-check)",
                lambda n: hf.get(n, {}).get("overhead"))
    mem = M.get("memory", {})
    if mem and "error" not in mem:
        kb = lambda x: x / 1024 if x is not None else None  # noqa: E731
        row("2. VmRSS supervising `sleep`, MiB", lambda n: kb(mem.get(n, {}).get("VmRSS")), digits=2)
        row("2. VmHWM supervising `sleep`, MiB", lambda n: kb(mem.get(n, {}).get("VmHWM")), digits=2)
        th = mem.get("tend+health", {})

        def hl(key):
            def f(n):
                if n != "tend":
                    return "—"
                if "error" in th:
                    return NA + f" ({th['error']})"
                return kb(th.get(key))
            return f
        row("2. VmRSS with health loop (exec every 1 s), MiB", hl("VmRSS"), digits=2, with_ratio=False)
        row("2. VmHWM with health loop, MiB", hl("VmHWM"), digits=2, with_ratio=False)
    sz = M.get("size", {})
    if sz:
        def szf(n):
            d = sz.get(n)
            if not d:
                return None
            return d["stripped_size"] / 1024
        base = szf(BASELINE)
        cells = []
        for n in names:
            d = sz.get(n)
            if not d:
                cells.append(NA)
                continue
            link = "static" if d.get("static") else "dynamic"
            cells.append(f"{szf(n):,.0f} KiB {link}" + (ratio(szf(n), base) if n != BASELINE else ""))
        L.append("| 3. binary size, stripped | " + " | ".join(cells) + " |")
    idle = M.get("idle", {})
    if idle and "error" not in idle:
        w = idle.get("window_s")
        row(f"4. idle CPU time over {w:g} s, ms", lambda n: idle.get(n, {}).get("cpu_ms"), digits=2,
            with_ratio=False)
        row(f"4. idle wake-ups (context switches) over {w:g} s",
            lambda n: (idle.get(n, {}).get("voluntary_ctxt_switches", 0)
                       + idle.get(n, {}).get("nonvoluntary_ctxt_switches", 0))
            if "cpu_ms" in idle.get(n, {}) else None, digits=0, with_ratio=False)
    sig = M.get("signal", {})
    if sig and "error" not in sig:
        row(f"5. signal latency, median µs ({sig.get('signals')} SIGUSR1)", g("signal", "median"))
        row("5. signal latency, p99 µs", g("signal", "p99"))
        if any(sig.get(n, {}).get("lost") for n in names):
            row("5. signals lost", g("signal", "lost"), digits=0, with_ratio=False)
    rp = M.get("reap", {})
    if rp and "error" not in rp:
        no = rp["orphans"]
        row(f"6. reap {no:,} orphans exiting at once (PID 1), ms", g("reap", "burst", "reap_ms"))
        row("6. … most zombies at once (burst; median of rounds)", g("reap", "burst", "max_zombies_median"), digits=0,
            with_ratio=False)
        row(f"6. {no:,} orphans at 10,000 exits/s: most zombies at once (worst round)",
            g("reap", "stream", "max_zombies_worst"), digits=0, with_ratio=False)
        row("6. … last reaped after last exit, ms", g("reap", "stream", "lag_ms"), with_ratio=False)
        row("6. … last orphan's exit after its slot (the machine's delay), ms",
            g("reap", "stream", "orphans_late_ms"), with_ratio=False)
    ex = M.get("exit", {})
    if ex and "error" not in ex:
        row("7. exit latency, median µs", g("exit", "median"))
        if "pid1" in ex:
            p1 = ex["pid1"]
            row("7. exit latency as PID 1 (`unshare --pid --fork --mount-proc`), median µs",
                lambda n: p1.get(n, {}).get("median"))
    sd = M.get("shutdown", {})
    if sd and "error" not in sd:
        def sdf(n):
            d = sd.get(n)
            if d is None:
                return None
            if n == "tend":
                k = d["kill_after_timeout"]
                if not k.get("n"):
                    return "child never killed"
                return f"+{k['median']:.1f} ms (max +{k['max']:.1f})"
            if d.get("child_dead_ms") is None:
                return "no timeout"
            return f"child dead after {d['child_dead_ms']:.0f} ms"
        row("8. force-kill after the 1 s timeout (child ignores SIGTERM)", sdf, with_ratio=False)
    L.append("")
    hc = M.get("healthcheck", {})
    if hc and "error" not in hc:
        L.append(f"9. Health-check cost against a local endpoint ({hc.get('server')}), medians:")
        L.append("")
        L.append("| probe | wall time, ms | peak RSS, MiB | ratio to curl (time) |")
        L.append("| --- | ---: | ---: | ---: |")
        cbase = hc.get("curl", {}).get("median")
        for n in ("tend health", "curl", "wget"):
            d = hc.get(n)
            if d is None:
                if n == "tend health":
                    L.append(f"| `tend health` | {NA} | {NA} | |")
                continue
            if not d.get("n"):
                L.append(f"| `{n}` | {NA} (exit {d.get('exit_codes')}) | {NA} | |")
                continue
            r = f"{d['median'] / cbase:.2f}×" if cbase else ""
            L.append(f"| `{n}` | {d['median'] / 1e3:.2f} | {d['peak_rss_kib'] / 1024:.2f} | {r} |")
        L.append("")
    L.extend(services_table(M.get("services"), res["machine"]["versions"].get("supervisor")))
    L.extend(targets(res))
    return "\n".join(L) + "\n"


def services_table(sv: dict | None, version: str | None) -> list[str]:
    """10. tend and supervisord, each running the same 10 services."""
    if not sv or "error" in sv:
        return []
    n = sv["services"]
    L = [f"10. {n} services under tend (`tend --`, `TEND_SERVICE_S1..S{n}`, restart always) and "
         f"under supervisord {version or '?'} (`-n`, one `[program:sN]` each, autorestart, "
         f"startsecs=0); medians, the spread (min–max) in brackets:", "",
         "| measurement | tend | supervisord |", "| --- | ---: | ---: |"]
    names = ("tend", "supervisord")

    def cell(name: str, get) -> str:
        d = sv.get(name) or {}
        if "error" in d and get(d) is None:
            return f"{NA} ({d['error']})"
        v = get(d)
        return NA if v is None else v

    def spread(d: dict, key: str, unit_div: float = 1.0, digits: int = 2) -> str | None:
        raw = (d.get("raw") or {}).get(key)
        if not raw:
            return None
        vals = [x / unit_div for x in raw]
        m = med(vals)
        return f"{m:,.{digits}f}" + (f" ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})" if len(vals) > 1 else "")

    def timing(d: dict, key: str) -> str | None:
        t = d.get(key) or {}
        if not t.get("n"):
            return None
        return f"{t['median']:,.1f} ({t['min']:,.1f}–{t['max']:,.1f})"

    def row(label: str, get) -> None:
        L.append(f"| {label} | " + " | ".join(cell(x, get) for x in names) + " |")

    rounds, w = sv.get("rounds"), sv.get("window_s")
    row(f"VmRSS of the init, MiB ({rounds} round(s), `sleep 1000` ×{n})",
        lambda d: spread(d, "VmRSS", 1024))
    row("VmHWM of the init, MiB", lambda d: spread(d, "VmHWM", 1024))
    row(f"init + {n} services: Pss, MiB (shared pages split)", lambda d: spread(d, "total_Pss", 1024))
    row(f"init + {n} services: VmRSS summed, MiB", lambda d: spread(d, "total_VmRSS", 1024))
    row(f"idle wake-ups of the init (context switches) over {w:g} s",
        lambda d: spread(d, "wakeups", digits=0))
    row(f"idle CPU time of the init over {w:g} s, ms", lambda d: spread(d, "cpu_ms"))
    tr = sv.get("timing_rounds")
    row(f"launch → {n} services started, ms ({tr} rounds)", lambda d: timing(d, "start_ms"))
    row("SIGTERM → init exited, ms (settle 0.1–1.1 s after the last start)",
        lambda d: timing(d, "stop_ms"))
    row(f"SIGTERM → last of the {n} services dead, ms", lambda d: timing(d, "services_dead_ms"))
    bad = {x: sv.get(x, {}).get("timing_failed") for x in names}
    for x, f in bad.items():
        if f and (f["not_all_started"] or f["no_exit_within_cap"] or f["services_left_after_cap"]):
            L.append("")
            L.append(f"{x}: {f['not_all_started']} round(s) without all {n} started within 10 s "
                     f"(counts seen {f['started_counts']}), {f['no_exit_within_cap']} without an exit "
                     f"within the cap, {f['services_left_after_cap']} with services left.")
    L.append("")
    return L


def targets(res: dict) -> list[str]:
    """The targets of issue 6, checked against this run."""
    M = res["measurements"]
    if not res["inits"].get("tend", {}).get("available"):
        return ["Targets: not checked (tend not available)."]
    out = ["Targets (issue 6), tend in this run:", ""]

    def line(name: str, ok: bool | None, detail: str) -> None:
        mark = "n/a" if ok is None else ("met" if ok else "**missed**")
        out.append(f"- {name}: {mark} — {detail}")

    def rat(section: str, key: str):
        s = M.get(section, {})
        t, b = s.get("tend", {}).get(key), s.get(BASELINE, {}).get(key)
        return (t / b if t is not None and b else None), t, b

    r, t, b = rat("startup", "overhead")
    line("start-up overhead ≤ 1.1× tini", None if r is None else r <= 1.1,
         f"{fmt(t)} µs vs {fmt(b)} µs ({r:.2f}×)" if r else NA)
    r, t, b = rat("exit", "median")
    line("exit latency ≤ 1.1× tini", None if r is None else r <= 1.1,
         f"{fmt(t)} µs vs {fmt(b)} µs ({r:.2f}×)" if r else NA)
    r, t, b = rat("signal", "median")
    line("signal latency ≤ 1.1× tini", None if r is None else r <= 1.1,
         f"{fmt(t)} µs vs {fmt(b)} µs ({r:.2f}×)" if r else NA)
    mem = M.get("memory", {})
    rss = mem.get("tend", {}).get("VmRSS")
    line("VmRSS ≤ 2 MiB idle, no health check", None if rss is None else rss <= 2048,
         f"{fmt(rss, ' KiB', 0)}")
    rssh = mem.get("tend+health", {}).get("VmRSS")
    line("VmRSS ≤ 3 MiB with the health loop", None if rssh is None else rssh <= 3072,
         f"{fmt(rssh, ' KiB', 0)}")
    sz = M.get("size", {}).get("tend", {})
    line("static binary ≤ 3 MiB", None if not sz else (sz["stripped_size"] <= 3 * 2**20 and bool(sz.get("static"))),
         f"{sz['stripped_size'] / 1024:,.0f} KiB, {'static' if sz.get('static') else 'dynamic'}" if sz else NA)
    idle = M.get("idle", {}).get("tend", {})
    if "cpu_ms" in idle:
        wk = idle["voluntary_ctxt_switches"] + idle["nonvoluntary_ctxt_switches"]
        line(f"zero wake-ups in {M['idle']['window_s']:g} s idle", wk == 0,
             f"{wk} context switches, {idle['cpu_ms']:.2f} ms CPU, {idle['threads']} thread(s)")
    else:
        line("zero wake-ups idle", None, NA)
    rp = M.get("reap", {}).get("tend", {})
    if rp:
        bt = rp.get("burst", {}).get("reap_ms")
        bz = rp.get("burst", {}).get("max_zombies_worst")
        sz_ = rp.get("stream", {}).get("max_zombies_worst")
        n = M["reap"]["orphans"]
        bz = rp.get("burst", {}).get("max_zombies_median")
        tb = M["reap"].get(BASELINE, {})
        line(f"{n:,} orphans reaped in < 1 s", None if bt is None else bt < 1000,
             f"{fmt(bt, ' ms')} when all exit at once (tini {fmt(tb.get('burst', {}).get('reap_ms'), ' ms')})")
        line("never more than a few hundred zombies (≤ 500)", None if sz_ is None else sz_ <= 500,
             f"worst round {sz_} at 10,000 exits/s (tini {tb.get('stream', {}).get('max_zombies_worst')}); "
             f"median {bz} when all {n:,} exit at once (tini {tb.get('burst', {}).get('max_zombies_median')})")
    sd = M.get("shutdown", {}).get("tend", {})
    k = sd.get("kill_after_timeout", {})
    if k.get("n"):
        line("force-kill within 20 ms of the timeout", k["max"] <= 20 and k["min"] >= -1,
             f"median +{k['median']:.1f} ms, max +{k['max']:.1f} ms")
    else:
        line("force-kill within 20 ms of the timeout", None, "child never killed" if sd else NA)
    hc = M.get("healthcheck", {})
    th, cu = hc.get("tend health", {}), hc.get("curl", {})
    if th.get("n") and cu.get("n"):
        r = cu["median"] / th["median"]
        line("`tend health` ≥ 2× faster than curl", r >= 2, f"{th['median'] / 1e3:.2f} ms vs {cu['median'] / 1e3:.2f} ms ({r:.1f}× faster)")
    else:
        line("`tend health` ≥ 2× faster than curl", None, f"tend health exit codes {th.get('exit_codes')}" if th else NA)
    sv = M.get("services", {}).get("tend", {})
    if "services" in M.get("services", {}):
        n = M["services"]["services"]
        srss = sv.get("VmRSS")
        line(f"VmRSS ≤ 2 MiB supervising {n} services (issue 14)",
             None if srss is None else srss <= 2048,
             f"{fmt(srss, ' KiB', 0)}" + (f" (max of rounds {max(sv['raw']['VmRSS']):,} KiB)"
                                         if sv.get("raw", {}).get("VmRSS") else ""))
        wk = sv.get("wakeups_max")
        line(f"zero wake-ups idle with {n} services (issue 14)", None if wk is None else wk == 0,
             f"{wk} context switches at most over {M['services']['window_s']:g} s" if wk is not None
             else NA)
    out += ["", "Bounds of issue 13 (the supervisor rebuilt as one loop), tend in this run:", ""]
    st = M.get("startup", {})
    t, b = st.get("tend", {}).get("overhead"), st.get("tini-static", {}).get("overhead")
    r = t / b if t is not None and b else None
    line("start-up ≤ 1.1× tini-static", None if r is None else r <= 1.1,
         f"{fmt(t)} µs vs {fmt(b)} µs ({r:.2f}×)" if r else NA)
    line("VmRSS supervising `sleep` ≤ 1.25 MiB", None if rss is None else rss <= 1280,
         f"{fmt(rss, ' KiB', 0)}")
    line("static binary ≤ 2.5 MiB", None if not sz else (sz["stripped_size"] <= 2.5 * 2**20 and bool(sz.get("static"))),
         f"{sz['stripped_size'] / 1024:,.0f} KiB" if sz else NA)
    out.append("")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer iterations, short idle window (<~60 s)")
    ap.add_argument("--tend", help="tend binary (default: $TEND_BIN)")
    ap.add_argument("--json", default=str(REPO / "target" / "bench" / "results.json"),
                    help="where to write the raw numbers (default: target/bench/results.json)")
    ap.add_argument("--only", help="comma list of: startup,memory,size,idle,signal,reap,exit,shutdown,healthcheck,services")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--render", metavar="JSON", help="only print the table of an earlier run's JSON")
    a = ap.parse_args()
    if a.render:
        sys.stdout.write(render(json.loads(Path(a.render).read_text())))
        return 0
    if sys.platform != "linux":
        sys.exit("bench: Linux only")
    b = Bench(a)
    try:
        res = b.run()
    finally:
        b.cleanup()
    table = render(res)
    res["table_markdown"] = table
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    sys.stdout.write(table)
    log(f"raw numbers: {a.json} ({res['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
