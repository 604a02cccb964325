/*
 * fuzz_meta.c: libFuzzer target for the metadata state machine's decoders.
 *
 * The input is a sequence of records, each u16 length (little-endian) then
 * that many bytes of a command. Every command is given to meta_query() (which
 * must change nothing: the digest stays the same) and then to meta_apply()
 * at the next log index; whatever the bytes, the state machine must answer
 * with a status and stay consistent. At the end the state is snapshotted,
 * loaded back and the digests compared; the whole input is also offered to
 * meta_snapshot_load(), which must refuse or accept it without harm, and a
 * state it accepts must survive its own snapshot round trip.
 * Seeds: tests/fuzz/corpus/fuzz_meta, written by tests/unit/test_meta_fuzzseed.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "meta/meta.h"
#include "wire/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct meta *m)
{
    struct cairn_buf snap;
    buf_init(&snap, 0);
    CAIRN_ASSERT(meta_snapshot(m, &snap) == 0);
    struct meta *copy = NULL;
    int rc = meta_snapshot_load(snap.data, snap.len, &copy);
    CAIRN_ASSERTF(rc == 0, "own snapshot refused: %d", rc);
    CAIRN_ASSERT(meta_digest(copy) == meta_digest(m));
    meta_free(copy);
    buf_free(&snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct meta *m = meta_new();
    CAIRN_ASSERT(m != NULL);
    struct cairn_buf reply;
    buf_init(&reply, 0);
    uint64_t index = 0;
    size_t off = 0;
    while (size - off >= 2) {
        size_t len = wire_load_u16(data + off);
        off += 2;
        if (len > size - off)
            len = size - off;
        const uint8_t *cmd = data + off;
        off += len;
        uint64_t before = meta_digest(m);
        buf_reset(&reply);
        int rc = meta_query(m, cmd, len, &reply);
        CAIRN_ASSERT(rc <= 0);
        CAIRN_ASSERT(meta_digest(m) == before);
        buf_reset(&reply);
        rc = meta_apply(m, ++index, cmd, len, &reply);
        CAIRN_ASSERT(rc <= 0);
        CAIRN_ASSERT(len == 0 || reply.len >= 4);
        CAIRN_ASSERT(meta_applied_index(m) == index);
    }
    round_trip(m);
    meta_free(m);

    struct meta *loaded = NULL;
    if (meta_snapshot_load(data, size, &loaded) == 0) {
        round_trip(loaded);
        meta_free(loaded);
    }
    buf_free(&reply);
    return 0;
}
