/* test_cli_data.c: the data and health commands of `cairn` against a real
 * local cluster: put / get / cat of plain, empty, large, sparse and piped
 * files and of trees; df, status and fsck (--json parsed, --verify); and
 * the demo's story in a test: a chunk server and then the metadata leader
 * killed, every file still byte-identical, the goal restored, a new leader
 * serving. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "test_cli.h"

#define ERR_HAS(o, text) \
    CHECKF(strstr((o)->err, (text)) != NULL, "stderr lacks \"%s\":\n%s", (text), (o)->err)

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", test_tmpdir(), name);
}

static struct jv *parse_out(const struct cli_out *o)
{
    struct jv *v = jv_parse(o->out);
    CHECKF(v != NULL, "not valid JSON:\n%s", o->out);
    return v;
}

/* A local file of n seeded random bytes. */
static void random_file(const char *path, size_t n, unsigned mode)
{
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, n);
    cli_write_local(path, p, n, mode);
    free(p);
}

/* A sparse local file: size bytes, data only at the given offsets. */
static void sparse_file(const char *path, uint64_t size, const uint64_t *at, int n)
{
    cli_write_local(path, "", 0, 0644);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    uint8_t block[4096];
    for (int i = 0; i < n; i++) {
        prng_fill(test_rng(), block, sizeof block);
        CHECK(pwrite(fd, block, sizeof block, (off_t)at[i]) == (ssize_t)sizeof block);
    }
    CHECK(ftruncate(fd, (off_t)size) == 0);
    CHECK(close(fd) == 0);
}

/* A small local tree: files, a nested directory, an empty one, a link. */
static void local_tree(const char *root)
{
    char p[700];
    CHECK(mkdir(root, 0755) == 0);
    snprintf(p, sizeof p, "%s/sub", root);
    CHECK(mkdir(p, 0750) == 0);
    snprintf(p, sizeof p, "%s/empty", root);
    CHECK(mkdir(p, 0700) == 0);
    for (int i = 0; i < 12; i++) {
        snprintf(p, sizeof p, "%s/%s/f%02d", root, i % 2 ? "sub" : ".", i);
        random_file(p, (size_t)prng_below(test_rng(), 200000), i % 3 ? 0644 : 0600);
    }
    snprintf(p, sizeof p, "%s/sub/link", root);
    CHECK(symlink("../f00", p) == 0);
}

static void data_files(void)
{
    char src[600], back[600];
    const uint64_t holes[] = {0, 20u << 20, 130u << 20}; /* chunk 1 is a hole */
    const struct {
        const char *name;
        size_t size;
    } files[] = {{"empty", 0}, {"small", 1000}, {"big", 3u << 20}};
    for (size_t i = 0; i < 3; i++) {
        path_in(src, sizeof src, files[i].name);
        random_file(src, files[i].size, 0644);
        char remote[64];
        snprintf(remote, sizeof remote, "/%s", files[i].name);
        CLI_EXPECT(0, "put", src, remote);
        path_in(back, sizeof back, "back");
        CLI_EXPECT(0, "get", remote, back);
        cli_check_same_file(src, back);
        unlink(back);
    }
    /* cat writes the bytes as they are */
    const struct cli_out *o = CLI_EXPECT(0, "cat", "/small");
    path_in(src, sizeof src, "small");
    path_in(back, sizeof back, "catted");
    cli_write_local(back, o->out, o->out_len, 0644);
    cli_check_same_file(src, back);
    /* a sparse file across three chunks keeps its bytes and its holes */
    path_in(src, sizeof src, "sparse");
    sparse_file(src, 140u << 20, holes, 3);
    CLI_EXPECT(0, "put", src, "/sparse");
    struct jv *v = parse_out(CLI_EXPECT(0, "stat", "--json", "/sparse"));
    CHECK(jv_u64(v, "size") == 140u << 20);
    jv_free(v);
    path_in(back, sizeof back, "sparse.back");
    CLI_EXPECT(0, "get", "/sparse", back);
    cli_check_same_file(src, back);
    struct stat st;
    CHECK(stat(back, &st) == 0);
    CHECKF((uint64_t)st.st_blocks * 512u < (8u << 20), "the copy is not sparse: %lld blocks",
           (long long)st.st_blocks);
    /* standard input */
    path_in(src, sizeof src, "big");
    o = cli_run_in(src, "put", "-", "/piped", (const char *)NULL);
    CHECKF(o->code == 0, "put -: %s", o->err);
    path_in(back, sizeof back, "piped.back");
    CLI_EXPECT(0, "get", "/piped", back);
    cli_check_same_file(src, back);
}

static void data_trees_and_errors(void)
{
    char src[600], back[600];
    path_in(src, sizeof src, "tree");
    local_tree(src);
    CLI_EXPECT(0, "mkdir", "/trees");
    CLI_EXPECT(0, "put", "-r", src, "/trees");
    path_in(back, sizeof back, "tree.back");
    CLI_EXPECT(0, "get", "-r", "/trees/tree", back);
    CHECK(cli_check_same_tree(src, back) == 12);
    const struct cli_out *o = CLI_EXPECT(1, "put", src, "/x");
    ERR_HAS(o, "Is a directory (use -r)");
    o = CLI_EXPECT(1, "get", "/nope", back);
    ERR_HAS(o, "cairn: get: /nope: No such file or directory");
    path_in(src, sizeof src, "absent");
    o = CLI_EXPECT(1, "put", src, "/absent");
    ERR_HAS(o, "No such file or directory");
    o = CLI_EXPECT(1, "cat", "/trees");
    ERR_HAS(o, "cairn: cat: /trees: Is a directory");
    o = CLI_EXPECT(1, "put", "-r", back, "/small/under-a-file");
    ERR_HAS(o, "Not a directory");
}

static void health_reports(void)
{
    struct jv *v = parse_out(CLI_EXPECT(0, "df", "--json"));
    CHECK(jv_u64(v, "capacity_bytes") > 0);
    CHECK(jv_u64(v, "chunk_servers") == 3 && jv_u64(v, "chunk_servers_up") == 3);
    CHECK(jv_u64(v, "files") >= 20);
    CHECK(jv_u64(v, "data_bytes") >= (70u << 20));
    jv_free(v);
    v = parse_out(CLI_EXPECT(0, "status", "--json"));
    CHECK(jv_get(v, "healthy")->num == 1);
    const struct jv *m = jv_get(v, "members");
    CHECK(m && m->type == JV_ARR && m->n == 3);
    int leaders = 0;
    for (size_t i = 0; i < m->n; i++) {
        CHECK(jv_get(m->vals[i], "reachable")->num == 1);
        leaders += strcmp(jv_str(m->vals[i], "role"), "leader") == 0;
    }
    CHECK(leaders == 1);
    CHECK(strlen(jv_str(jv_get(v, "leader"), "addr")) > 0);
    const struct jv *cs = jv_get(v, "chunk_servers");
    CHECK(cs && cs->n == 3);
    for (size_t i = 0; i < cs->n; i++)
        CHECK(strcmp(jv_str(cs->vals[i], "state"), "up") == 0);
    CHECK(jv_u64(v, "under_replicated") == 0 && jv_u64(v, "missing") == 0);
    jv_free(v);
    v = parse_out(CLI_EXPECT(0, "fsck", "--verify", "--json"));
    CHECK(jv_get(v, "healthy")->num == 1 && jv_get(v, "verified")->num == 1);
    CHECK(jv_u64(v, "bytes_verified") > 0);
    CHECK(jv_u64(v, "holes") >= 1); /* the sparse file's empty chunk range */
    CHECK(jv_u64(jv_get(v, "counts"), "corrupt") == 0);
    jv_free(v);
    const struct cli_out *o = CLI_EXPECT(0, "fsck", "/trees");
    CHECK(strstr(o->out, "HEALTHY") != NULL);
    o = CLI_EXPECT(1, "fsck", "/nope");
    ERR_HAS(o, "cairn: fsck: /nope: No such file or directory");
    CLI_EXPECT(0, "status");
    CLI_EXPECT(0, "df");
}

TEST_T(cli_data, 240)
{
    char dir[512];
    path_in(dir, sizeof dir, "c");
    cli_up(dir, 3, 3);
    data_files();
    data_trees_and_errors();
    health_reports();
    cli_down();
}

/* --- failures: a chunk server, then the metadata leader ---------------------------- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll status until no chunk is below its goal (the leader re-replicates
 * without anyone asking). */
static void wait_goal_restored(unsigned timeout_s)
{
    for (unsigned i = 0; i < timeout_s * 2; i++) {
        struct jv *v = parse_out(CLI_EXPECT(0, "status", "--json"));
        int down = 0;
        const struct jv *cs = jv_get(v, "chunk_servers");
        for (size_t k = 0; k < cs->n; k++)
            down += strcmp(jv_str(cs->vals[k], "state"), "down") == 0;
        int done = down == 1 && jv_u64(v, "under_replicated") == 0 && jv_u64(v, "missing") == 0;
        jv_free(v);
        if (done)
            return;
        sleep_ms(500);
    }
    CHECKF(0, "replication goal not restored within %u s", timeout_s);
}

/* The id (in the cluster file) of the metadata server at addr. */
static int meta_id_of(const char *addr)
{
    char path[600], line[2048];
    snprintf(path, sizeof path, "%s/cluster.conf", cli_cluster_dir());
    FILE *f = fopen(path, "re");
    CHECK(f != NULL);
    int id = 0;
    while (fgets(line, sizeof line, f)) {
        char a[80];
        int n;
        if (sscanf(line, "proc = meta %d %79s", &n, a) == 2 && strcmp(a, addr) == 0)
            id = n;
    }
    fclose(f);
    return id;
}

TEST_T(cli_failover, 240)
{
    char dir[512], src[600], back[600];
    path_in(dir, sizeof dir, "c");
    cli_up(dir, 3, 3);
    path_in(src, sizeof src, "tree");
    local_tree(src);
    CLI_EXPECT(0, "put", "-r", src, "/tree");
    /* one chunk server dies: every file still reads back the same */
    cli_kill("chunk", 2);
    path_in(back, sizeof back, "tree.back");
    CLI_EXPECT(0, "get", "-r", "/tree", back);
    CHECK(cli_check_same_tree(src, back) == 12);
    wait_goal_restored(90);
    struct jv *v = parse_out(CLI_EXPECT(0, "fsck", "--json"));
    CHECK(jv_get(v, "healthy")->num == 1);
    jv_free(v);
    /* the metadata leader dies: another one serves */
    v = parse_out(CLI_EXPECT(0, "status", "--json"));
    char old[80];
    snprintf(old, sizeof old, "%s", jv_str(jv_get(v, "leader"), "addr"));
    jv_free(v);
    int id = meta_id_of(old);
    CHECKF(id > 0, "leader %s not in the cluster file", old);
    cli_kill("meta", id);
    CLI_EXPECT(0, "mkdir", "/after-failover");
    v = parse_out(CLI_EXPECT(0, "status", "--json"));
    const struct jv *l = jv_get(v, "leader");
    CHECK(l && l->type == JV_OBJ && strcmp(jv_str(l, "addr"), old) != 0);
    jv_free(v);
    path_in(back, sizeof back, "tree.back2");
    CLI_EXPECT(0, "get", "-r", "/tree", back);
    cli_check_same_tree(src, back);
    cli_down();
}
