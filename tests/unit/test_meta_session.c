/* test_meta_session.c: client sessions and exactly-once replies. */
#include <sys/stat.h>

#include "test_meta_util.h"

/* A retry carries the same (session, seq): same reply bytes, nothing
 * applied again, even when the world changed in between. */
TEST(meta_session_retry_returns_cached_reply)
{
    struct mt t;
    mt_init(&t);
    struct meta_hdr h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_create(&t.cmd, &h, 1, "once", 0644, 1));
    struct cairn_buf first;
    buf_init(&first, 0);
    CHECK_OK(mt_apply(&t));
    CHECK_OK(buf_append(&first, t.reply.data, t.reply.len));
    struct meta_stats st0, st1;
    meta_stats(t.m, &st0);
    /* the same command again, later: identical reply, same state */
    t.now += MT_SEC;
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(t.reply.len, first.len);
    CHECK_MEM_EQ(t.reply.data, first.data, first.len);
    meta_stats(t.m, &st1);
    CHECK_EQ(st1.inodes, st0.inodes);
    struct meta_attr a;
    CHECK_OK(mt_lookup(&t, 1, "once", &a));
    CHECK_EQ(a.version, 1);
    /* an error reply is cached too: EEXIST stays EEXIST after the name is
     * gone, and the retry does not create the file */
    h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_create(&t.cmd, &h, 1, "once", 0644, 1));
    struct cairn_buf failing;
    buf_init(&failing, 0);
    CHECK_OK(buf_append(&failing, t.cmd.data, t.cmd.len));
    CHECK_EQ(mt_apply(&t), CAIRN_EEXIST);
    CHECK_OK(mt_unlink(&t, 1, "once"));
    /* retry of the older seq: now older than the last one -> SESSION */
    buf_reset(&t.cmd);
    CHECK_OK(buf_append(&t.cmd, failing.data, failing.len));
    CHECK_EQ(mt_apply(&t), CAIRN_SESSION);
    CHECK_EQ(mt_lookup(&t, 1, "once", NULL), CAIRN_ENOENT);
    buf_free(&first);
    buf_free(&failing);
    mt_free(&t);
}

TEST(meta_session_error_reply_cached)
{
    struct mt t;
    mt_init(&t);
    CHECK_OK(mt_create(&t, 1, "x", 0644, 1, NULL));
    uint64_t other = mt_open_session(&t, 60000);
    struct meta_hdr h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_create(&t.cmd, &h, 1, "x", 0644, 1));
    CHECK_EQ(mt_apply(&t), CAIRN_EEXIST);
    /* another client removes x; our retry still sees EEXIST, creates nothing */
    struct meta_hdr h2 = mt_hdr_plain(&t, other);
    h2.seq = 1;
    struct cairn_buf c2;
    buf_init(&c2, 0);
    CHECK_OK(meta_cmd_unlink(&c2, &h2, 1, "x"));
    struct cairn_buf r2;
    buf_init(&r2, 0);
    CHECK_OK(meta_apply(t.m, ++t.index, c2.data, c2.len, &r2));
    CHECK_EQ(mt_apply(&t), CAIRN_EEXIST);
    CHECK_EQ(mt_lookup(&t, 1, "x", NULL), CAIRN_ENOENT);
    buf_free(&c2);
    buf_free(&r2);
    mt_free(&t);
}

TEST(meta_session_unknown_and_bad_headers)
{
    struct mt t;
    mt_init(&t);
    uint64_t d = meta_digest(t.m);
    struct meta_hdr h = mt_hdr_session(&t);
    h.session = 424242;
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_mkdir(&t.cmd, &h, 1, "d", 0755));
    CHECK_EQ(mt_apply(&t), CAIRN_SESSION);
    /* session mutations need seq >= 1 and a session; system commands none */
    h = mt_hdr_session(&t);
    h.seq = 0;
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_mkdir(&t.cmd, &h, 1, "d", 0755));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    h = mt_hdr_plain(&t, t.session);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_open(&t.cmd, &h, 5000));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    CHECK_EQ_U64(meta_digest(t.m), d);
    /* unknown type */
    h = mt_hdr_plain(&t, 0);
    h.type = 999;
    buf_reset(&t.cmd);
    struct wire_enc e;
    wire_enc_init(&e, &t.cmd);
    meta_enc_hdr(&e, &h);
    CHECK_EQ(mt_apply(&t), CAIRN_UNKNOWNTYPE);
    /* a read-class command is refused by nothing; a mutation by meta_query */
    h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_mkdir(&t.cmd, &h, 1, "d", 0755));
    CHECK_EQ(mt_query(&t), CAIRN_EINVAL);
    CHECK_EQ_U64(meta_digest(t.m), d);
    /* an empty entry (leader no-op) only advances the index */
    buf_reset(&t.reply);
    CHECK_OK(meta_apply(t.m, ++t.index, NULL, 0, &t.reply));
    CHECK_EQ(t.reply.len, 4);
    CHECK_EQ_U64(meta_digest(t.m), d);
    CHECK_EQ_U64(meta_applied_index(t.m), t.index);
    mt_free(&t);
}

static int keepalive(struct mt *t, uint64_t session, uint64_t *expiry)
{
    struct meta_hdr h = mt_hdr_plain(t, session);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_session_keepalive(&t->cmd, &h));
    int rc = mt_apply(t);
    if (!rc && expiry)
        *expiry = wire_load_u64(t->reply.data + 4);
    return rc;
}

TEST(meta_session_expiry)
{
    struct mt t;
    mt_init(&t);
    uint64_t s = mt_open_session(&t, 10000);
    struct meta_session_info si;
    CHECK_OK(meta_session_get(t.m, s, &si));
    CHECK_EQ_U64(si.expiry_ns, t.now + 10 * MT_SEC);
    /* keepalive within the lease renews it */
    t.now += 9 * MT_SEC;
    uint64_t exp;
    CHECK_OK(keepalive(&t, s, &exp));
    CHECK_EQ_U64(exp, t.now + 10 * MT_SEC);
    /* commands of the session renew it too */
    uint64_t main_session = t.session;
    t.session = s;
    t.seq = 0;
    t.now += 9 * MT_SEC;
    CHECK_OK(mt_create(&t, 1, "alive", 0644, 1, NULL));
    t.now += 9 * MT_SEC;
    CHECK_OK(mt_create(&t, 1, "still", 0644, 1, NULL));
    /* past the lease: any later command finds it dead */
    t.now += 10 * MT_SEC + 1;
    CHECK_EQ(mt_create(&t, 1, "dead", 0644, 1, NULL), CAIRN_SESSION);
    CHECK_EQ(meta_session_get(t.m, s, &si), CAIRN_SESSION);
    CHECK_EQ(keepalive(&t, s, NULL), CAIRN_SESSION);
    t.session = main_session;
    /* TICK sweeps expired sessions (in id order) and says how many */
    uint64_t a = mt_open_session(&t, 1000), b = mt_open_session(&t, 2000);
    uint64_t c = mt_open_session(&t, 60000);
    t.now += 1500 * 1000000ull;
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 1);
    CHECK_EQ(meta_session_get(t.m, a, &si), CAIRN_SESSION);
    CHECK_OK(meta_session_get(t.m, b, &si));
    /* the same tick again changes nothing: its stamp is in the command */
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 0);
    t.now += MT_SEC;
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 1);
    CHECK_OK(meta_session_get(t.m, c, &si));
    /* close */
    h = mt_hdr_plain(&t, c);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_close(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(meta_session_get(t.m, c, &si), CAIRN_SESSION);
    CHECK_EQ(mt_apply(&t), CAIRN_SESSION);
    /* lease bounds */
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_open(&t.cmd, &h, CAIRN_SESSION_LEASE_MIN_MS - 1));
    CHECK_EQ(mt_apply(&t), CAIRN_EINVAL);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_open(&t.cmd, &h, CAIRN_SESSION_LEASE_MAX_MS + 1));
    CHECK_EQ(mt_apply(&t), CAIRN_EINVAL);
    mt_free(&t);
}

/* Time never goes back inside the state, even if a new leader's clock is
 * behind: a command stamped earlier does not revive anything. */
TEST(meta_session_time_monotonic)
{
    struct mt t;
    mt_init(&t);
    uint64_t s = mt_open_session(&t, 5000);
    t.now += 6 * MT_SEC;
    CHECK_OK(mt_create(&t, 1, "tick", 0644, 1, NULL));
    uint64_t later = t.now;
    t.now -= 5 * MT_SEC; /* a leader with a slower clock */
    CHECK_EQ(keepalive(&t, s, NULL), CAIRN_SESSION);
    CHECK_EQ_U64(meta_now_ns(t.m), later);
    struct meta_attr a;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &a));
    CHECK_EQ_U64(a.ctime_ns, later);
    mt_free(&t);
}

TEST_T(meta_session_limit, 120)
{
    struct mt t;
    mt_init(&t);
    for (uint32_t i = 1; i < CAIRN_SESSIONS_MAX; i++)
        mt_open_session(&t, 60000);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_open(&t.cmd, &h, 60000));
    CHECK_EQ(mt_apply(&t), CAIRN_LIMIT);
    mt_free(&t);
}
