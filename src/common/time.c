/* time.c: clock_gettime wrappers. */
#include "common/time.h"

#include <time.h>

static uint64_t time_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * CAIRN_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ns(void) { return time_read(CLOCK_MONOTONIC); }
uint64_t time_wall_ns(void) { return time_read(CLOCK_REALTIME); }
