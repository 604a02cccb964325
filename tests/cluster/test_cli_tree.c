/* test_cli_tree.c: a round trip of a tree of 1,000 files of random sizes
 * through `cairn put -r` and `cairn get -r` against a real local cluster:
 * the copy must be byte-identical (names, modes, bytes, links). Sizes are
 * drawn from a seed: most files small, some medium, a few large (up to
 * 20 MiB, one exactly 20 MiB), some empty, some sparse (20 MiB with a few
 * data blocks and holes between them). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_cli.h"

#define TREE_FILES 1000
#define TREE_DIRS 25
#define MIB (1024u * 1024u)

/* The size of file i: the mix described above. */
static uint64_t draw_size(int i)
{
    struct prng *r = test_rng();
    if (i == 0)
        return 20u * MIB;
    if (i % 97 == 1)
        return 0;
    uint64_t pick = prng_below(r, 1000);
    if (pick < 750)
        return prng_below(r, 16 * 1024);
    if (pick < 950)
        return prng_range(r, 16 * 1024, 256 * 1024);
    if (pick < 994)
        return prng_range(r, 256 * 1024, 2 * MIB);
    return prng_range(r, 2 * MIB, 20 * MIB);
}

static void write_random(int fd, uint64_t size, uint8_t *buf)
{
    for (uint64_t at = 0; at < size;) {
        size_t n = size - at < MIB ? (size_t)(size - at) : MIB;
        prng_fill(test_rng(), buf, n);
        CHECK(write(fd, buf, n) == (ssize_t)n);
        at += n;
    }
}

/* 20 MiB with 64 KiB of data at a few random places. */
static void write_sparse(int fd, uint8_t *buf)
{
    for (int k = 0; k < 4; k++) {
        uint64_t at = prng_below(test_rng(), 20u * MIB - 65536u);
        prng_fill(test_rng(), buf, 65536);
        CHECK(pwrite(fd, buf, 65536, (off_t)at) == 65536);
    }
    CHECK(ftruncate(fd, 20 * (off_t)MIB) == 0);
}

static uint64_t make_tree(const char *root)
{
    char path[700];
    CHECK(mkdir(root, 0755) == 0);
    for (int d = 0; d < TREE_DIRS; d++) {
        /* two levels: d0..d4 at the top, the rest inside them */
        if (d < 5)
            snprintf(path, sizeof path, "%s/d%d", root, d);
        else
            snprintf(path, sizeof path, "%s/d%d/d%d", root, d % 5, d);
        CHECK(mkdir(path, 0755) == 0);
    }
    uint8_t *buf = malloc(MIB);
    CHECK(buf != NULL);
    uint64_t total = 0;
    for (int i = 0; i < TREE_FILES; i++) {
        int d = (int)prng_below(test_rng(), TREE_DIRS + 1);
        if (d == TREE_DIRS)
            snprintf(path, sizeof path, "%s/file%04d", root, i);
        else if (d < 5)
            snprintf(path, sizeof path, "%s/d%d/file%04d", root, d, i);
        else
            snprintf(path, sizeof path, "%s/d%d/d%d/file%04d", root, d % 5, d, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, i % 7 == 0 ? 0600 : 0644);
        CHECK(fd >= 0);
        if (i % 50 == 3) {
            write_sparse(fd, buf);
            total += 4 * 65536;
        } else {
            uint64_t size = draw_size(i);
            write_random(fd, size, buf);
            total += size;
        }
        CHECK(close(fd) == 0);
    }
    free(buf);
    return total;
}

TEST_T(cli_tree_roundtrip, 480)
{
    char dir[600], src[600], back[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    snprintf(src, sizeof src, "%s/tree", test_tmpdir());
    snprintf(back, sizeof back, "%s/tree.back", test_tmpdir());
    uint64_t bytes = make_tree(src);
    fprintf(stderr, "tree: %d files, %llu MiB of data\n", TREE_FILES,
            (unsigned long long)(bytes / MIB));
    cli_up(dir, 3, 3);
    CLI_EXPECT(0, "put", "-r", src, "/");
    struct jv *v = jv_parse(CLI_EXPECT(0, "df", "--json")->out);
    CHECK(v != NULL);
    CHECK(jv_u64(v, "files") == 1u + TREE_FILES + TREE_DIRS + 1u); /* root, tree, dirs, files */
    jv_free(v);
    CLI_EXPECT(0, "get", "-r", "/tree", back);
    CHECK(cli_check_same_tree(src, back) == TREE_FILES);
    cli_down();
}
