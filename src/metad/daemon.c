/*
 * daemon.c: `cairn meta`, the process around a struct metad: configuration,
 * log setup, pid file, signals and exit codes (docs/metad.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/log.h"
#include "metad/node_int.h"

enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_WRONGCLUSTER = 3,
};

static void usage(FILE *f)
{
    fputs("usage: cairn meta --config FILE [--key value ...]\n"
          "       cairn meta --id N --listen HOST:PORT --peers ID=HOST:PORT,... --data DIR\n"
          "                  --secret FILE --cluster ID [--snapshot-every N] [--tick-ms MS]\n"
          "                  [--election-ticks N] [--heartbeat-ticks N] [--session-tick-ms MS]\n"
          "                  [--log-level LEVEL] [--pid-file FILE] [--metrics HOST:PORT] [--join]\n"
          "Runs one metadata server. Keys and exit codes: docs/metad.md.\n",
          f);
}

static int pid_file_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    char b[32];
    int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
    int rc = write(fd, b, (size_t)n) == n ? 0 : CAIRN_EIO;
    close(fd);
    return rc;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* Configuration from the file and flags; EXIT_OK or EXIT_USAGE. */
static int configure(int argc, char **argv, struct metad_config *cfg)
{
    char err[METAD_ERR_MAX];
    metad_config_defaults(cfg);
    if (metad_config_args(cfg, argc, argv, err, sizeof err) ||
        metad_config_check(cfg, err, sizeof err)) {
        fprintf(stderr, "cairn meta: %s\n", err);
        usage(stderr);
        return EXIT_USAGE;
    }
    cairn_log_set_level((enum cairn_log_level)cfg->log_level);
    char node[32];
    snprintf(node, sizeof node, "%" PRIu64, cfg->id);
    cairn_log_set_node(node);
    return EXIT_OK;
}

int metad_main(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        usage(stdout);
        return EXIT_OK;
    }
    struct metad_config cfg;
    int code = configure(argc, argv, &cfg);
    if (code)
        return code;
    signal(SIGPIPE, SIG_IGN);
    struct metad *d;
    int rc = metad_new(&cfg, &d);
    if (rc) {
        LOG_ERROR(METAD_SUBSYS, "cannot start: %s (%s)", cairn_strerror(rc), cairn_err_name(rc));
        return rc == CAIRN_WRONGCLUSTER ? EXIT_WRONGCLUSTER : EXIT_FAIL;
    }
    if (cfg.pid_file[0] && (rc = pid_file_write(cfg.pid_file)) != 0) {
        LOG_ERROR(METAD_SUBSYS, "pid file %s: %s", cfg.pid_file, cairn_strerror(rc));
        metad_free(d);
        return EXIT_FAIL;
    }
    metad_handle_signals(d);
    rc = metad_run(d);
    metad_free(d);
    if (cfg.pid_file[0])
        unlink(cfg.pid_file);
    return rc ? EXIT_FAIL : EXIT_OK;
}
