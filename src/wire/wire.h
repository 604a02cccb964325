/*
 * wire.h: every message type of the cairn protocol, with its byte layout.
 *
 * All messages travel in frames (frame.h). Integers are little-endian.
 * Notation: u8/u16/u32/u64 integers; i32 a signed cairn_err; raw[N] N bytes;
 * bytes = u32 length + that many bytes; str16 = u16 length + bytes;
 * name = u8 length (1..255) + bytes without '/' or NUL.
 *
 * A request and its reply share the frame's request id; a reply carries
 * WIRE_FLAG_REPLY. Any request may instead be answered by an error reply:
 * flags REPLY|ERROR, payload WIRE_ERROR's layout. Decoders (msg_*.h) check
 * every length against the bytes present and the limits of limits.h, and
 * reject trailing bytes.
 *
 * Numbering: 1-15 connection and RPC layer, 16-31 consensus, 32.. metadata
 * service, 96.. chunk servers (added by the issues that build them).
 */
#ifndef CAIRN_WIRE_H
#define CAIRN_WIRE_H

enum wire_type {
    /* ERROR (any reply with WIRE_FLAG_ERROR):
     *   i32 code (a negative cairn_err), str16 message (<= 1024 bytes) */
    WIRE_ERROR = 1,

    /* Authentication handshake (DESIGN §8), before any other frame.
     * HELLO, client -> server, request id 0:
     *   u32 proto (WIRE_VERSION), raw[32] client_nonce, str16 client name
     *   (<= 64 bytes, for logs only)
     * HELLO_REPLY, server -> client:
     *   raw[32] server_nonce,
     *   raw[32] server_proof = HMAC-SHA256(secret, "cairn-server" ||
     *                          client_nonce || server_nonce)
     * AUTH, client -> server (after checking server_proof):
     *   raw[32] client_proof = HMAC-SHA256(secret, "cairn-client" ||
     *                          server_nonce || client_nonce)
     * AUTH_REPLY, server -> client: empty payload. Requests may follow. */
    WIRE_HELLO = 2,
    WIRE_HELLO_REPLY = 3,
    WIRE_AUTH = 4,
    WIRE_AUTH_REPLY = 5,

    /* ECHO / ECHO_REPLY: bytes data (<= CAIRN_FRAME_PAYLOAD_MAX - 4); the
     * reply carries the same bytes. Used by tests, benchmarks and probes. */
    WIRE_ECHO = 6,
    WIRE_ECHO_REPLY = 7,

    /* PING / PING_REPLY: empty payloads; keep-alive and liveness probes. */
    WIRE_PING = 8,
    WIRE_PING_REPLY = 9,

    /* RAFT: one Raft message between metadata servers (no reply frame):
     *   u8 type (enum raft_msg_type, 1..RAFT_MSG_TYPE_MAX), u64 from, u64 to,
     *   u64 term, u64 log_term, u64 index, u64 commit, u64 context,
     *   u8 reject (0/1), u64 reject_hint,
     *   u32 n_entries (<= CAIRN_RAFT_APPEND_ENTRIES_MAX), then each entry:
     *     u64 term, u64 index, u8 type (enum raft_entry_type),
     *     bytes data (<= CAIRN_RAFT_PROPOSAL_MAX)
     *   u8 has_snapshot (0/1); if 1:
     *     u64 index, u64 term,
     *     u32 n_voters (<= CAIRN_RAFT_NODES_MAX), u64 voters[n_voters],
     *     u32 n_learners (<= CAIRN_RAFT_NODES_MAX), u64 learners[n_learners],
     *     bytes data
     * Snapshots larger than one frame are carried by a chunked transfer that
     * the metadata-service issue adds. */
    WIRE_RAFT = 16,

    /* RAFT_SNAP_CHUNK: one piece of a snapshot too large for one frame
     * (one-way, leader -> follower). The receiver assembles pieces in order
     * and steps the whole RAFT_MSG_SNAP when the last piece arrives; a gap
     * or a new transfer id discards what was assembled.
     *   u64 transfer_id, u64 offset, u64 total_len (<= CAIRN_SNAPSHOT_BYTES_MAX),
     *   u8 last (0/1), bytes piece (<= CAIRN_RAFT_APPEND_BYTES_MAX);
     *   the piece with offset 0 is preceded by the WIRE_RAFT encoding of the
     *   SNAP message without its data: bytes header_msg. Layout of the first
     *   piece: the fields above, then bytes header_msg. */
    WIRE_RAFT_SNAP_CHUNK = 17,

    /* --- metadata service (cairn meta), client -> any metadata server ----
     * A server that is not the leader answers any of these with an error
     * reply CAIRN_NOTLEADER whose message is the leader's client address
     * "host:port" (empty when no leader is known); the client follows it. */

    /* META_CMD: bytes cmd (a command of src/meta/cmd.h, <= CAIRN_RAFT_PROPOSAL_MAX).
     * The leader stamps now_ns into the command, proposes it and answers
     * once it is applied.
     * META_CMD_REPLY: u64 index (log index the command was applied at),
     *   bytes reply (the state machine's reply, cmd.h). */
    WIRE_META_CMD = 32,
    WIRE_META_CMD_REPLY = 33,
    /* META_QUERY: bytes query (a READ-class command of cmd.h). The leader
     * serves it after a ReadIndex round (linearizable).
     * META_QUERY_REPLY: bytes reply. */
    WIRE_META_QUERY = 34,
    WIRE_META_QUERY_REPLY = 35,
    /* META_STATUS: empty. Any member answers (no redirect).
     * META_STATUS_REPLY: u64 id, u8 role (enum raft_role), u64 term,
     *   u64 leader, str16 leader_addr, u64 commit, u64 applied,
     *   u64 snapshot_index, u64 digest (of the applied state),
     *   u32 n_members, then per member: u64 id, u8 voter (0/1),
     *   str16 addr. */
    WIRE_META_STATUS = 36,
    WIRE_META_STATUS_REPLY = 37,
    /* META_MEMBER: membership change of the metadata group (leader only).
     *   u8 op (enum raft_conf_op), u64 node, str16 addr ("host:port").
     * META_MEMBER_REPLY: u64 index of the committed change. */
    WIRE_META_MEMBER = 38,
    WIRE_META_MEMBER_REPLY = 39,
    /* META_TRANSFER: u64 target. Leader hands leadership to target.
     * META_TRANSFER_REPLY: empty. */
    WIRE_META_TRANSFER = 40,
    WIRE_META_TRANSFER_REPLY = 41,

    /* --- chunk servers (cairn chunk), 96.. (docs/chunkd.md) ---------------
     * Payload helpers: src/wire/msg_chunk.h. CHUNK_ADDR = str16 "host:port"
     * (1..CAIRN_NODE_ADDR_MAX). Node ids are u32 (the meta node registry).
     *
     * Chunk server -> metadata leader (REGISTER, HEARTBEAT, REPORT). A
     * follower answers CAIRN_NOTLEADER with the leader's client address as
     * the message, exactly as for META_CMD; the chunk server follows it. */

    /* CHUNK_REGISTER: u32 node (0 = new: the leader assigns one; else the id
     * kept in the data directory), CHUNK_ADDR addr (where clients and peers
     * reach it), str16 label (rack/zone, <= CAIRN_NODE_LABEL_MAX, may be
     * empty), u64 capacity, u64 used (bytes). Goes through Raft
     * (NODE_REGISTER): the node is up when the reply comes.
     * CHUNK_REGISTER_REPLY: u32 node (the id to keep), u32 heartbeat_ms (the
     * interval the leader expects), u32 dead_ms (silence after which the
     * leader marks the node down). */
    WIRE_CHUNK_REGISTER = 96,
    WIRE_CHUNK_REGISTER_REPLY = 97,

    /* CHUNK_HEARTBEAT: u32 node, u64 capacity, u64 used,
     *   u32 n_acks (<= CAIRN_OUTBOX_ACK_MAX), n_acks x (u64 id, i32 status):
     *     commands of earlier replies executed (status 0) or failed for good
     *     (a negative cairn_err, e.g. STALEVERSION: the version is not here);
     *   u32 n_bad (<= CAIRN_CHUNK_BAD_MAX), n_bad x (u64 chunk, u64 version,
     *     i32 err): versions found bad (CORRUPT on a read or by the scrubber,
     *     or lost: EIO), to be dropped from the replica list and replaced.
     * CHUNK_HEARTBEAT_REPLY: u8 flags (WIRE_CHUNK_HB_*),
     *   u32 n (<= CAIRN_CHUNK_CMDS_MAX), n x CMD, where
     *   CMD = u64 id, u8 kind (enum wire_chunk_cmd_kind), u64 chunk,
     *         u64 version, u32 length, str16 source (REPLICATE: the CHUNK_ADDR
     *         to pull from; else empty).
     * Commands are idempotent and resent in every reply until acked, so a
     * lost reply or a leader change loses none. ids with bit 63 clear are
     * meta outbox records (replicated); bit 63 set marks a REPLICATE planned
     * by the current leader (soft state: a new leader plans again). A node
     * the leader does not know as up gets CAIRN_ENOENT: register again. */
    WIRE_CHUNK_HEARTBEAT = 98,
    WIRE_CHUNK_HEARTBEAT_REPLY = 99,

    /* CHUNK_REPORT: the full list of versions held, sent after every
     * registration, in one or more pieces:
     *   u32 node, u8 flags (WIRE_CHUNK_REPORT_FIRST | _LAST),
     *   u32 n (<= CAIRN_CHUNK_REPORT_MAX), n x (u64 chunk, u64 version,
     *   u32 length, u8 staged (0/1)), entries sorted by (chunk, version).
     * The leader compares it with the chunk table and has stale, unknown and
     * orphaned versions deleted (through the outbox).
     * CHUNK_REPORT_REPLY: u32 n_stale (versions this piece found stale). */
    WIRE_CHUNK_REPORT = 100,
    WIRE_CHUNK_REPORT_REPLY = 101,

    /* Client (or an upstream replica) -> chunk server. */

    /* CHUNK_WRITE: one piece of a new version, and the rest of the chain:
     *   u64 chunk, u64 version (the staged version CHUNK_ALLOC named),
     *   u64 base_version (0: the new version starts empty; else the committed
     *     version it is a copy of, for writes of part of a chunk),
     *   u32 base_length (the base's length in the metadata, <= CAIRN_CHUNK_SIZE;
     *     bytes of the copy past it read as zeros, in case the base's TRUNCATE
     *     has not reached this server yet; 0 = keep the copy whole; 0 when
     *     base_version is 0),
     *   u64 offset, u8 flags (WIRE_CHUNK_WRITE_FLUSH: fdatasync before the
     *     reply), u64 token (fencing token of the writer's lock, 0 = none:
     *     a chunk server refuses a token older than one it has seen for the
     *     chunk with CAIRN_FENCED),
     *   u8 n_chain (0..CAIRN_GOAL_MAX - 1), CHUNK_ADDR chain[n_chain] (the
     *     replicas after this one, in order),
     *   bytes data (1..CAIRN_CHUNK_IO_MAX; offset + len <= CAIRN_CHUNK_SIZE;
     *     empty allowed only with FLUSH).
     * The first write of a version stages it (from base_version). Each replica
     * forwards the piece to chain[0] with chain[1..] before its own write
     * completes, then replies once both are done.
     * CHUNK_WRITE_REPLY: u8 n (1 + n_chain), i32 status[n]: this replica's
     * result, then each later replica's in chain order (CAIRN_UNAVAILABLE
     * when unreachable). The error reply form is used only for a request
     * that could not be decoded. */
    WIRE_CHUNK_WRITE = 102,
    WIRE_CHUNK_WRITE_REPLY = 103,

    /* CHUNK_READ: u64 chunk, u64 version, u64 offset, u32 len
     *   (1..CAIRN_CHUNK_IO_MAX), u8 flags (WIRE_CHUNK_READ_STAGED: read a
     *   staged version; replication of data not yet committed).
     * CHUNK_READ_REPLY: u64 length (of the version), bytes data (the range
     *   clipped to length; holes read as zeros).
     * Errors: CAIRN_STALEVERSION (version not held), CAIRN_CORRUPT (a block
     * failed its CRC: the bytes are never sent; the server reports it to the
     * metadata leader itself), CAIRN_EINVAL. */
    WIRE_CHUNK_READ = 104,
    WIRE_CHUNK_READ_REPLY = 105,

    /* CHUNK_STATUS (any -> chunk server): empty.
     * CHUNK_STATUS_REPLY: u32 node (0 until registered), CHUNK_ADDR addr,
     *   str16 label, u8 registered (0/1), str16 leader (metadata address in
     *   use, may be empty), u64 capacity, u64 used, u64 chunks (committed),
     *   u64 staged, u64 cmds_done, u64 replicated, u64 scrub_passes,
     *   u64 scrub_bytes, u64 bad_found, u64 writes, u64 reads. */
    WIRE_CHUNK_STATUS = 106,
    WIRE_CHUNK_STATUS_REPLY = 107,

    /* CHUNK_DRAIN (admin -> metadata leader): u32 node, u8 on (1: start
     * draining; 0: back to up). CHUNK_DRAIN_REPLY: empty. */
    WIRE_CHUNK_DRAIN = 108,
    WIRE_CHUNK_DRAIN_REPLY = 109,
};

#define WIRE_ERROR_MSG_MAX 1024u
#define WIRE_NONCE_SIZE 32u
#define WIRE_MAC_SIZE 32u
#define WIRE_CLIENT_NAME_MAX 64u

/* CHUNK_HEARTBEAT_REPLY flags. */
/* Send a full CHUNK_REPORT (this leader has none from the node). */
#define WIRE_CHUNK_HB_REPORT 0x1u
/* CHUNK_REPORT flags: a full report is the pieces FIRST .. LAST (one piece may be both). */
#define WIRE_CHUNK_REPORT_FIRST 0x1u
#define WIRE_CHUNK_REPORT_LAST 0x2u
/* CHUNK_WRITE flags. */
#define WIRE_CHUNK_WRITE_FLUSH 0x1u
/* CHUNK_READ flags. */
#define WIRE_CHUNK_READ_STAGED 0x1u

/* Commands of CHUNK_HEARTBEAT_REPLY; 1..4 equal enum meta_outbox_kind. */
enum wire_chunk_cmd_kind {
    WIRE_CHUNK_CMD_COMMIT = 1,    /* make `version` current (chunk_commit) */
    WIRE_CHUNK_CMD_DROP = 2,      /* discard staged `version` (chunk_abort) */
    WIRE_CHUNK_CMD_DELETE = 3,    /* delete every version <= `version` */
    WIRE_CHUNK_CMD_TRUNCATE = 4,  /* cut committed `version` to `length` bytes */
    WIRE_CHUNK_CMD_REPLICATE = 5, /* pull committed `version` from `source`, commit it */
};
#define WIRE_CHUNK_CMD_KIND_MAX 5u
/* Bit 63 of a command id: a leader-planned REPLICATE (not an outbox record). */
#define WIRE_CHUNK_CMD_SOFT (1ull << 63)

#endif
