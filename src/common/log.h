/*
 * log.h: leveled logging, one line per event.
 *
 * Line format (stderr by default):
 *   2026-11-26T12:00:00.123456Z I node=3 rpc: connection closed: bad crc
 * The node id is set once per process (cairn_log_set_node); the subsystem is
 * the first argument. Thread safety: each call writes its line with a single
 * write(2), so lines from threads do not interleave.
 */
#ifndef CAIRN_COMMON_LOG_H
#define CAIRN_COMMON_LOG_H

#include <stdint.h>

enum cairn_log_level {
    CAIRN_LOG_DEBUG = 0,
    CAIRN_LOG_INFO = 1,
    CAIRN_LOG_WARN = 2,
    CAIRN_LOG_ERROR = 3,
    CAIRN_LOG_OFF = 4,
};

void cairn_log_set_level(enum cairn_log_level level);
enum cairn_log_level cairn_log_get_level(void);
/* Node id printed on every line ("node=-" until set). */
void cairn_log_set_node(const char *node);
/* Write lines to fd instead of stderr (2). */
void cairn_log_set_fd(int fd);
/* Parse "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int cairn_log_level_parse(const char *s);

void cairn_log(enum cairn_log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_DEBUG(subsys, ...)                                 \
    do {                                                       \
        if (cairn_log_get_level() <= CAIRN_LOG_DEBUG)          \
            cairn_log(CAIRN_LOG_DEBUG, (subsys), __VA_ARGS__); \
    } while (0)
#define LOG_INFO(subsys, ...) cairn_log(CAIRN_LOG_INFO, (subsys), __VA_ARGS__)
#define LOG_WARN(subsys, ...) cairn_log(CAIRN_LOG_WARN, (subsys), __VA_ARGS__)
#define LOG_ERROR(subsys, ...) cairn_log(CAIRN_LOG_ERROR, (subsys), __VA_ARGS__)

#endif
