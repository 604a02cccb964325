/* errors.c: names, messages and errno mapping of the cairn error table. */
#include "cairn_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/assert.h"

const char *cairn_err_name(int err)
{
    if (err == 0)
        return "OK";
    switch (err) {
#define CAIRN_ERR_NAME_(name, code, errno_, msg) \
    case (code):                                 \
        return #name;
        CAIRN_ERRNO_MAP(CAIRN_ERR_NAME_)
#undef CAIRN_ERR_NAME_
    }
    return "UNKNOWN";
}

const char *cairn_strerror(int err)
{
    if (err == 0)
        return "success";
    switch (err) {
#define CAIRN_ERR_MSG_(name, code, errno_, msg) \
    case (code):                                \
        return msg;
        CAIRN_ERRNO_MAP(CAIRN_ERR_MSG_)
#undef CAIRN_ERR_MSG_
    }
    return "unknown error";
}

int cairn_err_to_errno(int err)
{
    if (err == 0)
        return 0;
    switch (err) {
#define CAIRN_ERR_ERRNO_(name, code, errno_, msg) \
    case (code):                                  \
        return (errno_);
        CAIRN_ERRNO_MAP(CAIRN_ERR_ERRNO_)
#undef CAIRN_ERR_ERRNO_
    }
    return EIO;
}

int cairn_err_from_errno(int errno_value)
{
    if (errno_value == 0)
        return 0;
    /* Only codes equal to -errno round-trip; cairn's own codes sit below
     * -1000 and never collide with an errno value. */
    switch (-errno_value) {
#define CAIRN_ERR_FROM_(name, code, errno_, msg) \
    case (code):                                 \
        return (code) > -1000 ? (code) : CAIRN_EIO;
        CAIRN_ERRNO_MAP(CAIRN_ERR_FROM_)
#undef CAIRN_ERR_FROM_
    }
    if (errno_value == EWOULDBLOCK)
        return CAIRN_EAGAIN;
    return CAIRN_EIO;
}

_Noreturn void cairn_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "PANIC %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
