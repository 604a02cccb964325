/*
 * crc32c.h: CRC32C (Castagnoli) through Intel ISA-L's SIMD implementation.
 *
 * crc32c(0, p, n) is the standard CRC32C of p (check value of "123456789" is
 * 0xE3069283); crc32c(crc32c(0, a, n), b, m) equals the CRC of a then b.
 * Pure function, any thread.
 */
#ifndef CAIRN_COMMON_CRC32C_H
#define CAIRN_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
