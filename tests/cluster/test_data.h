/*
 * test_data.h: what the data-path cluster tests (tests/cluster/test_data_*.c)
 * share: a cluster of 3 `cairn meta` and N `cairn chunk` processes with a
 * metadata client and a data client (client/file.h) on the harness loop,
 * deterministic file contents, whole-file write and check helpers, and
 * waits on the chunk map (replica counts back to the goal).
 *
 * Single-threaded, on the harness loop. Helpers CHECK what must hold and
 * return what the case decides on.
 */
#ifndef CAIRN_TESTS_CLUSTER_TEST_DATA_H
#define CAIRN_TESTS_CLUSTER_TEST_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "client/file.h"
#include "client/metaclient.h"
#include "cluster_harness.h"

struct dt {
    struct cluster c;
    struct metaclient *mc;
    struct dataclient *dc;
};

struct dt_opts {
    uint32_t chunks;                /* chunk servers */
    struct cluster_chunk_opts copt; /* for every chunk server */
    uint32_t io_timeout_ms;         /* data client; 0 = 3000 */
    uint32_t write_deadline_ms;     /* data client; 0 = its default */
    uint64_t last_capacity;         /* capacity of the last chunk server; 0 = copt's */
};

/* Start the cluster (metadata with short chunk-server timeouts: dead after
 * 2 s of silence) and the clients. t is large: keep it static. */
void dt_start(struct dt *t, const struct dt_opts *o);
void dt_stop(struct dt *t);
/* A data client of its own on t's metaclient (for a second writer). */
struct dataclient *dt_dataclient(struct dt *t, uint32_t io_timeout_ms);

/* A new regular file in the root directory; goal 0 keeps the default (2). */
uint64_t dt_create(struct dt *t, const char *name, uint8_t goal);

/* The bytes of file `key` at [off, off + n): a fixed function of both, so a
 * check needs no copy of what was written. */
void dt_pattern(uint64_t key, uint64_t off, uint8_t *p, size_t n);
/* Write n pattern bytes of key at off in pwrites of `piece` bytes, then
 * close (commit). Returns the close status (pwrite errors CHECK). */
int dt_write(struct dt *t, uint64_t ino, uint64_t key, uint64_t off, uint64_t n, size_t piece);
/* Read the whole file (size must be `size`) and compare with what `expect`
 * says each range holds; returns 0 if equal, else the first bad offset + 1.
 * expect(arg, off, p, n) fills p with the expected bytes. */
typedef void (*dt_expect_fn)(void *arg, uint64_t off, uint8_t *p, size_t n);
uint64_t dt_check(struct dt *t, struct dataclient *dc, uint64_t ino, uint64_t size,
                  dt_expect_fn expect, void *arg);
/* expect: pattern of key over [0, len), zeros after (arg: struct dt_span). */
struct dt_span {
    uint64_t key;
    uint64_t off, len; /* pattern bytes at [off, off + len) */
};
void dt_expect_span(void *arg, uint64_t off, uint8_t *p, size_t n);
/* expect: several spans written in order (a later one overwrites an
 * earlier one), zeros elsewhere (arg: struct dt_spans). */
struct dt_spans {
    size_t n;
    struct dt_span s[8];
};
void dt_expect_spans(void *arg, uint64_t off, uint8_t *p, size_t n);

/* The chunk map entry of (ino, index). */
struct datafile_chunk dt_chunk(struct dt *t, uint64_t ino, uint32_t index);
/* Wait until chunk index of ino has `goal` replicas, all on chunk servers
 * that run, none equal to `not_node` (0: any); returns the entry. CHECKs
 * the timeout. */
struct datafile_chunk dt_wait_goal(struct dt *t, uint64_t ino, uint32_t index, uint8_t goal,
                                   uint32_t not_node, uint32_t timeout_ms);
/* Slot of the chunk server with registry id node (CHECKed). */
uint32_t dt_slot(struct dt *t, uint32_t node);
/* Wait until every replica of c holds c->version as a committed file on
 * its disk (the COMMIT command reaches chunk servers after the commit
 * point, with their heartbeats). */
void dt_wait_committed(struct dt *t, const struct datafile_chunk *c, uint32_t timeout_ms);
/* Read version c->version of chunk c->id (chunk index `index` of a file)
 * straight from chunk server `node` and compare it with expect: 0 if equal,
 * CAIRN_CORRUPT if a byte differs, else the read's error. */
int dt_verify_on(struct dt *t, uint32_t node, const struct datafile_chunk *c, uint32_t index,
                 dt_expect_fn expect, void *arg);

#endif
