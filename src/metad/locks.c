/* locks.c: the leader's command clock (rule in locks.h). */
#include "metad/locks.h"

#include "common/limits.h"
#include "common/time.h"
#include "metad/node_int.h"

/* Without a usable base (first start, a stamp from the future, or a gap
 * longer than the pause limit) the stamp is plain wall time. Else it is the
 * base plus the wall time since, plus 1/64 of it until the lag is gone:
 * monotonic in `wall`, and never ahead of it. */
uint64_t metad_clock_stamp(uint64_t base_wall, uint64_t base_meta, uint64_t wall)
{
    const uint64_t pause_max_ns = (uint64_t)CAIRN_METAD_CLOCK_PAUSE_MAX_MS * 1000000u;
    if (base_meta == 0 || base_meta >= base_wall || base_wall - base_meta > pause_max_ns ||
        wall < base_wall)
        return wall;
    uint64_t lag = base_wall - base_meta;
    uint64_t since = wall - base_wall;
    uint64_t catch_up = since / 64u;
    return catch_up >= lag ? wall : wall - (lag - catch_up);
}

void metad_clock_became_leader(struct metad *d)
{
    d->clock_base_wall_ns = time_wall_ns();
    d->clock_base_meta_ns = meta_now_ns(d->meta);
}

uint64_t metad_now_ns(const struct metad *d)
{
    return metad_clock_stamp(d->clock_base_wall_ns, d->clock_base_meta_ns, time_wall_ns());
}
