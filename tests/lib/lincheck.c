/*
 * lincheck.c: the linearizability checker declared in lincheck.h.
 *
 * The search is Porcupine's checkSingle (Wing & Gong's algorithm with
 * Lowe's memoization). Each partition's call and return events are sorted
 * by time into a doubly linked list. The search walks the list from its
 * head: at a call it tries to linearize that op now (the model's step must
 * accept it); if it can, and the configuration (set of linearized ops,
 * new state) was never seen before, the op's call and return are "lifted"
 * out of the list, pushed on a stack, and the walk restarts from the head.
 * Reaching a return means that op had to be linearized already: the
 * search pops the last linearized op, "unlifts" it and tries the next
 * candidate after it. The history is linearizable once the list is empty.
 *
 * Ops with unknown outcome (ret_time == LIN_TIME_INF) are optional and have
 * no deadline, so they stay out of the list: at each point, once the
 * completed candidates are exhausted (phase 0), the search tries the
 * pending ops called by the time of the first return (phase 1). Pending ops
 * stay candidates to the end, which makes the plain search exponential in
 * their number; the memo and one more rule keep it small:
 *   - the memo is keyed by (completed ops linearized, state) and also
 *     records which pending ops were used: a configuration is pruned when
 *     one already visited had the same key and a subset of its pending
 *     ops (it had every option this one has, and more);
 *   - a pending op b linearized right after a pending op a is pruned when
 *     b alone gives the same state (b absorbs a, as a put absorbs an
 *     earlier put): the same point without a is searched from a's parent.
 *
 * A pending op may have a bound (lin_check_bounded): it took effect before
 * the bound or never. That is a return event at the bound for an optional
 * op: once the search has linearized an op called after the bound (the
 * configuration's floor, the latest call time linearized, is past it), the
 * op is no candidate any more, i.e. it is dropped, without backtracking.
 * The floor is a function of the linearized set, so the memo stays sound:
 * an entry also records its floor and dominates only configurations with a
 * floor no earlier (fewer live options), and its pending set is stored
 * without the ops already past their bound, which are no option either way.
 * Histories without bounds take exactly the search described above.
 *
 * The memo stores each completed set compactly: every op below `lo` (in
 * call order) is linearized in practice, so only the words between the
 * first clear bit and the last set bit are kept, which keeps long
 * histories' memos small.
 */
#include "lincheck.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hashmap.h"

/* Default search budget: a few seconds of search on this machine's cores. */
#define LIN_BUDGET_DEFAULT 100000000ull
/* Memo entries are carved from blocks that double from the first size to
 * the last, so small histories stay cheap and big ones allocate rarely. */
#define ARENA_BLOCK_FIRST_BYTES (4u << 10)
#define ARENA_BLOCK_LAST_BYTES (1u << 20)
/* How many ops of the prefix and of the blocked candidates a report lists. */
#define REPORT_OPS_MAX 8u

_Static_assert(LIN_OPS_MAX < UINT32_MAX / 2, "op ids and event ids are u32");

/* The test library treats an allocation failure as fatal. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    CAIRN_ASSERTF(p != NULL, "lincheck: out of memory (%zu x %zu)", n, size);
    return p;
}

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

static int op_pending(const struct lin_op *op) { return op->ret_time == LIN_TIME_INF; }

/* ---------------------------------------------------------------------- */
/* The set of linearized ops: a bitset that also tracks its first clear bit
 * (lo), one past its last set bit (hi), and a Zobrist hash (XOR of a random
 * key per member) updated in O(1) per change. */

struct bits {
    uint64_t *w;
    uint32_t n;
    uint32_t lo;
    uint32_t hi;
    uint64_t zob;
};

static uint64_t zob_key(uint32_t i) { return hash_u64((uint64_t)i + 0x9e3779b97f4a7c15ull); }

static int bits_get(const struct bits *b, uint32_t i) { return (b->w[i / 64] >> (i % 64)) & 1; }

/* First clear bit at or after i, or n. Bits past n in the last word are 0. */
static uint32_t bits_first_zero(const struct bits *b, uint32_t i)
{
    while (i < b->n) {
        uint64_t inv = ~b->w[i / 64] >> (i % 64);
        if (inv)
            return CAIRN_MIN(i + (uint32_t)__builtin_ctzll(inv), b->n);
        i = (i / 64 + 1) * 64;
    }
    return b->n;
}

/* One past the last set bit below i, or 0. */
static uint32_t bits_end_below(const struct bits *b, uint32_t i)
{
    while (i > 0) {
        uint32_t word = (i - 1) / 64;
        uint32_t nbits = i - word * 64; /* bits of this word below i: 1..64 */
        uint64_t w = b->w[word];
        if (nbits < 64)
            w &= (1ull << nbits) - 1;
        if (w)
            return word * 64 + 64 - (uint32_t)__builtin_clzll(w);
        i = word * 64;
    }
    return 0;
}

static void bits_set(struct bits *b, uint32_t i)
{
    CAIRN_ASSERT(i < b->n && !bits_get(b, i));
    b->w[i / 64] |= 1ull << (i % 64);
    b->zob ^= zob_key(i);
    if (i + 1 > b->hi)
        b->hi = i + 1;
    if (i == b->lo)
        b->lo = bits_first_zero(b, i + 1);
}

static void bits_clear(struct bits *b, uint32_t i)
{
    CAIRN_ASSERT(i < b->n && bits_get(b, i));
    b->w[i / 64] &= ~(1ull << (i % 64));
    b->zob ^= zob_key(i);
    if (i < b->lo)
        b->lo = i;
    if (i + 1 == b->hi)
        b->hi = bits_end_below(b, i);
}

/* The words that tell this set apart from any other with the same lo and
 * hi: from the word holding lo to the word holding hi - 1. */
static uint32_t bits_window(const struct bits *b, uint32_t *first)
{
    *first = b->lo / 64;
    if (b->hi <= b->lo)
        return 0;
    return (b->hi - 1) / 64 - *first + 1;
}

/* ---------------------------------------------------------------------- */
/* The memo: (linearized set, state) pairs already explored. A hash map
 * from the pair's hash to a chain of entries allocated from an arena. */

struct cache_entry {
    struct cache_entry *next;
    uint64_t hash;
    uint64_t floor; /* the configuration's floor (0 when no op is bounded) */
    uint32_t lo, hi;
    uint64_t data[]; /* state (padded to 8), pending set words, window words */
};

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    uint64_t data[];
};

struct cache {
    struct hmap map;
    struct arena_block *blocks;
    size_t bytes;
    size_t state_size;
    uint32_t pend_words; /* words of the pending set, stored whole */
};

static void cache_init(struct cache *c, size_t state_size, uint32_t pend_words)
{
    memset(c, 0, sizeof *c);
    hmap_init(&c->map);
    c->state_size = state_size;
    c->pend_words = pend_words;
}

static void cache_free(struct cache *c)
{
    while (c->blocks) {
        struct arena_block *next = c->blocks->next;
        free(c->blocks);
        c->blocks = next;
    }
    hmap_free(&c->map);
}

/* Bytes from the arena (8-aligned); NULL once the memo is over its bound. */
static void *cache_alloc(struct cache *c, size_t n)
{
    n = round8(n);
    struct arena_block *b = c->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap =
            b ? CAIRN_MIN(2 * b->cap, (size_t)ARENA_BLOCK_LAST_BYTES) : ARENA_BLOCK_FIRST_BYTES;
        cap = CAIRN_MAX(cap, n);
        size_t map_bytes = c->map.cap * (sizeof(struct hmap_slot) + 1);
        if (c->bytes + cap + map_bytes > LIN_CACHE_BYTES_MAX)
            return NULL;
        b = xcalloc(1, sizeof *b + cap);
        b->cap = cap;
        b->next = c->blocks;
        c->blocks = b;
        c->bytes += sizeof *b + cap;
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += n;
    return p;
}

static uint64_t cache_hash(const struct bits *b, const void *state, size_t size)
{
    return hash_bytes(state, size, b->zob);
}

static int words_subset(const uint64_t *sub, const uint64_t *set, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (sub[i] & ~set[i])
            return 0;
    return 1;
}

/* Was a configuration visited with completed set `done`, this state, a
 * subset of the pending set `pend` and a floor no later? (See the file
 * comment.) */
static int cache_dominated(const struct cache *c, const struct bits *done, const uint64_t *pend,
                           uint64_t floor, const void *state, uint64_t h)
{
    uint32_t first, nw = bits_window(done, &first);
    size_t pad = round8(c->state_size);
    for (const struct cache_entry *e = hmap_get(&c->map, h); e; e = e->next) {
        if (e->hash != h || e->lo != done->lo || e->hi != done->hi || e->floor > floor)
            continue;
        const uint8_t *data = (const uint8_t *)e->data;
        const uint64_t *e_pend = (const uint64_t *)(data + pad);
        if (memcmp(data, state, c->state_size) == 0 &&
            memcmp(e_pend + c->pend_words, done->w + first, nw * sizeof(uint64_t)) == 0 &&
            words_subset(e_pend, pend, c->pend_words))
            return 1;
    }
    return 0;
}

/* Remember a configuration; 0, or -1 when the memo would exceed its bound. */
static int cache_add(struct cache *c, const struct bits *done, const uint64_t *pend, uint64_t floor,
                     const void *state, uint64_t h)
{
    uint32_t first, nw = bits_window(done, &first);
    size_t pad = round8(c->state_size);
    size_t pend_bytes = c->pend_words * sizeof(uint64_t);
    struct cache_entry *e = cache_alloc(c, sizeof *e + pad + pend_bytes + nw * sizeof(uint64_t));
    if (!e)
        return -1;
    e->hash = h;
    e->floor = floor;
    e->lo = done->lo;
    e->hi = done->hi;
    uint8_t *data = (uint8_t *)e->data;
    memcpy(data, state, c->state_size);
    memcpy(data + pad, pend, pend_bytes);
    memcpy(data + pad + pend_bytes, done->w + first, nw * sizeof(uint64_t));
    e->next = hmap_get(&c->map, h);
    CAIRN_ASSERTF(hmap_put(&c->map, h, e) == 0, "lincheck: out of memory");
    return 0;
}

/* ---------------------------------------------------------------------- */
/* One partition's search. */

struct node {
    struct node *prev, *next;
    struct node *match; /* a call's return node; NULL for a return */
    uint32_t id;
};

struct part {
    const struct lin_model *m;
    uint64_t key;
    uint32_t k;                /* ops in the partition */
    uint32_t kc;               /* of which completed: ids [0, kc); pending: [kc, k) */
    const struct lin_op **ops; /* by id: completed, then pending, each in call order */
    size_t *orig;              /* id -> index in the caller's array */
    struct node head;          /* the list of completed ops' calls and returns */
    struct node *nodes;        /* 2 kc: node 2i is op i's call, 2i + 1 its return */
    struct bits done;          /* completed ops linearized, by id */
    struct bits pend;          /* pending ops linearized, by id - kc */
    uint64_t *bound;           /* by id - kc: took effect before it or never */
    int bounded;               /* some pending op has a bound */
    uint64_t floor;            /* latest call of a linearized op (if bounded) */
    uint64_t *floors;          /* floor before each stacked op */
    uint64_t *pend_live;       /* scratch: pend without ops past their bound */
    size_t stride;             /* state size rounded up to 8 */
    uint8_t *state, *scratch, *scratch2;
    uint32_t *stack; /* ids of the linearized ops, in order */
    uint8_t *saved;  /* state before each stacked op */
    uint32_t depth;
    uint32_t *best; /* longest linearized sequence seen (op ids) */
    uint32_t best_len, agree;
    struct cache cache;
    uint64_t *steps, budget;
    int cache_full;
};

struct event {
    uint64_t time;
    uint32_t is_ret;
    uint32_t id;
};

/* Calls before returns at equal times: equal times count as concurrent. */
static int event_cmp(const void *pa, const void *pb)
{
    const struct event *a = pa, *b = pb;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->is_ret != b->is_ret)
        return a->is_ret < b->is_ret ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Link the calls and returns of the completed ops in time order after the
 * head. Pending ops stay out of the list: they are candidates from their
 * call on, found by call time in phase 1 of the search. */
static void part_build_list(struct part *p)
{
    size_t nev = 2 * (size_t)p->kc;
    struct event *ev = xcalloc(nev, sizeof *ev);
    for (uint32_t i = 0; i < p->kc; i++) {
        ev[2 * i] = (struct event){p->ops[i]->call_time, 0, i};
        ev[2 * i + 1] = (struct event){p->ops[i]->ret_time, 1, i};
    }
    qsort(ev, nev, sizeof *ev, event_cmp);
    p->nodes = xcalloc(nev, sizeof *p->nodes);
    struct node *prev = &p->head;
    for (size_t j = 0; j < nev; j++) {
        struct node *nd = &p->nodes[2 * (size_t)ev[j].id + ev[j].is_ret];
        nd->id = ev[j].id;
        nd->match = ev[j].is_ret ? NULL : &p->nodes[2 * (size_t)ev[j].id + 1];
        nd->prev = prev;
        prev->next = nd;
        prev = nd;
    }
    prev->next = NULL;
    free(ev);
}

/* Take a call and its return out of the list (the op is linearized). */
static void lift(struct node *call)
{
    call->prev->next = call->next;
    call->next->prev = call->prev; /* a call always has its return after it */
    struct node *ret = call->match;
    ret->prev->next = ret->next;
    if (ret->next)
        ret->next->prev = ret->prev;
}

/* Undo lift(call); must be called in the reverse order of the lifts. */
static void unlift(struct node *call)
{
    struct node *ret = call->match;
    ret->prev->next = ret;
    if (ret->next)
        ret->next->prev = ret;
    call->prev->next = call;
    call->next->prev = call;
}

/* Keep best[] equal to the longest stack seen. `agree` is a lower bound of
 * the common prefix of stack and best, so each push is copied at most once
 * and the tracking costs O(1) amortized per step. */
static void best_note_push(struct part *p)
{
    uint32_t d = p->depth - 1;
    if (p->agree == d && d < p->best_len && p->best[d] == p->stack[d])
        p->agree++;
    if (p->depth <= p->best_len)
        return;
    memcpy(p->best + p->agree, p->stack + p->agree, (p->depth - p->agree) * sizeof *p->best);
    p->best_len = p->agree = p->depth;
}

static void mark(struct part *p, uint32_t id, int on)
{
    struct bits *b = id < p->kc ? &p->done : &p->pend;
    uint32_t i = id < p->kc ? id : id - p->kc;
    if (on)
        bits_set(b, i);
    else
        bits_clear(b, i);
}

/* May pending op j (id - kc) be linearized at a point whose floor is
 * `floor`? Not once an op called after its bound is linearized. */
static int pend_alive(const struct part *p, uint32_t j, uint64_t floor)
{
    return CAIRN_MAX(floor, p->ops[p->kc + j]->call_time) <= p->bound[j];
}

/* The pending set as the memo keys it: without the ops past their bound at
 * the current floor (used or not, they are no option any more), so
 * configurations that differ only in expired ops meet in the memo. */
static const uint64_t *pend_live(struct part *p)
{
    if (!p->bounded)
        return p->pend.w;
    uint32_t nw = (p->pend.n + 63) / 64;
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t bits = p->pend.w[w], live = bits;
        while (bits) {
            uint32_t i = (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (!pend_alive(p, w * 64 + i, p->floor))
                live &= ~(1ull << i);
        }
        p->pend_live[w] = live;
    }
    return p->pend_live;
}

/* Record the current configuration (with `state`) in the memo unless one
 * that dominates it is there: 1 if new, 0 if pruned, -1 if the memo is full. */
static int memo_visit(struct part *p, const void *state)
{
    uint64_t h = cache_hash(&p->done, state, p->m->state_size);
    const uint64_t *pend = pend_live(p);
    if (cache_dominated(&p->cache, &p->done, pend, p->floor, state, h))
        return 0;
    return cache_add(&p->cache, &p->done, pend, p->floor, state, h) == 0 ? 1 : -1;
}

/* Is linearizing pending `op` now (its result is in scratch) dominated by
 * another choice the search makes anyway? If it changes nothing, any
 * linearization with it here works as well without it. If the op before
 * it is pending too and `op` absorbs it, the same point without that op
 * is reached from its parent. */
static int pending_redundant(struct part *p, const struct lin_op *op)
{
    size_t size = p->m->state_size;
    if (memcmp(p->scratch, p->state, size) == 0)
        return 1;
    if (p->depth == 0 || p->stack[p->depth - 1] < p->kc)
        return 0;
    memcpy(p->scratch2, p->saved + (p->depth - 1) * p->stride, size);
    return p->m->step(p->scratch2, op) && memcmp(p->scratch2, p->scratch, size) == 0;
}

/* Try to linearize op `id` next: 1 if done (pushed, and lifted from the
 * list if completed), 0 if illegal or pruned, -1 if the memo is full. */
static int try_op(struct part *p, uint32_t id)
{
    const struct lin_op *op = p->ops[id];
    size_t size = p->m->state_size;
    memcpy(p->scratch, p->state, size);
    if (!p->m->step(p->scratch, op))
        return 0;
    if (id >= p->kc && pending_redundant(p, op))
        return 0;
    uint64_t floor = p->floor;
    if (p->bounded)
        p->floor = CAIRN_MAX(floor, op->call_time);
    mark(p, id, 1);
    int fresh = memo_visit(p, p->scratch);
    if (fresh <= 0) {
        mark(p, id, 0);
        p->floor = floor;
        return fresh;
    }
    p->floors[p->depth] = floor;
    p->stack[p->depth] = id;
    memcpy(p->saved + p->depth * p->stride, p->state, size);
    p->depth++;
    memcpy(p->state, p->scratch, size);
    if (id < p->kc)
        lift(&p->nodes[2 * (size_t)id]);
    best_note_push(p);
    return 1;
}

/* Undo the last linearized op and return its id. */
static uint32_t backtrack(struct part *p)
{
    CAIRN_ASSERT(p->depth > 0);
    p->depth--;
    uint32_t id = p->stack[p->depth];
    memcpy(p->state, p->saved + p->depth * p->stride, p->m->state_size);
    p->floor = p->floors[p->depth];
    mark(p, id, 0);
    if (id < p->kc)
        unlift(&p->nodes[2 * (size_t)id]);
    if (p->agree > p->depth)
        p->agree = p->depth;
    return id;
}

/* The time by which the next op must take effect: the first return left in
 * the list (the list is not empty). */
static uint64_t list_deadline(const struct part *p)
{
    const struct node *e = p->head.next;
    while (e->match)
        e = e->next;
    return p->ops[e->id]->ret_time;
}

/* The depth-first search over linearization orders (see the file comment).
 * At each point, phase 0 walks the list from its head and tries the calls
 * before the first return; phase 1 then tries the pending ops called by
 * that return's time. Every lift starts a new point; when both phases are
 * exhausted the search backtracks and resumes after the op it undid. */
static enum lin_verdict part_search(struct part *p)
{
    int rc = memo_visit(p, p->state), phase = 0;
    struct node *e = p->head.next; /* phase 0: the next list entry */
    uint32_t j = 0;                /* phase 1: the next pending op, as id - kc */
    uint64_t deadline = 0;
    while (rc >= 0 && p->head.next) {
        if (*p->steps >= p->budget)
            return LIN_GAVE_UP;
        (*p->steps)++;
        rc = 0;
        if (phase == 0 && e->match) {
            rc = try_op(p, e->id);
            e = e->next;
        } else if (phase == 0) {
            deadline = p->ops[e->id]->ret_time;
            phase = 1;
            j = 0;
        } else if (p->kc + j < p->k && p->ops[p->kc + j]->call_time <= deadline) {
            if (!bits_get(&p->pend, j) && (!p->bounded || pend_alive(p, j, p->floor)))
                rc = try_op(p, p->kc + j);
            j++;
        } else if (p->depth == 0) {
            return LIN_VIOLATION;
        } else {
            uint32_t id = backtrack(p);
            phase = id >= p->kc;
            if (phase) {
                j = id - p->kc + 1;
                deadline = list_deadline(p);
            } else {
                e = p->nodes[2 * (size_t)id].next;
            }
        }
        if (rc > 0) {
            phase = 0;
            e = p->head.next;
        }
    }
    p->cache_full = rc < 0;
    return rc < 0 ? LIN_GAVE_UP : LIN_OK;
}

/* ---------------------------------------------------------------------- */
/* Reports. */

struct rep {
    char *s;
    size_t cap, len;
    int truncated;
};

/* Append to the report; text past its end is dropped and marked. */
__attribute__((format(printf, 2, 3))) static void rep_printf(struct rep *r, const char *fmt, ...)
{
    static const char more[] = "...\n";
    if (r->truncated)
        return;
    size_t room = r->cap - sizeof more - r->len; /* keep space for the marker */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->s + r->len, room + 1, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n <= room) {
        r->len += (size_t)n;
        return;
    }
    r->len += room;
    memcpy(r->s + r->len, more, sizeof more);
    r->truncated = 1;
}

static void describe_op(const struct lin_model *m, const struct lin_op *op, char *out, size_t n)
{
    if (m->describe) {
        m->describe(op, out, n);
        return;
    }
    snprintf(out, n, "kind %" PRIu32 " key %" PRIu64 " arg (%" PRIu64 ", %" PRIu64 ")", op->kind,
             op->key, op->arg[0], op->arg[1]);
    if (!op_pending(op)) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, " -> (%" PRIu64 ", %" PRIu64 ")", op->out[0], op->out[1]);
    }
}

static void rep_op(struct rep *r, const struct part *p, uint32_t id, const char *note)
{
    const struct lin_op *op = p->ops[id];
    char desc[160], ret[24];
    describe_op(p->m, op, desc, sizeof desc);
    if (op_pending(op))
        snprintf(ret, sizeof ret, "?");
    else
        snprintf(ret, sizeof ret, "%" PRIu64, op->ret_time);
    rep_printf(r, "  op[%zu] client %" PRIu64 " [%" PRIu64 ", %s]: %s%s\n", p->orig[id], op->client,
               op->call_time, ret, desc, note);
}

/* List the ops that could come next after the longest prefix, replayed
 * into `state` (members marked in `in`), and why none of them fits. */
static void rep_candidates(struct rep *r, const struct part *p, uint8_t *state, const uint8_t *in,
                           uint64_t floor)
{
    uint64_t deadline = LIN_TIME_INF;
    uint32_t due = 0;
    for (uint32_t i = 0; i < p->k; i++) {
        if (!in[i] && p->ops[i]->ret_time < deadline) {
            deadline = p->ops[i]->ret_time;
            due = i;
        }
    }
    CAIRN_ASSERT(deadline != LIN_TIME_INF); /* else the search succeeded */
    rep_printf(r, "op[%zu] must take effect by t=%" PRIu64 ", but no op that may come next fits:\n",
               p->orig[due], deadline);
    uint32_t listed = 0, more = 0;
    for (uint32_t i = 0; i < p->k; i++) {
        if (in[i] || p->ops[i]->call_time > deadline)
            continue;
        if (i >= p->kc && !pend_alive(p, i - p->kc, floor))
            continue; /* past its bound: it never took effect */
        memcpy(p->scratch, state, p->m->state_size);
        int legal = p->m->step(p->scratch, p->ops[i]);
        if (legal && i >= p->kc && memcmp(p->scratch, state, p->m->state_size) == 0)
            continue; /* an optional op that would change nothing explains nothing */
        if (listed == REPORT_OPS_MAX) {
            more++;
            continue;
        }
        rep_op(r, p, i,
               legal ? "  (legal here, but no linearization continues from it)"
                     : "  (not legal in this state)");
        listed++;
    }
    if (more)
        rep_printf(r, "  ... and %" PRIu32 " more\n", more);
}

/* Explain a violation: the partition, the end of the longest linearizable
 * prefix found, and the ops that could not be placed after it. */
static void part_report(const struct part *p, struct rep *r)
{
    if (p->m->partitioned)
        rep_printf(r, "%s: not linearizable: partition key %" PRIu64 " (%" PRIu32 " ops)\n",
                   p->m->name, p->key, p->k);
    else
        rep_printf(r, "%s: not linearizable (%" PRIu32 " ops)\n", p->m->name, p->k);
    uint8_t *in = xcalloc(p->k, 1);
    uint8_t *state = xcalloc(1, p->stride);
    p->m->init(state);
    uint32_t shown = CAIRN_MIN(p->best_len, REPORT_OPS_MAX);
    uint64_t floor = 0;
    rep_printf(r, "longest linearizable prefix: %" PRIu32 " ops%s\n", p->best_len,
               p->best_len > shown ? " (the last ones below)" : "");
    for (uint32_t i = 0; i < p->best_len; i++) {
        uint32_t id = p->best[i];
        int ok = p->m->step(state, p->ops[id]);
        CAIRN_ASSERTF(ok, "lincheck: model %s is not deterministic", p->m->name);
        in[id] = 1;
        floor = CAIRN_MAX(floor, p->ops[id]->call_time);
        if (i >= p->best_len - shown)
            rep_op(r, p, id, "");
    }
    rep_candidates(r, p, state, in, floor);
    free(state);
    free(in);
}

/* ---------------------------------------------------------------------- */
/* Partitions. */

struct part_ref {
    uint64_t key, call;
    size_t idx;
};

static int part_ref_cmp(const void *pa, const void *pb)
{
    const struct part_ref *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->call != b->call)
        return a->call < b->call ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void part_init(struct part *p, const struct lin_model *m, const struct lin_op *ops,
                      const uint64_t *bound, const struct part_ref *refs, uint32_t k)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->key = m->partitioned ? refs[0].key : 0;
    p->k = k;
    p->ops = xcalloc(k, sizeof *p->ops);
    p->orig = xcalloc(k, sizeof *p->orig);
    uint32_t id = 0;
    for (int pass = 0; pass < 2; pass++) { /* completed ops first, then pending */
        if (pass == 1)
            p->kc = id;
        for (uint32_t i = 0; i < k; i++) {
            if (op_pending(&ops[refs[i].idx]) != pass)
                continue;
            p->orig[id] = refs[i].idx;
            p->ops[id++] = &ops[refs[i].idx];
        }
    }
    CAIRN_ASSERT(id == k);
    p->done.n = p->kc;
    p->pend.n = k - p->kc;
    part_build_list(p);
    p->done.w = xcalloc((p->done.n + 63) / 64, sizeof(uint64_t));
    p->pend.w = xcalloc((p->pend.n + 63) / 64, sizeof(uint64_t));
    p->pend_live = xcalloc((p->pend.n + 63) / 64, sizeof(uint64_t));
    p->bound = xcalloc(p->pend.n, sizeof *p->bound);
    for (uint32_t j = 0; j < p->pend.n; j++) {
        uint64_t b = bound ? bound[p->orig[p->kc + j]] : 0;
        p->bound[j] = b == 0 ? LIN_TIME_INF : b;
        p->bounded |= p->bound[j] != LIN_TIME_INF;
    }
    p->floors = xcalloc(k, sizeof *p->floors);
    p->stride = round8(m->state_size);
    p->state = xcalloc(1, p->stride);
    p->scratch = xcalloc(1, p->stride);
    p->scratch2 = xcalloc(1, p->stride);
    p->stack = xcalloc(k, sizeof *p->stack);
    p->saved = xcalloc(k, p->stride);
    p->best = xcalloc(k, sizeof *p->best);
    cache_init(&p->cache, m->state_size, (p->pend.n + 63) / 64);
    m->init(p->state);
}

static void part_free(struct part *p)
{
    cache_free(&p->cache);
    free(p->best);
    free(p->saved);
    free(p->stack);
    free(p->scratch2);
    free(p->scratch);
    free(p->state);
    free(p->floors);
    free(p->bound);
    free(p->pend_live);
    free(p->pend.w);
    free(p->done.w);
    free(p->nodes);
    free(p->orig);
    free(p->ops);
}

/* Check one partition (refs[0..k) share a key, in call order). */
static enum lin_verdict check_part(const struct lin_model *m, const struct lin_op *ops,
                                   const uint64_t *bound, const struct part_ref *refs, size_t k,
                                   uint64_t *steps, uint64_t budget, struct lin_result *res)
{
    struct rep r = {res->report, sizeof res->report, 0, 0};
    uint64_t key = m->partitioned ? refs[0].key : 0;
    if (k > LIN_OPS_MAX) {
        rep_printf(&r, "%s: partition key %" PRIu64 " has %zu ops, more than LIN_OPS_MAX\n",
                   m->name, key, k);
        return LIN_GAVE_UP;
    }
    struct part p;
    part_init(&p, m, ops, bound, refs, (uint32_t)k);
    p.steps = steps;
    p.budget = budget;
    enum lin_verdict v = part_search(&p);
    if (v == LIN_VIOLATION)
        part_report(&p, &r);
    else if (v == LIN_GAVE_UP)
        rep_printf(
            &r, "%s: gave up on partition key %" PRIu64 " (%zu ops) after %" PRIu64 " steps: %s\n",
            m->name, key, k, *steps,
            p.cache_full ? "memo over LIN_CACHE_BYTES_MAX" : "search budget exhausted");
    part_free(&p);
    return v;
}

enum lin_verdict lin_check(const struct lin_model *m, const struct lin_op *ops, size_t n,
                           uint64_t budget, struct lin_result *res)
{
    return lin_check_bounded(m, ops, NULL, n, budget, res);
}

enum lin_verdict lin_check_bounded(const struct lin_model *m, const struct lin_op *ops,
                                   const uint64_t *bound, size_t n, uint64_t budget,
                                   struct lin_result *res)
{
    struct lin_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    CAIRN_ASSERT(m && m->init && m->step && m->name);
    CAIRN_ASSERT(m->state_size > 0 && m->state_size <= LIN_STATE_MAX);
    CAIRN_ASSERT(ops || n == 0);
    if (budget == 0)
        budget = LIN_BUDGET_DEFAULT;
    struct part_ref *refs = xcalloc(n, sizeof *refs);
    for (size_t i = 0; i < n; i++) {
        CAIRN_ASSERTF(ops[i].call_time <= ops[i].ret_time && ops[i].call_time != LIN_TIME_INF,
                      "lincheck: op[%zu] returns before its call", i);
        refs[i] = (struct part_ref){m->partitioned ? ops[i].key : 0, ops[i].call_time, i};
    }
    qsort(refs, n, sizeof *refs, part_ref_cmp);
    uint64_t steps = 0;
    enum lin_verdict v = LIN_OK;
    for (size_t start = 0, end; start < n && v == LIN_OK; start = end) {
        for (end = start + 1; end < n && refs[end].key == refs[start].key; end++)
            ;
        v = check_part(m, ops, bound, refs + start, end - start, &steps, budget, res);
        if (v != LIN_OK)
            res->bad_key = refs[start].key;
    }
    free(refs);
    res->verdict = v;
    res->explored = (size_t)steps;
    return v;
}

/* ---------------------------------------------------------------------- */
/* The key-value register model. */

static void kv_init(void *state) { memset(state, 0, sizeof(uint64_t)); }

static int kv_step(void *state, const struct lin_op *op)
{
    uint64_t *v = state;
    int known = !op_pending(op);
    switch (op->kind) {
    case LIN_KV_GET:
        return !known || op->out[0] == *v;
    case LIN_KV_PUT:
        *v = op->arg[0];
        return 1;
    case LIN_KV_CAS:
        if (known && (op->out[0] != 0) != (*v == op->arg[0]))
            return 0;
        if (*v == op->arg[0])
            *v = op->arg[1];
        return 1;
    default:
        return 0;
    }
}

static void kv_describe(const struct lin_op *op, char *out, size_t n)
{
    int known = !op_pending(op);
    switch (op->kind) {
    case LIN_KV_GET:
        if (known)
            snprintf(out, n, "get(%" PRIu64 ") -> %" PRIu64, op->key, op->out[0]);
        else
            snprintf(out, n, "get(%" PRIu64 ") -> ?", op->key);
        break;
    case LIN_KV_PUT:
        snprintf(out, n, "put(%" PRIu64 ", %" PRIu64 ")%s", op->key, op->arg[0],
                 known ? "" : " -> ?");
        break;
    case LIN_KV_CAS:
        snprintf(out, n, "cas(%" PRIu64 ", %" PRIu64 " -> %" PRIu64 ") -> %s", op->key, op->arg[0],
                 op->arg[1],
                 !known       ? "?"
                 : op->out[0] ? "swapped"
                              : "failed");
        break;
    default:
        snprintf(out, n, "unknown kv op kind %" PRIu32, op->kind);
    }
}

const struct lin_model lin_model_kv = {
    .name = "kv",
    .state_size = sizeof(uint64_t),
    .partitioned = 1,
    .init = kv_init,
    .step = kv_step,
    .describe = kv_describe,
};

/* ---------------------------------------------------------------------- */
/* The lock model. */

struct lock_state {
    uint64_t held;
    uint64_t holder;     /* 0 when not held, so equal states have equal bytes */
    uint64_t last_token; /* lower bound of the last grant's token */
};

static void lock_init(void *state) { memset(state, 0, sizeof(struct lock_state)); }

static int lock_acquire(struct lock_state *s, const struct lin_op *op)
{
    int known = !op_pending(op);
    if (known && op->out[0] == 0)
        return s->held != 0; /* refused: legal only while someone holds it */
    if (s->held)
        return !known; /* a pending acquire here was refused: no change */
    if (known && op->out[0] <= s->last_token)
        return 0; /* fencing tokens must increase strictly */
    s->held = 1;
    s->holder = op->client;
    s->last_token = known ? op->out[0] : s->last_token + 1;
    return 1;
}

static int lock_step(void *state, const struct lin_op *op)
{
    struct lock_state *s = state;
    int known = !op_pending(op);
    switch (op->kind) {
    case LIN_LOCK_ACQUIRE:
        return lock_acquire(s, op);
    case LIN_LOCK_RELEASE:
        if (!s->held || s->holder != op->client)
            return !known || op->out[0] == 0;
        if (known && op->out[0] == 0)
            return 0; /* the holder's release cannot fail */
        s->held = 0;
        s->holder = 0;
        return 1;
    default:
        return 0;
    }
}

static void lock_describe(const struct lin_op *op, char *out, size_t n)
{
    int known = !op_pending(op);
    if (op->kind == LIN_LOCK_ACQUIRE && !known)
        snprintf(out, n, "acquire(lock %" PRIu64 ") -> ?", op->key);
    else if (op->kind == LIN_LOCK_ACQUIRE && op->out[0] == 0)
        snprintf(out, n, "acquire(lock %" PRIu64 ") -> refused", op->key);
    else if (op->kind == LIN_LOCK_ACQUIRE)
        snprintf(out, n, "acquire(lock %" PRIu64 ") -> token %" PRIu64, op->key, op->out[0]);
    else if (op->kind == LIN_LOCK_RELEASE)
        snprintf(out, n, "release(lock %" PRIu64 ") -> %s", op->key,
                 !known       ? "?"
                 : op->out[0] ? "released"
                              : "not held");
    else
        snprintf(out, n, "unknown lock op kind %" PRIu32, op->kind);
}

const struct lin_model lin_model_lock = {
    .name = "lock",
    .state_size = sizeof(struct lock_state),
    .partitioned = 1,
    .init = lock_init,
    .step = lock_step,
    .describe = lock_describe,
};
