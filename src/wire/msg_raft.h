/*
 * msg_raft.h: the WIRE_RAFT payload: one struct raft_msg (raft/raft.h) as
 * bytes, laid out exactly as wire.h documents it.
 *
 * Encoding appends to a caller's cairn_buf and reads the message only.
 *
 * Decoding: wire_raft_msg_decode() fills a struct raft_msg from a payload.
 * Ownership of a decoded message:
 *   - m->entries (an array of m->n_entries, NULL if none) and m->snapshot
 *     (NULL unless the message is a SNAP) are allocated by the decoder and
 *     released by wire_raft_msg_free(), which only decoded messages may be
 *     given (never a message from a raft_ready batch: the core owns those);
 *   - entry data and snapshot data point INTO the input payload: the payload
 *     must outlive the decoded message, and the message is read-only (the
 *     pointers are not const only because struct raft_entry shares its type
 *     with the core). raft_step() copies what it keeps, so the usual use is
 *     decode, step, free, then release the frame.
 * The decoder allocates at most what the input justifies: the entry count is
 * checked against the bytes left (each entry takes at least
 * WIRE_RAFT_ENTRY_MIN_SIZE bytes) before the array is allocated, so a tiny
 * hostile payload cannot make it allocate much.
 *
 * Beyond the byte layout, both sides enforce the message's shape: type in
 * 1..RAFT_MSG_TYPE_MAX, reject 0/1, entries only on RAFT_MSG_APP (at most
 * CAIRN_RAFT_APPEND_ENTRIES_MAX, each of a known entry type and at most
 * CAIRN_RAFT_PROPOSAL_MAX bytes), a snapshot on RAFT_MSG_SNAP and only there
 * (has_snapshot 0/1, at most CAIRN_RAFT_NODES_MAX voters and as many
 * learners), and the whole payload within CAIRN_FRAME_PAYLOAD_MAX. Whatever
 * decodes re-encodes to the same bytes.
 *
 * Errors: decode returns CAIRN_TRUNCATED when the payload ends before a field
 * it announces (a count or length that the bytes present cannot hold, too),
 * CAIRN_BADMSG for a value out of range or a limit exceeded, or for trailing
 * bytes, CAIRN_ENOMEM if the allocation fails; on any error *m is left zeroed
 * and nothing is allocated. Encode returns CAIRN_EINVAL for a message of a
 * bad shape, CAIRN_TOOBIG when it breaks a size limit, CAIRN_ENOMEM or the
 * buffer's CAIRN_TOOBIG; on error the buffer is left as it was.
 * No global state; any thread may call these on objects it owns.
 */
#ifndef CAIRN_WIRE_MSG_RAFT_H
#define CAIRN_WIRE_MSG_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "raft/raft.h"

/* Fixed part before the entries: u8 type, 7 x u64, u8 reject, u64 hint, u32 n. */
#define WIRE_RAFT_HEAD_SIZE (1u + 7u * 8u + 1u + 8u + 4u)
/* Smallest encoded entry: u64 term, u64 index, u8 type, u32 length, no data. */
#define WIRE_RAFT_ENTRY_MIN_SIZE (8u + 8u + 1u + 4u)
/* Smallest whole message: head, no entries, has_snapshot = 0. */
#define WIRE_RAFT_MSG_MIN_SIZE (WIRE_RAFT_HEAD_SIZE + 1u)

/* Bytes wire_raft_msg_encode() appends for m (which must pass
 * wire_raft_msg_check(), or at least hold n_entries readable entries). */
size_t wire_raft_msg_size(const struct raft_msg *m);

/* 0 if m has a shape the wire can carry (see above), else CAIRN_EINVAL or
 * CAIRN_TOOBIG. */
int wire_raft_msg_check(const struct raft_msg *m);

/* Append m's WIRE_RAFT payload to out. */
int wire_raft_msg_encode(struct cairn_buf *out, const struct raft_msg *m);

/* Decode the payload p[0..len) into *m (see ownership above). */
int wire_raft_msg_decode(const uint8_t *p, size_t len, struct raft_msg *m);

/* Release what wire_raft_msg_decode() allocated and zero *m. NULL-safe on
 * the pointers; *m from a failed decode may be freed too. */
void wire_raft_msg_free(struct raft_msg *m);

#endif
