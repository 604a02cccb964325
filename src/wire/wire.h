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
};

#define WIRE_ERROR_MSG_MAX 1024u
#define WIRE_NONCE_SIZE 32u
#define WIRE_MAC_SIZE 32u
#define WIRE_CLIENT_NAME_MAX 64u

#endif
