/*
 * data_int.h: internals of the data path (file.h), shared by file.c,
 * data_meta.c (node table, chunk map, metadata commands, connections),
 * data_write.c (chunk writes) and data_read.c (reads).
 *
 * Shape of the code. Every public call of file.h is blocking: it queues
 * work, then turns the loop (dc_wait_once) and advances its state machines
 * ("pumps") between turns until its condition holds. RPC callbacks only
 * record results in the structures below; they never send and never call
 * the metadata client, so nothing re-enters. Metadata commands are made with
 * the metaclient's *_sync calls from the pumps (never from a callback).
 *
 * Memory: a structure that an outstanding RPC call points to (a dc_wcall's
 * chunk write, a read piece) is freed only once that call has completed:
 * counters of calls out guard every free.
 */
#ifndef CAIRN_CLIENT_DATA_INT_H
#define CAIRN_CLIENT_DATA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "client/file.h"
#include "common/buf.h"
#include "common/hashmap.h"
#include "common/limits.h"
#include "common/prng.h"
#include "meta/cmd.h"
#include "wire/wire.h"

/* A node whose connection failed this recently is tried last by reads. */
#define DC_NODE_SUSPECT_MS 5000u
/* Longest sleep of one loop turn: pumps also check the age of chunk writes. */
#define DC_TURN_MS 200u
/* Chunk-map entries fetched at once around the one a read needs. */
#define DC_LOC_BATCH 64u
/* Chunk-map refreshes one read piece may ask for before it gives up. */
#define DC_READ_REFRESHES 3u

/* A chunk server as the node table knows it, and the connection to it. */
struct dc_node {
    uint32_t id;
    uint8_t state; /* enum meta_node_state */
    char addr[CAIRN_NODE_ADDR_MAX + 1];
    struct rpc_client *rpc; /* created on first use */
    uint64_t fail_ms;       /* loop time of the last transport failure, 0 = none */
    size_t head_bytes;      /* CHUNK_WRITE bytes in flight with this node as head */
};

struct dataclient {
    struct metaclient *mc;
    uv_loop_t *loop;
    struct rpc_secret secret;
    char name[WIRE_CLIENT_NAME_MAX + 1];
    uint32_t uid, gid;
    uint32_t io_ms, deadline_ms, window, attempts;
    struct prng rng;
    struct hmap nodes; /* id -> struct dc_node */
    uv_timer_t *timer; /* wakes dc_wait_once; freed by its close callback */
    uint64_t wake_ms;  /* earliest wake-up asked for by a pump, 0 = none */
    uint32_t n_files;
    uint64_t calls_out; /* RPC calls outstanding, every handle */
    struct cairn_buf cmd, reply, payload;
    struct dataclient_stats st;
};

/* One entry of a handle's chunk-map cache. */
struct dc_loc {
    bool valid;
    uint8_t n_bad;
    uint32_t bad[CAIRN_GOAL_MAX]; /* nodes that failed a read of this version */
    /* The file's size in the leader's answer that gave this entry
     * (UINT64_MAX when the entry comes from the handle's own commit): a
     * read never returns bytes at or past it (data_read.c). */
    uint64_t fsize;
    struct datafile_chunk c;
};

enum dc_piece_state {
    DC_QUEUED = 0,
    DC_INFLIGHT = 1,
    DC_ACKED = 2,
};

/* A piece of a chunk write: the bytes (a copy kept until the commit) of one
 * CHUNK_WRITE, or the empty FLUSH at the end. */
struct dc_piece {
    struct dc_piece *next;
    uint32_t off; /* in the chunk */
    uint32_t len;
    uint8_t flags; /* WIRE_CHUNK_WRITE_FLUSH */
    uint8_t state; /* enum dc_piece_state */
    uint8_t data[];
};

enum dw_state {
    DW_ALLOC = 0,  /* needs an allocation (first, or after a failure) */
    DW_STREAM = 1, /* pieces flow to the chain */
    DW_DONE = 2,   /* committed */
    DW_FAILED = 3, /* gave up: err says why */
};

/* One chunk write: a pending write of the metadata group and the pieces
 * streamed into it. */
struct dwrite {
    struct dwrite *next; /* zombie list */
    struct datafile *f;
    uint32_t index;
    uint8_t state;      /* enum dw_state */
    bool commit_wanted; /* flush and commit once every piece is acked */
    uint32_t epoch;     /* bumped by each allocation: older calls are stale */
    uint64_t chunk, version, base;
    uint32_t base_len; /* length of the base version */
    uint8_t n;
    uint32_t nodes[CAIRN_GOAL_MAX];
    uint32_t alive;      /* bit i: nodes[i] acked every piece so far */
    uint32_t end;        /* highest byte written + 1, in the chunk */
    size_t bytes;        /* bytes held in pieces */
    uint32_t attempts;   /* allocations made */
    int err;             /* the last error seen */
    uint64_t alloc_ms;   /* loop time of the allocation */
    uint64_t retry_ms;   /* DW_ALLOC: not before this loop time */
    uint64_t busy_since; /* first EBUSY of the current allocation, 0 = none */
    struct dc_piece *head, *tail, *first_unacked;
    uint32_t inflight;  /* calls of the current epoch */
    uint32_t calls_out; /* calls of every epoch */
};

struct datafile {
    struct dataclient *dc;
    uint64_t ino;
    unsigned flags;
    struct meta_attr attr;
    int err;        /* sticky: the first failure of a write behind */
    uint64_t fence; /* fencing token of every allocation and piece; 0 = none */
    struct dc_loc *locs;
    uint32_t n_locs;
    struct dwrite *w[CAIRN_DATACLIENT_OPEN_WRITES_MAX];
    uint32_t n_w;
    struct dwrite *zombies; /* finished writes still waiting for calls */
};

/* --- data_meta.c ------------------------------------------------------------ */

/* Turn the loop once: sleeps until something happens, at most DC_TURN_MS
 * or until dc->wake_ms (which it clears). */
void dc_wait_once(struct dataclient *dc);
/* Ask the next dc_wait_once to return by loop time ms. */
void dc_wake_at(struct dataclient *dc, uint64_t ms);
uint64_t dc_now_ms(const struct dataclient *dc);

/* The node (fetching the table once more when id is unknown), or NULL. */
struct dc_node *dc_node_get(struct dataclient *dc, uint32_t id);
/* Its connection, created on first use; NULL when out of memory. */
struct rpc_client *dc_node_rpc(struct dataclient *dc, struct dc_node *n);
/* 1 if the node failed recently or its connection cannot be made now. */
int dc_node_suspect(struct dataclient *dc, struct dc_node *n);
/* Remember a transport failure of a call to n. */
void dc_node_failed(struct dataclient *dc, struct dc_node *n, int status);
void dc_nodes_free(struct dataclient *dc);

/* Header of a command with the client's credentials. */
void dc_hdr(const struct dataclient *dc, struct meta_hdr *h);
/* META_CHUNKS of [first, first + count) into *n entries of out (indexes past
 * the map's end are not returned), and the file's size in the same state
 * into *size (may be NULL). */
int dc_chunks_query(struct dataclient *dc, uint64_t ino, uint32_t first, uint32_t count,
                    struct datafile_chunk *out, uint32_t *n, uint64_t *size);
/* The cache entry of chunk index of f, fetched when missing or when refresh
 * is set. NULL with *rc on failure. */
struct dc_loc *dc_loc_get(struct datafile *f, uint32_t index, bool refresh, int *rc);
/* Set the cache entry of index (after a commit). */
int dc_loc_set(struct datafile *f, uint32_t index, const struct datafile_chunk *c);
/* The handle's own commit grew the file: the sizes of earlier answers no
 * longer bound its reads. */
void dc_locs_unbound(struct datafile *f);
/* META_GETATTR. */
int dc_getattr(struct dataclient *dc, uint64_t ino, struct meta_attr *out);

/* --- data_write.c ------------------------------------------------------------ */

/* Queue n bytes at off (one chunk's part, n <= CAIRN_CHUNK_SIZE - off % chunk)
 * into the handle's chunk write of that index, opening one when needed. */
int dw_write(struct datafile *f, const uint8_t *p, uint32_t n, uint64_t off);
/* Advance every chunk write of f (send, flush, commit, retry); frees the
 * finished ones. Returns f->err. */
int dw_pump_all(struct datafile *f);
/* 1 while a piece of f is queued and not sent. */
int dw_any_queued(const struct datafile *f);
/* Ask every open chunk write of f to commit, and wait until they have. */
int dw_commit_all(struct datafile *f);
/* Wait until no call of f's chunk writes is outstanding; free them all. */
void dw_drain(struct datafile *f);
/* Highest byte + 1 written into open chunk writes of f (0 if none). */
uint64_t dw_end(const struct datafile *f);

/* --- data_read.c ------------------------------------------------------------- */

/* Read [off, off + n) of f (inside the file as the handle knows it), holes
 * as zeros. *got: bytes read, fewer than n when the chunk map showed the
 * file shorter (truncated since the handle learnt its size). 0 or error. */
int dr_read(struct datafile *f, uint8_t *buf, size_t n, uint64_t off, size_t *got);

#endif
