/* test_meta_fuzzseed.c: the seed corpus of tests/fuzz/fuzz_meta.c.
 *
 * Seeds are sequences of real commands (u16 length + command bytes, the
 * fuzz target's input format) built with the cmd.h encoders. The test fails
 * when the committed corpus differs from what the encoders produce today;
 * CAIRN_REWRITE_CORPUS=1 rewrites it (run from the repository root). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "test.h"
#include "wire/codec.h"

#define CORPUS_DIR "tests/fuzz/corpus/fuzz_meta"

static void add(struct cairn_buf *seed, struct cairn_buf *cmd)
{
    uint8_t t[2];
    wire_store_u16(t, (uint16_t)cmd->len);
    CHECK_OK(buf_append(seed, t, 2));
    CHECK_OK(buf_append(seed, cmd->data, cmd->len));
    buf_reset(cmd);
}

static void check_or_write(const char *name, const struct cairn_buf *seed)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, name);
    if (getenv("CAIRN_REWRITE_CORPUS")) {
        mkdir(CORPUS_DIR, 0755);
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        CHECK(fwrite(seed->data, 1, seed->len, f) == seed->len);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "missing %s: run CAIRN_REWRITE_CORPUS=1 %s", path, test_name());
    static uint8_t have[1 << 16];
    size_t n = fread(have, 1, sizeof have, f);
    fclose(f);
    CHECKF(n == seed->len && memcmp(have, seed->data, n) == 0,
           "%s is stale: rerun with CAIRN_REWRITE_CORPUS=1", path);
}

/* A new seed that opens session 1, registers chunk server 1 and creates file
 * "f" (inode 2) at sequence number 1; h is left at that session and number. */
static void seed_with_file(struct cairn_buf *seed, struct cairn_buf *cmd, struct meta_hdr *h)
{
    buf_reset(seed);
    h->session = 0;
    h->seq = 0;
    CHECK_OK(meta_cmd_session_open(cmd, h, 10000));
    add(seed, cmd);
    CHECK_OK(meta_cmd_node_register(cmd, h, 0, "127.0.0.1:1", "", 1000000, 0));
    add(seed, cmd);
    h->session = 1;
    h->seq = 1;
    CHECK_OK(meta_cmd_create(cmd, h, 1, "f", 0644, 1));
    add(seed, cmd);
}

TEST(fuzz_meta_corpus_current)
{
    struct cairn_buf seed, cmd;
    buf_init(&seed, 0);
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    h.now_ns = 1000000000ull;
    h.cred.uid = 0;

    /* A session, then namespace operations inside it. */
    CHECK_OK(meta_cmd_session_open(&cmd, &h, 10000));
    add(&seed, &cmd);
    h.session = 1;
    h.seq = 1;
    CHECK_OK(meta_cmd_mkdir(&cmd, &h, 1, "dir", 0755));
    add(&seed, &cmd);
    h.seq = 2;
    CHECK_OK(meta_cmd_create(&cmd, &h, 1, "file", 0644, 1));
    add(&seed, &cmd);
    h.seq = 3;
    CHECK_OK(meta_cmd_rename(&cmd, &h, 1, "file", 2, "moved", 0));
    add(&seed, &cmd);
    h.seq = 4;
    CHECK_OK(meta_cmd_symlink(&cmd, &h, 2, "ln", "moved"));
    add(&seed, &cmd);
    h.seq = 5;
    CHECK_OK(meta_cmd_setxattr(&cmd, &h, 3, "user.k", "v", 1, 0));
    add(&seed, &cmd);
    h.seq = 0;
    h.session = 0;
    CHECK_OK(meta_cmd_readdir(&cmd, &h, 2, 0, 100));
    add(&seed, &cmd);
    CHECK_OK(meta_cmd_tick(&cmd, &h));
    add(&seed, &cmd);
    check_or_write("namespace", &seed);

    /* Unlink and rmdir paths, including errors. */
    buf_reset(&seed);
    CHECK_OK(meta_cmd_session_open(&cmd, &h, 10000));
    add(&seed, &cmd);
    h.session = 1;
    h.seq = 1;
    CHECK_OK(meta_cmd_mkdir(&cmd, &h, 1, "a", 0700));
    add(&seed, &cmd);
    h.seq = 2;
    CHECK_OK(meta_cmd_create(&cmd, &h, 2, "b", 0600, 0));
    add(&seed, &cmd);
    h.seq = 3;
    CHECK_OK(meta_cmd_rmdir(&cmd, &h, 1, "a"));
    add(&seed, &cmd);
    h.seq = 4;
    CHECK_OK(meta_cmd_unlink(&cmd, &h, 2, "b"));
    add(&seed, &cmd);
    check_or_write("unlink", &seed);

    /* Open-file holds: hold, unlink (orphan), write it, release; a second
     * hold + unlink in one TXN, freed by the session's close. */
    seed_with_file(&seed, &cmd, &h);
    h.seq = 2;
    CHECK_OK(meta_cmd_inode_hold(&cmd, &h, 2));
    add(&seed, &cmd);
    h.seq = 3;
    CHECK_OK(meta_cmd_unlink(&cmd, &h, 1, "f"));
    add(&seed, &cmd);
    h.seq = 4;
    uint32_t node = 1;
    CHECK_OK(meta_cmd_chunk_alloc(&cmd, &h, 2, 0, 9000000000ull, &node, 1));
    add(&seed, &cmd);
    h.seq = 5;
    CHECK_OK(meta_cmd_chunk_commit(&cmd, &h, 2, 0, 1, 1, 100, &node, 1));
    add(&seed, &cmd);
    h.seq = 6;
    CHECK_OK(meta_cmd_inode_release(&cmd, &h, 2));
    add(&seed, &cmd);
    h.seq = 7;
    CHECK_OK(meta_cmd_create(&cmd, &h, 1, "g", 0644, 1));
    add(&seed, &cmd);
    h.seq = 8;
    struct cairn_buf op;
    buf_init(&op, 0);
    struct meta_hdr h0 = {0};
    struct meta_txn_enc x;
    meta_txn_begin(&x, &cmd, &h);
    CHECK_OK(meta_cmd_inode_hold(&op, &h0, 3));
    meta_txn_op(&x, op.data, op.len);
    buf_reset(&op);
    CHECK_OK(meta_cmd_unlink(&op, &h0, 1, "g"));
    meta_txn_op(&x, op.data, op.len);
    CHECK_OK(meta_txn_end(&x));
    add(&seed, &cmd);
    h.seq = 0;
    CHECK_OK(meta_cmd_session_close(&cmd, &h));
    add(&seed, &cmd);
    check_or_write("holds", &seed);

    /* Chunk versions: write, rewrite aborted, retried (a fresh version),
     * a rewrite left to its deadline and swept by TICK. */
    seed_with_file(&seed, &cmd, &h);
    for (uint64_t v = 1; v <= 3; v++) {
        h.seq++;
        CHECK_OK(meta_cmd_chunk_alloc(&cmd, &h, 2, 0, 9000000000ull, &node, 1));
        add(&seed, &cmd);
        h.seq++;
        if (v == 2)
            CHECK_OK(meta_cmd_chunk_abort(&cmd, &h, 2, 0, 1, v));
        else
            CHECK_OK(meta_cmd_chunk_commit(&cmd, &h, 2, 0, 1, v, 100, &node, 1));
        add(&seed, &cmd);
    }
    h.seq++;
    CHECK_OK(meta_cmd_chunk_alloc(&cmd, &h, 2, 0, 2000000000ull, &node, 1));
    add(&seed, &cmd);
    h.session = 0;
    h.seq = 0;
    h.now_ns = 3000000000ull;
    CHECK_OK(meta_cmd_tick(&cmd, &h));
    add(&seed, &cmd);
    check_or_write("versions", &seed);
    buf_free(&op);
    buf_free(&seed);
    buf_free(&cmd);
}
