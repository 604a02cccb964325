/*
 * time.h: monotonic and wall-clock time in nanoseconds. Only I/O shells call
 * these; pure modules (raft, meta) receive time as arguments.
 */
#ifndef CAIRN_COMMON_TIME_H
#define CAIRN_COMMON_TIME_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary start (CLOCK_MONOTONIC). */
uint64_t time_mono_ns(void);
/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t time_wall_ns(void);
static inline uint64_t time_mono_ms(void) { return time_mono_ns() / 1000000u; }

#define CAIRN_NS_PER_MS 1000000ull
#define CAIRN_NS_PER_SEC 1000000000ull

#endif
