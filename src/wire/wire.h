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
};

#define WIRE_ERROR_MSG_MAX 1024u
#define WIRE_NONCE_SIZE 32u
#define WIRE_MAC_SIZE 32u
#define WIRE_CLIENT_NAME_MAX 64u

#endif
