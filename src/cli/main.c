/*
 * main.c: the `cairn` binary: one table of subcommands, each a function of
 * (argc, argv) after its name returning the exit code (cli.h). A command
 * with a usage text gets `cairn CMD --help` (and `cairn help CMD`) from
 * here; the daemons parse their own flags.
 *
 * To add a command: one line in `commands` (name, function, one-line help,
 * usage text or NULL). Keep every entry: scripts depend on them.
 */
#include <stdio.h>
#include <string.h>

#include "chunkd/chunkd.h"
#include "cli/cli.h"
#include "fuse/fuse_mount.h"
#include "metad/metad.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
    const char *usage; /* full help with examples, or NULL */
};

/* Help of the admin commands, whose own parsers take no --help. */
static const char meta_status_usage[] =
    "usage: cairn meta-status [--servers HOST:PORT,... --secret FILE]\n"
    "\n"
    "Ask every metadata server (and every member they report) for its status:\n"
    "one `server key=value ...` line each, then the membership as the leader\n"
    "sees it. Without --servers/--secret, the cluster file's are used.\n"
    "\n"
    "example:\n"
    "  cairn meta-status\n";
static const char meta_add_usage[] =
    "usage: cairn meta-add --id N --addr HOST:PORT [--learner] [--servers ... --secret FILE]\n"
    "\n"
    "Add a metadata server (started with --join) as a voter, or a learner.\n"
    "Prints `ok index=I` once the change is committed (docs/metad.md).\n"
    "\n"
    "example:\n"
    "  cairn meta-add --id 4 --addr 10.0.0.4:7001\n";
static const char meta_remove_usage[] =
    "usage: cairn meta-remove --id N [--servers HOST:PORT,... --secret FILE]\n"
    "\n"
    "Remove a metadata server from the group (a removed leader steps down).\n"
    "\n"
    "example:\n"
    "  cairn meta-remove --id 4\n";
static const char meta_transfer_usage[] =
    "usage: cairn meta-transfer --id N [--servers HOST:PORT,... --secret FILE]\n"
    "\n"
    "Hand the leadership of the metadata group to voter N.\n"
    "\n"
    "example:\n"
    "  cairn meta-transfer --id 2\n";
static const char chunk_status_usage[] =
    "usage: cairn chunk-status --addr HOST:PORT --secret FILE [--json]\n"
    "\n"
    "Status of one chunk server: node id, registration, capacity, chunks,\n"
    "scrubber progress, bad blocks found (docs/chunkd.md).\n"
    "\n"
    "example:\n"
    "  cairn chunk-status --addr 127.0.0.1:7101 --secret /etc/cairn/secret\n";
static const char chunk_drain_usage[] =
    "usage: cairn chunk-drain --id N [--off] --servers HOST:PORT,... --secret FILE\n"
    "\n"
    "Drain chunk server N: its chunks are copied elsewhere, then removed from\n"
    "it; --off makes it a normal server again.\n"
    "\n"
    "example:\n"
    "  cairn chunk-drain --id 3 --servers 10.0.0.1:7001 --secret /etc/cairn/secret\n";
static const char chunk_nodes_usage[] =
    "usage: cairn chunk-nodes --servers HOST:PORT,... --secret FILE [--json]\n"
    "\n"
    "List the chunk servers the metadata group knows, with their states.\n"
    "\n"
    "example:\n"
    "  cairn chunk-nodes --servers 10.0.0.1:7001 --secret /etc/cairn/secret\n";

/* `cairn mount` (src/fuse) with the cairn-wide --cluster. */
static int cli_mount(int argc, char **argv)
{
    return fuse_mount_main(argc, argv, cli_cluster_file());
}

static const struct command commands[] = {
    /* files and directories */
    {"put", cli_put, "copy local files or trees (-r) into cairn", cli_put_usage},
    {"get", cli_get, "copy files or trees (-r) out of cairn", cli_get_usage},
    {"cat", cli_cat, "print files to stdout", cli_cat_usage},
    {"ls", cli_ls, "list directories (-l long, --json)", cli_ls_usage},
    {"stat", cli_stat, "attributes of files (--json)", cli_stat_usage},
    {"mkdir", cli_mkdir, "make directories (-p parents)", cli_mkdir_usage},
    {"rm", cli_rm, "remove files, directories (-r trees)", cli_rm_usage},
    {"mv", cli_mv, "rename or move", cli_mv_usage},
    {"ln", cli_ln, "make hard or symbolic (-s) links", cli_ln_usage},
    {"chmod", cli_chmod, "change permission bits", cli_chmod_usage},
    {"chown", cli_chown, "change owner and group", cli_chown_usage},
    {"truncate", cli_truncate, "set the size of files", cli_truncate_usage},
    {"setgoal", cli_setgoal, "set the replication goal (copies per chunk)", cli_setgoal_usage},
    {"getgoal", cli_getgoal, "show the replication goal", cli_getgoal_usage},
    {"lock", cli_lock, "run a command holding a lock; --list the locks", cli_lock_usage},
    {"txn", cli_txn, "apply a batch of operations atomically", cli_txn_usage},
    {"setxattr", cli_setxattr, "set an xattr (--if-version: compare-and-set)", cli_setxattr_usage},
    /* the cluster */
    {"mount", cli_mount, "mount the cluster with FUSE (-f: foreground)", fuse_mount_usage},
    {"df", cli_df, "capacity and usage (--json)", cli_df_usage},
    {"status", cli_status, "cluster health: leader, servers, replication (--json)",
     cli_status_usage},
    {"fsck", cli_fsck, "consistency report: missing, under-replicated, corrupt chunks",
     cli_fsck_usage},
    {"cluster", cli_cluster, "a local cluster for development: up | down | status",
     cli_cluster_usage},
    /* daemons and administration */
    {"meta", metad_main, "run a metadata server (see docs/metad.md)", NULL},
    {"meta-status", cli_meta_status, "status of every metadata server and the membership",
     meta_status_usage},
    {"meta-add", cli_meta_add, "add a metadata server: --id N --addr HOST:PORT [--learner]",
     meta_add_usage},
    {"meta-remove", cli_meta_remove, "remove a metadata server: --id N", meta_remove_usage},
    {"meta-transfer", cli_meta_transfer, "hand leadership to a metadata server: --id N",
     meta_transfer_usage},
    {"chunk", chunkd_main, "run a chunk server (see docs/chunkd.md)", NULL},
    {"chunk-status", chunkd_status_main, "status of one chunk server: --addr HOST:PORT",
     chunk_status_usage},
    {"chunk-drain", chunkd_drain_main, "drain a chunk server: --id N [--off]", chunk_drain_usage},
    {"chunk-nodes", chunkd_nodes_main, "list the chunk servers the metadata group knows",
     chunk_nodes_usage},
};

static void usage(FILE *f)
{
    fputs("usage: cairn [--cluster FILE] COMMAND [ARGS...]\n"
          "       cairn COMMAND --help      (every command; with examples)\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    fputs("\n"
          "Client commands find the cluster through a cluster file: --cluster FILE, else\n"
          "$CAIRN_CLUSTER, else ~/.cairn/cluster (written by `cairn cluster up`).\n"
          "Admin commands (meta-*, chunk-*) take --servers HOST:PORT,... --secret FILE.\n"
          "CAIRN_LOG=debug|info|warn|error|off sets the client library's log level;\n"
          "CAIRN_TIMEOUT=SECONDS bounds each metadata operation (default 15).\n"
          "\n"
          "exit codes:\n"
          "  0  success\n"
          "  1  an operation failed (each failure is reported on stderr as\n"
          "     `cairn: COMMAND: PATH: message`)\n"
          "  2  bad usage (unknown flag, missing argument)\n"
          "  3  cluster unreachable (no cluster file, or no metadata server answered)\n"
          "\n"
          "example:\n"
          "  cairn cluster up && cairn put -r ./src /src && cairn ls -l /src && cairn status\n",
          f);
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int at = 1;
    while (at + 1 < argc && strcmp(argv[at], "--cluster") == 0) {
        cli_set_cluster_file(argv[at + 1]);
        at += 2;
    }
    if (at >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[at];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        const struct command *c = at + 1 < argc ? find(argv[at + 1]) : NULL;
        if (c && c->usage)
            fputs(c->usage, stdout);
        else
            usage(stdout);
        return CLI_OK;
    }
    const struct command *c = find(name);
    if (!c) {
        fprintf(stderr, "cairn: unknown command \"%s\"\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    if (c->usage && wants_help(argc - at - 1, argv + at + 1)) {
        fputs(c->usage, stdout);
        return CLI_OK;
    }
    return c->run(argc - at - 1, argv + at + 1);
}
