/*
 * msg_meta.h: payloads of the metadata-service messages of wire.h
 * (WIRE_META_CMD .. WIRE_META_TRANSFER_REPLY) and of the chunked snapshot
 * transfer between metadata servers (WIRE_RAFT_SNAP_CHUNK). Only payloads
 * are handled here; frame.h wraps them.
 *
 * Encoders append one payload to a cairn_buf and return 0 or a negative
 * cairn_err (CAIRN_EINVAL for a value out of its range, CAIRN_TOOBIG above a
 * limit, CAIRN_ENOMEM); on failure the buffer is left exactly as it was.
 * Decoders are strict: every length is checked against the bytes present
 * (CAIRN_TRUNCATED) and against its limit, every enumerated value against
 * its range (CAIRN_BADMSG), and trailing bytes are refused (CAIRN_BADMSG),
 * so whatever decodes re-encodes to the same bytes. Decoded byte strings
 * (commands, replies, addresses, snapshot pieces) point into the input and
 * live as long as it does.
 *
 * Pure functions, no allocation, no global state: any thread.
 */
#ifndef CAIRN_WIRE_MSG_META_H
#define CAIRN_WIRE_MSG_META_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "wire/codec.h"
#include "wire/wire.h"

/* META_CMD: bytes cmd (<= CAIRN_RAFT_PROPOSAL_MAX). META_QUERY, and the
 * META_QUERY_REPLY bytes, share the layout and the limit. */
int wire_meta_bytes_encode(struct cairn_buf *out, const void *p, size_t len);
int wire_meta_bytes_decode(const uint8_t *p, size_t n, struct wire_bytes *out);

/* META_CMD_REPLY: u64 index, bytes reply (<= CAIRN_RAFT_PROPOSAL_MAX). */
struct wire_meta_cmd_reply {
    uint64_t index;
    struct wire_bytes reply;
};
int wire_meta_cmd_reply_encode(struct cairn_buf *out, const struct wire_meta_cmd_reply *m);
int wire_meta_cmd_reply_decode(const uint8_t *p, size_t n, struct wire_meta_cmd_reply *m);

/* One member in META_STATUS_REPLY: u64 id (nonzero), u8 voter (0/1),
 * str16 addr (<= CAIRN_MEMBER_ADDR_MAX). */
struct wire_meta_member {
    uint64_t id;
    uint8_t voter;
    struct wire_bytes addr;
};

/* META_STATUS_REPLY (META_STATUS itself is empty: wire_empty_decode). role is
 * an enum raft_role (0..3); n_members <= CAIRN_RAFT_NODES_MAX. */
struct wire_meta_status {
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t leader;
    struct wire_bytes leader_addr; /* <= CAIRN_MEMBER_ADDR_MAX */
    uint64_t commit;
    uint64_t applied;
    uint64_t snapshot_index;
    uint64_t digest;
    uint32_t n_members;
    struct wire_meta_member members[CAIRN_RAFT_NODES_MAX];
};
int wire_meta_status_encode(struct cairn_buf *out, const struct wire_meta_status *m);
int wire_meta_status_decode(const uint8_t *p, size_t n, struct wire_meta_status *m);

/* META_MEMBER: u8 op (enum raft_conf_op, 0..2), u64 node (nonzero),
 * str16 addr (<= CAIRN_MEMBER_ADDR_MAX; may be empty for a removal). */
struct wire_meta_member_req {
    uint8_t op;
    uint64_t node;
    struct wire_bytes addr;
};
int wire_meta_member_encode(struct cairn_buf *out, const struct wire_meta_member_req *m);
int wire_meta_member_decode(const uint8_t *p, size_t n, struct wire_meta_member_req *m);

/* META_MEMBER_REPLY: u64 index. META_TRANSFER: u64 target. Both one u64
 * (META_TRANSFER_REPLY is empty: wire_empty_decode). */
int wire_meta_u64_encode(struct cairn_buf *out, uint64_t v);
int wire_meta_u64_decode(const uint8_t *p, size_t n, uint64_t *v);

/* RAFT_SNAP_CHUNK: u64 transfer_id, u64 offset, u64 total_len
 * (1..CAIRN_SNAPSHOT_BYTES_MAX), u8 last, bytes piece
 * (<= CAIRN_RAFT_APPEND_BYTES_MAX), and when offset is 0: bytes header (the
 * WIRE_RAFT encoding of the SNAP message without its data, <=
 * CAIRN_FRAME_PAYLOAD_MAX / 2). Shape rules: offset + piece <= total_len;
 * last is 1 exactly when the piece ends at total_len; a piece is non-empty. */
#define WIRE_SNAP_HEADER_MAX (CAIRN_FRAME_PAYLOAD_MAX / 2u)
struct wire_snap_chunk {
    uint64_t transfer_id;
    uint64_t offset;
    uint64_t total_len;
    uint8_t last;
    struct wire_bytes piece;
    struct wire_bytes header; /* offset 0 only; else len 0 */
};
int wire_snap_chunk_encode(struct cairn_buf *out, const struct wire_snap_chunk *m);
int wire_snap_chunk_decode(const uint8_t *p, size_t n, struct wire_snap_chunk *m);

#endif
