/* cluster_chunks.c: `cairn chunk` processes for the cluster harness (see the
 * chunk-server section of cluster_harness.h): start, stop, pause, status,
 * and the on-disk faults the data-path tests inject (a corrupted block, the
 * versions a server holds). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "chunk/format.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/time.h"
#include "wire/msg_chunk.h"
#include "wire/wire.h"

#define CHUNK_STATUS_MS 2000u
#define CHUNK_POLL_MS 50u

static void fmt_u64(char *buf, size_t len, uint64_t v) { snprintf(buf, len, "%" PRIu64, v); }

/* "a,b,c": the metadata addresses every chunk server is given. */
static void meta_list(const struct cluster *c, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < c->n_nodes && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s", i ? "," : "", c->nodes[i].adv);
}

int cluster_chunk_spawn(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    CAIRN_ASSERT(i < c->n_chunks && k->pid == 0);
    char metas[CLUSTER_NODES_MAX * (CAIRN_MEMBER_ADDR_MAX + 1) + 1];
    char hb[24], rate[24], sms[24], cap[24];
    meta_list(c, metas, sizeof metas);
    fmt_u64(hb, sizeof hb, k->o.heartbeat_ms);
    fmt_u64(rate, sizeof rate, k->o.scrub_rate == CLUSTER_SCRUB_OFF ? 0 : k->o.scrub_rate);
    fmt_u64(sms, sizeof sms, k->o.scrub_ms);
    fmt_u64(cap, sizeof cap, k->o.capacity);
    char *argv[40];
    int a = 0;
    const char *fixed[] = {c->bin,     "chunk",        "--data",      k->data,
                           "--listen", k->addr,        "--meta",      metas,
                           "--secret", c->secret_path, "--log-level", k->o.log_level};
    for (size_t j = 0; j < CAIRN_ARRAY_LEN(fixed); j++)
        argv[a++] = (char *)fixed[j];
    if (k->o.heartbeat_ms) {
        argv[a++] = (char *)"--heartbeat-ms";
        argv[a++] = hb;
    }
    if (k->o.scrub_rate) {
        argv[a++] = (char *)"--scrub-rate";
        argv[a++] = rate;
    }
    if (k->o.scrub_ms) {
        argv[a++] = (char *)"--scrub-ms";
        argv[a++] = sms;
    }
    if (k->o.capacity) {
        argv[a++] = (char *)"--capacity";
        argv[a++] = cap;
    }
    if (strcmp(k->adv, k->addr) != 0) {
        argv[a++] = (char *)"--advertise";
        argv[a++] = k->adv;
    }
    if (k->label[0]) {
        argv[a++] = (char *)"--label";
        argv[a++] = k->label;
    }
    argv[a] = NULL;
    pid_t pid = cluster_proc_spawn(c->bin, argv, k->log);
    if (pid < 0)
        return CAIRN_EIO;
    k->pid = pid;
    k->paused = 0;
    if (c->o.spawned)
        c->o.spawned(c->o.advertise_arg, CLUSTER_KIND_CHUNK, i, pid);
    return 0;
}

/* A free port none of the harness's processes uses. */
static int chunk_port(struct cluster *c, char *addr, size_t len)
{
    for (int tries = 0; tries < 100; tries++) {
        int rc = cluster_port_pick(c, addr, len);
        if (rc)
            return rc;
        int taken = 0;
        for (uint32_t i = 0; i < c->n_chunks; i++)
            taken |= strcmp(c->chunks[i].addr, addr) == 0;
        if (!taken)
            return 0;
    }
    return CAIRN_EADDRINUSE;
}

int cluster_chunk_add(struct cluster *c, const struct cluster_chunk_opts *o, uint32_t timeout_ms)
{
    if (c->n_chunks == CLUSTER_CHUNKS_MAX)
        return CAIRN_LIMIT;
    uint32_t i = c->n_chunks;
    struct cluster_chunk *k = &c->chunks[i];
    memset(k, 0, sizeof *k);
    if (o)
        k->o = *o;
    k->o.log_level = k->o.log_level ? k->o.log_level : "info";
    if (k->o.label)
        snprintf(k->label, sizeof k->label, "%s", k->o.label);
    k->o.label = NULL;
    int rc = chunk_port(c, k->addr, sizeof k->addr);
    if (rc)
        return rc;
    memcpy(k->adv, k->addr, sizeof k->adv);
    if (c->o.advertise) {
        rc = c->o.advertise(c->o.advertise_arg, CLUSTER_KIND_CHUNK, i, k->addr, k->adv,
                            sizeof k->adv);
        if (rc)
            return rc;
    }
    char parent[CLUSTER_DIR_MAX + 16];
    snprintf(parent, sizeof parent, "%s/cs", c->dir);
    if (mkdir(parent, 0700) != 0 && errno != EEXIST)
        return cairn_err_from_errno(errno);
    snprintf(k->data, sizeof k->data, "%s/c%u", parent, i + 1);
    snprintf(k->log, sizeof k->log, "%s/c%u.log", parent, i + 1);
    c->n_chunks++;
    rc = cluster_chunk_spawn(c, i);
    if (rc == 0)
        rc = cluster_chunk_wait_ready(c, i, timeout_ms);
    return rc ? rc : (int)i;
}

static void chunk_reap(struct cluster_chunk *k, int *status)
{
    while (waitpid(k->pid, status, 0) < 0 && errno == EINTR)
        ;
    cluster_proc_reaped(k->pid);
    k->pid = 0;
    k->paused = 0;
}

void cluster_chunk_kill(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (k->pid <= 0)
        return;
    kill(k->pid, SIGKILL);
    int st;
    chunk_reap(k, &st);
}

int cluster_chunk_term(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (k->pid <= 0)
        return CAIRN_EINVAL;
    if (k->paused)
        kill(k->pid, SIGCONT);
    kill(k->pid, SIGTERM);
    int st = 0;
    chunk_reap(k, &st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cluster_chunk_pause(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (k->pid > 0 && !k->paused) {
        kill(k->pid, SIGSTOP);
        k->paused = 1;
    }
}

void cluster_chunk_resume(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (k->pid > 0 && k->paused) {
        kill(k->pid, SIGCONT);
        k->paused = 0;
    }
}

void cluster_chunks_stop(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n_chunks; i++) {
        cluster_chunk_kill(c, i);
        if (c->chunks[i].rpc) {
            rpc_client_close(c->chunks[i].rpc);
            c->chunks[i].rpc = NULL;
        }
    }
}

void cluster_chunk_log_tail(const struct cluster *c, uint32_t i, size_t bytes)
{
    const struct cluster_chunk *k = &c->chunks[i];
    int fd = open(k->log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)bytes ? end - (off_t)bytes : 0;
    char buf[4096];
    ssize_t r;
    fprintf(stderr, "--- last lines of %s ---\n", k->log);
    lseek(fd, from, SEEK_SET);
    while ((r = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)r, stderr);
    fprintf(stderr, "--- end of %s ---\n", k->log);
    close(fd);
}

int cluster_chunk_log_has(const struct cluster *c, uint32_t i, const char *text)
{
    FILE *f = fopen(c->chunks[i].log, "r");
    if (!f)
        return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* --- status ------------------------------------------------------------------ */

static void copy_bytes(char *dst, size_t cap, struct wire_bytes b)
{
    size_t len = CAIRN_MIN((size_t)b.len, cap - 1);
    if (len)
        memcpy(dst, b.p, len);
    dst[len] = '\0';
}

int cluster_chunk_status(struct cluster *c, uint32_t i, struct cluster_chunk_status *out,
                         uint32_t timeout_ms)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (!k->rpc) {
        const char *addrs[] = {k->addr};
        struct rpc_client_cfg cfg = {
            .name = "harness",
            .seed = prng_next(&c->ports) | 1u,
            .limits = {.backoff_min_ms = 10, .backoff_max_ms = 100, .auth_timeout_ms = 1000},
        };
        int rc = rpc_client_new(c->loop, addrs, 1, &c->secret, &cfg, &k->rpc);
        if (rc)
            return rc;
    }
    struct cairn_buf reply;
    buf_init(&reply, 0);
    uint16_t type = 0;
    int rc = rpc_call_sync(k->rpc, WIRE_CHUNK_STATUS, NULL, 0, timeout_ms, &type, &reply);
    struct wire_chunk_status m;
    if (rc == 0)
        rc = type == WIRE_CHUNK_STATUS_REPLY ? wire_chunk_status_decode(reply.data, reply.len, &m)
                                             : CAIRN_BADMSG;
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        out->node = m.node;
        out->registered = m.registered;
        copy_bytes(out->addr, sizeof out->addr, m.addr);
        copy_bytes(out->leader, sizeof out->leader, m.leader);
        out->capacity = m.capacity;
        out->used = m.used;
        out->chunks = m.chunks;
        out->staged = m.staged;
        out->cmds_done = m.cmds_done;
        out->replicated = m.replicated;
        out->scrub_passes = m.scrub_passes;
        out->scrub_bytes = m.scrub_bytes;
        out->bad_found = m.bad_found;
        out->writes = m.writes;
        out->reads = m.reads;
    }
    buf_free(&reply);
    return rc;
}

/* 1 while the process runs; reaps it (and shows its log) if it exited. */
static int chunk_alive(struct cluster *c, uint32_t i)
{
    struct cluster_chunk *k = &c->chunks[i];
    if (k->pid <= 0)
        return 0;
    int st;
    if (waitpid(k->pid, &st, WNOHANG) == 0)
        return 1;
    fprintf(stderr, "cluster: chunk server %u (pid %d) exited on its own: %s %d\n", i + 1,
            (int)k->pid, WIFEXITED(st) ? "status" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    cluster_proc_reaped(k->pid);
    k->pid = 0;
    cluster_chunk_log_tail(c, i, 3000);
    return 0;
}

int cluster_chunk_wait_ready(struct cluster *c, uint32_t i, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    struct cluster_chunk_status st;
    do {
        if (!chunk_alive(c, i))
            return CAIRN_EIO;
        if (cluster_chunk_status(c, i, &st, CHUNK_STATUS_MS) == 0 && st.registered) {
            c->chunks[i].node = st.node;
            return 0;
        }
        cluster_run_for(c, CHUNK_POLL_MS);
    } while (time_mono_ms() < end);
    fprintf(stderr, "cluster: chunk server %u not registered after %u ms\n", i + 1, timeout_ms);
    cluster_chunk_log_tail(c, i, 3000);
    return CAIRN_ETIMEDOUT;
}

int cluster_chunk_slot(const struct cluster *c, uint32_t node)
{
    for (uint32_t i = 0; i < c->n_chunks; i++)
        if (c->chunks[i].node == node)
            return (int)i;
    return -1;
}

/* --- files on disk --------------------------------------------------------------- */

int cluster_chunk_versions(const struct cluster *c, uint32_t i, uint64_t chunk,
                           struct cluster_chunk_file *out, size_t max, size_t *n)
{
    char dir[CLUSTER_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/chunks/%02x", c->chunks[i].data, chunk_fanout(chunk));
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : cairn_err_from_errno(errno);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t id, version;
        enum chunk_name_kind kind = chunk_name_parse(e->d_name, &id, &version);
        if (kind == CHUNK_NAME_NONE || kind == CHUNK_NAME_TMP || id != chunk)
            continue;
        if (*n < max) {
            out[*n].version = version;
            out[*n].staged = kind == CHUNK_NAME_STAGED;
            snprintf(out[*n].path, sizeof out[*n].path, "%s/%s", dir, e->d_name);
        }
        (*n)++;
    }
    closedir(d);
    return 0;
}

int cluster_chunk_corrupt(const struct cluster *c, uint32_t i, uint64_t chunk, uint64_t version,
                          uint32_t block)
{
    struct cluster_chunk_file v[16];
    size_t n;
    int rc = cluster_chunk_versions(c, i, chunk, v, CAIRN_ARRAY_LEN(v), &n);
    if (rc)
        return rc;
    const char *path = NULL;
    for (size_t k = 0; k < CAIRN_MIN(n, CAIRN_ARRAY_LEN(v)); k++)
        if (v[k].version == version && !v[k].staged)
            path = v[k].path;
    if (!path)
        return CAIRN_ENOENT;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    struct stat sb;
    off_t at = (off_t)CHUNK_DATA_OFF + (off_t)block * CAIRN_BLOCK_SIZE + 123;
    rc = fstat(fd, &sb) == 0 ? 0 : cairn_err_from_errno(errno);
    if (rc == 0 && sb.st_size <= (off_t)CHUNK_DATA_OFF + (off_t)block * CAIRN_BLOCK_SIZE)
        rc = CAIRN_ERANGE; /* the block holds no bytes in the file: nothing to flip */
    if (rc == 0 && at >= sb.st_size)
        at = sb.st_size - 1;
    uint8_t b = 0;
    if (rc == 0 && pread(fd, &b, 1, at) != 1)
        rc = CAIRN_EIO;
    b ^= 0x5a;
    if (rc == 0 && pwrite(fd, &b, 1, at) != 1)
        rc = CAIRN_EIO;
    if (rc == 0 && fdatasync(fd) != 0)
        rc = cairn_err_from_errno(errno);
    close(fd);
    return rc;
}
