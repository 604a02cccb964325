/* test_lock_fenced.c: fenced file writes (docs/locks.md, "Fencing on chunk
 * servers"): a holder that lost its lock and writes with its old token is
 * refused by the metadata (a new allocation) and by the chunk server (a
 * chunk write it had allocated before), never retried, and the file keeps
 * only the newer holder's bytes; `cairn put` takes the token from --fence
 * or from `cairn lock`'s environment. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "test.h"
#include "test_cli.h"
#include "test_data.h"

#define FENCE_BYTES 4096u

/* A libcairn client of t's cluster, for the lock service. */
static struct cairn *fence_connect(struct dt *t)
{
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_addrs(&t->c, addrs, CLUSTER_NODES_MAX);
    struct cairn_config cfg = {
        .meta_addrs = addrs,
        .n_meta_addrs = n,
        .secret_path = t->c.secret_path,
        .name = "fence-test",
    };
    struct cairn *c = NULL;
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    return c;
}

static uint64_t fence_allocs(struct dataclient *dc)
{
    struct dataclient_stats st;
    dataclient_get_stats(dc, &st);
    return st.allocs;
}

/* One pwrite of pattern `key` over the file's first FENCE_BYTES. */
static int64_t fence_pwrite(struct datafile *f, uint64_t key)
{
    static uint8_t buf[FENCE_BYTES];
    dt_pattern(key, 0, buf, sizeof buf);
    return datafile_pwrite(f, buf, sizeof buf, 0);
}

/* A (t.dc, whose pending writes expire after 2 s) holds the lock with t1 and
 * opens a fenced chunk write; it loses the lock, B gets t2 and writes the
 * same chunk once A's pending write has expired. A's next piece of its
 * open chunk write is refused by the chunk server, a new allocation of A by
 * the metadata; neither is retried, and the file holds B's bytes. */
TEST_T(lock_fence_stale_holder, 120)
{
    static struct dt t;
    struct dt_opts o = {
        .chunks = 1, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}, .write_deadline_ms = 2000};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "f", 1);
    CHECK_OK(dt_write(&t, ino, 1, 0, FENCE_BYTES, FENCE_BYTES)); /* the chunk exists */
    struct cairn *c = fence_connect(&t);
    struct cairn_locks *la, *lb;
    CHECK_EQ(cairn_locks_open(c, 10000, &la), 0);
    CHECK_EQ(cairn_locks_open(c, 10000, &lb), 0);
    uint64_t t1 = 0, t2 = 0;
    CHECK_EQ(cairn_lock(la, "f", CAIRN_LOCK_EXCLUSIVE, 0, 0, &t1), 0);
    struct datafile *fa, *fb;
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_WRITE, &fa));
    CHECK_EQ(datafile_set_fence(fa, 0), CAIRN_EINVAL);
    CHECK_OK(datafile_set_fence(fa, t1));
    CHECK_EQ(fence_pwrite(fa, 2), FENCE_BYTES); /* allocated, sent, not committed */
    uint64_t allocs = fence_allocs(t.dc);
    CHECK_EQ(cairn_unlock(la, "f"), 0);
    CHECK_EQ(cairn_lock(lb, "f", CAIRN_LOCK_EXCLUSIVE, 0, 0, &t2), 0);
    CHECK(t2 > t1);
    struct dataclient *dcb = dt_dataclient(&t, 0);
    CHECK_OK(datafile_open(dcb, ino, DATAFILE_WRITE, &fb));
    CHECK_OK(datafile_set_fence(fb, t2));
    CHECK_EQ(fence_pwrite(fb, 3), FENCE_BYTES);
    CHECK_OK(datafile_close(fb)); /* waits until A's pending write expired */
    /* A, late: its open chunk write goes on with t1 */
    int64_t w = fence_pwrite(fa, 4);
    CHECKF(w == FENCE_BYTES || w == CAIRN_FENCED, "%s", cairn_err_name((int)w));
    CHECK_EQ(datafile_fsync(fa), CAIRN_FENCED);
    CHECK_EQ(datafile_error(fa), CAIRN_FENCED);
    CHECK_EQ(datafile_close(fa), CAIRN_FENCED);
    CHECK_EQ(fence_allocs(t.dc), allocs); /* not retried under a new allocation */
    /* A again: a new allocation with t1 is refused by the metadata */
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_WRITE, &fa));
    CHECK_OK(datafile_set_fence(fa, t1));
    w = fence_pwrite(fa, 5);
    CHECK_EQ(w < 0 ? (int)w : datafile_fsync(fa), CAIRN_FENCED);
    CHECK_EQ(datafile_close(fa), CAIRN_FENCED);
    CHECK_EQ(fence_allocs(t.dc), allocs);
    struct dt_span s = {.key = 3, .off = 0, .len = FENCE_BYTES};
    uint64_t bad = dt_check(&t, NULL, ino, FENCE_BYTES, dt_expect_span, &s);
    CHECKF(bad == 0, "first byte not B's at %" PRIu64, bad - 1);
    /* B, the holder, still writes */
    CHECK_OK(datafile_open(dcb, ino, DATAFILE_WRITE, &fb));
    CHECK_OK(datafile_set_fence(fb, t2));
    CHECK_EQ(fence_pwrite(fb, 6), FENCE_BYTES);
    CHECK_OK(datafile_close(fb));
    dataclient_close(dcb);
    cairn_locks_close(la);
    cairn_locks_close(lb);
    cairn_disconnect(c);
    dt_stop(&t);
}

/* The `cairn` binary: $CAIRN_BIN, else next to this test binary (as
 * test_cli_util.c finds it). */
static void fence_bin(char *out, size_t len)
{
    const char *env = getenv("CAIRN_BIN");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(out, len, "%s/../cairn", self);
    if (access(out, X_OK) != 0)
        snprintf(out, len, "%s/../../cairn", self);
    CHECK(access(out, X_OK) == 0);
}

static uint64_t fence_token(void)
{
    const struct cli_out *o =
        CLI_EXPECT(0, "lock", "w", "--", "sh", "-c", "echo \"$CAIRN_FENCING_TOKEN\"");
    uint64_t t = strtoull(o->out, NULL, 10);
    CHECK(t > 0);
    return t;
}

/* `cairn lock NAME -- cairn put ...` writes fenced; a put with an older
 * token is refused and leaves the file as it was; a newer one passes. */
TEST_T(lock_fence_cli_put, 120)
{
    char dir[600], bin[1000], a[700], b[700], tok[32];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    snprintf(a, sizeof a, "%s/a", test_tmpdir());
    snprintf(b, sizeof b, "%s/b", test_tmpdir());
    fence_bin(bin, sizeof bin);
    cli_write_local(a, "holder two", 10, 0644);
    cli_write_local(b, "stale one", 9, 0644);
    cli_up(dir, 1, 1);
    uint64_t t1 = fence_token();
    CLI_EXPECT(0, "lock", "w", "--", bin, "put", a, "/f"); /* $CAIRN_FENCING_TOKEN */
    snprintf(tok, sizeof tok, "%" PRIu64, t1);
    const struct cli_out *o = CLI_EXPECT(1, "put", "--fence", tok, b, "/f");
    CHECKF(strstr(o->err, "stale fencing token") != NULL, "%s", o->err);
    o = CLI_EXPECT(0, "cat", "/f");
    CHECK_STR_EQ(o->out, "holder two");
    CLI_EXPECT(2, "put", "--fence", "0", b, "/f");
    CLI_EXPECT(2, "put", "--fence", "x", b, "/f");
    /* a newer token passes; the longer old bytes are cut after the write */
    snprintf(tok, sizeof tok, "%" PRIu64, fence_token());
    CLI_EXPECT(0, "put", "--fence", tok, b, "/f");
    o = CLI_EXPECT(0, "cat", "/f");
    CHECK_STR_EQ(o->out, "stale one");
    cli_down();
}
