/* log.c: one formatted line per event, written with a single write(2). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum cairn_log_level log_level = CAIRN_LOG_INFO;
static char log_node[32] = "-";
static int log_fd = 2;

void cairn_log_set_level(enum cairn_log_level level) { log_level = level; }
enum cairn_log_level cairn_log_get_level(void) { return log_level; }
void cairn_log_set_fd(int fd) { log_fd = fd; }

void cairn_log_set_node(const char *node) { snprintf(log_node, sizeof log_node, "%s", node); }

int cairn_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void cairn_log(enum cairn_log_level level, const char *subsys, const char *fmt, ...)
{
    if (level < log_level)
        return;
    static const char letters[] = "DIWE";
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %c node=%s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
                     letters[level], log_node, subsys);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    /* A line longer than the buffer is cut, and still ends with a newline. */
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
}
