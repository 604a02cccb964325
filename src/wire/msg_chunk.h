/*
 * msg_chunk.h: payloads of the chunk-server messages of wire.h
 * (WIRE_CHUNK_REGISTER .. WIRE_CHUNK_DRAIN_REPLY): registration, heartbeats
 * with outbox commands and their acknowledgements, full chunk reports, the
 * data path (CHUNK_WRITE down a chain of replicas, CHUNK_READ), the status
 * probe and the drain request. Only payloads are handled here; frame.h wraps
 * them. docs/chunkd.md tells the protocol's story.
 *
 * Encoders append one payload to a cairn_buf and return 0 or a negative
 * cairn_err (CAIRN_EINVAL for a value out of its range, CAIRN_TOOBIG above a
 * limit, CAIRN_ENOMEM); on failure the buffer is left exactly as it was.
 * Decoders are strict: every length is checked against the bytes present
 * (CAIRN_TRUNCATED) and against its limit, every enumerated value and flag
 * against its range (CAIRN_BADMSG), and trailing bytes are refused
 * (CAIRN_BADMSG), so whatever decodes re-encodes to the same bytes.
 *
 * Memory: decoded byte strings (addresses, labels, data) and the arrays of
 * fixed-size records (acks, bad versions, report entries) point into the
 * input and live as long as it does; their elements are read with the
 * accessors below (which cannot fail: the decoder has checked them). Empty
 * byte strings decode as (NULL, 0).
 *
 * Pure functions, no allocation, no global state: any thread.
 */
#ifndef CAIRN_WIRE_MSG_CHUNK_H
#define CAIRN_WIRE_MSG_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "wire/codec.h"
#include "wire/wire.h"

/* --- registration ---------------------------------------------------------- */

/* CHUNK_REGISTER. addr: 1..CAIRN_NODE_ADDR_MAX bytes; label: 0..CAIRN_NODE_LABEL_MAX. */
struct wire_chunk_register {
    uint32_t node; /* 0: assign a new id */
    struct wire_bytes addr;
    struct wire_bytes label;
    uint64_t capacity;
    uint64_t used;
};
int wire_chunk_register_encode(struct cairn_buf *out, const struct wire_chunk_register *m);
int wire_chunk_register_decode(const uint8_t *p, size_t n, struct wire_chunk_register *m);

/* CHUNK_REGISTER_REPLY. node nonzero. */
struct wire_chunk_register_reply {
    uint32_t node;
    uint32_t heartbeat_ms;
    uint32_t dead_ms;
};
int wire_chunk_register_reply_encode(struct cairn_buf *out,
                                     const struct wire_chunk_register_reply *m);
int wire_chunk_register_reply_decode(const uint8_t *p, size_t n,
                                     struct wire_chunk_register_reply *m);

/* --- heartbeats ------------------------------------------------------------- */

/* An executed (status 0) or failed (negative cairn_err) command. 12 bytes. */
struct wire_chunk_ack {
    uint64_t id;
    int32_t status;
};
/* A version found bad: err CAIRN_CORRUPT, CAIRN_EIO, ... (negative). 20 bytes. */
struct wire_chunk_bad {
    uint64_t chunk;
    uint64_t version;
    int32_t err;
};
#define WIRE_CHUNK_ACK_SIZE 12u
#define WIRE_CHUNK_BAD_SIZE 20u

/* CHUNK_HEARTBEAT. Encoding reads acks[0..n_acks) and bad[0..n_bad); a decoded
 * message has acks/bad NULL and acks_raw/bad_raw pointing into the input (read
 * them with wire_chunk_hb_ack / wire_chunk_hb_bad). n_acks <=
 * CAIRN_OUTBOX_ACK_MAX, n_bad <= CAIRN_CHUNK_BAD_MAX, node nonzero, statuses
 * and errs <= 0 (acks) / < 0 (bad). */
struct wire_chunk_heartbeat {
    uint32_t node;
    uint64_t capacity;
    uint64_t used;
    uint32_t n_acks;
    const struct wire_chunk_ack *acks;
    uint32_t n_bad;
    const struct wire_chunk_bad *bad;
    const uint8_t *acks_raw; /* decoded only */
    const uint8_t *bad_raw;  /* decoded only */
};
int wire_chunk_heartbeat_encode(struct cairn_buf *out, const struct wire_chunk_heartbeat *m);
int wire_chunk_heartbeat_decode(const uint8_t *p, size_t n, struct wire_chunk_heartbeat *m);
struct wire_chunk_ack wire_chunk_hb_ack(const struct wire_chunk_heartbeat *m, uint32_t i);
struct wire_chunk_bad wire_chunk_hb_bad(const struct wire_chunk_heartbeat *m, uint32_t i);

/* One command of CHUNK_HEARTBEAT_REPLY. kind: enum wire_chunk_cmd_kind;
 * source: a CHUNK_ADDR for REPLICATE (1..CAIRN_NODE_ADDR_MAX bytes), empty
 * for every other kind. */
struct wire_chunk_cmd {
    uint64_t id;
    uint8_t kind;
    uint64_t chunk;
    uint64_t version;
    uint32_t length;
    struct wire_bytes source;
};

/* CHUNK_HEARTBEAT_REPLY: built with begin / add (n times) / end (which writes
 * the count and returns the first error of the whole build, undoing it);
 * decoded whole (every command checked), then walked with next. */
struct wire_chunk_hb_reply_enc {
    struct wire_enc e;
    size_t start;
    size_t count_at;
    uint32_t n;
};
void wire_chunk_hb_reply_begin(struct wire_chunk_hb_reply_enc *b, struct cairn_buf *out,
                               uint8_t flags);
void wire_chunk_hb_reply_add(struct wire_chunk_hb_reply_enc *b, const struct wire_chunk_cmd *c);
int wire_chunk_hb_reply_end(struct wire_chunk_hb_reply_enc *b);

struct wire_chunk_hb_reply {
    uint8_t flags; /* WIRE_CHUNK_HB_* */
    uint32_t n;
    const uint8_t *cmds_raw; /* the n commands, checked */
    size_t cmds_len;
};
int wire_chunk_hb_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_hb_reply *m);
/* Iterate the commands of a decoded reply: *off starts at 0; returns 1 and
 * fills c while commands remain, 0 at the end. */
int wire_chunk_hb_reply_next(const struct wire_chunk_hb_reply *m, size_t *off,
                             struct wire_chunk_cmd *c);

/* --- full chunk report --------------------------------------------------------- */

/* One version held. 21 bytes on the wire. */
struct wire_chunk_entry {
    uint64_t chunk;
    uint64_t version;
    uint32_t length; /* <= CAIRN_CHUNK_SIZE */
    uint8_t staged;  /* 0/1 */
};
#define WIRE_CHUNK_ENTRY_SIZE 21u

/* CHUNK_REPORT. n <= CAIRN_CHUNK_REPORT_MAX; entries strictly increasing by
 * (chunk, version), chunk and version nonzero. As the heartbeat: encode from
 * entries, decode into entries_raw, read with wire_chunk_report_entry. */
struct wire_chunk_report {
    uint32_t node;
    uint8_t flags; /* WIRE_CHUNK_REPORT_FIRST | WIRE_CHUNK_REPORT_LAST */
    uint32_t n;
    const struct wire_chunk_entry *entries;
    const uint8_t *entries_raw; /* decoded only */
};
int wire_chunk_report_encode(struct cairn_buf *out, const struct wire_chunk_report *m);
int wire_chunk_report_decode(const uint8_t *p, size_t n, struct wire_chunk_report *m);
struct wire_chunk_entry wire_chunk_report_entry(const struct wire_chunk_report *m, uint32_t i);

/* CHUNK_REPORT_REPLY: u32 n_stale. CHUNK_DRAIN uses its own struct below. */
int wire_chunk_u32_encode(struct cairn_buf *out, uint32_t v);
int wire_chunk_u32_decode(const uint8_t *p, size_t n, uint32_t *v);

/* --- data path ------------------------------------------------------------------ */

/* CHUNK_WRITE. chunk, version nonzero; base_version < version; base_length
 * <= CAIRN_CHUNK_SIZE and 0 without a base; flags within
 * WIRE_CHUNK_WRITE_FLUSH; n_chain <= CAIRN_GOAL_MAX - 1, each chain address
 * 1..CAIRN_NODE_ADDR_MAX bytes; data 0..CAIRN_CHUNK_IO_MAX bytes (0 only with
 * FLUSH); offset + data.len <= CAIRN_CHUNK_SIZE. */
struct wire_chunk_write {
    uint64_t chunk;
    uint64_t version;
    uint64_t base_version;
    uint32_t base_length; /* 0: keep the copy of the base whole */
    uint64_t offset;
    uint8_t flags;
    uint64_t token;
    uint8_t n_chain;
    struct wire_bytes chain[CAIRN_GOAL_MAX - 1];
    struct wire_bytes data;
};
int wire_chunk_write_encode(struct cairn_buf *out, const struct wire_chunk_write *m);
int wire_chunk_write_decode(const uint8_t *p, size_t n, struct wire_chunk_write *m);

/* CHUNK_WRITE_REPLY: n 1..CAIRN_GOAL_MAX statuses (0 or negative). */
struct wire_chunk_write_reply {
    uint8_t n;
    int32_t status[CAIRN_GOAL_MAX];
};
int wire_chunk_write_reply_encode(struct cairn_buf *out, const struct wire_chunk_write_reply *m);
int wire_chunk_write_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_write_reply *m);

/* CHUNK_READ. chunk, version nonzero; len 1..CAIRN_CHUNK_IO_MAX; offset <
 * CAIRN_CHUNK_SIZE; flags within WIRE_CHUNK_READ_STAGED. */
struct wire_chunk_read {
    uint64_t chunk;
    uint64_t version;
    uint64_t offset;
    uint32_t len;
    uint8_t flags;
};
int wire_chunk_read_encode(struct cairn_buf *out, const struct wire_chunk_read *m);
int wire_chunk_read_decode(const uint8_t *p, size_t n, struct wire_chunk_read *m);

/* CHUNK_READ_REPLY: u64 length (<= CAIRN_CHUNK_SIZE), bytes data
 * (<= CAIRN_CHUNK_IO_MAX). */
struct wire_chunk_read_reply {
    uint64_t length;
    struct wire_bytes data;
};
#define WIRE_CHUNK_READ_REPLY_HDR 12u /* bytes before the data */
int wire_chunk_read_reply_encode(struct cairn_buf *out, const struct wire_chunk_read_reply *m);
int wire_chunk_read_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_read_reply *m);

/* --- status and admin ------------------------------------------------------------ */

/* CHUNK_STATUS_REPLY (CHUNK_STATUS itself is empty). addr 0..CAIRN_NODE_ADDR_MAX,
 * label 0..CAIRN_NODE_LABEL_MAX, leader 0..CAIRN_MEMBER_ADDR_MAX bytes,
 * registered 0/1. */
struct wire_chunk_status {
    uint32_t node;
    struct wire_bytes addr;
    struct wire_bytes label;
    uint8_t registered;
    struct wire_bytes leader;
    uint64_t capacity;
    uint64_t used;
    uint64_t chunks;
    uint64_t staged;
    uint64_t cmds_done;
    uint64_t replicated;
    uint64_t scrub_passes;
    uint64_t scrub_bytes;
    uint64_t bad_found;
    uint64_t writes;
    uint64_t reads;
};
int wire_chunk_status_encode(struct cairn_buf *out, const struct wire_chunk_status *m);
int wire_chunk_status_decode(const uint8_t *p, size_t n, struct wire_chunk_status *m);

/* CHUNK_DRAIN: node nonzero, on 0/1. */
struct wire_chunk_drain {
    uint32_t node;
    uint8_t on;
};
int wire_chunk_drain_encode(struct cairn_buf *out, const struct wire_chunk_drain *m);
int wire_chunk_drain_decode(const uint8_t *p, size_t n, struct wire_chunk_drain *m);

#endif
