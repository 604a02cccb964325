/*
 * health.c: the cluster health commands of `cairn` (cli.h): df (capacity),
 * status (metadata servers, chunk servers, capacity, replication) and fsck
 * (a consistency report of every chunk under a path: missing, under-
 * replicated, and with --verify corrupt replicas, found by reading every
 * replica from its chunk server, whose CRC check refuses bad blocks).
 *
 * status and fsck scan the namespace (one chunk-map query per file): their
 * cost grows with the number of files, which suits development clusters and
 * health checks, not a hot loop on a billion-file namespace.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "cairn_errors.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/limits.h"
#include "rpc/rpc.h"
#include "wire/msg_chunk.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))
/* Problems listed one by one in a report (counts are always complete). */
#define HEALTH_LIST_MAX 10000u
/* One CHUNK_READ / CHUNK_STATUS call of fsck. */
#define HEALTH_CALL_MS 10000u

static const char *role_name(int role)
{
    static const char *const names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return role >= 0 && role < 4 ? names[role] : "unknown";
}

static const char *node_state_name(int s)
{
    static const char *const names[] = {"?", "up", "suspect", "down", "draining"};
    return s >= 1 && s <= 4 ? names[s] : "unknown";
}

/* --- df ----------------------------------------------------------------------------------------
 */

const char cli_df_usage[] =
    "usage: cairn df [--json]\n"
    "\n"
    "Capacity of the cluster: the chunk servers' space (all copies), the bytes\n"
    "of file data (one copy each), and the number of files and chunk servers.\n"
    "\n"
    "  --json   {capacity_bytes, raw_used_bytes, free_bytes, data_bytes, files,\n"
    "            chunk_servers, chunk_servers_up}\n"
    "\n"
    "example:\n"
    "  cairn df\n";

int cli_df(int argc, char **argv)
{
    int json = 0;
    const struct cli_opt opts[] = {{"json", 0, NULL, &json}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("df", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    if (n_pos)
        return cli_usage_error("df", "unexpected argument \"%s\"", pos[0]);
    struct cairn *c;
    code = cli_connect("df", &c);
    if (code)
        return code;
    struct cairn_statfs s;
    int rc = cairn_statfs(c, &s);
    cairn_disconnect(c);
    if (rc)
        return cli_error("df", NULL, rc);
    uint64_t raw = s.capacity_bytes > s.free_bytes ? s.capacity_bytes - s.free_bytes : 0;
    if (json) {
        struct cli_json j;
        json_init(&j, stdout);
        json_obj(&j);
        json_ku64(&j, "capacity_bytes", s.capacity_bytes);
        json_ku64(&j, "raw_used_bytes", raw);
        json_ku64(&j, "free_bytes", s.free_bytes);
        json_ku64(&j, "data_bytes", s.used_bytes);
        json_ku64(&j, "files", s.files);
        json_ku64(&j, "chunk_servers", s.nodes);
        json_ku64(&j, "chunk_servers_up", s.nodes_up);
        json_obj_end(&j);
        json_done(&j);
        return CLI_OK;
    }
    char a[32], b[32], f[32], d[32];
    unsigned pct = s.capacity_bytes ? (unsigned)(raw * 100u / s.capacity_bytes) : 0;
    printf("%-10s %12s %12s %12s %5s %12s %8s %8s\n", "cluster", "size", "raw used", "free", "use%",
           "data", "files", "servers");
    printf("%-10s %12s %12s %12s %4u%% %12s %8" PRIu64 " %4" PRIu32 "/%-3" PRIu32 "\n", "cairn",
           cli_human(s.capacity_bytes, a, sizeof a), cli_human(raw, b, sizeof b),
           cli_human(s.free_bytes, f, sizeof f), pct, cli_human(s.used_bytes, d, sizeof d), s.files,
           s.nodes_up, s.nodes);
    return CLI_OK;
}

/* --- the chunk scan shared by status and fsck ----------------------------------------------- */

enum problem_kind {
    PROBLEM_MISSING = 0,
    PROBLEM_UNDER = 1,
    PROBLEM_CORRUPT = 2,
    PROBLEM_KINDS = 3,
};
static const char *const problem_names[PROBLEM_KINDS] = {"missing", "under_replicated", "corrupt"};

struct problem {
    char *path;
    uint32_t index;
    uint64_t chunk, version;
    uint32_t goal, copies;
    uint32_t node; /* corrupt: the replica's server */
    int err;       /* corrupt: what the read said */
};

struct scan {
    struct cairn *c;
    int verify;
    struct cairn_node *nodes;
    int n_nodes;
    uint64_t files, chunks, holes, bytes_verified;
    uint64_t count[PROBLEM_KINDS];
    struct problem *list[PROBLEM_KINDS];
    size_t n_list[PROBLEM_KINDS];
    /* --verify: connections to chunk servers, on a loop of our own */
    uv_loop_t loop;
    int loop_ok;
    struct rpc_secret secret;
    struct rpc_client **rpc; /* per entry of nodes */
    struct cairn_buf req, reply;
};

static const struct cairn_node *node_of(const struct scan *s, uint32_t id)
{
    for (int i = 0; i < s->n_nodes && i < 4096; i++)
        if (s->nodes[i].id == id)
            return &s->nodes[i];
    return NULL;
}

static void note(struct scan *s, enum problem_kind k, const char *path, uint32_t index,
                 const struct cairn_chunk *ch, uint32_t goal, uint32_t copies, uint32_t node,
                 int err)
{
    s->count[k]++;
    if (s->n_list[k] >= HEALTH_LIST_MAX)
        return;
    if (s->n_list[k] % 64 == 0) {
        struct problem *l = realloc(s->list[k], (s->n_list[k] + 64) * sizeof *l);
        if (!l)
            return;
        s->list[k] = l;
    }
    struct problem p = {strdup(path), index, ch->id, ch->version, goal, copies, node, err};
    if (p.path)
        s->list[k][s->n_list[k]++] = p;
}

static int scan_init(struct scan *s, struct cairn *c, int verify)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    s->verify = verify;
    buf_init(&s->req, 0);
    buf_init(&s->reply, 0);
    s->nodes = calloc(CAIRN_NODES_MAX, sizeof *s->nodes);
    if (!s->nodes)
        return -ENOMEM;
    s->n_nodes = cairn_nodes(c, s->nodes, CAIRN_NODES_MAX);
    if (s->n_nodes < 0)
        return s->n_nodes;
    if (s->n_nodes > (int)CAIRN_NODES_MAX)
        s->n_nodes = CAIRN_NODES_MAX;
    s->rpc = calloc((size_t)s->n_nodes + 1, sizeof *s->rpc);
    if (!s->rpc)
        return -ENOMEM;
    s->loop_ok = uv_loop_init(&s->loop) == 0;
    return s->loop_ok ? 0 : -EIO;
}

static void scan_free(struct scan *s)
{
    for (int i = 0; s->rpc && i < s->n_nodes; i++)
        if (s->rpc[i])
            rpc_client_close(s->rpc[i]);
    if (s->loop_ok) {
        while (uv_run(&s->loop, UV_RUN_DEFAULT) != 0)
            ;
        uv_loop_close(&s->loop);
    }
    for (int k = 0; k < PROBLEM_KINDS; k++) {
        for (size_t i = 0; i < s->n_list[k]; i++)
            free(s->list[k][i].path);
        free(s->list[k]);
    }
    rpc_secret_wipe(&s->secret);
    buf_free(&s->req);
    buf_free(&s->reply);
    free(s->rpc);
    free(s->nodes);
}

/* The connection to chunk server `node` (made on first use), or NULL. */
static struct rpc_client *node_rpc(struct scan *s, uint32_t node)
{
    const struct cairn_node *n = node_of(s, node);
    if (!n)
        return NULL;
    size_t i = (size_t)(n - s->nodes);
    if (!s->rpc[i]) {
        const char *addrs[1] = {n->addr};
        struct rpc_client_cfg cfg = {.name = "cairn-fsck"};
        if (rpc_client_new(&s->loop, addrs, 1, &s->secret, &cfg, &s->rpc[i]) != 0)
            s->rpc[i] = NULL;
    }
    return s->rpc[i];
}

/* Read one replica whole (CHUNK_READ verifies every block's CRC on the
 * server): 0, CAIRN_CORRUPT, CAIRN_STALEVERSION, or a transport error. */
static int verify_replica(struct scan *s, uint32_t node, const struct cairn_chunk *ch)
{
    struct rpc_client *rpc = node_rpc(s, node);
    if (!rpc)
        return CAIRN_UNAVAILABLE;
    for (uint64_t off = 0; off < ch->length || off == 0; off += CAIRN_CHUNK_IO_MAX) {
        struct wire_chunk_read r = {ch->id, ch->version, off, CAIRN_CHUNK_IO_MAX, 0};
        buf_reset(&s->req);
        buf_reset(&s->reply);
        int rc = wire_chunk_read_encode(&s->req, &r);
        uint16_t type;
        if (rc == 0)
            rc = rpc_call_sync(rpc, WIRE_CHUNK_READ, s->req.data, s->req.len, HEALTH_CALL_MS, &type,
                               &s->reply);
        if (rc)
            return rc;
        struct wire_chunk_read_reply rr;
        rc = wire_chunk_read_reply_decode(s->reply.data, s->reply.len, &rr);
        if (rc)
            return rc;
        s->bytes_verified += rr.data.len;
        if (ch->length == 0)
            break;
    }
    return 0;
}

/* Judge one chunk: copies on up servers against the goal; with --verify
 * every replica is read, and one that cannot be read counts for nothing. */
static void scan_chunk(struct scan *s, const char *path, uint32_t index,
                       const struct cairn_chunk *ch, uint32_t goal)
{
    uint32_t up = 0, readable = 0;
    for (uint32_t r = 0; r < ch->n_replicas; r++) {
        const struct cairn_node *n = node_of(s, ch->replicas[r]);
        int state = n ? n->state : 0;
        int is_up = state == 1, is_readable = state == 1 || state == 2 || state == 4;
        if (s->verify && is_readable) {
            int rc = verify_replica(s, ch->replicas[r], ch);
            if (rc == CAIRN_CORRUPT || rc == CAIRN_STALEVERSION)
                note(s, PROBLEM_CORRUPT, path, index, ch, goal, 0, ch->replicas[r], rc);
            if (rc)
                is_up = is_readable = 0;
        }
        up += (uint32_t)is_up;
        readable += (uint32_t)is_readable;
    }
    if (readable == 0)
        note(s, PROBLEM_MISSING, path, index, ch, goal, 0, 0, 0);
    else if (up < goal)
        note(s, PROBLEM_UNDER, path, index, ch, goal, up, 0, 0);
}

static int scan_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                      void *arg)
{
    struct scan *s = arg;
    if (post || !S_ISREG(st->mode))
        return CLI_OK;
    s->files++;
    struct cairn_chunk ch[64];
    uint32_t first = 0;
    for (;;) {
        int n = cairn_file_chunks(c, path, first, ch, 64);
        if (n == -ENOENT)
            return CLI_OK; /* removed while we scanned */
        if (n < 0)
            return cli_error("scan", path, n);
        for (int i = 0; i < n; i++) {
            if (ch[i].id == 0) {
                s->holes++;
                continue;
            }
            s->chunks++;
            scan_chunk(s, path, first + (uint32_t)i, &ch[i], st->goal);
        }
        if (n < 64)
            return CLI_OK;
        first += 64;
    }
}

/* --- status -------------------------------------------------------------------------------------
 */

const char cli_status_usage[] =
    "usage: cairn status [--json]\n"
    "\n"
    "Cluster health: every metadata server (role, term, log indexes), the\n"
    "leader, every chunk server (state, capacity, used), capacity, and the\n"
    "chunks below their replication goal (a scan of every file's chunk map).\n"
    "HEALTHY: a leader, every metadata server answering, every chunk at its goal;\n"
    "else DEGRADED. Exit 0 when a leader answers (even if degraded), 3 when none\n"
    "does.\n"
    "\n"
    "  --json   {healthy, leader: {id, addr, term} | null, members: [{id, addr,\n"
    "            reachable, role, voter, term, leader, commit, applied}],\n"
    "            chunk_servers: [{id, addr, label, state, capacity, used}],\n"
    "            capacity: {capacity_bytes, free_bytes, data_bytes}, files, chunks,\n"
    "            under_replicated, missing}\n"
    "\n"
    "examples:\n"
    "  cairn status\n"
    "  cairn status --json | jq .leader.addr\n";

/* The leader: the reachable member in the role of leader with the highest
 * term (a deposed leader may still think it leads, in an older term). */
static const struct cairn_member *find_leader(const struct cairn_member *m, int n)
{
    const struct cairn_member *best = NULL;
    for (int i = 0; i < n; i++)
        if (m[i].reachable && m[i].role == 3 && (!best || m[i].term > best->term))
            best = &m[i];
    return best;
}

/* Healthy: a leader, every metadata server answering, every chunk at its
 * goal. A dead chunk server whose chunks were all copied elsewhere leaves
 * the cluster healthy (nothing is at risk beyond what the goals say). */
static int healthy(const struct cairn_member *m, int n_m, const struct scan *s)
{
    int all = 1;
    for (int i = 0; i < n_m; i++)
        all &= m[i].reachable;
    return find_leader(m, n_m) && all && !s->count[PROBLEM_UNDER] && !s->count[PROBLEM_MISSING];
}

static void status_json(const struct cairn_member *m, int n_m, const struct scan *s,
                        const struct cairn_statfs *fs)
{
    struct cli_json j;
    json_init(&j, stdout);
    const struct cairn_member *l = find_leader(m, n_m);
    json_obj(&j);
    json_kbool(&j, "healthy", healthy(m, n_m, s));
    json_key(&j, "leader");
    if (l) {
        json_obj(&j);
        json_ku64(&j, "id", l->id);
        json_kstr(&j, "addr", l->addr);
        json_ku64(&j, "term", l->term);
        json_obj_end(&j);
    } else {
        json_null(&j);
    }
    json_key(&j, "members");
    json_arr(&j);
    for (int i = 0; i < n_m; i++) {
        json_obj(&j);
        json_ku64(&j, "id", m[i].id);
        json_kstr(&j, "addr", m[i].addr);
        json_kbool(&j, "reachable", m[i].reachable);
        json_kstr(&j, "role", m[i].reachable ? role_name(m[i].role) : "unreachable");
        json_kbool(&j, "voter", m[i].voter);
        json_ku64(&j, "term", m[i].term);
        json_ku64(&j, "leader", m[i].leader);
        json_ku64(&j, "commit", m[i].commit);
        json_ku64(&j, "applied", m[i].applied);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_key(&j, "chunk_servers");
    json_arr(&j);
    for (int i = 0; i < s->n_nodes; i++) {
        json_obj(&j);
        json_ku64(&j, "id", s->nodes[i].id);
        json_kstr(&j, "addr", s->nodes[i].addr);
        json_kstr(&j, "label", s->nodes[i].label);
        json_kstr(&j, "state", node_state_name(s->nodes[i].state));
        json_ku64(&j, "capacity", s->nodes[i].capacity);
        json_ku64(&j, "used", s->nodes[i].used);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_key(&j, "capacity");
    json_obj(&j);
    json_ku64(&j, "capacity_bytes", fs->capacity_bytes);
    json_ku64(&j, "free_bytes", fs->free_bytes);
    json_ku64(&j, "data_bytes", fs->used_bytes);
    json_obj_end(&j);
    json_ku64(&j, "files", s->files);
    json_ku64(&j, "chunks", s->chunks);
    json_ku64(&j, "under_replicated", s->count[PROBLEM_UNDER]);
    json_ku64(&j, "missing", s->count[PROBLEM_MISSING]);
    json_obj_end(&j);
    json_done(&j);
}

static void status_text(const struct cairn_member *m, int n_m, const struct scan *s,
                        const struct cairn_statfs *fs)
{
    const struct cairn_member *l = find_leader(m, n_m);
    printf("cluster: %s\n", !l ? "NO LEADER" : healthy(m, n_m, s) ? "HEALTHY" : "DEGRADED");
    if (l)
        printf("leader: %s (id %" PRIu64 ", term %" PRIu64 ")\n", l->addr, l->id, l->term);
    printf("\nmetadata servers:\n  %-4s %-22s %-13s %-6s %-10s %-10s\n", "ID", "ADDRESS", "ROLE",
           "TERM", "COMMIT", "APPLIED");
    for (int i = 0; i < n_m; i++) {
        if (!m[i].reachable) {
            printf("  %-4s %-22s %-13s\n", "-", m[i].addr, "unreachable");
            continue;
        }
        printf("  %-4" PRIu64 " %-22s %-13s %-6" PRIu64 " %-10" PRIu64 " %-10" PRIu64 "\n", m[i].id,
               m[i].addr, role_name(m[i].role), m[i].term, m[i].commit, m[i].applied);
    }
    uint32_t up = 0;
    for (int i = 0; i < s->n_nodes; i++)
        up += s->nodes[i].state == 1;
    printf("\nchunk servers (%" PRIu32 " up of %d):\n  %-4s %-22s %-9s %-11s %-11s %s\n", up,
           s->n_nodes, "ID", "ADDRESS", "STATE", "CAPACITY", "USED", "LABEL");
    for (int i = 0; i < s->n_nodes; i++) {
        char a[32], b[32];
        printf("  %-4" PRIu32 " %-22s %-9s %-11s %-11s %s\n", s->nodes[i].id, s->nodes[i].addr,
               node_state_name(s->nodes[i].state), cli_human(s->nodes[i].capacity, a, sizeof a),
               cli_human(s->nodes[i].used, b, sizeof b), s->nodes[i].label);
    }
    char a[32], b[32], d[32];
    printf("\ncapacity: %s, free %s; data %s in %" PRIu64 " files, %" PRIu64 " chunks\n",
           cli_human(fs->capacity_bytes, a, sizeof a), cli_human(fs->free_bytes, b, sizeof b),
           cli_human(fs->used_bytes, d, sizeof d), s->files, s->chunks);
    printf("replication: %" PRIu64 " chunks under-replicated, %" PRIu64 " missing\n",
           s->count[PROBLEM_UNDER], s->count[PROBLEM_MISSING]);
}

int cli_status(int argc, char **argv)
{
    int json = 0;
    const struct cli_opt opts[] = {{"json", 0, NULL, &json}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("status", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    if (n_pos)
        return cli_usage_error("status", "unexpected argument \"%s\"", pos[0]);
    struct cairn *c;
    code = cli_connect("status", &c);
    if (code)
        return code;
    struct cairn_member m[CAIRN_RPC_ADDRS_MAX];
    int n_m = cairn_members(c, m, CAIRN_RPC_ADDRS_MAX);
    struct cairn_statfs fs;
    struct scan s;
    int rc = scan_init(&s, c, 0);
    if (rc == 0)
        rc = cairn_statfs(c, &fs);
    if (rc == 0)
        code = cli_walk("status", c, "/", scan_visit, &s);
    if (rc)
        code = cli_error("status", NULL, rc);
    else if (json)
        status_json(m, n_m < 0 ? 0 : n_m, &s, &fs);
    else
        status_text(m, n_m < 0 ? 0 : n_m, &s, &fs);
    scan_free(&s);
    cairn_disconnect(c);
    return code;
}

/* --- fsck
 * ----------------------------------------------------------------------------------------- */

const char cli_fsck_usage[] =
    "usage: cairn fsck [--verify] [--json] [PATH]\n"
    "\n"
    "Check every chunk of every file under PATH (default /) against the chunk\n"
    "servers' states: MISSING (no copy on a live server), UNDER-REPLICATED\n"
    "(fewer copies on up servers than the file's goal). With --verify every\n"
    "replica is also read whole from its chunk server, which checks the CRC32C\n"
    "of every 64 KiB block: CORRUPT lists copies that failed (and the server\n"
    "reports them to the metadata leader, which replaces them). Exit 0 when\n"
    "nothing is wrong, 1 when a problem was found.\n"
    "\n"
    "  --verify   read every replica (costs a full read of the data)\n"
    "  --json     {path, verified, files, chunks, holes, bytes_verified, healthy,\n"
    "              counts: {missing, under_replicated, corrupt}, missing: [...],\n"
    "              under_replicated: [...], corrupt: [...]}; each problem is\n"
    "              {path, index, chunk, version, goal, copies, node, error}\n"
    "\n"
    "examples:\n"
    "  cairn fsck\n"
    "  cairn fsck --verify --json /important\n";

static void fsck_json(const struct scan *s, const char *path)
{
    struct cli_json j;
    json_init(&j, stdout);
    int healthy = !s->count[0] && !s->count[1] && !s->count[2];
    json_obj(&j);
    json_kstr(&j, "path", path);
    json_kbool(&j, "verified", s->verify);
    json_ku64(&j, "files", s->files);
    json_ku64(&j, "chunks", s->chunks);
    json_ku64(&j, "holes", s->holes);
    json_ku64(&j, "bytes_verified", s->bytes_verified);
    json_kbool(&j, "healthy", healthy);
    json_key(&j, "counts");
    json_obj(&j);
    for (int k = 0; k < PROBLEM_KINDS; k++)
        json_ku64(&j, problem_names[k], s->count[k]);
    json_obj_end(&j);
    for (int k = 0; k < PROBLEM_KINDS; k++) {
        json_key(&j, problem_names[k]);
        json_arr(&j);
        for (size_t i = 0; i < s->n_list[k]; i++) {
            const struct problem *p = &s->list[k][i];
            json_obj(&j);
            json_kstr(&j, "path", p->path);
            json_ku64(&j, "index", p->index);
            json_ku64(&j, "chunk", p->chunk);
            json_ku64(&j, "version", p->version);
            json_ku64(&j, "goal", p->goal);
            json_ku64(&j, "copies", p->copies);
            json_ku64(&j, "node", p->node);
            json_kstr(&j, "error", p->err ? cairn_err_name(p->err) : "");
            json_obj_end(&j);
        }
        json_arr_end(&j);
    }
    json_obj_end(&j);
    json_done(&j);
}

static void fsck_text(const struct scan *s, const char *path)
{
    static const char *const label[PROBLEM_KINDS] = {"MISSING", "UNDER-REPLICATED", "CORRUPT"};
    for (int k = 0; k < PROBLEM_KINDS; k++)
        for (size_t i = 0; i < s->n_list[k]; i++) {
            const struct problem *p = &s->list[k][i];
            printf("%s: %s chunk %" PRIu32 " (id %" PRIu64 " v%" PRIu64 ")", label[k], p->path,
                   p->index, p->chunk, p->version);
            if (k == PROBLEM_CORRUPT)
                printf(" on chunk server %" PRIu32 ": %s\n", p->node, cairn_strerror(p->err));
            else
                printf(": %" PRIu32 " of %" PRIu32 " copies on live servers\n", p->copies, p->goal);
        }
    int healthy = !s->count[0] && !s->count[1] && !s->count[2];
    printf("fsck %s: %" PRIu64 " files, %" PRIu64 " chunks (%" PRIu64 " holes)%s\n", path, s->files,
           s->chunks, s->holes, s->verify ? ", every replica read" : "");
    printf("missing %" PRIu64 ", under-replicated %" PRIu64 ", corrupt %" PRIu64 ": %s\n",
           s->count[0], s->count[1], s->count[2], healthy ? "HEALTHY" : "PROBLEMS FOUND");
}

/* --verify talks to chunk servers directly: it needs the cluster secret. */
static int fsck_secret(struct scan *s)
{
    char path[4096];
    if (cli_cluster_file())
        snprintf(path, sizeof path, "%s", cli_cluster_file());
    else if (cairn_cluster_file_default(path, sizeof path) != 0)
        return -ENAMETOOLONG;
    struct cairn_cluster_info *info = malloc(sizeof *info);
    if (!info)
        return -ENOMEM;
    int rc = cairn_cluster_file_read(path, info, NULL);
    if (rc == 0) {
        rc = rpc_secret_load(info->secret, &s->secret);
        rc = rc ? -cairn_err_to_errno(rc) : 0;
    }
    free(info);
    return rc;
}

int cli_fsck(int argc, char **argv)
{
    int json = 0, verify = 0;
    const struct cli_opt opts[] = {{"json", 0, NULL, &json}, {"verify", 0, NULL, &verify}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("fsck", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    if (n_pos > 1)
        return cli_usage_error("fsck", "one PATH at most");
    const char *path = n_pos ? pos[0] : "/";
    struct cairn *c;
    code = cli_connect("fsck", &c);
    if (code)
        return code;
    struct scan s;
    int rc = scan_init(&s, c, verify);
    if (rc == 0 && verify)
        rc = fsck_secret(&s);
    if (rc == 0) {
        code = cli_walk("fsck", c, path, scan_visit, &s);
        if (json)
            fsck_json(&s, path);
        else
            fsck_text(&s, path);
        if (s.count[0] || s.count[1] || s.count[2])
            code = cli_worse(code, CLI_FAIL);
    } else {
        code = cli_error("fsck", NULL, rc);
    }
    scan_free(&s);
    cairn_disconnect(c);
    return code;
}
