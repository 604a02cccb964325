/* crc32c.c: the standard CRC32C on top of ISA-L's crc32_iscsi.
 *
 * ISA-L's crc32_iscsi takes the raw register as its seed and returns the raw
 * register (no pre- or post-inversion), so the standard CRC is the inversion
 * of crc32_iscsi seeded with the inversion of the previous CRC. */
#include "common/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    uint32_t reg = ~crc;
    const unsigned char *s = p;
    /* crc32_iscsi takes an int length; feed very large buffers in pieces. */
    while (n > 0) {
        int step = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        reg = crc32_iscsi((unsigned char *)s, step, reg);
        s += step;
        n -= (size_t)step;
    }
    return ~reg;
}
