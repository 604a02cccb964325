/* test_common.c: unit tests of src/common. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/hashmap.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/prng.h"
#include "common/time.h"
#include "test.h"

TEST(errors_table)
{
    CHECK_EQ(CAIRN_OK, 0);
    CHECK_EQ(CAIRN_ENOENT, -ENOENT);
    CHECK_STR_EQ(cairn_err_name(CAIRN_ENOENT), "ENOENT");
    CHECK_STR_EQ(cairn_strerror(CAIRN_ENOTEMPTY), "directory not empty");
    CHECK_STR_EQ(cairn_err_name(CAIRN_BADCRC), "BADCRC");
    CHECK_STR_EQ(cairn_err_name(-99999), "UNKNOWN");
    CHECK_STR_EQ(cairn_strerror(0), "success");
    CHECK_EQ(cairn_err_to_errno(CAIRN_CORRUPT), EIO);
    CHECK_EQ(cairn_err_to_errno(CAIRN_AUTH), EACCES);
    CHECK_EQ(cairn_err_to_errno(CAIRN_EEXIST), EEXIST);
    CHECK_EQ(cairn_err_to_errno(-99999), EIO);
    CHECK_EQ(cairn_err_from_errno(ENOTDIR), CAIRN_ENOTDIR);
    CHECK_EQ(cairn_err_from_errno(0), 0);
    CHECK_EQ(cairn_err_from_errno(EOWNERDEAD), CAIRN_EIO);
    /* Every code is negative, distinct, and round-trips through its name. */
#define X(name, code, errno_, msg)             \
    CHECK((code) < 0);                         \
    CHECK_STR_EQ(cairn_err_name(code), #name); \
    CHECK(strlen(msg) > 0);
    CAIRN_ERRNO_MAP(X)
#undef X
}

TEST(crc32c_vectors)
{
    CHECK_EQ_U64(crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_U64(crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    CHECK_EQ_U64(crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK_EQ_U64(crc32c(0, ones, 32), 0x62A8AB43u);
    /* Chaining equals one pass, for every split point of a random buffer. */
    uint8_t data[300];
    prng_fill(test_rng(), data, sizeof data);
    uint32_t whole = crc32c(0, data, sizeof data);
    for (size_t k = 0; k <= sizeof data; k++)
        CHECK_EQ_U64(crc32c(crc32c(0, data, k), data + k, sizeof data - k), whole);
    data[17] ^= 1;
    CHECK(crc32c(0, data, sizeof data) != whole);
}

TEST(buf_grow_and_limit)
{
    struct cairn_buf b;
    buf_init(&b, 1000);
    for (int i = 0; i < 100; i++)
        CHECK_OK(buf_append(&b, "0123456789", 10));
    CHECK_EQ(b.len, 1000);
    CHECK_EQ(buf_append(&b, "x", 1), CAIRN_TOOBIG);
    CHECK_EQ(b.len, 1000);
    buf_consume(&b, 995);
    CHECK_EQ(b.len, 5);
    CHECK_MEM_EQ(b.data, "56789", 5);
    uint8_t *z = buf_extend(&b, 3);
    CHECK(z != NULL && z[0] == 0 && z[2] == 0);
    size_t n;
    uint8_t *p = buf_steal(&b, &n);
    CHECK_EQ(n, 8);
    CHECK(b.data == NULL && b.len == 0);
    free(p);
    buf_free(&b);
}

TEST(hashmap_random_ops)
{
    /* Compare against a plain array model under random puts and deletes. */
    enum { KEYS = 2000 };
    static void *model[KEYS];
    memset(model, 0, sizeof model);
    struct hmap m;
    hmap_init(&m);
    struct prng *r = test_rng();
    size_t live = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t k = prng_below(r, KEYS);
        if (prng_chance(r, 1, 3)) {
            void *old = hmap_del(&m, k);
            CHECK(old == model[k]);
            if (model[k])
                live--;
            model[k] = NULL;
        } else {
            void *v = (void *)(uintptr_t)(i + 1);
            CHECK_OK(hmap_put(&m, k, v));
            if (!model[k])
                live++;
            model[k] = v;
        }
        CHECK_EQ(hmap_len(&m), live);
        uint64_t q = prng_below(r, KEYS);
        CHECK(hmap_get(&m, q) == model[q]);
        CHECK_EQ(hmap_contains(&m, q), model[q] != NULL);
    }
    size_t it = 0, seen = 0;
    uint64_t k;
    void *v;
    while (hmap_next(&m, &it, &k, &v)) {
        CHECK(k < KEYS && model[k] == v);
        seen++;
    }
    CHECK_EQ(seen, live);
    /* Key 0 is an ordinary key. */
    CHECK_OK(hmap_put(&m, 0, (void *)1));
    CHECK(hmap_get(&m, 0) == (void *)1);
    hmap_free(&m);
    CHECK(hash_bytes("abc", 3, 0) != hash_bytes("abd", 3, 0));
}

TEST(prng_determinism_and_ranges)
{
    struct prng a, b;
    prng_seed(&a, 42);
    prng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_U64(prng_next(&a), prng_next(&b));
    prng_seed(&b, 43);
    CHECK(prng_next(&a) != prng_next(&b));
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t x = prng_below(&a, 10);
        CHECK(x < 10);
        hist[x]++;
        uint64_t y = prng_range(&a, 5, 7);
        CHECK(y >= 5 && y <= 7);
        double d = prng_double(&a);
        CHECK(d >= 0.0 && d < 1.0);
    }
    for (int i = 0; i < 10; i++)
        CHECKF(hist[i] > 9000 && hist[i] < 11000, "bucket %d has %d", i, hist[i]);
    CHECK_EQ(prng_chance(&a, 0, 5), 0);
    CHECK_EQ(prng_chance(&a, 5, 5), 1);
}

TEST(time_monotonic)
{
    uint64_t a = time_mono_ns();
    usleep(2000);
    uint64_t b = time_mono_ns();
    CHECK(b >= a + 1000000);
    CHECK(time_wall_ns() > 1600000000ull * CAIRN_NS_PER_SEC);
}

TEST(log_one_line_per_event)
{
    char path[600];
    snprintf(path, sizeof path, "%s/log", test_tmpdir());
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    cairn_log_set_fd(fileno(f));
    cairn_log_set_node("meta-2");
    cairn_log_set_level(CAIRN_LOG_INFO);
    LOG_DEBUG("test", "hidden %d", 1);
    LOG_INFO("test", "hello %s", "world");
    LOG_WARN("test", "second");
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    LOG_ERROR("test", "%s", big);
    cairn_log_set_fd(2);
    rewind(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        CHECK(strstr(line, "node=meta-2 test: ") != NULL);
        CHECK(line[strlen(line) - 1] == '\n');
        if (n == 1)
            CHECK(strstr(line, " I ") && strstr(line, "hello world"));
        if (n == 2)
            CHECK(strstr(line, " W ") && strstr(line, "second"));
    }
    fclose(f);
    CHECK_EQ(n, 3);
    CHECK_EQ(cairn_log_level_parse("warn"), CAIRN_LOG_WARN);
    CHECK_EQ(cairn_log_level_parse("nope"), -1);
}

TEST(limits_relations)
{
    CHECK_EQ(CAIRN_CHUNK_SIZE % CAIRN_BLOCK_SIZE, 0);
    CHECK(CAIRN_NAME_MAX == 255);
    CHECK(CAIRN_FRAME_PAYLOAD_MAX >= 1024 * 1024 + 4096);
}
