/*
 * test_api_open.c: cairn_open(O_CREAT | O_EXCL) racing a concurrent unlink
 * (found by the nemesis namespace workload): the open made the file, then
 * another client unlinked it before the open read the file's attributes
 * again, and the open failed with ENOENT. POSIX: the open succeeds and the
 * descriptor stays usable. The open now uses the CREATE reply's attributes
 * (datafile_open_attr). The race window is inside cairn_open, so the case
 * replays its two steps on the data path directly, with the unlink between
 * them, and checks the whole open path still creates exclusively.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "cops.h"
#include "meta/cmd.h"
#include "test.h"
#include "test_data.h"

/* Unlink name from the root directory through the metadata client. */
static void unlink_root(struct dt *t, const char *name)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    CHECK_OK(meta_cmd_unlink(&cmd, &h, META_ROOT_INO, name));
    CHECK_OK(metaclient_mutate_sync(t->mc, cmd.data, cmd.len, NULL, NULL));
    buf_free(&cmd);
}

TEST_T(api_open_created_then_unlinked, 120)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 2};
    dt_start(&t, &o);
    struct meta_attr a;
    CHECK_OK(cops_create(t.mc, META_ROOT_INO, "gone", &a)); /* the open's CREATE */
    unlink_root(&t, "gone");                                /* the other client */
    struct datafile *f = NULL;
    /* What the open did before the fix: read the attributes again. */
    CHECK_EQ(datafile_open(t.dc, a.ino, DATAFILE_READ | DATAFILE_WRITE, &f), CAIRN_ENOENT);
    /* With the CREATE reply's attributes the open succeeds; the new file
     * reads empty. */
    CHECK_OK(datafile_open_attr(t.dc, &a, DATAFILE_READ | DATAFILE_WRITE, &f));
    CHECK_EQ(datafile_size(f), 0);
    uint8_t buf[16];
    CHECK_EQ(datafile_pread(f, buf, sizeof buf, 0), 0);
    CHECK_OK(datafile_close(f));
    /* Not a regular file: refused like datafile_open does. */
    struct meta_attr dir = a;
    dir.mode = S_IFDIR | 0755;
    CHECK_EQ(datafile_open_attr(t.dc, &dir, DATAFILE_READ, &f), CAIRN_EISDIR);
    CHECK_EQ(datafile_open_attr(t.dc, &a, 0, &f), CAIRN_EINVAL);
    dt_stop(&t);
}
