/*
 * assert.h: always-on assertions for programmer errors.
 *
 * cairn separates two kinds of failure (see STYLE.md): operating errors (bad
 * input, dead peers, full disks) are returned as negative cairn_err codes;
 * programmer errors (broken invariants) abort here with file and line. These
 * assertions stay on in release builds: a replica that continues past a
 * broken invariant can corrupt replicated state, which is worse than a crash.
 * Thread safety: any thread.
 */
#ifndef CAIRN_COMMON_ASSERT_H
#define CAIRN_COMMON_ASSERT_H

#include <stddef.h>

_Noreturn void cairn_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CAIRN_ASSERT(cond)                                                  \
    do {                                                                    \
        if (__builtin_expect(!(cond), 0))                                   \
            cairn_panic(__FILE__, __LINE__, "assertion failed: %s", #cond); \
    } while (0)

/* Assertion with a formatted explanation of the values involved. */
#define CAIRN_ASSERTF(cond, ...)                          \
    do {                                                  \
        if (__builtin_expect(!(cond), 0))                 \
            cairn_panic(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define CAIRN_UNREACHABLE() cairn_panic(__FILE__, __LINE__, "unreachable")

#define CAIRN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CAIRN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CAIRN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
