/* test_posix_file.c: file contents through the mount (pjdfstest's open and
 * truncate groups and more): open(2) flags, reads and writes at offsets,
 * sparse files and holes, truncate up and down, an unlinked file living on
 * through its descriptors, and fsync'ed data surviving a remount. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hashmap.h"
#include "common/limits.h"
#include "fx.h"

#define MiB (1024ull * 1024ull)

/* The byte of a seeded pattern at offset off of stream key. */
static uint8_t pat(uint64_t key, uint64_t off)
{
    return (uint8_t)(hash_u64(key * 0x9e3779b97f4a7c15ull ^ (off / 8)) >> (8 * (off % 8)));
}

static void pat_fill(uint64_t key, uint64_t off, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(key, off + i);
}

/* pwrite n pattern bytes of key at off, in pieces of `piece`. */
static void write_pat(int fd, uint64_t key, uint64_t off, size_t n, size_t piece)
{
    uint8_t *buf = malloc(piece);
    CHECK(buf);
    for (size_t done = 0; done < n;) {
        size_t len = n - done < piece ? n - done : piece;
        pat_fill(key, off + done, buf, len);
        ssize_t w = pwrite(fd, buf, len, (off_t)(off + done));
        CHECKF(w == (ssize_t)len, "pwrite %zu at %llu: %zd (%s)", len,
               (unsigned long long)(off + done), w, fx_errname(errno));
        done += len;
    }
    free(buf);
}

/* Read [off, off + n) and compare with key's pattern (key 0: zeros). */
static void check_pat(int fd, uint64_t key, uint64_t off, size_t n)
{
    enum { PIECE = 256 * 1024 };
    uint8_t *buf = malloc(PIECE);
    CHECK(buf);
    for (size_t done = 0; done < n;) {
        size_t len = n - done < PIECE ? n - done : PIECE;
        ssize_t r = pread(fd, buf, len, (off_t)(off + done));
        CHECKF(r == (ssize_t)len, "pread %zu at %llu: %zd (%s)", len,
               (unsigned long long)(off + done), r, fx_errname(errno));
        for (size_t i = 0; i < len; i++) {
            uint8_t want = key ? pat(key, off + done + i) : 0;
            CHECKF(buf[i] == want, "byte at %llu: 0x%02x, expected 0x%02x",
                   (unsigned long long)(off + done + i), buf[i], want);
        }
        done += len;
    }
    free(buf);
}

static off_t size_of(int fd)
{
    struct stat st;
    SYS(fstat(fd, &st));
    return st.st_size;
}

/* open(2): O_CREAT (mode and umask, owner), O_EXCL, O_TRUNC, O_APPEND, and
 * ENOENT, EEXIST, EISDIR, ENOTDIR, ENAMETOOLONG. */
TEST_T(posix_open_flags, 60)
{
    fx_begin();
    int fd = open(fx_p("f"), O_WRONLY | O_CREAT, 0640);
    CHECK(fd >= 0);
    struct stat st;
    SYS(fstat(fd, &st));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0640);
    CHECK_EQ(st.st_size, 0);
    CHECK_EQ(st.st_nlink, 1);
    CHECK_EQ(st.st_uid, 0);
    CHECK_EQ(write(fd, "0123456789", 10), 10);
    SYS(close(fd));
    mode_t old = umask(027);
    fd = open(fx_p("masked"), O_WRONLY | O_CREAT, 0666);
    umask(old);
    CHECK(fd >= 0);
    SYS(close(fd));
    CHECK_EQ(fx_lstat(fx_p("masked")).st_mode & 07777, 0640);
    /* O_CREAT on an existing file keeps it; O_EXCL refuses. */
    fd = open(fx_p("f"), O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), 10);
    SYS(close(fd));
    CHECK_EQ(fx_lstat(fx_p("f")).st_mode & 07777, 0640);
    SYS_ERR(open(fx_p("f"), O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
    SYS(symlink("dangling", fx_p("sl")));
    SYS_ERR(open(fx_p("sl"), O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
    /* O_TRUNC. */
    fd = open(fx_p("f"), O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), 0);
    CHECK_EQ(write(fd, "abc", 3), 3);
    SYS(close(fd));
    CHECK_EQ(fx_lstat(fx_p("f")).st_size, 3);
    /* O_APPEND: every write lands at the end, whatever the offset. */
    fd = open(fx_p("f"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(write(fd, "de", 2), 2);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
    CHECK_EQ(pwrite(fd, "f", 1, 0), 1); /* Linux: pwrite with O_APPEND appends */
    SYS(close(fd));
    char buf[16];
    CHECK_EQ(fx_read_file(fx_p("f"), buf, sizeof buf), 6);
    CHECK_MEM_EQ(buf, "abcdef", 6);
    /* Two descriptors with O_APPEND interleave without overwriting. */
    int a = open(fx_p("f"), O_WRONLY | O_APPEND), b = open(fx_p("f"), O_WRONLY | O_APPEND);
    CHECK(a >= 0 && b >= 0);
    CHECK_EQ(write(a, "1", 1), 1);
    CHECK_EQ(write(b, "2", 1), 1);
    CHECK_EQ(write(a, "3", 1), 1);
    SYS(close(a));
    SYS(close(b));
    CHECK_EQ(fx_read_file(fx_p("f"), buf, sizeof buf), 9);
    CHECK_MEM_EQ(buf, "abcdef123", 9);
    /* Errors. */
    SYS(mkdir(fx_p("d"), 0755));
    SYS_ERR(open(fx_p("missing"), O_RDONLY), ENOENT);
    SYS_ERR(open(fx_p("nodir/x"), O_RDWR | O_CREAT, 0644), ENOENT);
    SYS_ERR(open(fx_p("d"), O_WRONLY), EISDIR);
    SYS_ERR(open(fx_p("d"), O_RDWR), EISDIR);
    SYS_ERR(open(fx_p("d"), O_RDWR | O_CREAT, 0644), EISDIR);
    SYS_ERR(open(fx_p("f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    SYS_ERR(open(fx_p("f/x"), O_RDONLY), ENOTDIR);
    SYS_ERR(open(fx_p("f/x"), O_RDWR | O_CREAT, 0644), ENOTDIR);
    char name[300];
    memset(name, 'q', 256);
    name[256] = '\0';
    SYS_ERR(open(fx_p("%s", name), O_RDWR | O_CREAT, 0644), ENAMETOOLONG);
    name[255] = '\0';
    fd = open(fx_p("%s", name), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    SYS(close(fd));
    /* A directory opens read-only. */
    fd = open(fx_p("d"), O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    SYS(close(fd));
    fx_end();
}

/* Writes and reads at seeded offsets and sizes (some across the 64 KiB
 * block size), checked against a copy in memory, before and after close. */
TEST_T(posix_read_write, 90)
{
    fx_begin();
    enum { SIZE = 3 * 1024 * 1024 };
    uint8_t *ref = calloc(1, SIZE);
    uint8_t *buf = malloc(SIZE);
    CHECK(ref && buf);
    int fd = open(fx_p("f"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    size_t end = 0;
    for (int i = 0; i < 40; i++) {
        size_t off = (size_t)prng_range(test_rng(), 0, SIZE - 1);
        size_t len = (size_t)prng_range(test_rng(), 1, 300000);
        if (off + len > SIZE)
            len = SIZE - off;
        pat_fill((uint64_t)i + 1, off, ref + off, len);
        CHECK_EQ(pwrite(fd, ref + off, len, (off_t)off), (ssize_t)len);
        if (off + len > end)
            end = off + len;
        size_t roff = (size_t)prng_range(test_rng(), 0, end - 1);
        size_t rlen = (size_t)prng_range(test_rng(), 1, end - roff);
        CHECK_EQ(pread(fd, buf, rlen, (off_t)roff), (ssize_t)rlen);
        CHECKF(memcmp(buf, ref + roff, rlen) == 0, "step %d: read [%zu, +%zu) differs", i, roff,
               rlen);
    }
    CHECK_EQ(size_of(fd), (off_t)end);
    /* A read past the end returns what is there, then 0. */
    CHECK_EQ(pread(fd, buf, 100, (off_t)end - 10), 10);
    CHECK_EQ(pread(fd, buf, 100, (off_t)end + 10), 0);
    SYS(close(fd));
    CHECK_EQ(fx_read_file(fx_p("f"), buf, SIZE), end);
    CHECK(memcmp(buf, ref, end) == 0);
    /* Sequential writes through write(2) with the file offset. */
    fd = open(fx_p("seq"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    for (size_t off = 0; off < SIZE; off += 100000) {
        size_t len = SIZE - off < 100000 ? SIZE - off : 100000;
        CHECK_EQ(write(fd, ref + off, len), (ssize_t)len);
    }
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(fx_read_file(fx_p("seq"), buf, SIZE), SIZE);
    CHECK(memcmp(buf, ref, SIZE) == 0);
    SYS(close(fd));
    free(ref);
    free(buf);
    fx_end();
}

/* A write at 100 MiB leaves a hole: reads in it give zeros, st_size is the
 * end of the write, lseek(SEEK_END) agrees; the bytes before and after a
 * chunk boundary (64 MiB) are right. */
TEST_T(posix_sparse, 90)
{
    fx_begin();
    int fd = open(fx_p("sparse"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    const uint64_t far = 100 * MiB;
    write_pat(fd, 1, 0, 1000, 1000);
    write_pat(fd, 2, far, 5000, 5000);
    CHECK_EQ(size_of(fd), (off_t)(far + 5000));
    CHECK_EQ(lseek(fd, 0, SEEK_END), (off_t)(far + 5000));
    check_pat(fd, 1, 0, 1000);
    check_pat(fd, 0, 1000, 64 * 1024);
    check_pat(fd, 0, 50 * MiB, 300 * 1024);
    check_pat(fd, 0, 64 * MiB - 4096, 8192);
    check_pat(fd, 0, far - 70000, 70000);
    check_pat(fd, 2, far, 5000);
    SYS(close(fd));
    /* The same after close and a fresh open. */
    fd = open(fx_p("sparse"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), (off_t)(far + 5000));
    check_pat(fd, 0, 99 * MiB, 256 * 1024);
    check_pat(fd, 2, far, 5000);
    SYS(close(fd));
    /* Bytes written across the chunk boundary. */
    fd = open(fx_p("cross"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 3, 64 * MiB - 3000, 6000, 6000);
    CHECK_EQ(size_of(fd), (off_t)(64 * MiB + 3000));
    check_pat(fd, 3, 64 * MiB - 3000, 6000);
    check_pat(fd, 0, 0, 4096);
    SYS(close(fd));
    fx_end();
}

/* truncate and ftruncate: down keeps the prefix; up reads as zeros (never
 * the bytes that were cut); to 0; across a chunk boundary; errors EISDIR,
 * EINVAL, ENOENT. */
TEST_T(posix_truncate, 90)
{
    fx_begin();
    int fd = open(fx_p("f"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 1, 0, 200000, 65536);
    SYS(truncate(fx_p("f"), 100000));
    CHECK_EQ(fx_lstat(fx_p("f")).st_size, 100000);
    CHECK_EQ(size_of(fd), 100000);
    check_pat(fd, 1, 0, 100000);
    SYS(ftruncate(fd, 150000));
    CHECK_EQ(size_of(fd), 150000);
    check_pat(fd, 1, 0, 100000);
    check_pat(fd, 0, 100000, 50000);
    /* A write after the cut, then a cut in its middle. */
    write_pat(fd, 2, 120000, 1000, 1000);
    SYS(ftruncate(fd, 120500));
    check_pat(fd, 0, 100000, 20000);
    check_pat(fd, 2, 120000, 500);
    uint8_t b;
    CHECK_EQ(pread(fd, &b, 1, 120500), 0);
    /* Truncate to 0 and grow again: all zeros. */
    SYS(ftruncate(fd, 0));
    CHECK_EQ(size_of(fd), 0);
    SYS(ftruncate(fd, 70000));
    check_pat(fd, 0, 0, 70000);
    /* Across a chunk: up to 65 MiB, then down into the first chunk. */
    write_pat(fd, 3, 64 * MiB - 100, 200, 200);
    SYS(ftruncate(fd, 65 * MiB));
    check_pat(fd, 3, 64 * MiB - 100, 200);
    check_pat(fd, 0, 64 * MiB + 100, 4096);
    SYS(ftruncate(fd, 64 * MiB - 50));
    CHECK_EQ(size_of(fd), (off_t)(64 * MiB - 50));
    check_pat(fd, 3, 64 * MiB - 100, 50);
    SYS(ftruncate(fd, 64 * MiB + 50));
    check_pat(fd, 0, 64 * MiB - 50, 100);
    SYS(close(fd));
    /* Errors. */
    SYS(mkdir(fx_p("d"), 0755));
    SYS_ERR(truncate(fx_p("d"), 0), EISDIR);
    SYS_ERR(truncate(fx_p("f"), -1), EINVAL);
    SYS_ERR(truncate(fx_p("missing"), 0), ENOENT);
    SYS_ERR(truncate(fx_p("f/x"), 0), ENOTDIR);
    fd = open(fx_p("f"), O_RDONLY);
    CHECK(fd >= 0);
    SYS_ERR(ftruncate(fd, 0), EINVAL); /* not open for writing (Linux: EINVAL) */
    SYS(close(fd));
    fx_end();
}

/* A write beyond the end after a truncation down: the range between the
 * cut and the write reads as zeros, now and from a new mount (the cut
 * bytes must not come back with the next version of the chunk). */
TEST_T(posix_truncate_then_write, 90)
{
    fx_begin();
    int fd = open(fx_p("f"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 1, 0, 200000, 65536);
    SYS(close(fd));
    SYS(truncate(fx_p("f"), 50000));
    fd = open(fx_p("f"), O_RDWR);
    CHECK(fd >= 0);
    write_pat(fd, 2, 150000, 1000, 1000);
    SYS(close(fd));
    fd = open(fx_p("f"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), 151000);
    check_pat(fd, 1, 0, 50000);
    check_pat(fd, 0, 50000, 100000);
    check_pat(fd, 2, 150000, 1000);
    SYS(close(fd));
    fx_remount();
    fd = open(fx_p("f"), O_RDONLY);
    CHECK(fd >= 0);
    check_pat(fd, 1, 0, 50000);
    check_pat(fd, 0, 50000, 100000);
    check_pat(fd, 2, 150000, 1000);
    SYS(close(fd));
    fx_end();
}

/* The largest file (CAIRN_FILE_SIZE_MAX, 4 TiB) is sparse and cheap:
 * truncate to it and a write of its last byte work; one byte more is
 * EFBIG on the mount (a local file system has its own, larger limit). */
TEST_T(posix_file_size_limit, 60)
{
    fx_begin();
    const off_t max = (off_t)CAIRN_FILE_SIZE_MAX;
    int fd = open(fx_p("big"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    SYS(ftruncate(fd, max));
    CHECK_EQ(size_of(fd), max);
    CHECK_EQ(pwrite(fd, "e", 1, max - 1), 1);
    check_pat(fd, 0, (uint64_t)max - 4097, 4096);
    char c = 0;
    CHECK_EQ(pread(fd, &c, 1, max - 1), 1);
    CHECK_EQ(c, 'e');
    if (fx_mounted()) {
        SYS_ERR(ftruncate(fd, max + 1), EFBIG);
        SYS_ERR(truncate(fx_p("big"), max + 1), EFBIG);
        SYS_ERR(pwrite(fd, "x", 1, max), EFBIG);
        CHECK_EQ(size_of(fd), max);
    }
    SYS(close(fd));
    SYS(unlink(fx_p("big")));
    fx_end();
}

/* An unlinked file stays readable and writable through its descriptors
 * (fstat nlink 0) until the last one closes; the name is gone at once and
 * can be reused. Needs the metadata's inode holds (META_INODE_HOLD). */
TEST_T(posix_unlinked_open, 60)
{
    fx_begin();
    fx_write_file(fx_p("f"), "hello", 5, 0644);
    int a = open(fx_p("f"), O_RDWR);
    int b = open(fx_p("f"), O_RDONLY);
    CHECK(a >= 0 && b >= 0);
    SYS(unlink(fx_p("f")));
    struct stat st;
    SYS_ERR(lstat(fx_p("f"), &st), ENOENT);
    SYS(fstat(a, &st));
    CHECK_EQ(st.st_nlink, 0);
    CHECK_EQ(st.st_size, 5);
    char buf[64];
    CHECK_EQ(pread(b, buf, sizeof buf, 0), 5);
    CHECK_MEM_EQ(buf, "hello", 5);
    CHECK_EQ(pwrite(a, " world", 6, 5), 6);
    SYS(fsync(a));
    CHECK_EQ(pread(b, buf, sizeof buf, 0), 11);
    CHECK_MEM_EQ(buf, "hello world", 11);
    SYS(ftruncate(a, 4));
    SYS(fstat(b, &st));
    CHECK_EQ(st.st_size, 4);
    /* The name is free again: a new file there is another inode. */
    fx_write_file(fx_p("f"), "new", 3, 0644);
    CHECK(fx_lstat(fx_p("f")).st_ino != st.st_ino);
    SYS(close(a));
    /* One descriptor left: still usable. */
    CHECK_EQ(pread(b, buf, sizeof buf, 0), 4);
    CHECK_MEM_EQ(buf, "hell", 4);
    SYS(close(b));
    CHECK_EQ(fx_read_file(fx_p("f"), buf, sizeof buf), 3);
    /* A larger file (several blocks) unlinked while open for reading. */
    int fd = open(fx_p("big"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 7, 0, 2 * MiB, 256 * 1024);
    SYS(close(fd));
    fd = open(fx_p("big"), O_RDONLY);
    CHECK(fd >= 0);
    SYS(unlink(fx_p("big")));
    check_pat(fd, 7, 0, 2 * MiB);
    SYS(close(fd));
    fx_end();
}

/* fsync and fdatasync return 0, and what was written (fsync'ed, or just
 * closed) reads back whole from a new mount of the cluster. */
TEST_T(posix_fsync_remount, 120)
{
    fx_begin();
    int fd = open(fx_p("synced"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 11, 0, 3 * MiB + 17, 1 << 20);
    SYS(fsync(fd));
    write_pat(fd, 12, 3 * MiB + 17, 1000, 1000);
    SYS(fdatasync(fd));
    SYS(close(fd));
    fd = open(fx_p("closed"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 13, 0, 500000, 65536);
    SYS(close(fd));
    SYS(mkdir(fx_p("d"), 0700));
    SYS(symlink("synced", fx_p("d/l")));
    fx_remount();
    fd = open(fx_p("synced"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), (off_t)(3 * MiB + 17 + 1000));
    check_pat(fd, 11, 0, 3 * MiB + 17);
    check_pat(fd, 12, 3 * MiB + 17, 1000);
    SYS(close(fd));
    fd = open(fx_p("closed"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), 500000);
    check_pat(fd, 13, 0, 500000);
    SYS(close(fd));
    CHECK_EQ(fx_lstat(fx_p("d")).st_mode & 07777, 0700);
    char buf[16];
    CHECK_EQ(readlink(fx_p("d/l"), buf, sizeof buf), 6);
    /* fsync of a directory and of a read-only descriptor. */
    fd = open(fx_p("d"), O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    SYS(fsync(fd));
    SYS(close(fd));
    fd = open(fx_p("closed"), O_RDONLY);
    CHECK(fd >= 0);
    SYS(fsync(fd));
    SYS(close(fd));
    fx_end();
}

/* mmap(2): a shared writable mapping's stores reach the file (read(2)
 * sees them after msync, a new mount after close), a private mapping's do
 * not, and a read-only mapping shows what write(2) put there. */
TEST_T(posix_mmap, 90)
{
    fx_begin();
    enum { SIZE = 3 * 65536 + 100 };
    int fd = open(fx_p("m"), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    write_pat(fd, 21, 0, SIZE, 65536);
    uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECKF(p != MAP_FAILED, "mmap shared: %s", fx_errname(errno));
    for (size_t i = 0; i < SIZE; i++)
        CHECKF(p[i] == pat(21, i), "mapped byte %zu differs", i);
    /* Overwrite a range that spans a 64 KiB block boundary. */
    pat_fill(22, 65536 - 500, p + 65536 - 500, 1000);
    SYS(msync(p, SIZE, MS_SYNC));
    check_pat(fd, 22, 65536 - 500, 1000);
    check_pat(fd, 21, 0, 65536 - 500);
    SYS(munmap(p, SIZE));
    /* A private mapping's stores stay private. */
    p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0xee, 4096);
    SYS(munmap(p, SIZE));
    check_pat(fd, 21, 0, 4096);
    /* write(2) shows through a read-only mapping made later. */
    write_pat(fd, 23, 100, 50, 50);
    p = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    for (size_t i = 100; i < 150; i++)
        CHECK_EQ(p[i], pat(23, i));
    SYS(munmap(p, SIZE));
    SYS(close(fd));
    fx_remount();
    fd = open(fx_p("m"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(size_of(fd), SIZE);
    check_pat(fd, 21, 0, 100);
    check_pat(fd, 23, 100, 50);
    check_pat(fd, 22, 65536 - 500, 1000);
    check_pat(fd, 21, 65536 + 500, SIZE - 65536 - 500);
    SYS(close(fd));
    fx_end();
}
