/*
 * undo.h: before-images that let txn.c undo the ops of a failed TXN
 * (undo.c explains what is saved and why it is enough).
 *
 * Use: meta_undo_begin before the first op; meta_undo_save(op) before each
 * op runs; on failure meta_undo_rollback; in every case meta_undo_end.
 * Memory: the log owns its copies until rollback hands them back to the
 * state or end frees them. Out of memory while saving or restoring aborts
 * (a replica that cannot follow the log must stop). Single-threaded.
 */
#ifndef CAIRN_META_UNDO_H
#define CAIRN_META_UNDO_H

#include "meta/internal.h"

struct meta_undo {
    struct hmap saved[6]; /* per kind of object: key -> struct undo_rec* */
    uint64_t session;     /* the transaction's (holds are saved for it) */
    uint64_t next_ino, next_chunk, next_outbox, next_version, used_bytes;
    size_t outbox_n, outbox_live;
};

void meta_undo_begin(struct meta_undo *u, const struct meta *m);
void meta_undo_save(struct meta_undo *u, const struct meta *m, const struct meta_req *r);
void meta_undo_rollback(struct meta_undo *u, struct meta *m);
void meta_undo_end(struct meta_undo *u);

#endif
