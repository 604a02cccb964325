/*
 * admin.h: the RPC side of the administration commands, shared by the chunk
 * server's (chunkd/admin.c: chunk-status, chunk-drain, chunk-nodes) and the
 * metadata group's (cli/meta_admin.c: meta-status, meta-add, ...): a list of
 * server addresses that grows with the hints servers give, one short-lived
 * rpc client per call on a private loop, and one way to print a failure.
 *
 * Memory: a chunkd_admin_conn is the caller's (on its stack); the secret is
 * wiped and the loop closed by chunkd_admin_done(). One thread (the
 * command's). Errors are negative cairn_err codes; a refused or closed
 * connection is CAIRN_ECONNREFUSED.
 */
#ifndef CAIRN_CHUNKD_ADMIN_H
#define CAIRN_CHUNKD_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/limits.h"
#include "rpc/rpc.h"

/* One attempt's deadline. */
#define CHUNKD_ADMIN_CALL_MS 3000u

struct chunkd_admin_conn {
    char addrs[CAIRN_RPC_ADDRS_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    size_t n;
    struct rpc_secret secret;
    uv_loop_t loop;
};

/* Add s[0..len) to the list unless there; its index, or -1 (empty, too
 * long, or the list full). */
int chunkd_admin_add_addr(struct chunkd_admin_conn *a, const char *s, size_t len);

/* Add every address of "a:p,b:p,..."; 0, or -1 for a bad or empty list. */
int chunkd_admin_parse_list(struct chunkd_admin_conn *a, const char *s);

/* Load the secret file and start the loop; 0, or the load's error (and a
 * message on stderr). */
int chunkd_admin_open(struct chunkd_admin_conn *a, const char *secret_path);

/* Let closed clients free themselves, close the loop, wipe the secret. */
void chunkd_admin_done(struct chunkd_admin_conn *a);

/* One call to one address; the reply (or the server's error text) in out. */
int chunkd_admin_call_one(struct chunkd_admin_conn *a, const char *addr, uint16_t type,
                          const struct cairn_buf *req, struct cairn_buf *out);

void chunkd_admin_sleep_ms(uint64_t ms);

/* "what: message (NAME): server text" on stderr. */
void chunkd_admin_print_error(const char *what, int rc, const struct cairn_buf *msg);

#endif /* CAIRN_CHUNKD_ADMIN_H */
