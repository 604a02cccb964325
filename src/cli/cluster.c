/*
 * cluster.c: `cairn cluster up | down | status`: a whole cluster on
 * loopback for development, tests and the demo.
 *
 * up writes, under its directory D: a secret (0600), one config file per
 * daemon (metaN.conf, chunkN.conf, keys of docs/metad.md and
 * docs/chunkd.md), data directories and logs (metaN.log, chunkN.log), and
 * the cluster file D/cluster.conf:
 *     meta = 127.0.0.1:P1,127.0.0.1:P2,...     (what clients connect to)
 *     secret = D/secret
 *     dir = D
 *     proc = KIND ID ADDR PID CONFIG           (one per daemon)
 * and points the default cluster file (--cluster FILE, $CAIRN_CLUSTER or
 * ~/.cairn/cluster) at it with a symbolic link. Daemons run in their own
 * sessions (setsid) so they outlive the command; down stops exactly the
 * processes the file names, by pid, after checking that each pid still runs
 * `cairn ... --config CONFIG` (a pid may have been reused): SIGTERM, then
 * SIGKILL after a timeout. up on a directory whose cluster is stopped starts
 * the same daemons again (same ports, same data).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cli/cli.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/prng.h"
#include "common/time.h"
#include "rpc/rpc.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))
#define CL_PROCS_MAX 32
#define CL_PATH 1024
/* Ports are drawn below Linux's ephemeral range (32768..), so outgoing
 * connections of other programs do not take them between pick and bind. */
#define CL_PORT_LO 20000u
#define CL_PORT_HI 32000u
/* Readiness and shutdown waits (seconds), overridable with --timeout. */
#define CL_UP_TIMEOUT_S 60u
#define CL_DOWN_TIMEOUT_S 10u
/* Fresh starts tried before giving up (see up_run). */
#define CL_UP_ATTEMPTS 3

struct cl_proc {
    char kind[8]; /* "meta" or "chunk" */
    uint32_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    long pid;
    char conf[CL_PATH];
};

struct cl {
    char dir[CL_PATH - 64]; /* room for the names of files under it */
    char file[CL_PATH];     /* dir/cluster.conf */
    char secret[CL_PATH];
    char name[64];
    uint32_t n;
    struct cl_proc p[CL_PROCS_MAX];
};

const char cli_cluster_usage[] =
    "usage: cairn cluster up [--dir D] [--metas N] [--chunks N] [--timeout S]\n"
    "       cairn cluster down [--dir D] [--timeout S]\n"
    "       cairn cluster status [--dir D]\n"
    "\n"
    "Run a whole cluster on this machine (127.0.0.1) for development, tests and\n"
    "demos. Every daemon runs in the background with its config, data and log\n"
    "under D (default ~/.cairn/local).\n"
    "\n"
    "up       picks free ports, writes a secret (mode 0600) and config files,\n"
    "         starts N metadata servers (default 3) and N chunk servers (default\n"
    "         3), waits until a leader serves and every chunk server is up, and\n"
    "         writes D/cluster.conf; the default cluster file (--cluster FILE,\n"
    "         else $CAIRN_CLUSTER, else ~/.cairn/cluster) becomes a link to it,\n"
    "         so every other command finds the cluster. On a directory whose\n"
    "         cluster was stopped, up starts the same daemons again.\n"
    "down     stops exactly the processes of the cluster file (SIGTERM, then\n"
    "         SIGKILL after --timeout seconds, default 10); data stays in D.\n"
    "status   one line per daemon: pid, running or not, role or state.\n"
    "\n"
    "  --dir D       the cluster's directory (down/status: default is the\n"
    "                cluster of the default cluster file)\n"
    "  --metas N     metadata servers (1..7, odd is best)\n"
    "  --chunks N    chunk servers (0..16)\n"
    "  --timeout S   seconds to wait for readiness (up, default 60) or exits\n"
    "\n"
    "examples:\n"
    "  cairn cluster up\n"
    "  cairn cluster up --dir /tmp/c1 --metas 3 --chunks 4\n"
    "  CAIRN_CLUSTER=/tmp/c1/cluster.conf cairn ls /\n"
    "  cairn cluster down\n";

/* --- the cluster file ------------------------------------------------------------------- */

static int cl_write(const struct cl *c)
{
    char tmp[CL_PATH + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->file);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    fprintf(f, "# cairn cluster file, written by `cairn cluster up`; read by every cairn\n"
               "# command (--cluster FILE, CAIRN_CLUSTER, ~/.cairn/cluster).\n");
    fprintf(f, "meta = ");
    int first = 1;
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(c->p[i].kind, "meta") == 0) {
            fprintf(f, "%s%s", first ? "" : ",", c->p[i].addr);
            first = 0;
        }
    fprintf(f, "\nsecret = %s\ndir = %s\ncluster = %s\n", c->secret, c->dir, c->name);
    for (uint32_t i = 0; i < c->n; i++)
        fprintf(f, "proc = %s %" PRIu32 " %s %ld %s\n", c->p[i].kind, c->p[i].id, c->p[i].addr,
                c->p[i].pid, c->p[i].conf);
    int bad = ferror(f) | fflush(f) | fsync(fileno(f));
    bad |= fclose(f);
    if (bad || rename(tmp, c->file) != 0)
        return -EIO;
    return 0;
}

static int cl_line(struct cl *c, char *key, char *val)
{
    if (strcmp(key, "secret") == 0)
        snprintf(c->secret, sizeof c->secret, "%s", val);
    else if (strcmp(key, "dir") == 0)
        snprintf(c->dir, sizeof c->dir, "%s", val);
    else if (strcmp(key, "cluster") == 0)
        snprintf(c->name, sizeof c->name, "%s", val);
    else if (strcmp(key, "proc") == 0) {
        if (c->n == CL_PROCS_MAX)
            return -1;
        struct cl_proc *p = &c->p[c->n];
        if (sscanf(val, "%7s %" SCNu32 " %64s %ld %1023s", p->kind, &p->id, p->addr, &p->pid,
                   p->conf) != 5)
            return -1;
        c->n++;
    }
    return 0;
}

/* Read a cluster file (follows a link). -ENOENT, -EINVAL. */
static int cl_read(const char *path, struct cl *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char line[2 * CL_PATH];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n#")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *k = line, *v = eq + 1;
        while (*k == ' ' || *k == '\t')
            k++;
        k[strcspn(k, " \t")] = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        rc = cl_line(c, k, v);
    }
    fclose(f);
    if (rc || !c->dir[0])
        return -EINVAL;
    snprintf(c->file, sizeof c->file, "%s/cluster.conf", c->dir);
    return 0;
}

/* --- processes -------------------------------------------------------------------------------- */

/* 1 if pid runs and is the daemon started with config conf (its command line
 * names it): a reused pid is never signalled. Zombies count as gone. */
static int proc_alive(long pid, const char *conf)
{
    if (pid <= 0 || kill((pid_t)pid, 0) != 0)
        return 0;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (f) {
        char state = 0;
        int ok = fscanf(f, "%*d (%*[^)]) %c", &state) == 1;
        fclose(f);
        if (ok && (state == 'Z' || state == 'X'))
            return 0;
    }
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0)
            buf[i] = '\n';
    buf[n] = 0;
    return strstr(buf, conf) != NULL;
}

/* Start `cairn KIND --config CONF` in its own session, output to log.
 * Returns once the child has called exec (a close-on-exec pipe tells), so
 * its command line already names its config when proc_alive looks. */
static long spawn(const char *self, const struct cl_proc *p, const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int sync[2] = {-1, -1};
    if (fd < 0 || nul < 0 || pipe2(sync, O_CLOEXEC) != 0) {
        int fds[] = {fd, nul, sync[0], sync[1]};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        setsid();
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        char *const argv[] = {(char *)"cairn", (char *)p->kind, (char *)"--config", (char *)p->conf,
                              NULL};
        execv(self, argv);
        int err = errno;
        if (write(sync[1], &err, sizeof err) < 0)
            _exit(126);
        _exit(127);
    }
    close(fd);
    close(nul);
    close(sync[1]);
    int err = 0;
    ssize_t n;
    while ((n = read(sync[0], &err, sizeof err)) < 0 && errno == EINTR)
        ;
    close(sync[0]);
    return pid < 0 || n > 0 ? -1 : pid;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static void log_path(const struct cl *c, const struct cl_proc *p, char *out, size_t len)
{
    snprintf(out, len, "%s/%s%" PRIu32 ".log", c->dir, p->kind, p->id);
}

static void print_log_tail(const struct cl *c, const struct cl_proc *p)
{
    char path[CL_PATH + 32], buf[2048];
    log_path(c, p, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    ssize_t n = pread(fd, buf, sizeof buf - 1,
                      end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        fprintf(stderr, "--- last lines of %s:\n%s\n---\n", path, buf);
    }
}

/* SIGTERM every live process of c, wait up to timeout_s, SIGKILL the rest.
 * Returns how many were running. */
static int stop_all(const struct cl *c, unsigned timeout_s)
{
    int running = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (proc_alive(c->p[i].pid, c->p[i].conf)) {
            kill((pid_t)c->p[i].pid, SIGTERM);
            running++;
        }
    uint64_t deadline = time_mono_ms() + (uint64_t)timeout_s * 1000u;
    for (int pass = 0; pass < 2; pass++) {
        for (;;) {
            int left = 0;
            for (uint32_t i = 0; i < c->n; i++)
                left += proc_alive(c->p[i].pid, c->p[i].conf);
            if (!left || time_mono_ms() >= deadline)
                break;
            sleep_ms(50);
        }
        if (pass == 0) {
            for (uint32_t i = 0; i < c->n; i++)
                if (proc_alive(c->p[i].pid, c->p[i].conf)) {
                    fprintf(stderr,
                            "cairn: cluster: %s %" PRIu32 " (pid %ld) did not stop: "
                            "SIGKILL\n",
                            c->p[i].kind, c->p[i].id, c->p[i].pid);
                    kill((pid_t)c->p[i].pid, SIGKILL);
                }
            deadline = time_mono_ms() + 5000u;
        }
    }
    return running;
}

/* --- up
 * ------------------------------------------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[CL_PATH];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, mode) != 0 && errno != EEXIST ? -errno : 0;
}

static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* n distinct free ports on 127.0.0.1, as "127.0.0.1:P" into the procs. */
static int pick_ports(struct cl *c)
{
    struct prng r;
    uint64_t seed;
    if (rpc_random(&seed, sizeof seed) != 0)
        seed = (uint64_t)getpid() ^ time_mono_ns();
    prng_seed(&r, seed);
    for (uint32_t i = 0; i < c->n; i++) {
        int found = 0;
        for (int tries = 0; tries < 1000 && !found; tries++) {
            uint16_t port = (uint16_t)prng_range(&r, CL_PORT_LO, CL_PORT_HI - 1);
            snprintf(c->p[i].addr, sizeof c->p[i].addr, "127.0.0.1:%u", (unsigned)port);
            found = port_free(port);
            for (uint32_t k = 0; k < i && found; k++)
                found = strcmp(c->p[k].addr, c->p[i].addr) != 0;
        }
        if (!found)
            return -EADDRINUSE;
    }
    return 0;
}

static int write_secret(struct cl *c)
{
    uint8_t raw[32];
    char text[2 * sizeof raw + 2];
    if (rpc_random(raw, sizeof raw) != 0)
        return -EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    text[2 * sizeof raw] = '\n';
    snprintf(c->secret, sizeof c->secret, "%s/secret", c->dir);
    /* 0600 from the start: the rpc layer refuses secrets others can read. */
    int fd = open(c->secret, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int ok = fchmod(fd, 0600) == 0 && write(fd, text, 2 * sizeof raw + 1) == 2 * sizeof raw + 1;
    ok &= fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -EIO;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fputs(text, f);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -EIO : 0;
}

/* Config files of every daemon: keys of docs/metad.md and docs/chunkd.md. */
static int write_configs(struct cl *c, uint32_t metas)
{
    char peers[CL_PROCS_MAX * (CAIRN_MEMBER_ADDR_MAX + 16)] = "";
    char metas_list[CL_PROCS_MAX * (CAIRN_MEMBER_ADDR_MAX + 2)] = "";
    for (uint32_t i = 0; i < metas; i++) {
        size_t pl = strlen(peers), ml = strlen(metas_list);
        snprintf(peers + pl, sizeof peers - pl, "%s%" PRIu32 "=%s", i ? "," : "", c->p[i].id,
                 c->p[i].addr);
        snprintf(metas_list + ml, sizeof metas_list - ml, "%s%s", i ? "," : "", c->p[i].addr);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct cl_proc *p = &c->p[i];
        char text[8192], base[CL_PATH - 16];
        snprintf(base, sizeof base, "%s/%s%" PRIu32, c->dir, p->kind, p->id);
        snprintf(p->conf, sizeof p->conf, "%s.conf", base);
        if (strcmp(p->kind, "meta") == 0)
            snprintf(text, sizeof text,
                     "# metadata server %" PRIu32 " of a local cluster (cairn cluster up)\n"
                     "id = %" PRIu32 "\nlisten = %s\npeers = %s\ndata = %s\nsecret = %s\n"
                     "cluster = %s\ntick_ms = 10\nelection_ticks = 20\nlog_level = info\n"
                     "pid_file = %s.pid\n",
                     p->id, p->id, p->addr, peers, base, c->secret, c->name, base);
        else
            snprintf(text, sizeof text,
                     "# chunk server %" PRIu32 " of a local cluster (cairn cluster up)\n"
                     "data = %s\nlisten = %s\nmeta = %s\nsecret = %s\nheartbeat_ms = 500\n"
                     "log_level = info\npid_file = %s.pid\n",
                     p->id, base, p->addr, metas_list, c->secret, base);
        int rc = write_file(p->conf, text);
        if (rc)
            return rc;
    }
    return 0;
}

/* A new cluster's layout in c->dir: secret, ports, configs. */
static int cl_create(struct cl *c, uint32_t metas, uint32_t chunks)
{
    uint64_t tag;
    if (rpc_random(&tag, sizeof tag) != 0)
        tag = time_mono_ns();
    snprintf(c->name, sizeof c->name, "local-%016" PRIx64, tag);
    c->n = metas + chunks;
    for (uint32_t i = 0; i < c->n; i++) {
        snprintf(c->p[i].kind, sizeof c->p[i].kind, "%s", i < metas ? "meta" : "chunk");
        c->p[i].id = i < metas ? i + 1 : i - metas + 1;
    }
    int rc = write_secret(c);
    if (rc == 0)
        rc = pick_ports(c);
    if (rc == 0)
        rc = write_configs(c, metas);
    return rc;
}

/* Wait until a leader serves and `chunks` chunk servers are up. */
static int wait_ready(struct cl *c, uint32_t chunks, unsigned timeout_s)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)timeout_s * 1000u;
    const char *addrs[CL_PROCS_MAX];
    size_t n = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(c->p[i].kind, "meta") == 0)
            addrs[n++] = c->p[i].addr;
    struct cairn_config cfg = {.meta_addrs = addrs,
                               .n_meta_addrs = n,
                               .secret_path = c->secret,
                               .name = "cairn-cluster-up",
                               .op_timeout_ms = 2000};
    struct cairn *cn = NULL;
    int last = -ETIMEDOUT;
    while (time_mono_ms() < deadline) {
        for (uint32_t i = 0; i < c->n; i++)
            if (!proc_alive(c->p[i].pid, c->p[i].conf)) {
                fprintf(stderr, "cairn: cluster: %s %" PRIu32 " exited during start-up\n",
                        c->p[i].kind, c->p[i].id);
                print_log_tail(c, &c->p[i]);
                if (cn)
                    cairn_disconnect(cn);
                return -EIO;
            }
        struct cairn_statfs fs;
        if (!cn)
            last = cairn_connect(&cfg, &cn);
        if (cn && (last = cairn_statfs(cn, &fs)) == 0 && fs.nodes_up >= chunks) {
            cairn_disconnect(cn);
            return 0;
        }
        sleep_ms(200);
    }
    if (cn)
        cairn_disconnect(cn);
    fprintf(stderr, "cairn: cluster: not ready after %u s (%s)\n", timeout_s,
            last ? strerror(-last) : "chunk servers not all up");
    return -ETIMEDOUT;
}

/* Point the default cluster file at D/cluster.conf, unless it names
 * another cluster that is running. */
static void link_default(const struct cl *c)
{
    char path[CL_PATH];
    if (cli_cluster_file())
        snprintf(path, sizeof path, "%s", cli_cluster_file());
    else if (cairn_cluster_file_default(path, sizeof path) != 0)
        return;
    char real_a[CL_PATH], real_b[CL_PATH];
    if (realpath(path, real_a) && realpath(c->file, real_b) && strcmp(real_a, real_b) == 0)
        return;
    struct cl *other = malloc(sizeof *other);
    int busy = 0;
    if (other && cl_read(path, other) == 0)
        for (uint32_t i = 0; i < other->n; i++)
            busy |= proc_alive(other->p[i].pid, other->p[i].conf);
    free(other);
    if (busy) {
        printf("note: %s names another running cluster; use --cluster %s\n", path, c->file);
        return;
    }
    char dir[CL_PATH], tmp[CL_PATH + 8];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        mkdir_p(dir, 0700);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    if (symlink(c->file, tmp) != 0 || rename(tmp, path) != 0)
        printf("note: could not link %s to %s: %s\n", path, c->file, strerror(errno));
}

static int start_all(struct cl *c, const char *self)
{
    for (uint32_t i = 0; i < c->n; i++) {
        char data[CL_PATH + 32], log[CL_PATH + 32];
        snprintf(data, sizeof data, "%s/%s%" PRIu32, c->dir, c->p[i].kind, c->p[i].id);
        log_path(c, &c->p[i], log, sizeof log);
        if (mkdir_p(data, 0700) != 0)
            return -errno;
        c->p[i].pid = spawn(self, &c->p[i], log);
        if (c->p[i].pid < 0)
            return -EIO;
    }
    return cl_write(c);
}

/* c->dir: the absolute form of dir (default ~/.cairn/local), created. */
static int up_dir(struct cl *c, const char *dir, char *want, size_t len)
{
    const char *home = getenv("HOME");
    if (dir)
        snprintf(want, len, "%s", dir);
    else
        snprintf(want, len, "%s/.cairn/local", home && *home ? home : ".");
    int rc = mkdir_p(want, 0700);
    char real[PATH_MAX];
    if (rc == 0 && !realpath(want, real))
        rc = -errno;
    if (rc == 0 && strlen(real) >= sizeof c->dir)
        rc = -ENAMETOOLONG;
    if (rc == 0)
        memcpy(c->dir, real, strlen(real) + 1);
    return rc;
}

/* A stopped cluster of c->dir is started again as it was (*again set);
 * a running one is refused (CLI_FAIL). */
static int up_previous(struct cl *c, int *again)
{
    char file[CL_PATH];
    snprintf(file, sizeof file, "%s/cluster.conf", c->dir);
    struct cl *old = calloc(1, sizeof *old);
    *again = old && cl_read(file, old) == 0 && strcmp(old->dir, c->dir) == 0;
    if (*again)
        memcpy(c, old, sizeof *c);
    free(old);
    snprintf(c->file, sizeof c->file, "%s", file);
    for (uint32_t i = 0; *again && i < c->n; i++)
        if (proc_alive(c->p[i].pid, c->p[i].conf)) {
            fprintf(stderr,
                    "cairn: cluster up: a cluster is already running in %s "
                    "(cairn cluster down --dir %s)\n",
                    c->dir, c->dir);
            return CLI_FAIL;
        }
    return CLI_OK;
}

/* Start every daemon of c and wait for readiness; stop them all on failure.
 * -EIO: a daemon exited during start-up (its log tail is printed). */
static int up_launch(struct cl *c, unsigned timeout)
{
    char self[CL_PATH];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        return -errno;
    self[sl] = 0;
    uint32_t n_chunks = 0;
    for (uint32_t i = 0; i < c->n; i++)
        n_chunks += strcmp(c->p[i].kind, "chunk") == 0;
    int rc = start_all(c, self);
    if (rc == 0)
        rc = wait_ready(c, n_chunks, timeout);
    if (rc)
        stop_all(c, 3);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove what a failed first start left of a fresh cluster: the daemons'
 * data directories, logs, pid and config files (nothing else in D). */
static void up_wipe(const struct cl *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        char base[CL_PATH - 16], path[CL_PATH];
        snprintf(base, sizeof base, "%s/%s%" PRIu32, c->dir, c->p[i].kind, c->p[i].id);
        nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        const char *ext[] = {".log", ".pid", ".conf"};
        for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
            snprintf(path, sizeof path, "%s%s", base, ext[k]);
            unlink(path);
        }
    }
}

/* Create (fresh) or reuse (again) the layout, launch, and on success link
 * the default cluster file. A fresh cluster is tried up to CL_UP_ATTEMPTS
 * times: a port can be taken by another program between the pick and the
 * daemon's bind, and the next attempt picks other ports. */
static int up_run(struct cl *c, int again, uint32_t metas, uint32_t chunks, unsigned timeout)
{
    int rc = 0;
    for (int attempt = 1;; attempt++) {
        if (!again && (rc = cl_create(c, metas, chunks)) != 0)
            return cli_error("cluster up", c->dir, rc);
        rc = up_launch(c, timeout);
        if (rc != -EIO || again || attempt == CL_UP_ATTEMPTS)
            break;
        fprintf(stderr, "cairn: cluster up: trying again with other ports\n");
        up_wipe(c);
    }
    if (rc)
        return rc == -ETIMEDOUT || rc == -EIO ? CLI_FAIL : cli_error("cluster up", c->dir, rc);
    link_default(c);
    uint32_t n_chunks = 0;
    for (uint32_t i = 0; i < c->n; i++)
        n_chunks += strcmp(c->p[i].kind, "chunk") == 0;
    printf("cluster %s: %" PRIu32 " metadata and %" PRIu32 " chunk servers in %s\n",
           again ? "restarted" : "up", c->n - n_chunks, n_chunks, c->dir);
    printf("cluster file: %s\n", c->file);
    return CLI_OK;
}

static int cluster_up(int argc, char **argv)
{
    const char *dir = NULL, *metas_s = "3", *chunks_s = "3", *timeout_s = NULL;
    const struct cli_opt opts[] = {{"dir", 0, &dir, NULL},
                                   {"metas", 0, &metas_s, NULL},
                                   {"chunks", 0, &chunks_s, NULL},
                                   {"timeout", 0, &timeout_s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("cluster up", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    char *e1, *e2, *e3 = NULL;
    unsigned long metas = strtoul(metas_s, &e1, 10), chunks = strtoul(chunks_s, &e2, 10);
    unsigned long timeout = timeout_s ? strtoul(timeout_s, &e3, 10) : CL_UP_TIMEOUT_S;
    if (n_pos || *e1 || *e2 || (e3 && *e3) || metas < 1 || metas > 7 || chunks > 16 ||
        timeout < 1 || timeout > 3600)
        return cli_usage_error("cluster up", "bad arguments (--metas 1..7, --chunks 0..16)");
    struct cl *c = calloc(1, sizeof *c);
    if (!c)
        return cli_error("cluster up", NULL, -ENOMEM);
    char want[CL_PATH];
    int again = 0, rc = up_dir(c, dir, want, sizeof want);
    code = rc ? cli_error("cluster up", want, rc) : up_previous(c, &again);
    if (code == CLI_OK)
        code = up_run(c, again, (uint32_t)metas, (uint32_t)chunks, (unsigned)timeout);
    free(c);
    return code;
}

/* --- down and status ------------------------------------------------------------------------- */

/* The cluster --dir names, or the one of the default cluster file. */
static int cl_find(const char *cmd, const char *dir, struct cl *c)
{
    char path[CL_PATH + 16];
    if (dir)
        snprintf(path, sizeof path, "%s/cluster.conf", dir);
    else if (cli_cluster_file())
        snprintf(path, sizeof path, "%s", cli_cluster_file());
    else if (cairn_cluster_file_default(path, sizeof path) != 0)
        return cli_error(cmd, NULL, -ENAMETOOLONG);
    int rc = cl_read(path, c);
    if (rc) {
        fprintf(stderr, "cairn: %s: %s: %s\n", cmd, path,
                rc == -EINVAL ? "not a file written by `cairn cluster up`" : strerror(-rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int cluster_down(int argc, char **argv)
{
    const char *dir = NULL, *timeout_s = NULL;
    const struct cli_opt opts[] = {{"dir", 0, &dir, NULL}, {"timeout", 0, &timeout_s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("cluster down", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    unsigned long timeout = timeout_s ? strtoul(timeout_s, NULL, 10) : CL_DOWN_TIMEOUT_S;
    if (n_pos)
        return cli_usage_error("cluster down", "unexpected argument \"%s\"", pos[0]);
    struct cl *c = calloc(1, sizeof *c);
    if (!c)
        return cli_error("cluster down", NULL, -ENOMEM);
    code = cl_find("cluster down", dir, c);
    if (code == CLI_OK) {
        int n = stop_all(c, (unsigned)timeout);
        printf("cluster down: stopped %d of %" PRIu32 " processes in %s\n", n, c->n, c->dir);
    }
    free(c);
    return code;
}

/* The role of each metadata server and the state of each chunk server, as
 * the cluster itself reports them (none when it does not answer). */
static void status_line(const struct cl_proc *p, int alive, struct cairn *cn,
                        const struct cairn_member *m, int n_m, const struct cairn_node *nodes,
                        int n_nodes)
{
    char what[96] = "-";
    for (int i = 0; cn && strcmp(p->kind, "meta") == 0 && i < n_m; i++)
        if (strcmp(m[i].addr, p->addr) == 0 && m[i].reachable) {
            static const char *const roles[] = {"follower", "pre-candidate", "candidate", "leader"};
            snprintf(what, sizeof what, "%s (term %" PRIu64 ")",
                     m[i].role >= 0 && m[i].role < 4 ? roles[m[i].role] : "?", m[i].term);
        }
    for (int i = 0; cn && strcmp(p->kind, "chunk") == 0 && i < n_nodes; i++)
        if (strcmp(nodes[i].addr, p->addr) == 0) {
            static const char *const st[] = {"?", "up", "suspect", "down", "draining"};
            snprintf(what, sizeof what, "node %" PRIu32 " %s", nodes[i].id,
                     nodes[i].state >= 1 && nodes[i].state <= 4 ? st[nodes[i].state] : "?");
        }
    printf("  %-6s %-3" PRIu32 " %-22s %-8ld %-8s %s\n", p->kind, p->id, p->addr, p->pid,
           alive ? "running" : "stopped", what);
}

static int cluster_status(int argc, char **argv)
{
    const char *dir = NULL;
    const struct cli_opt opts[] = {{"dir", 0, &dir, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("cluster status", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    struct cl *c = calloc(1, sizeof *c);
    struct cairn_node *nodes = calloc(CL_PROCS_MAX, sizeof *nodes);
    struct cairn_member m[CAIRN_RPC_ADDRS_MAX];
    code = !c || !nodes ? cli_error("cluster status", NULL, -ENOMEM)
                        : cl_find("cluster status", dir, c);
    struct cairn *cn = NULL;
    int n_m = 0, n_nodes = 0;
    if (code == CLI_OK) {
        struct cairn_config cfg = {
            .cluster_file = c->file, .op_timeout_ms = 3000, .name = "cairn-cluster-status"};
        if (cairn_connect(&cfg, &cn) == 0) {
            n_m = cairn_members(cn, m, CAIRN_RPC_ADDRS_MAX);
            n_nodes = cairn_nodes(cn, nodes, CL_PROCS_MAX);
        }
        printf("cluster in %s (%s)\n  %-6s %-3s %-22s %-8s %-8s %s\n", c->dir,
               cn ? "serving" : "not serving", "KIND", "ID", "ADDRESS", "PID", "PROCESS",
               "ROLE / STATE");
        for (uint32_t i = 0; i < c->n; i++) {
            int alive = proc_alive(c->p[i].pid, c->p[i].conf);
            status_line(&c->p[i], alive, cn, m, n_m, nodes, n_nodes < 0 ? 0 : n_nodes);
            if (!alive)
                code = CLI_FAIL;
        }
        if (!cn)
            code = CLI_UNREACHABLE;
    }
    if (cn)
        cairn_disconnect(cn);
    free(nodes);
    free(c);
    return code;
}

int cli_cluster(int argc, char **argv)
{
    cli_quiet_logs();
    if (argc < 1)
        return cli_usage_error("cluster", "expected up, down or status");
    if (strcmp(argv[0], "up") == 0)
        return cluster_up(argc - 1, argv + 1);
    if (strcmp(argv[0], "down") == 0)
        return cluster_down(argc - 1, argv + 1);
    if (strcmp(argv[0], "status") == 0)
        return cluster_status(argc - 1, argv + 1);
    return cli_usage_error("cluster", "unknown subcommand \"%s\" (up, down, status)", argv[0]);
}
