/*
 * main.c: the `cairn` binary: one table of subcommands, each a function of
 * (argc, argv) after its name returning the exit code (cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "chunkd/chunkd.h"
#include "cli/cli.h"
#include "metad/metad.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"meta", metad_main, "run a metadata server (see docs/metad.md)"},
    {"meta-status", cli_meta_status, "status of every metadata server and the membership"},
    {"meta-add", cli_meta_add, "add a metadata server: --id N --addr HOST:PORT [--learner]"},
    {"meta-remove", cli_meta_remove, "remove a metadata server: --id N"},
    {"meta-transfer", cli_meta_transfer, "hand leadership to a metadata server: --id N"},
    {"chunk", chunkd_main, "run a chunk server (see docs/chunkd.md)"},
    {"chunk-status", chunkd_status_main, "status of one chunk server: --addr HOST:PORT"},
    {"chunk-drain", chunkd_drain_main, "drain a chunk server: --id N [--off]"},
    {"chunk-nodes", chunkd_nodes_main, "list the chunk servers the metadata group knows"},
};

static void usage(FILE *f)
{
    fputs("usage: cairn COMMAND [ARGS...]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    fputs("\nadmin commands take --servers HOST:PORT,... --secret FILE\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "cairn: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
