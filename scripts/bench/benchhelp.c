/*
 * benchhelp: the timing-critical parts of tend's benchmark (scripts/bench.sh).
 * Compiled at run time by scripts/bench/bench.py; Linux only.
 *
 * Drivers (run by the harness). CMDFILE holds one command per line, its argv
 * separated by TABs; a line's index is what the output lines report. Runs are
 * interleaved: every round runs every line once, in an order rotated by round.
 *
 *   benchhelp run   ROUNDS CMDFILE
 *       Runs each full command line; prints "round idx wall_ns maxrss_kib status".
 *   benchhelp exit  ROUNDS CMDFILE SELF
 *       Runs "INIT... SELF child-exit PATH"; the child writes CLOCK_MONOTONIC and
 *       exits; prints "round idx latency_ns" = time the driver saw the init exit
 *       minus the child's timestamp.
 *   benchhelp sig   ROUNDS PER CMDFILE SELF
 *       Runs "INIT... SELF child-sig FIFO"; sends PER paced SIGUSR1 to the init,
 *       each time waiting for the child's handler to report its timestamp;
 *       prints "round idx latency_ns" (-1 = lost after 2 s).
 *   benchhelp term  ROUNDS CMDFILE SELF CAP_MS
 *       Runs "INIT... SELF child-term PATH" (a child that ignores SIGTERM), sends
 *       SIGTERM to the init; prints "round idx child_dead_ns init_exit_ns" from
 *       the SIGTERM (-1 = not within CAP_MS; then both get SIGKILL).
 *   benchhelp svc   ROUNDS CMDFILE N FIFO CAP_MS
 *       Runs each full command line, an init configured (by the harness) to run N
 *       services "SELF child-svc FIFO"; each writes its start to FIFO. Waits for N
 *       records from children of the init, waits a settle delay (100 to 1,099 ms,
 *       the same for every init of a round, different between rounds), sends SIGTERM
 *       and waits for the init's exit; prints "round idx started_ns n_started
 *       init_exit_ns children_dead_ns": started = the last service's start since
 *       the spawn of the init (-1 = not N within 10 s), the others since the SIGTERM
 *       (-1 = not within CAP_MS; then the init and the services get SIGKILL).
 *
 * Children (run by the inits):
 *   child-exit PATH | child-sig FIFO | child-term PATH | child-svc FIFO
 *   child-reap N OUTFILE SPREAD_MS
 *
 * child-reap runs as the init's child with the init as PID 1 of a new PID
 * namespace. It makes N orphans (an intermediate process forks them, all blocked
 * on one pipe, and exits, so the kernel re-parents them to PID 1), releases them
 * all at once by closing the pipe (SPREAD_MS 0: all exit at once, "burst"; else
 * each sleeps to its own slot, spread evenly over SPREAD_MS from 200 ms after the
 * release, "stream"), and samples every ~0.2 ms until PID 1 has reaped them all:
 * zombies = exited and not yet reaped. An orphan's pidfd, in an edge-triggered epoll
 * set, reports POLLIN once when it exits and POLLHUP once when it is reaped (Linux
 * 6.9 and later), so a sample costs one epoll_wait for what changed since the last.
 * On older kernels the sampler sends signal 0 through each zombie's pidfd (ESRCH once
 * reaped): that costs a system call per zombie per sample, and with thousands of zombies
 * the sampler (at nice -20) takes the CPU the init needs to catch up, which feeds on
 * itself. Before the release it checks that all N orphans are listed in
 * /proc/1/task/ * /children. Writes one JSON object to OUTFILE.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* ---------- command file ---------- */

#define MAXCMDS 32
#define MAXARGS 64
static char *cmds[MAXCMDS][MAXARGS + 4];
static int cmdargc[MAXCMDS];
static int ncmds;

static void load_cmds(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = 0;
        if (len == 0) continue;
        if (ncmds == MAXCMDS) break;
        char *copy = strdup(line), *save = NULL;
        int argc = 0;
        for (char *tok = strtok_r(copy, "\t", &save); tok && argc < MAXARGS; tok = strtok_r(NULL, "\t", &save))
            cmds[ncmds][argc++] = tok;
        cmds[ncmds][argc] = NULL;
        cmdargc[ncmds++] = argc;
    }
    free(line);
    fclose(f);
}

/* argv of command idx with extra arguments appended (at most 3). */
static char **cmd_with(int idx, char *a, char *b, char *c) {
    static char *argv[MAXARGS + 8];
    int n = 0;
    for (int i = 0; i < cmdargc[idx]; i++) argv[n++] = cmds[idx][i];
    if (a) argv[n++] = a;
    if (b) argv[n++] = b;
    if (c) argv[n++] = c;
    argv[n] = NULL;
    return argv;
}

/* Spawns argv with stdin/stdout/stderr on /dev/null (stderr kept when BENCH_DEBUG is set). */
static pid_t spawn(char **argv) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!getenv("BENCH_DEBUG")) posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        errno = err;
        fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(err));
        return -1;
    }
    return pid;
}

/* waitpid with a deadline; SIGKILLs the process after it. Returns status or -1. */
static int wait_deadline(pid_t pid, int64_t timeout_ns) {
    int64_t end = now_ns() + timeout_ns;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (r < 0) return -1;
        if (now_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ns(1000000);
    }
}

static char tmpbase[4096];

static void make_path(char *buf, size_t n, const char *tag, int round, int idx) {
    snprintf(buf, n, "%s/%s-%d-%d-%d", tmpbase, tag, (int)getpid(), round, idx);
}

static void set_tmpbase(void) {
    const char *t = getenv("BENCH_TMP");
    snprintf(tmpbase, sizeof tmpbase, "%s", t ? t : "/tmp");
}

/* ---------- drivers ---------- */

static int drive_run(int rounds) {
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < ncmds; j++) {
            int idx = (j + r) % ncmds;
            int64_t t0 = now_ns();
            pid_t pid = spawn(cmds[idx]);
            if (pid < 0) {
                printf("%d %d -1 0 -1\n", r, idx);
                continue;
            }
            int st;
            struct rusage ru;
            while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
            }
            int64_t t1 = now_ns();
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            printf("%d %d %lld %ld %d\n", r, idx, (long long)(t1 - t0), ru.ru_maxrss, code);
        }
    }
    return 0;
}

static int drive_exit(int rounds, char *self) {
    char path[4200];
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < ncmds; j++) {
            int idx = (j + r) % ncmds;
            make_path(path, sizeof path, "exit", r, idx);
            unlink(path);
            pid_t pid = spawn(cmd_with(idx, self, "child-exit", path));
            if (pid < 0) {
                printf("%d %d -1\n", r, idx);
                continue;
            }
            int st;
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            int64_t t1 = now_ns();
            int64_t tc = -1;
            int fd = open(path, O_RDONLY);
            if (fd >= 0) {
                if (read(fd, &tc, sizeof tc) != sizeof tc) tc = -1;
                close(fd);
            }
            unlink(path);
            printf("%d %d %lld\n", r, idx, tc < 0 ? -1LL : (long long)(t1 - tc));
        }
    }
    return 0;
}

/* Reads one record of SIZE bytes from fd within timeout_ms; returns 0 on success. */
static int read_rec_n(int fd, void *out, size_t size, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (n <= 0) return -1;
    return read(fd, out, size) == (ssize_t)size ? 0 : -1;
}

/* Reads one int64 from fd within timeout_ms; returns 0 on success. */
static int read_rec(int fd, int64_t *out, int timeout_ms) { return read_rec_n(fd, out, sizeof *out, timeout_ms); }

static int drive_sig(int rounds, int per, char *self) {
    char path[4200];
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < ncmds; j++) {
            int idx = (j + r) % ncmds;
            make_path(path, sizeof path, "sig", r, idx);
            unlink(path);
            if (mkfifo(path, 0600) < 0) die("mkfifo");
            int fd = open(path, O_RDWR); /* never blocks, never sees EOF */
            if (fd < 0) die("open fifo");
            pid_t pid = spawn(cmd_with(idx, self, "child-sig", path));
            int64_t child = -1;
            if (pid < 0 || read_rec(fd, &child, 5000) < 0) {
                for (int k = 0; k < per; k++) printf("%d %d -1\n", r, idx);
                if (pid > 0) wait_deadline(pid, 0);
                close(fd);
                unlink(path);
                continue;
            }
            sleep_ns(20000000); /* let the init settle */
            for (int k = 0; k < per; k++) {
                int64_t t0 = now_ns(), tc;
                kill(pid, SIGUSR1);
                if (read_rec(fd, &tc, 2000) < 0)
                    printf("%d %d -1\n", r, idx);
                else
                    printf("%d %d %lld\n", r, idx, (long long)(tc - t0));
            }
            kill(pid, SIGTERM);
            if (wait_deadline(pid, 3000000000LL) < 0) kill((pid_t)child, SIGKILL);
            close(fd);
            unlink(path);
        }
    }
    return 0;
}

static int drive_term(int rounds, char *self, long cap_ms) {
    char path[4200];
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < ncmds; j++) {
            int idx = (j + r) % ncmds;
            make_path(path, sizeof path, "term", r, idx);
            unlink(path);
            pid_t pid = spawn(cmd_with(idx, self, "child-term", path));
            if (pid < 0) {
                printf("%d %d -1 -1\n", r, idx);
                continue;
            }
            int64_t child = -1, end = now_ns() + 5000000000LL;
            while (now_ns() < end) {
                int fd = open(path, O_RDONLY);
                if (fd >= 0) {
                    int ok = read(fd, &child, sizeof child) == sizeof child;
                    close(fd);
                    if (ok) break;
                }
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    pid = -1;
                    break;
                }
                sleep_ns(1000000);
            }
            if (pid < 0 || child <= 0) {
                printf("%d %d -1 -1\n", r, idx);
                if (pid > 0) wait_deadline(pid, 0);
                unlink(path);
                continue;
            }
            int cfd = pidfd_open_((pid_t)child), ifd = pidfd_open_(pid);
            sleep_ns(50000000); /* let the init settle */
            int64_t t0 = now_ns(), tchild = -1, tinit = -1;
            kill(pid, SIGTERM);
            int64_t deadline = t0 + cap_ms * 1000000LL;
            while ((tchild < 0 || tinit < 0) && now_ns() < deadline) {
                struct pollfd p[2] = {{tchild < 0 ? cfd : -1, POLLIN, 0}, {tinit < 0 ? ifd : -1, POLLIN, 0}};
                int left = (int)((deadline - now_ns()) / 1000000) + 1;
                int n = poll(p, 2, left);
                int64_t t = now_ns();
                if (n < 0 && errno != EINTR) break;
                if (tchild < 0 && (p[0].revents & POLLIN)) tchild = t - t0;
                if (tinit < 0 && (p[1].revents & POLLIN)) tinit = t - t0;
            }
            printf("%d %d %lld %lld\n", r, idx, (long long)tchild, (long long)tinit);
            fflush(stdout);
            if (tinit < 0) kill(pid, SIGKILL);
            if (tchild < 0) kill((pid_t)child, SIGKILL);
            waitpid(pid, NULL, 0);
            close(cfd);
            close(ifd);
            unlink(path);
        }
    }
    return 0;
}

/* One record per service start, written by child-svc in one write (atomic: < PIPE_BUF). */
struct svc_rec {
    int64_t t;
    int64_t pid;
    int64_t ppid;
};

/* Drops what an earlier run left in the FIFO (a service started after its round ended). */
static void drain(int fd) {
    char buf[4096];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    fcntl(fd, F_SETFL, fl);
}

/* Kills whatever of a run is left: the init's children (services that never reported
 * included), the init, then the services that reported (re-parented by now, if alive). */
static void kill_run(pid_t init, const pid_t *kids, int n) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/task", (int)init);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char cp[400];
        snprintf(cp, sizeof cp, "%s/%s/children", path, e->d_name);
        int fd = open(cp, O_RDONLY);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[len > 0 ? len : 0] = 0;
        for (char *s = buf, *endp; *s; s = endp) {
            long v = strtol(s, &endp, 10);
            if (endp == s) break;
            if (v > 0) kill((pid_t)v, SIGKILL);
        }
    }
    if (d) closedir(d);
    kill(init, SIGKILL);
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
}

static int drive_svc(int rounds, int n, const char *fifo, long cap_ms) {
    if (n < 1 || n > 256) die("svc: N out of 1..256");
    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0) die("mkfifo");
    int fd = open(fifo, O_RDWR); /* never blocks, never sees EOF */
    if (fd < 0) die("open fifo");
    for (int r = 0; r < rounds; r++) {
        /* The same settle delay for every init of a round: an init that polls on a timer
         * (supervisord: 1 s) notices the SIGTERM at its next tick, so a fixed delay after
         * the start would land on the same phase of that tick every time. */
        long settle_ms = 100 + (long)(((uint32_t)r * 2654435761u) >> 8) % 1000;
        for (int j = 0; j < ncmds; j++) {
            int idx = (j + r) % ncmds;
            drain(fd);
            pid_t kids[256];
            int cfd[256], got = 0;
            int64_t last = -1;
            int64_t t0 = now_ns();
            pid_t pid = spawn(cmds[idx]);
            if (pid < 0) {
                printf("%d %d -1 0 -1 -1\n", r, idx);
                continue;
            }
            int ifd = pidfd_open_(pid);
            int64_t end = t0 + 10000000000LL;
            while (got < n && now_ns() < end) {
                struct svc_rec rec;
                if (read_rec_n(fd, &rec, sizeof rec, (int)((end - now_ns()) / 1000000) + 1) < 0) break;
                if (rec.ppid != pid) continue; /* not a service of this init */
                kids[got] = (pid_t)rec.pid;
                cfd[got] = pidfd_open_((pid_t)rec.pid);
                if (rec.t > last) last = rec.t;
                got++;
            }
            int64_t started = got == n ? last - t0 : -1;
            int64_t t_exit = -1, t_dead = -1;
            if (got == n) {
                sleep_ns(settle_ms * 1000000L);
                int64_t t1 = now_ns(), deadline = t1 + cap_ms * 1000000LL;
                int alive = n;
                kill(pid, SIGTERM);
                while ((t_exit < 0 || alive > 0) && now_ns() < deadline) {
                    struct pollfd p[257];
                    p[0] = (struct pollfd){t_exit < 0 ? ifd : -1, POLLIN, 0};
                    for (int k = 0; k < n; k++) p[k + 1] = (struct pollfd){cfd[k], POLLIN, 0};
                    int left = (int)((deadline - now_ns()) / 1000000) + 1;
                    int m = poll(p, (nfds_t)n + 1, left);
                    int64_t t = now_ns();
                    if (m < 0 && errno != EINTR) break;
                    if (t_exit < 0 && (p[0].revents & POLLIN)) t_exit = t - t1;
                    for (int k = 0; k < n; k++) {
                        if (cfd[k] >= 0 && (p[k + 1].revents & (POLLIN | POLLHUP))) {
                            close(cfd[k]);
                            cfd[k] = -1;
                            if (--alive == 0) t_dead = t - t1;
                        }
                    }
                }
            }
            printf("%d %d %lld %d %lld %lld\n", r, idx, (long long)started, got, (long long)t_exit,
                   (long long)t_dead);
            fflush(stdout);
            if (t_exit < 0 || t_dead < 0) kill_run(pid, kids, got);
            waitpid(pid, NULL, 0);
            for (int k = 0; k < got; k++)
                if (cfd[k] >= 0) close(cfd[k]);
            if (ifd >= 0) close(ifd);
        }
    }
    close(fd);
    unlink(fifo);
    return 0;
}

/* ---------- children run by the inits ---------- */

static int child_exit(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 3;
    int64_t t = now_ns();
    if (write(fd, &t, sizeof t) != sizeof t) return 3;
    _exit(0);
}

static int sig_fd = -1;
static void on_usr1(int sig) {
    (void)sig;
    int64_t t = now_ns();
    if (write(sig_fd, &t, sizeof t) < 0) _exit(4);
}

static int child_sig(const char *fifo) {
    sig_fd = open(fifo, O_WRONLY);
    if (sig_fd < 0) return 3;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int64_t me = getpid();
    if (write(sig_fd, &me, sizeof me) != sizeof me) return 3;
    for (;;) pause();
}

static int child_term(const char *path) {
    signal(SIGTERM, SIG_IGN);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 3;
    int64_t me = getpid();
    if (write(fd, &me, sizeof me) != sizeof me) return 3;
    close(fd);
    rename(tmp, path);
    for (;;) pause();
}

/* A service: reports its start (after exec and the loader, as every service's), then
 * waits; SIGTERM's default action ends it at once. */
static int child_svc(const char *fifo) {
    int fd = open(fifo, O_WRONLY);
    if (fd < 0) return 3;
    struct svc_rec rec = {now_ns(), getpid(), getppid()};
    if (write(fd, &rec, sizeof rec) != sizeof rec) return 3;
    close(fd);
    for (;;) pause();
}

/* Counts pids of the orphan set still listed as children of PID 1 (any of its threads). */
static size_t count_unreaped(const unsigned char *set, size_t setbits, char *buf, size_t bufsz) {
    size_t n = 0;
    DIR *d = opendir("/proc/1/task");
    if (!d) return (size_t)-1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char p[300];
        snprintf(p, sizeof p, "/proc/1/task/%s/children", e->d_name);
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        size_t len = 0;
        ssize_t k;
        while (len < bufsz - 1 && (k = read(fd, buf + len, bufsz - 1 - len)) > 0) len += (size_t)k;
        close(fd);
        buf[len] = 0;
        char *s = buf;
        while (*s) {
            char *endp;
            long v = strtol(s, &endp, 10);
            if (endp == s) break;
            if (v > 0 && (size_t)v < setbits && (set[v >> 3] & (1u << (v & 7)))) n++;
            s = endp;
            while (*s == ' ' || *s == '\n') s++;
        }
    }
    closedir(d);
    return n;
}

/* Whether a pidfd reports POLLHUP once its process has been reaped (Linux 6.9+). */
static int pidfd_hup_on_reap(void) {
    pid_t p = fork();
    if (p < 0) return 0;
    if (p == 0) _exit(0);
    int fd = pidfd_open_(p);
    int st;
    waitpid(p, &st, 0);
    struct pollfd pf = {fd, POLLIN, 0};
    int hup = fd >= 0 && poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP);
    if (fd >= 0) close(fd);
    return hup;
}

static int child_reap(long n, const char *out, long spread_ms) {
    struct rlimit rl = {(rlim_t)n + 256, (rlim_t)n + 256};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit");
    /* shared with the orphans: [0] = when orphan 0 exits (stream mode), then the pids */
    int64_t *shared = mmap(NULL, sizeof(int64_t) + sizeof(pid_t) * (size_t)n, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap");
    volatile int64_t *t_first = shared;
    pid_t *pids = (pid_t *)(shared + 1);
    int64_t spread_ns = spread_ms * 1000000LL;
    int rel[2];
    if (pipe(rel) < 0) die("pipe");
    int64_t tf0 = now_ns();
    pid_t mid = fork();
    if (mid < 0) die("fork");
    if (mid == 0) {
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0) _exit(5);
            if (p == 0) {
                char c;
                close(rel[1]);
                while (read(rel[0], &c, 1) < 0 && errno == EINTR) {
                }
                if (spread_ns > 0) {
                    int64_t at = *t_first + spread_ns * i / n;
                    struct timespec ts = {at / 1000000000LL, at % 1000000000LL};
                    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
                    }
                }
                _exit(0);
            }
            pids[i] = p;
        }
        _exit(0);
    }
    close(rel[0]);
    int st;
    waitpid(mid, &st, 0);
    int64_t tf1 = now_ns();
    /* The orphans keep nice 0; the sampler gets a large share of the CPU so that it still
     * samples when thousands of orphans are runnable at once (burst). */
    setpriority(PRIO_PROCESS, 0, -20);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        FILE *f = fopen(out, "w");
        if (f) fprintf(f, "{\"error\":\"fork of orphans failed\"}\n"), fclose(f);
        return 5;
    }
    int hup = pidfd_hup_on_reap();
    size_t setbits = 1u << 22;
    unsigned char *set = calloc(setbits / 8, 1);
    int *fds = malloc(sizeof(int) * (size_t)n);
    long *zombies = malloc(sizeof(long) * (size_t)n); /* exited, not yet seen reaped */
    unsigned char *state = calloc((size_t)n, 1);      /* 0 running, 1 exited, 2 reaped */
    int ep = epoll_create1(0);
    for (long i = 0; i < n; i++) {
        set[pids[i] >> 3] |= (unsigned char)(1u << (pids[i] & 7));
        fds[i] = pidfd_open_(pids[i]);
        if (fds[i] < 0) die("pidfd_open");
        struct epoll_event ev = {.events = hup ? EPOLLIN | EPOLLET : EPOLLIN | EPOLLONESHOT,
                                 .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
    }
    size_t bufsz = 16 * 1024 * 1024;
    char *buf = malloc(bufsz);
    size_t before = count_unreaped(set, setbits, buf, bufsz);
    struct epoll_event evs[4096];
    long exited = 0, reaped = 0, nz = 0, max_z = 0, samples = 0;
    /* burst: every orphan exits on release; stream: every orphan wakes on release, sleeps
     * until its slot in [t0, t0 + spread) with t0 = release + 200 ms, then exits. */
    int64_t t0 = now_ns() + (spread_ns > 0 ? 200000000LL : 0);
    *t_first = t0;
    int64_t t_all_exited = -1, t_done = -1, deadline = t0 + 60000000000LL;
    close(rel[1]); /* release */
    for (;;) {
        /* A pidfd polls readable once its process has exited (a zombie from then on);
         * signal 0 through it fails with ESRCH only once the zombie has been reaped. */
        int k;
        while ((k = epoll_wait(ep, evs, 4096, 0)) > 0) {
            for (int e = 0; e < k; e++) {
                long i = (long)evs[e].data.u64;
                if (!hup) {
                    zombies[nz++] = i;
                    exited++;
                    continue;
                }
                /* An exit and its reaping between two samples come as one event. */
                if (state[i] == 0) state[i] = 1, exited++, nz++;
                if (state[i] == 1 && (evs[e].events & EPOLLHUP)) state[i] = 2, reaped++, nz--;
            }
        }
        for (long z = 0; !hup && z < nz;) {
            if (syscall(SYS_pidfd_send_signal, fds[zombies[z]], 0, NULL, 0) < 0 && errno == ESRCH) {
                reaped++;
                zombies[z] = zombies[--nz];
            } else {
                z++;
            }
        }
        int64_t t = now_ns();
        samples++;
        if (nz > max_z) max_z = nz;
        if (exited >= n && t_all_exited < 0) t_all_exited = t - t0;
        if (reaped >= n) {
            t_done = t - t0;
            break;
        }
        if (t > deadline) break;
        sleep_ns(t < t0 ? 1000000 : 200000);
    }
    FILE *f = fopen(out, "w");
    if (!f) die(out);
    fprintf(f,
            "{\"orphans\":%ld,\"spread_ms\":%ld,\"listed_before_release\":%zu,\"fork_ms\":%.3f,\"reap_ms\":%.3f,"
            "\"all_exited_ms\":%.3f,\"max_zombies\":%ld,\"samples\":%ld,\"exited\":%ld,"
            "\"sampler\":\"%s\"}\n",
            n, spread_ms, before, (tf1 - tf0) / 1e6, t_done < 0 ? -1.0 : t_done / 1e6,
            t_all_exited < 0 ? -1.0 : t_all_exited / 1e6, max_z, samples, exited,
            hup ? "pidfd_hup" : "signal_0");
    fclose(f);
    return t_done < 0 ? 6 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the comment at the top of benchhelp.c\n");
        return 64;
    }
    const char *m = argv[1];
    set_tmpbase();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(m, "child-exit") && argc == 3) return child_exit(argv[2]);
    if (!strcmp(m, "child-sig") && argc == 3) return child_sig(argv[2]);
    if (!strcmp(m, "child-term") && argc == 3) return child_term(argv[2]);
    if (!strcmp(m, "child-svc") && argc == 3) return child_svc(argv[2]);
    if (!strcmp(m, "child-reap") && argc == 5) return child_reap(atol(argv[2]), argv[3], atol(argv[4]));
    if (!strcmp(m, "run") && argc == 4) return load_cmds(argv[3]), drive_run(atoi(argv[2]));
    if (!strcmp(m, "exit") && argc == 5) return load_cmds(argv[3]), drive_exit(atoi(argv[2]), argv[4]);
    if (!strcmp(m, "sig") && argc == 6) return load_cmds(argv[4]), drive_sig(atoi(argv[2]), atoi(argv[3]), argv[5]);
    if (!strcmp(m, "svc") && argc == 7)
        return load_cmds(argv[3]), drive_svc(atoi(argv[2]), atoi(argv[4]), argv[5], atol(argv[6]));
    if (!strcmp(m, "term") && argc == 6) return load_cmds(argv[3]), drive_term(atoi(argv[2]), argv[4], atol(argv[5]));
    fprintf(stderr, "benchhelp: bad arguments\n");
    return 64;
}
