/*
 * record.h: what the metadata daemon writes into Raft entries and snapshot
 * files around the state machine's own bytes (docs/metad.md, "Inside").
 *
 * Entry data (RAFT_ENTRY_NORMAL) starts with a one-byte tag:
 *   METAD_TAG_CMD     then a command of src/meta/cmd.h, given to meta_apply;
 *   METAD_TAG_MEMBER  then u64 id (nonzero), str16 addr (1..CAIRN_MEMBER_ADDR_MAX):
 *                     the client/peer address of a metadata member.
 * An empty entry is a leader's no-op. Keeping member addresses in the log
 * (not in src/meta) leaves the state machine untouched, and every member
 * learns every address in log order.
 *
 * Snapshot body (the bytes raftio stores and InstallSnapshot carries):
 *   u32 magic METAD_SNAP_MAGIC, u32 version METAD_SNAP_VERSION,
 *   u32 n (<= METAD_MEMBERS_MAX), n x (u64 id, str16 addr),
 *   then the meta_snapshot() bytes up to the end.
 *
 * The member map: id -> address, at most METAD_MEMBERS_MAX entries, kept
 * sorted by id (so encodings are canonical). Applying a record to a full
 * map for a new id is refused (CAIRN_LIMIT) the same way on every replica.
 *
 * Memory: the map is plain data. Decoded strings are copied into the map.
 * Threads: pure functions; any thread on objects it owns.
 * Errors: CAIRN_TRUNCATED / CAIRN_BADMSG for malformed bytes, CAIRN_BADVERSION
 * for another snapshot version, CAIRN_LIMIT, CAIRN_ENOMEM.
 */
#ifndef CAIRN_METAD_RECORD_H
#define CAIRN_METAD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

enum metad_tag {
    METAD_TAG_CMD = 1,
    METAD_TAG_MEMBER = 2,
};

#define METAD_SNAP_MAGIC 0x4e534d43u /* "CMSN" in memory order */
#define METAD_SNAP_VERSION 1u
/* Members of the group plus room for addresses of members being added. */
#define METAD_MEMBERS_MAX (2u * CAIRN_RAFT_NODES_MAX)

struct metad_member {
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
};

struct metad_members {
    uint32_t n;
    struct metad_member v[METAD_MEMBERS_MAX];
};

/* Address of id, or NULL. */
const char *metad_members_get(const struct metad_members *m, uint64_t id);
/* Insert or replace; CAIRN_LIMIT when full, CAIRN_EINVAL for a bad address. */
int metad_members_set(struct metad_members *m, uint64_t id, const char *addr, size_t len);
void metad_members_del(struct metad_members *m, uint64_t id);

/* Entry data: tag + command (the command is copied after the tag). */
int metad_entry_cmd(struct cairn_buf *out, const uint8_t *cmd, size_t len);
int metad_entry_member(struct cairn_buf *out, uint64_t id, const char *addr);
/* Decode a METAD_TAG_MEMBER entry (tag included). */
int metad_entry_member_decode(const uint8_t *p, size_t len, uint64_t *id, const uint8_t **addr,
                              uint16_t *addr_len);

/* Snapshot body: header and members into out; the caller appends
 * meta_snapshot() bytes. */
int metad_snap_encode_head(struct cairn_buf *out, const struct metad_members *m);
/* Parse a body: the members, and where the meta snapshot bytes are. */
int metad_snap_decode(const uint8_t *p, size_t len, struct metad_members *m, const uint8_t **meta,
                      size_t *meta_len);

#endif
