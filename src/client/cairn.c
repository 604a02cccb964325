/*
 * cairn.c: libcairn's connection (include/cairn.h): cluster files, connect
 * and disconnect, credentials, the command helpers every other api_*.c file
 * uses, attributes (stat), statfs and replication goals.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "client/api_int.h"
#include "common/assert.h"
#include "wire/codec.h"

/* Largest cluster file read: a few addresses and paths; bounds the read. */
#define CLUSTER_FILE_MAX (64u * 1024u)

int api_errno(int rc) { return rc >= 0 ? rc : -cairn_err_to_errno(rc); }

/* --- cluster files ------------------------------------------------------------------ */

int cairn_cluster_file_default(char *out, size_t len)
{
    const char *env = getenv("CAIRN_CLUSTER");
    int n;
    if (env && *env) {
        n = snprintf(out, len, "%s", env);
    } else {
        const char *home = getenv("HOME");
        n = snprintf(out, len, "%s/.cairn/cluster", home && *home ? home : ".");
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int parse_meta_list(const char *v, struct cairn_cluster_info *out)
{
    out->n_meta = 0;
    while (*v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        if (n == 0 || n > CAIRN_CLUSTER_ADDR_MAX || out->n_meta == CAIRN_CLUSTER_ADDRS_MAX)
            return -1;
        memcpy(out->meta[out->n_meta], v, n);
        out->meta[out->n_meta][n] = 0;
        struct sockaddr_storage sa;
        if (rpc_addr_parse(out->meta[out->n_meta], &sa) != 0)
            return -1;
        out->n_meta++;
        v += n + (end ? 1 : 0);
    }
    return out->n_meta ? 0 : -1;
}

/* The secret path as written, made relative to the cluster file's folder. */
static int set_secret(struct cairn_cluster_info *out, const char *file, const char *v)
{
    const char *slash = strrchr(file, '/');
    int n;
    if (v[0] == '/' || !slash)
        n = snprintf(out->secret, sizeof out->secret, "%s", v);
    else
        n = snprintf(out->secret, sizeof out->secret, "%.*s/%s", (int)(slash - file), file, v);
    return n < 0 || (size_t)n >= sizeof out->secret ? -1 : 0;
}

/* Parse the text of a cluster file: 0, or the 1-based number of the bad
 * line. */
static int cluster_parse(char *text, const char *file, struct cairn_cluster_info *out)
{
    int line = 0;
    char *save = NULL;
    for (char *l = text; l; l = save) {
        line++;
        save = strchr(l, '\n');
        if (save)
            *save++ = 0;
        char *hash = strchr(l, '#');
        if (hash)
            *hash = 0;
        l = trim(l);
        if (!*l)
            continue;
        char *eq = strchr(l, '=');
        if (!eq)
            return line;
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        if (strcmp(key, "meta") == 0 && parse_meta_list(val, out) != 0)
            return line;
        if (strcmp(key, "secret") == 0 && (!*val || set_secret(out, file, val) != 0))
            return line;
    }
    return !out->n_meta || !out->secret[0] ? line + 1 : 0;
}

int cairn_cluster_file_read(const char *path, struct cairn_cluster_info *out, int *line)
{
    memset(out, 0, sizeof *out);
    if (line)
        *line = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *text = malloc(CLUSTER_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(text, 1, CLUSTER_FILE_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    int rc = 0;
    if (err || n > CLUSTER_FILE_MAX) {
        rc = err ? -EIO : -EFBIG;
    } else {
        text[n] = 0;
        int bad = cluster_parse(text, path, out);
        if (bad) {
            if (line)
                *line = bad;
            rc = -EINVAL;
        }
    }
    free(text);
    return rc;
}

/* --- connecting ---------------------------------------------------------------------- */

static void cred_default(struct meta_cred *cred)
{
    memset(cred, 0, sizeof *cred);
    cred->uid = (uint32_t)getuid();
    cred->gid = (uint32_t)getgid();
    gid_t groups[CAIRN_GROUPS_MAX];
    int n = getgroups(CAIRN_GROUPS_MAX, groups);
    /* More groups than fit (EINVAL): carry none rather than a partial set
     * that would decide permissions arbitrarily. */
    for (int i = 0; i < n; i++)
        cred->groups[cred->n_groups++] = (uint32_t)groups[i];
}

/* The process umask, read without changing it (umask(2) would race with
 * other threads): /proc/self/status has it since Linux 4.7. */
static uint32_t process_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    uint32_t mask = 022;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "Umask: %o", &v) == 1) {
            mask = v & 0777u;
            break;
        }
    }
    if (f)
        fclose(f);
    return mask;
}

/* Addresses and secret from the configuration or a cluster file. */
static int connect_target(struct cairn *c, const struct cairn_config *cfg)
{
    if (cfg->n_meta_addrs) {
        if (cfg->n_meta_addrs > CAIRN_RPC_ADDRS_MAX || !cfg->secret_path)
            return -EINVAL;
        for (size_t i = 0; i < cfg->n_meta_addrs; i++) {
            if (strlen(cfg->meta_addrs[i]) > CAIRN_MEMBER_ADDR_MAX)
                return -EINVAL;
            snprintf(c->addrs[i], sizeof c->addrs[i], "%s", cfg->meta_addrs[i]);
        }
        c->n_addrs = cfg->n_meta_addrs;
        return api_errno(rpc_secret_load(cfg->secret_path, &c->secret));
    }
    char path[CAIRN_PATH_MAX];
    int rc = 0;
    if (cfg->cluster_file)
        snprintf(path, sizeof path, "%s", cfg->cluster_file);
    else
        rc = cairn_cluster_file_default(path, sizeof path);
    struct cairn_cluster_info *info = rc ? NULL : malloc(sizeof *info);
    if (!rc && !info)
        rc = -ENOMEM;
    if (!rc)
        rc = cairn_cluster_file_read(path, info, NULL);
    if (!rc) {
        c->n_addrs = info->n_meta;
        memcpy(c->addrs, info->meta, sizeof info->meta);
        rc = api_errno(rpc_secret_load(info->secret, &c->secret));
    }
    free(info);
    return rc;
}

static int connect_client(struct cairn *c, const struct cairn_config *cfg)
{
    const char *addrs[CAIRN_RPC_ADDRS_MAX];
    for (size_t i = 0; i < c->n_addrs; i++)
        addrs[i] = c->addrs[i];
    snprintf(c->name, sizeof c->name, "%s", cfg->name ? cfg->name : "libcairn");
    struct metaclient_cfg mcfg = {
        .addrs = addrs,
        .n_addrs = c->n_addrs,
        .secret = &c->secret,
        .name = c->name,
        .sessions = 1,
        .op_timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : CAIRN_OP_TIMEOUT_MS_DEFAULT,
    };
    /* One attempt must leave room for retries elsewhere within the op. */
    mcfg.attempt_timeout_ms = CAIRN_MIN(METACLIENT_ATTEMPT_MS_DEFAULT, mcfg.op_timeout_ms / 2);
    return api_errno(metaclient_new(NULL, &mcfg, &c->mc));
}

int cairn_connect(const struct cairn_config *cfg, struct cairn **out)
{
    struct cairn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    buf_init(&c->cmd, 0);
    buf_init(&c->reply, 0);
    cred_default(&c->cred);
    c->mode_mask = cfg->mode_mask == 0  ? process_umask()
                   : cfg->mode_mask < 0 ? 0
                                        : (uint32_t)cfg->mode_mask & 0777u;
    int rc = connect_target(c, cfg);
    if (rc == 0)
        rc = connect_client(c, cfg);
    if (rc == 0) {
        /* One linearizable read: the leader is found and the secret is
         * accepted, or the caller learns now that the cluster is out of
         * reach. */
        struct meta_attr root;
        rc = api_errno(api_getattr(c, META_ROOT_INO, &root));
    }
    if (rc) {
        cairn_disconnect(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cairn_disconnect(struct cairn *c)
{
    if (!c)
        return;
    CAIRN_ASSERT(c->files_open == 0);
    if (c->data_close)
        c->data_close(c);
    if (c->mc)
        metaclient_close(c->mc);
    rpc_secret_wipe(&c->secret);
    buf_free(&c->cmd);
    buf_free(&c->reply);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int cairn_set_cred(struct cairn *c, const struct cairn_cred *cred)
{
    if (cred->n_groups > CAIRN_GROUPS_MAX)
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    /* The data path copies the credentials when it is created: they can
     * only change while no file is open. */
    if (c->dc && c->files_open) {
        rc = -EBUSY;
    } else {
        if (c->data_close)
            c->data_close(c);
        c->cred.uid = cred->uid;
        c->cred.gid = cred->gid;
        c->cred.n_groups = cred->n_groups;
        memcpy(c->cred.groups, cred->groups, cred->n_groups * sizeof cred->groups[0]);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void cairn_get_cred(struct cairn *c, struct cairn_cred *out)
{
    pthread_mutex_lock(&c->mu);
    memset(out, 0, sizeof *out);
    out->uid = c->cred.uid;
    out->gid = c->cred.gid;
    out->n_groups = c->cred.n_groups;
    memcpy(out->groups, c->cred.groups, c->cred.n_groups * sizeof out->groups[0]);
    pthread_mutex_unlock(&c->mu);
}

/* --- commands ---------------------------------------------------------------------------- */

void api_hdr(const struct cairn *c, struct meta_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->cred = c->cred;
}

static int api_run(struct cairn *c, int mutation)
{
    buf_reset(&c->reply);
    int rc = mutation ? metaclient_mutate_sync(c->mc, c->cmd.data, c->cmd.len, &c->reply, NULL)
                      : metaclient_query_sync(c->mc, c->cmd.data, c->cmd.len, &c->reply, NULL);
    if (rc == 0 && c->reply.len < 4)
        rc = CAIRN_TRUNCATED;
    return rc;
}

int api_query(struct cairn *c) { return api_run(c, 0); }
int api_mutate(struct cairn *c) { return api_run(c, 1); }

int api_query_attr(struct cairn *c, struct meta_attr *out)
{
    int rc = api_query(c);
    return rc ? rc : meta_reply_attr(c->reply.data, c->reply.len, out);
}

int api_mutate_attr(struct cairn *c, struct meta_attr *out)
{
    int rc = api_mutate(c);
    return rc ? rc : meta_reply_attr(c->reply.data, c->reply.len, out);
}

int api_getattr(struct cairn *c, uint64_t ino, struct meta_attr *out)
{
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_getattr(&c->cmd, &h, ino);
    return rc ? rc : api_query_attr(c, out);
}

int api_lookup(struct cairn *c, uint64_t parent, const char *name, struct meta_attr *out)
{
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_lookup(&c->cmd, &h, parent, name);
    return rc ? rc : api_query_attr(c, out);
}

int api_readlink_ino(struct cairn *c, uint64_t ino, char *out, size_t *len)
{
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_readlink(&c->cmd, &h, ino);
    if (rc == 0)
        rc = api_query(c);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    struct wire_bytes t = wire_get_bytes(&d, CAIRN_SYMLINK_MAX);
    rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    memcpy(out, t.p, t.len);
    out[t.len] = 0;
    *len = t.len;
    return 0;
}

/* --- attributes ---------------------------------------------------------------------------- */

static struct timespec ns_to_ts(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

void api_attr_to_stat(const struct meta_attr *a, struct cairn_stat *out)
{
    memset(out, 0, sizeof *out);
    out->ino = a->ino;
    out->mode = a->mode;
    out->nlink = a->nlink;
    out->uid = a->uid;
    out->gid = a->gid;
    out->size = a->size;
    out->atime = ns_to_ts(a->atime_ns);
    out->mtime = ns_to_ts(a->mtime_ns);
    out->ctime = ns_to_ts(a->ctime_ns);
    out->version = a->version;
    out->goal = a->goal;
}

void cairn_stat_to_posix(const struct cairn_stat *in, struct stat *out)
{
    memset(out, 0, sizeof *out);
    out->st_ino = (ino_t)in->ino;
    out->st_mode = (mode_t)in->mode;
    out->st_nlink = (nlink_t)in->nlink;
    out->st_uid = (uid_t)in->uid;
    out->st_gid = (gid_t)in->gid;
    out->st_size = (off_t)in->size;
    out->st_blksize = CAIRN_BLOCK_SIZE;
    out->st_blocks = (blkcnt_t)((in->size + 511u) / 512u);
    out->st_atim = in->atime;
    out->st_mtim = in->mtime;
    out->st_ctim = in->ctime;
}

static int stat_common(struct cairn *c, const char *path, int follow, struct cairn_stat *out)
{
    struct meta_attr a;
    pthread_mutex_lock(&c->mu);
    int rc = api_resolve(c, path, follow, &a);
    pthread_mutex_unlock(&c->mu);
    if (rc == 0)
        api_attr_to_stat(&a, out);
    return api_errno(rc);
}

int cairn_stat(struct cairn *c, const char *path, struct cairn_stat *out)
{
    return stat_common(c, path, 1, out);
}

int cairn_lstat(struct cairn *c, const char *path, struct cairn_stat *out)
{
    return stat_common(c, path, 0, out);
}

/* --- cluster-wide ---------------------------------------------------------------------------- */

int cairn_statfs(struct cairn *c, struct cairn_statfs *out)
{
    pthread_mutex_lock(&c->mu);
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_statfs(&c->cmd, &h);
    if (rc == 0)
        rc = api_query(c);
    if (rc == 0) {
        struct wire_dec d;
        wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
        memset(out, 0, sizeof *out);
        out->files = wire_get_u64(&d);
        out->used_bytes = wire_get_u64(&d);
        out->capacity_bytes = wire_get_u64(&d);
        out->free_bytes = wire_get_u64(&d);
        out->nodes = wire_get_u32(&d);
        out->nodes_up = wire_get_u32(&d);
        rc = wire_dec_finish(&d);
    }
    pthread_mutex_unlock(&c->mu);
    return api_errno(rc);
}

int cairn_setgoal(struct cairn *c, const char *path, uint32_t goal)
{
    if (goal < 1 || goal > CAIRN_GOAL_MAX)
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    struct meta_attr a;
    int rc = api_resolve(c, path, 1, &a);
    if (rc == 0) {
        struct meta_hdr h;
        api_hdr(c, &h);
        struct meta_attr set = {.goal = (uint8_t)goal};
        buf_reset(&c->cmd);
        rc = meta_cmd_setattr(&c->cmd, &h, a.ino, META_SET_GOAL, &set);
        if (rc == 0)
            rc = api_mutate_attr(c, &a);
    }
    pthread_mutex_unlock(&c->mu);
    return api_errno(rc);
}

int cairn_getgoal(struct cairn *c, const char *path, uint32_t *goal)
{
    struct cairn_stat st;
    int rc = cairn_stat(c, path, &st);
    if (rc == 0)
        *goal = st.goal;
    return rc;
}
