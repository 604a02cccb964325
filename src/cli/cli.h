/*
 * cli.h: the `cairn` command: a table of subcommands (main.c) and the
 * functions behind them, one file per command group. Each command gets the
 * arguments after its name and returns the process exit code: 0 success,
 * 1 failure (message on stderr), 2 bad usage.
 *
 * This is the minimal entry point of the metadata-service issue (the daemon
 * and its admin commands); the full client CLI comes with the client issue.
 * Threads: a command runs on the main thread with its own libuv loop.
 * Memory: nothing outlives a command.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

enum cli_exit {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

/* meta_admin.c: cairn meta-status | meta-add | meta-remove | meta-transfer */
int cli_meta_status(int argc, char **argv);
int cli_meta_add(int argc, char **argv);
int cli_meta_remove(int argc, char **argv);
int cli_meta_transfer(int argc, char **argv);

#endif
