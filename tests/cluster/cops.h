/*
 * cops.h: namespace operations for the cluster tests, through the metadata
 * client (src/client/metaclient.h) against a harness cluster: blocking
 * helpers (create, mkdir, lookup, statfs, a whole directory listing) and a
 * client factory. Single-threaded, on the harness loop; CHECK-free: each
 * returns the operation's status so the case decides what is a failure.
 */
#ifndef CAIRN_TESTS_CLUSTER_COPS_H
#define CAIRN_TESTS_CLUSTER_COPS_H

#include <stddef.h>
#include <stdint.h>

#include "client/metaclient.h"
#include "cluster_harness.h"
#include "meta/meta.h"

/* A client of every node of c, on c's loop. */
struct metaclient *cops_client(struct cluster *c, uint32_t sessions, const char *name,
                               uint64_t seed);

int cops_create(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out);
int cops_mkdir(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out);
int cops_lookup(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out);
int cops_statfs_files(struct metaclient *mc, uint64_t *files);

struct cops_entry {
    char name[CAIRN_NAME_MAX + 1];
    uint64_t ino;
    uint8_t type;
};

struct cops_list {
    struct cops_entry *e;
    size_t n, cap;
};

/* Every entry of directory ino but "." and "..", page by page. */
int cops_list_dir(struct metaclient *mc, uint64_t ino, struct cops_list *out);
void cops_list_free(struct cops_list *l);
/* Sort by name (for comparing listings and finding duplicates). */
void cops_list_sort(struct cops_list *l);

#endif
