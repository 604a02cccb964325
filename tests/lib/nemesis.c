/* nemesis.c: a real cluster behind the fault-injecting proxy, client
 * workers, faults scheduled from a seed, then heal and check (see
 * nemesis.h). */
#include "nemesis.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "chunk/format.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/time.h"
#include "netproxy.h"

/* Proxy endpoints: metadata slot i is i, chunk slot j is CHUNK_END0 + j. */
#define CHUNK_END0 7u
#define META_MAX 7u
#define CHUNKS_MAX (NETPROXY_CLIENT - CHUNK_END0)
#define CLIENT_BIT (1u << NETPROXY_CLIENT)
/* The tmpfs under chunk server 1 for the disk-full action: big enough for
 * its share of a 30-minute run, small enough to fill in a moment. */
#define TMPFS_OPTS "size=128m"
#define BALLAST_CHUNK (1u << 20)
/* Start, restart and convergence waits: generous, a loaded 2-core box. */
#define READY_MS 30000u
#define HEAL_MS 60000u
#define WORKER_GRACE_MS 30000u
/* Replicas back at goal: a chunk whose writer was killed mid-write is
 * repaired only after that client's session expires (about a minute seen;
 * nemesis_findings.md, 4), plus the repair itself on a loaded machine. */
#define REPLICAS_MS 150000u
#define CORRUPT_MAX 4096u

static const char *const fault_names[NEM_FAULTS] = {
    [NEM_KILL_META] = "kill_meta",      [NEM_KILL_CHUNK] = "kill_chunk",
    [NEM_PAUSE_META] = "pause_meta",    [NEM_PAUSE_CHUNK] = "pause_chunk",
    [NEM_PART_MAJORITY] = "part_major", [NEM_PART_LEADER] = "part_leader",
    [NEM_PART_ONEWAY] = "part_oneway",  [NEM_PART_FLAP] = "part_flap",
    [NEM_CORRUPT] = "corrupt",          [NEM_DISK_FULL] = "disk_full",
    [NEM_KILL_CLIENT] = "kill_client",
};

static const char *const wl_names[] = {"register", "namespace", "append", "lock"};

const char *nem_fault_name(enum nem_fault f) { return f < NEM_FAULTS ? fault_names[f] : "?"; }

struct worker {
    pid_t pid; /* 0 once reaped */
    uint32_t wl;
    uint32_t client;
    char hist[CLUSTER_PATH_MAX];
};

struct nem {
    struct nem_cfg cfg;
    struct nem_report *r;
    struct cluster *c;
    struct netproxy *px;
    struct prng rng;
    FILE *log;
    uint64_t t0, fault_end;
    char cluster_file[CLUSTER_PATH_MAX];
    pid_t end_pid[NETPROXY_ENDS_MAX];
    struct worker *workers;
    uint32_t n_workers, next_client;
    char tmpfs[CLUSTER_PATH_MAX];
    int tmpfs_mounted;
    char ballast[CLUSTER_PATH_MAX + 16];
    uint64_t corrupted[CORRUPT_MAX];
    uint32_t n_corrupted;
};

/* --- log ----------------------------------------------------------------- */

static void nlog(struct nem *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One timestamped line (ms since the start) in nemesis.log. */
static void nlog(struct nem *n, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    uint64_t t = time_mono_ms() - n->t0;
    if (n->log) {
        fprintf(n->log, "%8" PRIu64 ".%03" PRIu64 " %s\n", t / 1000, t % 1000, line);
        fflush(n->log);
    }
    if (n->cfg.verbose)
        fprintf(stderr, "nemesis %8" PRIu64 " ms: %s\n", t, line);
}

/* --- processes and the proxy's view of them -------------------------------- */

/* Tell the proxy which pid each server has now (after every spawn). */
static void sync_pids(struct nem *n)
{
    for (uint32_t e = 0; e < NETPROXY_CLIENT; e++) {
        pid_t now = 0;
        if (e < META_MAX && e < n->c->n_nodes)
            now = n->c->nodes[e].pid;
        else if (e >= CHUNK_END0 && e - CHUNK_END0 < n->c->n_chunks)
            now = n->c->chunks[e - CHUNK_END0].pid;
        if (now == n->end_pid[e])
            continue;
        if (n->end_pid[e] > 0)
            netproxy_set_pid(n->px, n->end_pid[e], -1);
        if (now > 0)
            netproxy_set_pid(n->px, now, (int)e);
        n->end_pid[e] = now;
    }
}

static void restart_meta(struct nem *n, uint32_t s);
static void restart_chunk(struct nem *n, uint32_t s);

/* A server that exited without being told to is a finding: count it, log
 * it, forget its pid (the heal restarts it). A failed exec is no finding:
 * that server starts again at once. */
static void reap_crashed(struct nem *n)
{
    for (uint32_t i = 0; i < n->c->n_nodes + n->c->n_chunks; i++) {
        int meta = i < n->c->n_nodes;
        uint32_t s = meta ? i : i - n->c->n_nodes;
        pid_t *pid = meta ? &n->c->nodes[s].pid : &n->c->chunks[s].pid;
        int st;
        if (*pid <= 0 || waitpid(*pid, &st, WNOHANG) != *pid)
            continue;
        /* 127: the exec failed (in a shared tree `make` may be relinking
         * the binary), not the server: start it again at once. */
        int exec_failed = WIFEXITED(st) && WEXITSTATUS(st) == 127;
        n->r->crashes += !exec_failed;
        nlog(n, "%s %s %u (pid %d) exited on its own: %s %d", exec_failed ? "EXEC FAILED" : "CRASH",
             meta ? "meta" : "chunk", s + 1, (int)*pid, WIFEXITED(st) ? "status" : "signal",
             WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        cluster_proc_reaped(*pid);
        *pid = 0;
        if (meta)
            n->c->nodes[s].paused = 0;
        else
            n->c->chunks[s].paused = 0;
        if (exec_failed && meta)
            restart_meta(n, s);
        else if (exec_failed)
            restart_chunk(n, s);
    }
}

/* Run the harness loop for ms while watching for crashed servers. */
static void idle(struct nem *n, uint32_t ms)
{
    uint64_t end = time_mono_ms() + ms;
    while (time_mono_ms() < end) {
        uint64_t left = end - time_mono_ms();
        cluster_run_for(n->c, (uint32_t)CAIRN_MIN(left, 100u) + 1u);
        reap_crashed(n);
    }
}

static int advertise_cb(void *arg, int kind, uint32_t slot, const char *listen, char *out,
                        size_t len)
{
    struct nem *n = arg;
    uint32_t end = kind == CLUSTER_KIND_META ? slot : CHUNK_END0 + slot;
    if ((kind == CLUSTER_KIND_META && slot >= META_MAX) ||
        (kind == CLUSTER_KIND_CHUNK && slot >= CHUNKS_MAX))
        return CAIRN_LIMIT;
    return netproxy_listen(n->px, (int)end, listen, out, len);
}

/* A server process was just started: the proxy must know it before its
 * first connection (one accepted earlier would count as a client's). */
static void spawned_cb(void *arg, int kind, uint32_t slot, pid_t pid)
{
    struct nem *n = arg;
    uint32_t e = kind == CLUSTER_KIND_META ? slot : CHUNK_END0 + slot;
    if (n->end_pid[e] > 0)
        netproxy_set_pid(n->px, n->end_pid[e], -1);
    netproxy_set_pid(n->px, pid, (int)e);
    n->end_pid[e] = pid;
}

/* --- workers ---------------------------------------------------------------- */

/* In a forked child: no handler of the parent may kill the cluster, no
 * inherited socket of the proxy may keep a connection open, the child dies
 * with the test. */
static void child_prepare(const char *log)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_DFL);
    int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    close_range(3, ~0u, 0);
}

static void worker_start(struct nem *n, uint32_t wl, uint32_t duration_ms)
{
    CAIRN_ASSERTF(n->n_workers < NEM_WORKERS_MAX, "nemesis: more than %d workers", NEM_WORKERS_MAX);
    struct worker *w = &n->workers[n->n_workers++];
    w->wl = wl;
    w->client = ++n->next_client;
    snprintf(w->hist, sizeof w->hist, "%s/hist/%s-c%u.hist", n->cfg.dir,
             wl_names[n->cfg.wl[wl].kind], w->client);
    char root[64], logp[CLUSTER_PATH_MAX + 8];
    snprintf(root, sizeof root, "/nem/%s%u", wl_names[n->cfg.wl[wl].kind], wl);
    snprintf(logp, sizeof logp, "%s/hist/workers.log", n->cfg.dir);
    struct wl_cfg wc = {
        .kind = n->cfg.wl[wl].kind,
        .cluster_file = n->cluster_file,
        .root = root,
        .client_id = w->client,
        .seed = n->cfg.seed ^ ((uint64_t)w->client * 0x9e3779b97f4a7c15ull),
        .keys = n->cfg.wl[wl].keys,
        .duration_ms = duration_ms,
        .history_path = w->hist,
    };
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_prepare(logp);
        _exit(wl_run(&wc) == 0 ? 0 : 1);
    }
    CAIRN_ASSERT(pid > 0);
    cluster_proc_register(pid);
    w->pid = pid;
    nlog(n, "worker %u (%s) started, pid %d", w->client, wl_names[wc.kind], (int)pid);
}

static void worker_reap(struct nem *n, struct worker *w, int block)
{
    int st;
    if (w->pid <= 0 || waitpid(w->pid, &st, block ? 0 : WNOHANG) != w->pid)
        return;
    nlog(n, "worker %u ended: %s %d", w->client, WIFEXITED(st) ? "status" : "signal",
         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    cluster_proc_reaped(w->pid);
    w->pid = 0;
}

/* After the fault phase: the workers end on their own (their duration);
 * any still running after a grace period is killed (its last op stays
 * unknown, which the checkers allow). */
static void workers_finish(struct nem *n)
{
    uint64_t end = time_mono_ms() + WORKER_GRACE_MS;
    for (;;) {
        uint32_t alive = 0;
        for (uint32_t i = 0; i < n->n_workers; i++) {
            worker_reap(n, &n->workers[i], 0);
            alive += n->workers[i].pid > 0;
        }
        if (!alive)
            return;
        if (time_mono_ms() >= end) {
            for (uint32_t i = 0; i < n->n_workers; i++) {
                if (n->workers[i].pid > 0) {
                    nlog(n, "worker %u still running after the grace: SIGKILL",
                         n->workers[i].client);
                    kill(n->workers[i].pid, SIGKILL);
                    worker_reap(n, &n->workers[i], 1);
                }
            }
            return;
        }
        idle(n, 100);
    }
}

/* --- libcairn in a child: setup and checks ------------------------------------ */

struct shared_out {
    int rc;
    struct wl_report rep;
    char why[512];
};

/* Run fn in a forked child (libcairn threads never live in this process);
 * its result comes back through a shared mapping. */
static int in_child(struct nem *n, void (*fn)(struct nem *, uint32_t, struct shared_out *),
                    uint32_t arg, struct shared_out *res)
{
    struct shared_out *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return CAIRN_ENOMEM;
    memset(sh, 0, sizeof *sh);
    sh->rc = CAIRN_EIO; /* unless the child says otherwise */
    char logp[CLUSTER_PATH_MAX + 8];
    snprintf(logp, sizeof logp, "%s/hist/check.log", n->cfg.dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_prepare(logp);
        fn(n, arg, sh);
        _exit(0);
    }
    if (pid < 0) {
        munmap(sh, sizeof *sh);
        return CAIRN_EIO;
    }
    cluster_proc_register(pid);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    cluster_proc_reaped(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        nlog(n, "child (setup/check) pid %d ended by %s %d", (int)pid,
             WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    *res = *sh;
    munmap(sh, sizeof *sh);
    return res->rc;
}

static void wl_root(const struct nem *n, uint32_t wl, char *out, size_t len)
{
    snprintf(out, len, "/nem/%s%u", wl_names[n->cfg.wl[wl].kind], wl);
}

static void setup_child(struct nem *n, uint32_t wl, struct shared_out *sh)
{
    char root[64];
    wl_root(n, wl, root, sizeof root);
    sh->rc = wl_setup(n->cfg.wl[wl].kind, n->cluster_file, root);
    if (sh->rc)
        return;
    struct cairn_config cc = {.cluster_file = n->cluster_file, .name = "nemesis"};
    struct cairn *cl;
    sh->rc = cairn_connect(&cc, &cl);
    if (sh->rc)
        return;
    sh->rc = cairn_setgoal(cl, root, n->cfg.goal);
    cairn_disconnect(cl);
}

static void check_child(struct nem *n, uint32_t wl, struct shared_out *sh)
{
    char root[64];
    wl_root(n, wl, root, sizeof root);
    const char *paths[NEM_WORKERS_MAX];
    size_t np = 0;
    for (uint32_t i = 0; i < n->n_workers; i++)
        if (n->workers[i].wl == wl)
            paths[np++] = n->workers[i].hist;
    sh->rc = wl_check(n->cfg.wl[wl].kind, n->cluster_file, root, paths, np, &sh->rep);
}

static void replicas_child(struct nem *n, uint32_t wl, struct shared_out *sh)
{
    char root[64];
    wl_root(n, wl, root, sizeof root);
    sh->rc = wl_replicas_at_goal(n->cluster_file, root, REPLICAS_MS, sh->why, sizeof sh->why);
}

/* --- the actions ------------------------------------------------------------- */

static uint32_t hold_ms(struct nem *n, uint32_t lo, uint32_t hi)
{
    return (uint32_t)prng_range(&n->rng, lo, hi);
}

static uint32_t meta_mask(const struct nem *n) { return (1u << n->c->n_nodes) - 1u; }

static uint32_t chunk_mask(const struct nem *n)
{
    return ((1u << n->c->n_chunks) - 1u) << CHUNK_END0;
}

static void restart_meta(struct nem *n, uint32_t s)
{
    if (n->c->nodes[s].pid > 0)
        return;
    int rc = cluster_node_spawn(n->c, s);
    sync_pids(n);
    if (rc == 0)
        rc = cluster_wait_ready(n->c, s, READY_MS);
    nlog(n, "meta %u restarted: %s", s + 1, rc ? cairn_err_name(rc) : "ready");
}

static void restart_chunk(struct nem *n, uint32_t s)
{
    if (n->c->chunks[s].pid > 0)
        return;
    int rc = cluster_chunk_spawn(n->c, s);
    sync_pids(n);
    nlog(n, "chunk %u restarted: %s", s + 1, rc ? cairn_err_name(rc) : "spawned");
}

static void act_kill(struct nem *n, int chunk)
{
    uint32_t cnt = chunk ? n->c->n_chunks : n->c->n_nodes;
    uint32_t s = (uint32_t)prng_below(&n->rng, cnt);
    uint32_t hold = hold_ms(n, 300, 3000);
    nlog(n, "kill -9 %s %u, restart in %u ms", chunk ? "chunk" : "meta", s + 1, hold);
    if (chunk)
        cluster_chunk_kill(n->c, s);
    else
        cluster_node_kill(n->c, s);
    idle(n, hold);
    if (chunk)
        restart_chunk(n, s);
    else
        restart_meta(n, s);
}

static void act_pause(struct nem *n, int chunk)
{
    uint32_t cnt = chunk ? n->c->n_chunks : n->c->n_nodes;
    uint32_t s = (uint32_t)prng_below(&n->rng, cnt);
    /* Longer than an election (200 ms) and than the clients' RPC timeouts. */
    uint32_t hold = hold_ms(n, 1500, 6000);
    nlog(n, "SIGSTOP %s %u for %u ms", chunk ? "chunk" : "meta", s + 1, hold);
    if (chunk)
        cluster_chunk_pause(n->c, s);
    else
        cluster_node_pause(n->c, s);
    idle(n, hold);
    if (chunk)
        cluster_chunk_resume(n->c, s);
    else
        cluster_node_resume(n->c, s);
    nlog(n, "SIGCONT %s %u", chunk ? "chunk" : "meta", s + 1);
}

/* A random split: a metadata minority (and a random share of the chunk
 * servers, sometimes the clients) on side a, the rest on side b. */
static void random_split(struct nem *n, uint32_t *a, uint32_t *b)
{
    uint32_t all = meta_mask(n) | chunk_mask(n) | CLIENT_BIT;
    uint32_t minority = n->c->n_nodes / 2, side = 0;
    while (__builtin_popcount(side) < (int)minority)
        side |= 1u << prng_below(&n->rng, n->c->n_nodes);
    for (uint32_t j = 0; j < n->c->n_chunks; j++)
        if (prng_chance(&n->rng, 1, 2))
            side |= 1u << (CHUNK_END0 + j);
    if (prng_chance(&n->rng, 1, 4))
        side |= CLIENT_BIT;
    *a = side;
    *b = all & ~side;
}

static void heal_partition(struct nem *n)
{
    netproxy_heal(n->px);
    nlog(n, "partition healed");
}

static void act_split(struct nem *n)
{
    uint32_t a, b, hold = hold_ms(n, 1000, 5000);
    random_split(n, &a, &b);
    nlog(n, "partition: {%#x} | {%#x} for %u ms (bits: meta 0.., chunk %u.., client %u)", a, b,
         hold, CHUNK_END0, NETPROXY_CLIENT);
    netproxy_split(n->px, a, b);
    idle(n, hold);
    heal_partition(n);
}

static void act_isolate_leader(struct nem *n)
{
    int l = cluster_wait_leader(n->c, 3000);
    if (l < 0) {
        nlog(n, "isolate leader: no leader now (%s), skipped", cairn_err_name(l));
        return;
    }
    uint32_t hold = hold_ms(n, 1000, 5000);
    uint32_t others = (meta_mask(n) | chunk_mask(n)) & ~(1u << l);
    int clients_too = prng_chance(&n->rng, 1, 2);
    if (clients_too)
        others |= CLIENT_BIT;
    nlog(n, "isolate leader meta %d from the servers%s for %u ms", l + 1,
         clients_too ? " and clients" : "", hold);
    netproxy_split(n->px, 1u << l, others);
    idle(n, hold);
    heal_partition(n);
}

static void act_oneway(struct nem *n)
{
    uint32_t hold = hold_ms(n, 1000, 5000);
    int l = prng_chance(&n->rng, 1, 2) ? cluster_wait_leader(n->c, 3000) : -1;
    if (l >= 0) {
        /* A leader that hears its followers but cannot reach them. */
        nlog(n, "one-way: meta %d (leader) -> every other server dropped for %u ms", l + 1, hold);
        for (uint32_t e = 0; e < NETPROXY_CLIENT; e++)
            if (((meta_mask(n) | chunk_mask(n)) >> e & 1u) && e != (uint32_t)l)
                netproxy_block(n->px, l, (int)e, 1);
    } else {
        uint32_t src = (uint32_t)prng_below(&n->rng, n->c->n_nodes);
        uint32_t dst = (src + 1 + (uint32_t)prng_below(&n->rng, n->c->n_nodes - 1)) % n->c->n_nodes;
        nlog(n, "one-way: meta %u -> meta %u dropped for %u ms", src + 1, dst + 1, hold);
        netproxy_block(n->px, (int)src, (int)dst, 1);
    }
    idle(n, hold);
    heal_partition(n);
}

static void act_flap(struct nem *n)
{
    uint64_t end = time_mono_ms() + hold_ms(n, 2000, 6000);
    uint32_t flips = 0;
    while (time_mono_ms() < end) {
        uint32_t a, b;
        random_split(n, &a, &b);
        netproxy_split(n->px, a, b);
        idle(n, hold_ms(n, 150, 500));
        netproxy_heal(n->px);
        idle(n, hold_ms(n, 150, 500));
        flips++;
    }
    nlog(n, "flapping partitions: %u splits, healed", flips);
}

static int corrupted_before(const struct nem *n, uint64_t id)
{
    for (uint32_t i = 0; i < n->n_corrupted; i++)
        if (n->corrupted[i] == id)
            return 1;
    return 0;
}

/* Choose the k-th committed chunk file (not corrupted before) of slot s. */
static int pick_chunk(struct nem *n, uint32_t s, uint64_t *id, uint64_t *version)
{
    uint32_t seen = 0;
    uint64_t want = prng_next(&n->rng);
    for (unsigned f = 0; f < 256; f++) {
        char dir[CLUSTER_PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/chunks/%02x", n->c->chunks[s].data, f);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            uint64_t i, v;
            if (chunk_name_parse(e->d_name, &i, &v) != CHUNK_NAME_COMMITTED ||
                corrupted_before(n, i))
                continue;
            /* Reservoir sampling: every candidate equally likely. */
            seen++;
            if (want % seen == 0) {
                *id = i;
                *version = v;
            }
            want = prng_next(&n->rng);
        }
        closedir(d);
    }
    return seen ? 0 : CAIRN_ENOENT;
}

/* Flip a byte of one committed chunk file, each chunk at most once a run
 * (two flipped replicas of one chunk would be a double fault the goal of 2
 * does not cover). */
static void act_corrupt(struct nem *n)
{
    uint32_t s = (uint32_t)prng_below(&n->rng, n->c->n_chunks);
    uint64_t id = 0, version = 0;
    int rc = pick_chunk(n, s, &id, &version);
    if (rc == 0 && n->n_corrupted < CORRUPT_MAX) {
        rc = cluster_chunk_corrupt(n->c, s, id, version, 0);
        n->corrupted[n->n_corrupted++] = id;
    }
    if (id == 0 && rc)
        nlog(n, "corrupt: no chunk file on chunk %u not corrupted before", s + 1);
    else
        nlog(n, "corrupt chunk %016" PRIx64 " v%" PRIu64 " block 0 on chunk %u: %s", id, version,
             s + 1, rc ? cairn_err_name(rc) : "flipped");
}

static void ballast_remove(struct nem *n)
{
    if (n->ballast[0] && unlink(n->ballast) == 0)
        nlog(n, "disk of chunk 1: ballast removed");
}

/* Fill the tmpfs of chunk server 1 to the last byte, hold, free it. */
static void act_disk_full(struct nem *n)
{
    if (!n->tmpfs_mounted) {
        n->r->disk_full_skipped = 1;
        return;
    }
    uint32_t hold = hold_ms(n, 2000, 6000);
    int fd = open(n->ballast, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    static uint8_t block[BALLAST_CHUNK];
    uint64_t bytes = 0;
    while (fd >= 0) {
        ssize_t w = write(fd, block, sizeof block);
        if (w <= 0)
            break;
        bytes += (uint64_t)w;
    }
    if (fd >= 0)
        close(fd);
    nlog(n, "disk of chunk 1 filled (%" PRIu64 " MiB ballast) for %u ms", bytes >> 20, hold);
    idle(n, hold);
    ballast_remove(n);
}

static void act_kill_client(struct nem *n)
{
    uint32_t alive[NEM_WORKERS_MAX], cnt = 0;
    for (uint32_t i = 0; i < n->n_workers; i++)
        if (n->workers[i].pid > 0)
            alive[cnt++] = i;
    uint64_t now = time_mono_ms();
    if (!cnt || now + 1000 >= n->fault_end)
        return;
    struct worker *w = &n->workers[alive[prng_below(&n->rng, cnt)]];
    nlog(n, "kill -9 worker %u (pid %d)", w->client, (int)w->pid);
    kill(w->pid, SIGKILL);
    worker_reap(n, w, 1);
    worker_start(n, w->wl, (uint32_t)(n->fault_end - now));
}

static void act(struct nem *n, enum nem_fault f)
{
    n->r->faults[f]++;
    switch (f) {
    case NEM_KILL_META:
    case NEM_KILL_CHUNK:
        act_kill(n, f == NEM_KILL_CHUNK);
        break;
    case NEM_PAUSE_META:
    case NEM_PAUSE_CHUNK:
        act_pause(n, f == NEM_PAUSE_CHUNK);
        break;
    case NEM_PART_MAJORITY:
        act_split(n);
        break;
    case NEM_PART_LEADER:
        act_isolate_leader(n);
        break;
    case NEM_PART_ONEWAY:
        act_oneway(n);
        break;
    case NEM_PART_FLAP:
        act_flap(n);
        break;
    case NEM_CORRUPT:
        act_corrupt(n);
        break;
    case NEM_DISK_FULL:
        act_disk_full(n);
        break;
    case NEM_KILL_CLIENT:
        act_kill_client(n);
        break;
    case NEM_FAULTS:
        break;
    }
}

/* --- the run ------------------------------------------------------------------ */

static void tmpfs_prepare(struct nem *n)
{
    snprintf(n->tmpfs, sizeof n->tmpfs, "%s/cs/c1", n->cfg.dir);
    char parent[CLUSTER_PATH_MAX];
    snprintf(parent, sizeof parent, "%s/cs", n->cfg.dir);
    mkdir(parent, 0700);
    mkdir(n->tmpfs, 0700);
    if (mount("nemesis", n->tmpfs, "tmpfs", 0, TMPFS_OPTS) == 0) {
        n->tmpfs_mounted = 1;
        snprintf(n->ballast, sizeof n->ballast, "%s/ballast", n->tmpfs);
        nlog(n, "tmpfs (%s) mounted at %s for chunk 1", TMPFS_OPTS, n->tmpfs);
    } else {
        n->r->disk_full_skipped = 1;
        nlog(n, "tmpfs mount refused (%s): no disk-full action", strerror(errno));
    }
}

static int write_cluster_file(struct nem *n)
{
    snprintf(n->cluster_file, sizeof n->cluster_file, "%s/cluster", n->cfg.dir);
    FILE *f = fopen(n->cluster_file, "w");
    if (!f)
        return cairn_err_from_errno(errno);
    fprintf(f, "meta = ");
    for (uint32_t i = 0; i < n->c->n_nodes; i++)
        fprintf(f, "%s%s", i ? "," : "", n->c->nodes[i].adv);
    /* A relative secret path would be taken relative to the file's dir. */
    char abs[PATH_MAX];
    fprintf(f, "\nsecret = %s\n", realpath(n->c->secret_path, abs) ? abs : n->c->secret_path);
    return fclose(f) == 0 ? 0 : CAIRN_EIO;
}

static int cluster_up(struct nem *n)
{
    struct cluster_opts o = {
        .n = n->cfg.n_meta,
        .seed = n->cfg.seed,
        .advertise = advertise_cb,
        .advertise_arg = n,
        .spawned = spawned_cb,
    };
    int rc = cluster_start(n->c, n->cfg.dir, &o, NULL);
    if (rc)
        return rc;
    if (n->cfg.faults & (1u << NEM_DISK_FULL))
        tmpfs_prepare(n);
    struct cluster_chunk_opts co = {.heartbeat_ms = 200, .scrub_ms = 500};
    for (uint32_t j = 0; j < n->cfg.n_chunks && rc >= 0; j++)
        rc = cluster_chunk_add(n->c, &co, READY_MS);
    if (rc < 0)
        return rc;
    sync_pids(n);
    rc = write_cluster_file(n);
    for (uint32_t w = 0; w < n->cfg.n_workloads && rc == 0; w++) {
        struct shared_out so;
        rc = in_child(n, setup_child, w, &so);
        if (rc)
            nlog(n, "setup of workload %u failed: %s", w, cairn_err_name(rc));
    }
    return rc;
}

/* The fault phase: workers run; actions follow each other with gaps. */
static void fault_phase(struct nem *n)
{
    uint32_t enabled[NEM_FAULTS], ne = 0;
    for (uint32_t f = 0; f < NEM_FAULTS; f++)
        if (n->cfg.faults & (1u << f))
            enabled[ne++] = f;
    n->fault_end = time_mono_ms() + n->cfg.duration_ms;
    for (uint32_t w = 0; w < n->cfg.n_workloads; w++)
        for (uint32_t k = 0; k < n->cfg.wl[w].workers; k++)
            worker_start(n, w, n->cfg.duration_ms);
    idle(n, 1000); /* a fault-free start: the histories begin with successes */
    while (ne && time_mono_ms() + 1500 < n->fault_end) {
        act(n, (enum nem_fault)enabled[prng_below(&n->rng, ne)]);
        for (uint32_t i = 0; i < n->n_workers; i++)
            worker_reap(n, &n->workers[i], 0);
        uint64_t now = time_mono_ms();
        if (now < n->fault_end)
            idle(n, (uint32_t)CAIRN_MIN(n->fault_end - now, hold_ms(n, 200, 1500)));
    }
    uint64_t now = time_mono_ms();
    if (now < n->fault_end)
        idle(n, (uint32_t)(n->fault_end - now));
}

/* Heal everything, restart what is down, wait for a leader, every chunk
 * server registered and the metadata replicas converged. */
static int heal_all(struct nem *n)
{
    nlog(n, "fault phase over: heal everything");
    netproxy_heal(n->px);
    ballast_remove(n);
    reap_crashed(n);
    for (uint32_t s = 0; s < n->c->n_nodes; s++) {
        cluster_node_resume(n->c, s);
        restart_meta(n, s);
    }
    for (uint32_t s = 0; s < n->c->n_chunks; s++) {
        cluster_chunk_resume(n->c, s);
        restart_chunk(n, s);
    }
    workers_finish(n);
    int l = cluster_wait_leader(n->c, HEAL_MS);
    if (l < 0)
        return l;
    nlog(n, "leader: meta %d", l + 1);
    for (uint32_t s = 0; s < n->c->n_chunks; s++) {
        int rc = cluster_chunk_wait_ready(n->c, s, HEAL_MS);
        if (rc)
            return rc;
    }
    nlog(n, "every chunk server registered");
    uint64_t digest = 0;
    int rc = cluster_wait_converged(n->c, 0, HEAL_MS, &digest);
    n->r->converged = rc == 0;
    nlog(n, "healed: leader meta %d, chunk servers registered, metadata %s (digest %016" PRIx64 ")",
         l + 1, rc ? "NOT converged" : "converged", digest);
    return 0;
}

static void violation(struct nem *n, const char *what)
{
    if (!n->r->first_violation[0])
        snprintf(n->r->first_violation, sizeof n->r->first_violation, "%s", what);
    nlog(n, "VIOLATION %s", what);
}

static int check_all(struct nem *n)
{
    n->r->replicas_ok = 1;
    for (uint32_t w = 0; w < n->cfg.n_workloads; w++) {
        struct shared_out so;
        int rc = in_child(n, check_child, w, &so);
        if (rc) {
            /* The final reads failed (data unreadable or lost) or the
             * checker died: a problem of the run, not of the harness. */
            char what[160];
            snprintf(what, sizeof what,
                     "%s: check could not run: %s (final reads failed? see hist/check.log)",
                     wl_names[n->cfg.wl[w].kind], cairn_err_name(rc));
            n->r->violations++;
            violation(n, what);
            continue;
        }
        n->r->ops += so.rep.ops;
        n->r->ok += so.rep.ok;
        n->r->fail += so.rep.fail;
        n->r->unknown += so.rep.unknown;
        n->r->violations += so.rep.violations;
        nlog(n,
             "check %s: ops %" PRIu64 " ok %" PRIu64 " fail %" PRIu64 " unknown %" PRIu64
             " violations %" PRIu64,
             wl_names[n->cfg.wl[w].kind], so.rep.ops, so.rep.ok, so.rep.fail, so.rep.unknown,
             so.rep.violations);
        if (so.rep.violations)
            violation(n, so.rep.first_violation);
        rc = in_child(n, replicas_child, w, &so);
        if (rc) {
            n->r->replicas_ok = 0;
            nlog(n, "replicas of %s not at goal: %s", wl_names[n->cfg.wl[w].kind], so.why);
            violation(n, so.why);
        }
    }
    return 0;
}

static void tmpfs_release(struct nem *n)
{
    if (!n->tmpfs_mounted)
        return;
    if (umount2(n->tmpfs, MNT_DETACH) != 0)
        fprintf(stderr, "nemesis: umount %s: %s\n", n->tmpfs, strerror(errno));
    n->tmpfs_mounted = 0;
}

static void fill_defaults(struct nem *n, const struct nem_cfg *cfg)
{
    n->cfg = *cfg;
    n->cfg.n_meta = cfg->n_meta ? cfg->n_meta : 3;
    n->cfg.n_chunks = cfg->n_chunks ? cfg->n_chunks : 3;
    n->cfg.goal = cfg->goal ? cfg->goal : 2;
    CAIRN_ASSERT(n->cfg.n_meta <= META_MAX && n->cfg.n_chunks <= CHUNKS_MAX);
    CAIRN_ASSERT(n->cfg.n_workloads <= NEM_WORKLOADS_MAX);
    prng_seed(&n->rng, cfg->seed);
}

int nem_run(const struct nem_cfg *cfg, struct nem_report *out)
{
    memset(out, 0, sizeof *out);
    struct nem *n = calloc(1, sizeof *n);
    struct cluster *c = calloc(1, sizeof *c);
    struct worker *ws = calloc(NEM_WORKERS_MAX, sizeof *ws);
    CAIRN_ASSERT(n && c && ws);
    fill_defaults(n, cfg);
    /* A status RPC or a worker writing to a server just killed gets EPIPE,
     * not a SIGPIPE that would end the run (the daemons do the same). */
    signal(SIGPIPE, SIG_IGN);
    n->r = out;
    n->c = c;
    n->workers = ws;
    n->t0 = time_mono_ms();
    char path[CLUSTER_PATH_MAX];
    snprintf(path, sizeof path, "%s/nemesis.log", cfg->dir);
    n->log = fopen(path, "a");
    snprintf(path, sizeof path, "%s/hist", cfg->dir);
    mkdir(path, 0700);
    nlog(n, "seed %" PRIu64 ": %u meta, %u chunk servers, goal %u, faults %#x, %u ms", cfg->seed,
         n->cfg.n_meta, n->cfg.n_chunks, n->cfg.goal, cfg->faults, cfg->duration_ms);
    int rc = netproxy_start(&n->px);
    if (rc == 0)
        rc = cluster_up(n);
    if (rc == 0) {
        fault_phase(n);
        rc = heal_all(n);
    }
    if (rc == 0)
        rc = check_all(n);
    if (rc)
        nlog(n, "run failed: %s", cairn_err_name(rc));
    for (uint32_t i = 0; i < n->n_workers; i++) {
        if (ws[i].pid > 0) {
            kill(ws[i].pid, SIGKILL);
            worker_reap(n, &ws[i], 1);
        }
    }
    if (n->px) {
        struct netproxy_stats st;
        netproxy_stats(n->px, &st);
        out->cut = st.cut;
        out->dropped = st.bytes_dropped;
        char src[256];
        size_t off = 0;
        for (uint32_t e = 0; e < NETPROXY_ENDS_MAX && off < sizeof src; e++)
            if (st.by_src[e])
                off += (size_t)snprintf(src + off, sizeof src - off, " %s%u=%" PRIu64,
                                        e == NETPROXY_CLIENT ? "client"
                                        : e < CHUNK_END0     ? "m"
                                                             : "c",
                                        e == NETPROXY_CLIENT ? 0
                                        : e < CHUNK_END0     ? e + 1
                                                             : e - CHUNK_END0 + 1,
                                        st.by_src[e]);
        nlog(n,
             "proxy: %" PRIu64 " connections (by source:%s), %" PRIu64 " refused, %" PRIu64
             " cut at heals, %" PRIu64 " bytes dropped",
             st.accepted, off ? src : " none", st.refused, st.cut, st.bytes_dropped);
    }
    cluster_stop(c);
    tmpfs_release(n);
    netproxy_stop(n->px);
    nlog(n, "done: %s", nem_report_clean(out) && rc == 0 ? "clean" : "PROBLEMS");
    if (n->log)
        fclose(n->log);
    free(ws);
    free(c);
    free(n);
    return rc;
}

int nem_report_clean(const struct nem_report *r)
{
    return r->violations == 0 && r->crashes == 0 && r->replicas_ok && r->converged &&
           !r->first_violation[0];
}

void nem_report_print(FILE *f, const char *name, uint64_t seed, const struct nem_report *r)
{
    uint64_t total = 0;
    char faults[512];
    size_t off = 0;
    for (int k = 0; k < NEM_FAULTS; k++) {
        total += r->faults[k];
        if (r->faults[k] && off < sizeof faults)
            off += (size_t)snprintf(faults + off, sizeof faults - off, " %s=%" PRIu64,
                                    fault_names[k], r->faults[k]);
    }
    faults[CAIRN_MIN(off, sizeof faults - 1)] = '\0';
    fprintf(f,
            "nemesis %s seed=%" PRIu64 ": ops=%" PRIu64 " ok=%" PRIu64 " fail=%" PRIu64
            " unknown=%" PRIu64 " | faults=%" PRIu64 "%s%s | cut=%" PRIu64 " crashes=%" PRIu64
            " replicas=%s converged=%s violations=%" PRIu64 "\n",
            name, seed, r->ops, r->ok, r->fail, r->unknown, total, faults,
            r->disk_full_skipped ? " (disk_full skipped: no tmpfs)" : "", r->cut, r->crashes,
            r->replicas_ok ? "at-goal" : "SHORT", r->converged ? "yes" : "NO", r->violations);
    if (r->first_violation[0])
        fprintf(f, "nemesis %s first violation: %s\n", name, r->first_violation);
}
