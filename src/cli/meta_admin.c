/*
 * meta_admin.c: administration of the metadata group (docs/metad.md):
 * `cairn meta-status`, `meta-add`, `meta-remove`, `meta-transfer`. Each
 * takes --servers a:p,b:p,... and --secret FILE, finds the leader by
 * following NOTLEADER hints, and prints parsable key=value lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "chunkd/admin.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/time.h"
#include "raft/raft.h"
#include "rpc/rpc.h"
#include "wire/msg_meta.h"
#include "wire/msg_rpc.h"

/* The whole command's deadline (one attempt's: CHUNKD_ADMIN_CALL_MS). */
#define ADMIN_TOTAL_MS 20000u

struct admin {
    struct chunkd_admin_conn c;
    /* command arguments */
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    int learner;
};

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || x == 0)
        return -1;
    *v = x;
    return 0;
}

/* Common flags; `want` says which of --id, --addr, --learner are allowed. */
static int admin_args(struct admin *a, int argc, char **argv, const char *want)
{
    memset(a, 0, sizeof *a);
    cairn_log_set_level(CAIRN_LOG_WARN); /* rpc connect chatter is not for users */
    const char *secret = NULL;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--learner") == 0 && strchr(want, 'l')) {
            a->learner = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "flag %s needs a value\n", f);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (strcmp(f, "--servers") == 0)
            bad = chunkd_admin_parse_list(&a->c, v);
        else if (strcmp(f, "--secret") == 0)
            secret = v;
        else if (strcmp(f, "--id") == 0 && strchr(want, 'i'))
            bad = parse_u64(v, &a->id);
        else if (strcmp(f, "--addr") == 0 && strchr(want, 'a'))
            bad = strlen(v) > CAIRN_MEMBER_ADDR_MAX
                      ? -1
                      : (snprintf(a->addr, sizeof a->addr, "%s", v), 0);
        else
            bad = -2;
        if (bad) {
            fprintf(stderr, bad == -2 ? "unknown flag %s\n" : "bad value for %s\n", f);
            return CLI_USAGE;
        }
    }
    /* Without --servers / --secret: the cluster file's (as client commands). */
    static struct cairn_cluster_info info;
    char file[CAIRN_PATH_MAX];
    if ((!a->c.n || !secret) &&
        (cli_cluster_file() ? snprintf(file, sizeof file, "%s", cli_cluster_file()) > 0
                            : cairn_cluster_file_default(file, sizeof file) == 0) &&
        cairn_cluster_file_read(file, &info, NULL) == 0) {
        for (size_t i = 0; !a->c.n && i < info.n_meta; i++)
            chunkd_admin_add_addr(&a->c, info.meta[i], strlen(info.meta[i]));
        if (!secret)
            secret = info.secret;
    }
    if (!a->c.n || !secret || (strchr(want, 'i') && !a->id) || (strchr(want, 'a') && !a->addr[0])) {
        fprintf(stderr, "missing flags: --servers, --secret%s%s are required\n",
                strchr(want, 'i') ? ", --id" : "", strchr(want, 'a') ? ", --addr" : "");
        return CLI_USAGE;
    }
    return chunkd_admin_open(&a->c, secret) ? CLI_FAIL : CLI_OK;
}

/* Send a leader-only request, following NOTLEADER hints (the hint joins
 * the address list) and cycling addresses without one. */
static int call_leader(struct admin *a, uint16_t type, const struct cairn_buf *req,
                       struct cairn_buf *out)
{
    uint64_t deadline = time_mono_ms() + ADMIN_TOTAL_MS;
    size_t at = 0;
    int rc = CAIRN_ETIMEDOUT;
    while (time_mono_ms() < deadline) {
        rc = chunkd_admin_call_one(&a->c, a->c.addrs[at], type, req, out);
        if (rc != CAIRN_NOTLEADER) {
            if (rc == 0 || (rc != CAIRN_ETIMEDOUT && rc != CAIRN_ECONNREFUSED &&
                            rc != CAIRN_UNAVAILABLE && rc != CAIRN_SHUTDOWN))
                return rc;
            at = (at + 1) % a->c.n;
            chunkd_admin_sleep_ms(100);
            continue;
        }
        int hint = out->len ? chunkd_admin_add_addr(&a->c, (const char *)out->data, out->len) : -1;
        if (hint >= 0 && (size_t)hint != at) {
            at = (size_t)hint;
        } else {
            at = (at + 1) % a->c.n;
            chunkd_admin_sleep_ms(200); /* an election is in progress */
        }
    }
    return rc;
}

static int member_cmd(int argc, char **argv, const char *want, uint8_t op, const char *what)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, want);
    if (code)
        return code;
    if (op == RAFT_CONF_ADD_VOTER && a.learner)
        op = RAFT_CONF_ADD_LEARNER;
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    struct wire_meta_member_req m = {op, a.id, {(const uint8_t *)a.addr, (uint32_t)strlen(a.addr)}};
    int rc = wire_meta_member_encode(&req, &m);
    if (rc == 0)
        rc = call_leader(&a, WIRE_META_MEMBER, &req, &out);
    uint64_t index = 0;
    if (rc == 0)
        rc = wire_meta_u64_decode(out.data, out.len, &index);
    if (rc == 0)
        printf("ok index=%" PRIu64 "\n", index);
    else
        chunkd_admin_print_error(what, rc, &out);
    buf_free(&req);
    buf_free(&out);
    chunkd_admin_done(&a.c);
    return rc ? CLI_FAIL : CLI_OK;
}

int cli_meta_add(int argc, char **argv)
{
    return member_cmd(argc, argv, "ial", RAFT_CONF_ADD_VOTER, "meta-add");
}

int cli_meta_remove(int argc, char **argv)
{
    return member_cmd(argc, argv, "i", RAFT_CONF_REMOVE, "meta-remove");
}

int cli_meta_transfer(int argc, char **argv)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, "i");
    if (code)
        return code;
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    int rc = wire_meta_u64_encode(&req, a.id);
    if (rc == 0)
        rc = call_leader(&a, WIRE_META_TRANSFER, &req, &out);
    if (rc == 0)
        printf("ok transfer=%" PRIu64 "\n", a.id);
    else
        chunkd_admin_print_error("meta-transfer", rc, &out);
    buf_free(&req);
    buf_free(&out);
    chunkd_admin_done(&a.c);
    return rc ? CLI_FAIL : CLI_OK;
}

static void print_status(const char *addr, const struct wire_meta_status *s)
{
    printf("server addr=%s id=%" PRIu64 " role=%s term=%" PRIu64 " leader=%" PRIu64
           " leader_addr=%.*s commit=%" PRIu64 " applied=%" PRIu64 " snapshot=%" PRIu64
           " digest=%016" PRIx64 "\n",
           addr, s->id, raft_role_name((enum raft_role)s->role), s->term, s->leader,
           (int)s->leader_addr.len, (const char *)s->leader_addr.p, s->commit, s->applied,
           s->snapshot_index, s->digest);
}

/* Ask every address (the list grows with the members servers report);
 * then print the membership as the leader, or else the first answer, sees
 * it. */
int cli_meta_status(int argc, char **argv)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, "");
    if (code)
        return code;
    struct cairn_buf req, out, view;
    buf_init(&req, 0);
    buf_init(&out, 0);
    buf_init(&view, 0);
    int answered = 0, view_is_leader = 0;
    for (size_t i = 0; i < a.c.n; i++) {
        struct wire_meta_status s;
        int rc = chunkd_admin_call_one(&a.c, a.c.addrs[i], WIRE_META_STATUS, &req, &out);
        if (rc == 0)
            rc = wire_meta_status_decode(out.data, out.len, &s);
        if (rc) {
            printf("server addr=%s error=%s\n", a.c.addrs[i], cairn_err_name(rc));
            continue;
        }
        print_status(a.c.addrs[i], &s);
        answered++;
        for (uint32_t k = 0; k < s.n_members; k++)
            chunkd_admin_add_addr(&a.c, (const char *)s.members[k].addr.p, s.members[k].addr.len);
        if (!view.len || (!view_is_leader && s.role == RAFT_LEADER)) {
            view_is_leader = s.role == RAFT_LEADER;
            buf_reset(&view);
            buf_append(&view, out.data, out.len);
        }
    }
    struct wire_meta_status s;
    if (view.len && wire_meta_status_decode(view.data, view.len, &s) == 0)
        for (uint32_t k = 0; k < s.n_members; k++)
            printf("member id=%" PRIu64 " voter=%u addr=%.*s\n", s.members[k].id,
                   s.members[k].voter, (int)s.members[k].addr.len,
                   (const char *)s.members[k].addr.p);
    buf_free(&req);
    buf_free(&out);
    buf_free(&view);
    chunkd_admin_done(&a.c);
    return answered ? CLI_OK : CLI_FAIL;
}
