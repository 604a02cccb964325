/*
 * netproxy.h: a fault-injecting TCP proxy on loopback for the nemesis tests
 * (issue #9). Each server of a test cluster listens on its real port; every
 * address the other processes are given names a proxy listener instead, one
 * per server, which forwards to the real port. The proxy knows who connects
 * (the source process of each accepted connection, found through
 * /proc/net/tcp and the /proc/<pid>/fd links of the registered pids), so
 * rules block[src][dst] can cut any direction between two endpoints:
 * majority/minority splits, an isolated leader, one-way loss, flapping.
 *
 * Endpoints are small integers 0..NETPROXY_ENDS_MAX-1 chosen by the caller
 * (e.g. metadata servers 0..2, chunk servers 3..5); a connection from a
 * process whose pid is not registered comes from NETPROXY_CLIENT.
 *
 * A blocked direction black-holes bytes: the proxy reads and discards them,
 * so the peer sees a silent connection and times out, as behind a dead
 * switch. When a direction that lost bytes is unblocked (netproxy_heal, or
 * a rule cleared), that connection is closed at once (its framing is broken:
 * bytes are missing from the middle of the stream); new connections flow.
 * A connection is always accepted; the upstream connect happens at once, so
 * a dead server shows as a closed connection.
 *
 * Threads: the proxy runs one thread of its own (epoll). Every function here
 * may be called from any one other thread; rule changes are applied by the
 * proxy thread before the call returns.
 *
 * Memory: struct netproxy is allocated by netproxy_start and freed by
 * netproxy_stop, which joins the thread and closes every socket.
 *
 * Errors: negative cairn_err codes (CAIRN_LIMIT: too many listeners;
 * errno-derived codes of socket calls).
 */
#ifndef CAIRN_TESTS_NETPROXY_H
#define CAIRN_TESTS_NETPROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Endpoints a rule can name: 3 metadata + up to 8 chunk servers + clients
 * fit with room to spare. */
#define NETPROXY_ENDS_MAX 16
#define NETPROXY_CLIENT (NETPROXY_ENDS_MAX - 1)
/* Listeners of one proxy (one per proxied server). */
#define NETPROXY_LISTENERS_MAX 16
/* Pids that identify an endpoint (servers, and workers as clients). */
#define NETPROXY_PIDS_MAX 64

struct netproxy;

struct netproxy_stats {
    uint64_t accepted;                  /* connections accepted */
    uint64_t refused;                   /* upstream connect failed (server down) */
    uint64_t bytes_passed;              /* forwarded */
    uint64_t bytes_dropped;             /* black-holed */
    uint64_t cut;                       /* closed at a heal because they lost bytes */
    uint64_t by_src[NETPROXY_ENDS_MAX]; /* accepted, by identified source */
};

/* Start the proxy thread (no listeners yet). */
int netproxy_start(struct netproxy **out);
/* Close every connection and listener, join the thread, free p. */
void netproxy_stop(struct netproxy *p);

/* A listener for endpoint dst on 127.0.0.1 (a port the kernel picks)
 * forwarding to target ("127.0.0.1:port"); its "127.0.0.1:port" is written
 * to addr_out. */
int netproxy_listen(struct netproxy *p, int dst, const char *target, char *addr_out,
                    size_t addr_len);

/* Process pid is endpoint end (a restarted server registers its new pid;
 * end < 0 forgets pid). Only connections accepted later use it. */
void netproxy_set_pid(struct netproxy *p, pid_t pid, int end);

/* Bytes from src to dst are dropped (on = 1) or pass (on = 0). src and dst
 * may be NETPROXY_CLIENT. Unblocking closes the connections that lost bytes
 * in that direction. */
void netproxy_block(struct netproxy *p, int src, int dst, int on);
/* Block both directions between every member of set a and of set b
 * (bitmasks of endpoints). */
void netproxy_split(struct netproxy *p, uint32_t a, uint32_t b);
/* Clear every rule; close every connection that lost bytes. */
void netproxy_heal(struct netproxy *p);
/* 1 if any rule is set. */
int netproxy_blocked_any(struct netproxy *p);

void netproxy_stats(struct netproxy *p, struct netproxy_stats *out);

/* The process that owns the local TCP socket 127.0.0.1:port connected to
 * 127.0.0.1:peer_port, among pids[0..n): its index, or -1. Exposed for the
 * unit test; the proxy uses it at accept. */
int netproxy_find_owner(uint16_t port, uint16_t peer_port, const pid_t *pids, size_t n);

#endif
