/*
 * conn.c: the connection pool of `cairn mount`, per-request credentials, the
 * table of inodes open in this mount, and the keep-alive thread (threads and
 * lock order in fuse_int.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "fuse/fuse_int.h"

struct fz_mount *fz_of(fuse_req_t req) { return fuse_req_userdata(req); }

int fz_errno(int rc)
{
    if (rc >= 0)
        return 0;
    int e = cairn_err_to_errno(rc);
    return e > 0 ? e : EIO;
}

int fz_ino_errno(int rc) { return rc == CAIRN_ENOENT ? ESTALE : fz_errno(rc); }

/* --- the pool ------------------------------------------------------------------ */

static int conn_open(struct fz_mount *m, struct fz_conn *cn, uint32_t i)
{
    char name[32];
    snprintf(name, sizeof name, "cairn-mount-%u", i);
    struct cairn_config cfg = {
        .cluster_file = m->o.cluster_file,
        .name = name,
        .mode_mask = -1, /* the kernel applied the caller's umask already */
    };
    int rc = cairn_connect(&cfg, &cn->c);
    if (rc)
        return rc; /* -errno */
    struct dataclient_cfg dcfg = {
        .mc = cn->c->mc,
        .secret = &cn->c->secret,
        .name = cn->c->name,
        /* The mount's own credentials: the kernel checked the open mode
         * (default_permissions) and the leader checks SETATTR per caller. */
        .uid = cn->c->cred.uid,
        .gid = cn->c->cred.gid,
    };
    rc = dataclient_new(&dcfg, &cn->dc);
    if (rc) {
        cairn_disconnect(cn->c);
        cn->c = NULL;
        return -fz_errno(rc);
    }
    return 0;
}

int fz_pool_open(struct fz_mount *m)
{
    pthread_mutex_init(&m->table_mu, NULL);
    hmap_init(&m->table);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a stream of opens must not starve a removal */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->open_rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&m->pid_mu, NULL);
    hmap_init(&m->lock_pids);
    m->n_conns = 0;
    for (uint32_t i = 0; i < m->o.conns; i++) {
        int rc = conn_open(m, &m->conns[i], i);
        if (rc) {
            fz_pool_close(m);
            return rc;
        }
        m->n_conns++;
    }
    m->own_cred = m->conns[0].c->cred; /* before any request overwrites it */
    int rc = cairn_locks_open(m->conns[0].c, 0, &m->locks);
    if (rc) {
        fz_pool_close(m);
        return -fz_errno(rc);
    }
    return 0;
}

void fz_pool_close(struct fz_mount *m)
{
    if (m->locks)
        cairn_locks_close(m->locks);
    m->locks = NULL;
    /* Inodes still open (the kernel unmounted without releases): commit
     * what they wrote and end their holds with the sessions. */
    size_t it = 0;
    uint64_t key;
    void *val;
    while (hmap_next(&m->table, &it, &key, &val)) {
        struct fz_inode *fi = val;
        if (fi->df) {
            pthread_mutex_lock(&fi->conn->c->mu);
            int rc = datafile_close(fi->df);
            pthread_mutex_unlock(&fi->conn->c->mu);
            if (rc)
                LOG_WARN("fuse", "inode %llu: close at unmount: %s", (unsigned long long)fi->ino,
                         cairn_strerror(rc));
        }
        pthread_mutex_destroy(&fi->mu);
        free(fi);
    }
    hmap_free(&m->table);
    hmap_free(&m->lock_pids);
    pthread_mutex_destroy(&m->pid_mu);
    for (uint32_t i = 0; i < m->n_conns; i++) {
        dataclient_close(m->conns[i].dc);
        cairn_disconnect(m->conns[i].c);
        m->conns[i].c = NULL;
    }
    m->n_conns = 0;
    pthread_mutex_destroy(&m->table_mu);
    pthread_rwlock_destroy(&m->open_rw);
}

void fz_req_cred(fuse_req_t req, struct meta_cred *out)
{
    memset(out, 0, sizeof *out);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    out->uid = (uint32_t)ctx->uid;
    out->gid = (uint32_t)ctx->gid;
    gid_t groups[CAIRN_GROUPS_MAX];
    int n = fuse_req_getgroups(req, CAIRN_GROUPS_MAX, groups);
    /* More groups than a command carries: none rather than a partial set
     * (as libcairn's default credentials). */
    if (n > 0 && (uint32_t)n <= CAIRN_GROUPS_MAX)
        for (int i = 0; i < n; i++)
            out->groups[out->n_groups++] = (uint32_t)groups[i];
}

static void conn_set_cred(struct fz_conn *cn, fuse_req_t req)
{
    if (req)
        fz_req_cred(req, &cn->c->cred);
}

/* A free connection if there is one, else wait for one in round robin. */
struct fz_conn *fz_conn_get(struct fz_mount *m, fuse_req_t req)
{
    struct fz_conn *cn = NULL;
    for (uint32_t i = 0; i < m->n_conns && !cn; i++)
        if (pthread_mutex_trylock(&m->conns[i].c->mu) == 0)
            cn = &m->conns[i];
    if (!cn) {
        uint32_t i = __atomic_fetch_add(&m->next, 1, __ATOMIC_RELAXED) % m->n_conns;
        cn = &m->conns[i];
        pthread_mutex_lock(&cn->c->mu);
    }
    conn_set_cred(cn, req);
    return cn;
}

void fz_conn_lock(struct fz_conn *cn, fuse_req_t req)
{
    pthread_mutex_lock(&cn->c->mu);
    conn_set_cred(cn, req);
}

void fz_conn_put(struct fz_conn *cn) { pthread_mutex_unlock(&cn->c->mu); }

void fz_hdr(const struct fz_conn *cn, struct meta_hdr *h) { api_hdr(cn->c, h); }

/* --- open inodes ------------------------------------------------------------------ */

struct fz_inode *fz_inode_ref(struct fz_mount *m, uint64_t ino)
{
    pthread_mutex_lock(&m->table_mu);
    struct fz_inode *fi = hmap_get(&m->table, ino);
    if (!fi) {
        fi = calloc(1, sizeof *fi);
        if (fi && hmap_put(&m->table, ino, fi) != 0) {
            free(fi);
            fi = NULL;
        }
        if (fi) {
            fi->ino = ino;
            pthread_mutex_init(&fi->mu, NULL);
        }
    }
    if (fi)
        fi->refs++;
    pthread_mutex_unlock(&m->table_mu);
    return fi;
}

struct fz_inode *fz_inode_find(struct fz_mount *m, uint64_t ino)
{
    pthread_mutex_lock(&m->table_mu);
    struct fz_inode *fi = hmap_get(&m->table, ino);
    if (fi)
        fi->refs++;
    pthread_mutex_unlock(&m->table_mu);
    return fi;
}

void fz_inode_unref(struct fz_mount *m, struct fz_inode *fi)
{
    pthread_mutex_lock(&m->table_mu);
    CAIRN_ASSERT(fi->refs > 0);
    if (--fi->refs == 0) {
        /* Every path that closes the datafile does it before its unref;
         * an entry made by a failed open has none. */
        CAIRN_ASSERT(fi->df == NULL);
        hmap_del(&m->table, fi->ino);
        pthread_mutex_destroy(&fi->mu);
        free(fi);
    }
    pthread_mutex_unlock(&m->table_mu);
}

int fz_any_open(struct fz_mount *m)
{
    pthread_mutex_lock(&m->table_mu);
    int any = hmap_len(&m->table) > 0;
    pthread_mutex_unlock(&m->table_mu);
    return any;
}

void fz_size_merge(struct fz_mount *m, struct meta_attr *a)
{
    if (!S_ISREG(a->mode))
        return;
    pthread_mutex_lock(&m->table_mu);
    struct fz_inode *fi = hmap_get(&m->table, a->ino);
    /* 0 while the inode has no datafile */
    uint64_t hint = fi ? __atomic_load_n(&fi->size_hint, __ATOMIC_RELAXED) : 0;
    pthread_mutex_unlock(&m->table_mu);
    if (hint > a->size)
        a->size = hint;
}

/* --- keep-alive ------------------------------------------------------------------ */

/* A private loop turns only inside a blocking call (metaclient.h), so an
 * idle connection's session would lapse, and with it the inode holds it
 * carries. One cheap query per connection every few seconds turns each
 * loop, which sends the keep-alives that are due. */
#define FZ_KEEPALIVE_MS 3000u

static void *keepalive_main(void *arg)
{
    struct fz_mount *m = arg;
    pthread_mutex_lock(&m->ka_mu);
    while (!m->ka_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += FZ_KEEPALIVE_MS / 1000u;
        pthread_cond_timedwait(&m->ka_cv, &m->ka_mu, &ts);
        if (m->ka_stop)
            break;
        pthread_mutex_unlock(&m->ka_mu);
        for (uint32_t i = 0; i < m->n_conns; i++) {
            struct fz_conn *cn = &m->conns[i];
            /* A busy connection turns its loop anyway. */
            if (pthread_mutex_trylock(&cn->c->mu) != 0)
                continue;
            struct meta_attr a;
            int rc = api_getattr(cn->c, META_ROOT_INO, &a);
            pthread_mutex_unlock(&cn->c->mu);
            if (rc)
                LOG_DEBUG("fuse", "keep-alive on connection %u: %s", i, cairn_strerror(rc));
        }
        pthread_mutex_lock(&m->ka_mu);
    }
    pthread_mutex_unlock(&m->ka_mu);
    return NULL;
}

int fz_keepalive_start(struct fz_mount *m)
{
    pthread_mutex_init(&m->ka_mu, NULL);
    pthread_cond_init(&m->ka_cv, NULL);
    m->ka_stop = 0;
    if (pthread_create(&m->ka_thread, NULL, keepalive_main, m) != 0)
        return CAIRN_ENOMEM;
    m->ka_started = 1;
    return 0;
}

void fz_keepalive_stop(struct fz_mount *m)
{
    if (!m->ka_started)
        return;
    pthread_mutex_lock(&m->ka_mu);
    m->ka_stop = 1;
    pthread_cond_broadcast(&m->ka_cv);
    pthread_mutex_unlock(&m->ka_mu);
    pthread_join(m->ka_thread, NULL);
    m->ka_started = 0;
    pthread_mutex_destroy(&m->ka_mu);
    pthread_cond_destroy(&m->ka_cv);
}
