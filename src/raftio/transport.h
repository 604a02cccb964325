/*
 * transport.h: Raft messages between metadata servers over the
 * authenticated RPC layer (rpc.h): the network half of the Raft shell.
 *
 * Sending: one rpc_client per peer (one address each), connecting and
 * reconnecting by itself. transport_send() encodes a struct raft_msg as a
 * one-way WIRE_RAFT frame. A SNAP message whose encoding does not fit in one
 * frame is copied and sent as a series of WIRE_RAFT_SNAP_CHUNK pieces, paced
 * by the connection's write queue (a timer resumes a transfer the queue
 * refused). A message that cannot be handed to a connection (peer unknown,
 * not connected, queue full) is dropped and the peer reported through
 * cfg.unreachable, which the daemon turns into raft_report_unreachable().
 * Raft tolerates lost messages; this never blocks or queues without bound.
 *
 * Receiving: transport_attach() registers WIRE_RAFT and WIRE_RAFT_SNAP_CHUNK
 * one-way handlers on the daemon's rpc_server. Each decoded message
 * addressed to this node goes to cfg.deliver (valid during the call only).
 * Chunked snapshots are assembled per sender, in order; a gap, a new
 * transfer from the same sender, or a piece of an unknown transfer discards
 * what was assembled (the leader retries the snapshot).
 *
 * Peer addresses: the HELLO name of our clients is "meta-<id>@<host:port>",
 * so a receiver learns a sender's listen address even before the address
 * record reaches it through the log (cfg.learned is called once per new
 * id/address pair it sees; the daemon decides whether to use it).
 *
 * Memory: the transport owns its clients, transfer copies and assembly
 * buffers. transport_close() closes every client (asynchronously: run the
 * loop until it returns to free them) and frees the rest at once.
 * Threads: the loop thread only, like rpc.h.
 * Errors: transport_new/set_peer return CAIRN_EINVAL (bad address or id) or
 * CAIRN_ENOMEM; sending reports failures through cfg.unreachable only.
 */
#ifndef CAIRN_RAFTIO_TRANSPORT_H
#define CAIRN_RAFTIO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/raft.h"
#include "rpc/rpc.h"

struct transport;

struct transport_cfg {
    uint64_t self_id;
    const char *self_addr; /* our listen address, for the HELLO name */
    const struct rpc_secret *secret;
    /* A message for us (m->to == self_id). */
    void (*deliver)(void *arg, const struct raft_msg *m);
    /* A message to `to` could not be sent. */
    void (*unreachable)(void *arg, uint64_t to);
    /* A sender announced its address in its HELLO name (may be NULL). */
    void (*learned)(void *arg, uint64_t id, const char *addr);
    void *arg;
    /* Timer period that resumes paced snapshot transfers (0: 5 ms). */
    uint32_t pace_ms;
};

struct transport_stats {
    uint64_t sent;     /* WIRE_RAFT frames handed to connections */
    uint64_t dropped;  /* messages not sent (peer down or unknown) */
    uint64_t received; /* messages delivered */
    uint64_t bad;      /* frames refused by a decoder or not for us */
    uint64_t snap_chunks_sent;
    uint64_t snaps_sent;     /* chunked transfers completed by the sender */
    uint64_t snaps_received; /* chunked transfers assembled and delivered */
    uint64_t snaps_aborted;  /* transfers given up (either side) */
};

int transport_new(uv_loop_t *loop, const struct transport_cfg *cfg, struct transport **out);
/* Register the receive handlers on srv (which must outlive the transport's
 * use of it). */
int transport_attach(struct transport *t, struct rpc_server *srv);
/* Add a peer or change its address (a new address reconnects). */
int transport_set_peer(struct transport *t, uint64_t id, const char *addr);
void transport_remove_peer(struct transport *t, uint64_t id);
/* The address in use for id, or NULL. */
const char *transport_peer_addr(const struct transport *t, uint64_t id);
/* 1 if a connection to id is authenticated and ready. */
int transport_peer_ready(const struct transport *t, uint64_t id);
void transport_send(struct transport *t, const struct raft_msg *m);
void transport_get_stats(const struct transport *t, struct transport_stats *st);
void transport_close(struct transport *t);

/* "meta-<id>@<addr>" -> id and addr (addr_cap bytes); 0 or CAIRN_EINVAL. */
int transport_parse_name(const char *name, uint64_t *id, char *addr, size_t addr_cap);

#endif
