/*
 * nsmodel.c: the sequential model of meta mode's namespace for lincheck.
 *
 * State: for each of SIM_NS_SLOTS names, 0 (absent) or its kind
 * (SIM_NS_FILE / SIM_NS_DIR) | its tag, the permission bits the client gave
 * the inode when it created it: so a rename moves an identity, and a LOOKUP
 * that finds another inode than the model has there is caught. The
 * subdirectory "sub" holding slots 4..5 exists from the start (client 1
 * creates it before any operation on those slots is called); no operation
 * creates anything inside a slot's directory, so those directories are
 * always empty. The clients' credentials are root's, so permissions never
 * decide; the errors are src/meta/ns.c's (Linux's), in its order of checks.
 *
 * Operations (lin_op):
 *   CREATE   arg[0] = slot | excl << 8, arg[1] = tag; out[0] = status,
 *            out[1] = tag of the file returned (excl 0 returns an existing one)
 *   MKDIR    arg[0] = slot, arg[1] = tag; out[0] = status
 *   UNLINK, RMDIR  arg[0] = slot; out[0] = status
 *   RENAME   arg[0] = src | dst << 8 | noreplace << 16; out[0] = status
 *   LOOKUP   arg[0] = slot; out[0] = status, out[1] = kind | tag
 *   READDIR  arg[0] = 0 (root) or 1 (sub); out[0] = status, out[1] = for
 *            each slot of that directory, bit 2*slot if present and bit
 *            2*slot+1 if a directory ("sub", "." and ".." left out)
 * A status is the negative cairn_err code as u64 (0 ok).
 */
#include <stdio.h>
#include <string.h>

#include "cairn_errors.h"
#include "sim.h"

struct ns_state {
    uint16_t slot[SIM_NS_SLOTS];
};

static void ns_init(void *state) { memset(state, 0, sizeof(struct ns_state)); }

static uint64_t st_code(int rc) { return (uint64_t)(int64_t)rc; }

/* RENAME on the state: Linux's checks as ns.c orders them. */
static int ns_rename(struct ns_state *s, uint64_t a)
{
    uint32_t src = a & 0xff, dst = (a >> 8) & 0xff;
    int noreplace = (a >> 16) & 1;
    uint16_t from = s->slot[src], to = s->slot[dst];
    if (!from)
        return CAIRN_ENOENT;
    if (to && noreplace)
        return CAIRN_EEXIST;
    if (src == dst)
        return 0; /* the same inode: nothing to do */
    int src_dir = (from & SIM_NS_DIR) != 0;
    if (to && src_dir && !(to & SIM_NS_DIR))
        return CAIRN_ENOTDIR;
    if (to && !src_dir && (to & SIM_NS_DIR))
        return CAIRN_EISDIR;
    s->slot[dst] = from;
    s->slot[src] = 0;
    return 0;
}

/* The listing READDIR of one directory gives in this state. */
static uint64_t ns_listing(const struct ns_state *s, uint64_t dir)
{
    uint32_t lo = dir ? SIM_NS_ROOT_SLOTS : 0, hi = dir ? SIM_NS_SLOTS : SIM_NS_ROOT_SLOTS;
    uint64_t bits = 0;
    for (uint32_t i = lo; i < hi; i++) {
        if (s->slot[i])
            bits |= 1ull << (2 * i);
        if (s->slot[i] & SIM_NS_DIR)
            bits |= 1ull << (2 * i + 1);
    }
    return bits;
}

/* Run op on a copy of the state: its status and result. */
static void ns_run(struct ns_state *s, const struct lin_op *op, int *rc, uint64_t *res)
{
    uint32_t slot = op->arg[0] & 0xff;
    uint16_t cur = slot < SIM_NS_SLOTS ? s->slot[slot] : 0;
    *rc = 0;
    *res = 0;
    switch (op->kind) {
    case SIM_NS_CREATE:
        if (cur && ((op->arg[0] >> 8) & 1))
            *rc = CAIRN_EEXIST;
        else if (cur && (cur & SIM_NS_DIR))
            *rc = CAIRN_EISDIR;
        else if (cur)
            *res = cur & 0777u;
        else
            s->slot[slot] = (uint16_t)(SIM_NS_FILE | (op->arg[1] & 0777u));
        if (!cur)
            *res = op->arg[1] & 0777u;
        break;
    case SIM_NS_MKDIR:
        if (cur)
            *rc = CAIRN_EEXIST;
        else
            s->slot[slot] = (uint16_t)(SIM_NS_DIR | (op->arg[1] & 0777u));
        break;
    case SIM_NS_UNLINK:
    case SIM_NS_RMDIR: {
        int want_dir = op->kind == SIM_NS_RMDIR;
        if (!cur)
            *rc = CAIRN_ENOENT;
        else if (want_dir && !(cur & SIM_NS_DIR))
            *rc = CAIRN_ENOTDIR;
        else if (!want_dir && (cur & SIM_NS_DIR))
            *rc = CAIRN_EISDIR;
        else
            s->slot[slot] = 0;
        break;
    }
    case SIM_NS_RENAME:
        *rc = ns_rename(s, op->arg[0]);
        break;
    case SIM_NS_LOOKUP:
        if (!cur)
            *rc = CAIRN_ENOENT;
        else
            *res = cur;
        break;
    case SIM_NS_READDIR:
        *res = ns_listing(s, op->arg[0]);
        break;
    default:
        *rc = CAIRN_EINVAL;
        break;
    }
}

static int ns_step(void *state, const struct lin_op *op)
{
    struct ns_state next = *(struct ns_state *)state;
    int rc;
    uint64_t res;
    ns_run(&next, op, &rc, &res);
    if (op->ret_time != LIN_TIME_INF) {
        if (op->out[0] != st_code(rc))
            return 0;
        int has_res =
            op->kind == SIM_NS_CREATE || op->kind == SIM_NS_LOOKUP || op->kind == SIM_NS_READDIR;
        if (rc == 0 && has_res && op->out[1] != res)
            return 0;
    }
    *(struct ns_state *)state = next;
    return 1;
}

static const char *ns_op_name(uint32_t kind)
{
    static const char *const names[] = {"CREATE", "MKDIR",  "UNLINK", "RMDIR",
                                        "RENAME", "LOOKUP", "READDIR"};
    return kind >= SIM_NS_CREATE && kind <= SIM_NS_READDIR ? names[kind - SIM_NS_CREATE] : "?";
}

static void ns_describe(const struct lin_op *op, char *out, size_t outlen)
{
    const char *rc = op->ret_time == LIN_TIME_INF ? "unknown"
                     : op->out[0] == 0            ? "ok"
                                                  : cairn_err_name((int)(int64_t)op->out[0]);
    snprintf(out, outlen, "%s(arg %#llx, %#llx) -> %s, %#llx", ns_op_name(op->kind),
             (unsigned long long)op->arg[0], (unsigned long long)op->arg[1], rc,
             (unsigned long long)op->out[1]);
}

const struct lin_model sim_model_ns = {
    .name = "namespace",
    .state_size = sizeof(struct ns_state),
    .partitioned = 0,
    .init = ns_init,
    .step = ns_step,
    .describe = ns_describe,
};
