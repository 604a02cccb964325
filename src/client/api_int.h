/*
 * api_int.h: internals of libcairn's public API (include/cairn.h), shared
 * by cairn.c (connect, credentials, attributes, statfs), api_path.c (path
 * resolution), api_ns.c (namespace calls, directories, xattrs), api_file.c
 * (open files on the data path) and api_info.c (members, nodes, chunk maps).
 *
 * Every public call takes c->mu for its whole duration, then runs metadata
 * commands through the metaclient's blocking calls (private loop) and file
 * bytes through the dataclient (client/file.h), which runs the same loop.
 * Internal functions named api_* expect the lock held and return negative
 * cairn_err codes; the public wrappers turn those into negative errno
 * (api_errno).
 *
 * Memory: struct cairn owns the metaclient, the dataclient and two scratch
 * buffers (cmd, reply) that every command reuses: a reply's bytes are valid
 * until the next command.
 */
#ifndef CAIRN_CLIENT_API_INT_H
#define CAIRN_CLIENT_API_INT_H

#include <pthread.h>
#include <stdint.h>

#include "cairn.h"
#include "client/metaclient.h"
#include "common/buf.h"
#include "common/limits.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "rpc/rpc.h"

_Static_assert(CAIRN_CRED_GROUPS_MAX == CAIRN_GROUPS_MAX, "public and internal group limits agree");
_Static_assert(CAIRN_CHUNK_REPLICAS_MAX == CAIRN_GOAL_MAX, "replica limits agree");
_Static_assert(CAIRN_CLUSTER_ADDRS_MAX == CAIRN_RPC_ADDRS_MAX, "address list limits agree");
_Static_assert(CAIRN_CLUSTER_ADDR_MAX == CAIRN_MEMBER_ADDR_MAX, "address limits agree");

struct dataclient;

struct cairn {
    pthread_mutex_t mu;
    struct metaclient *mc;
    struct dataclient *dc; /* created on the first open (api_file.c) */
    /* Set with dc by api_file.c: closes it. A pointer, so a program that
     * never opens a file does not link the data path. */
    void (*data_close)(struct cairn *c);
    struct rpc_secret secret;
    char name[64];
    size_t n_addrs;
    char addrs[CAIRN_RPC_ADDRS_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    struct meta_cred cred;
    uint32_t mode_mask;
    uint32_t files_open; /* cairn_file and cairn_dir handles */
    struct cairn_buf cmd, reply;
};

/* Negative errno of a cairn_err (0 stays 0). */
int api_errno(int rc);

/* A command header with the connection's credentials. */
void api_hdr(const struct cairn *c, struct meta_hdr *h);
/* Run the READ / SESSION command built in c->cmd; the whole reply (status
 * first) is in c->reply. Returns the reply's status (or the client's
 * error). */
int api_query(struct cairn *c);
int api_mutate(struct cairn *c);
/* As api_query / api_mutate, then decode an ATTR reply body into out. */
int api_query_attr(struct cairn *c, struct meta_attr *out);
int api_mutate_attr(struct cairn *c, struct meta_attr *out);
/* As api_mutate; with if_version (not NULL) the command is wrapped in
 * COND(ino, *if_version) first: it applies only while inode ino still has
 * that version (else CAIRN_CONFLICT; CAIRN_ENOENT when ino is gone). The
 * reply is the inner command's. Every compare-and-set call (the *_if forms
 * of include/cairn_lock.h) goes through here (api_ns.c). */
int api_mutate_if(struct cairn *c, uint64_t ino, const uint64_t *if_version);

int api_getattr(struct cairn *c, uint64_t ino, struct meta_attr *out);
int api_lookup(struct cairn *c, uint64_t parent, const char *name, struct meta_attr *out);
/* The target of symlink ino, NUL-terminated into out (CAIRN_SYMLINK_MAX + 1
 * bytes); its length in *len. */
int api_readlink_ino(struct cairn *c, uint64_t ino, char *out, size_t *len);
void api_attr_to_stat(const struct meta_attr *a, struct cairn_stat *out);

/* --- api_path.c ------------------------------------------------------------------ */

/* Where a path leads short of its last component. */
struct api_where {
    uint64_t parent;               /* directory holding the last component */
    char name[CAIRN_NAME_MAX + 1]; /* last component; "" when the path names a
                                      directory itself ("/", "a/.", "a/..") */
    uint64_t dir;                  /* name "": that directory */
    int slash;                     /* the path ended in '/' */
};

/* Resolve every component but the last (links among them followed),
 * starting at directory `start` for a relative path (the root for an
 * absolute one). *links counts the links followed (shared by a whole
 * resolution). */
int api_walk_parent(struct cairn *c, uint64_t start, const char *path, uint32_t *links,
                    struct api_where *w);
/* Resolve the whole path; follow: a final link is followed (a trailing '/'
 * follows it too). The attributes of what it names go to *out. */
int api_resolve(struct cairn *c, const char *path, int follow, struct meta_attr *out);
/* Continue a resolution through the final component of w (lookup, links
 * followed when follow is set). */
int api_resolve_where(struct cairn *c, const struct api_where *w, int follow, uint32_t *links,
                      struct meta_attr *out);
/* Check a path's length limit before any work. */
int api_path_check(const char *path);

#endif
