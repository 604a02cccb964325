/* test_metad.c: the pure parts of the metadata daemon: configuration (file,
 * flags overriding it, errors naming the line or flag) and what the daemon
 * writes around the state machine (entry tags, the member address map, the
 * snapshot body), and the transport's HELLO-name parsing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/log.h"
#include "metad/config.h"
#include "metad/record.h"
#include "raftio/transport.h"
#include "test.h"

static const char *CONF = "# a metadata server\n"
                          "id = 2\n"
                          "listen=127.0.0.1:7002   # trailing comment\n"
                          "\n"
                          "  peers = 1=127.0.0.1:7001,2=127.0.0.1:7002,3=[::1]:7003\n"
                          "data = /var/lib/cairn/m2\n"
                          "secret = /etc/cairn/secret\n"
                          "cluster = prod-a\n"
                          "snapshot_every = 5000\n"
                          "tick_ms = 50\r\n"
                          "log_level = warn\n";

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

TEST(config_file_then_flags)
{
    char path[512], err[METAD_ERR_MAX];
    snprintf(path, sizeof path, "%s/meta.conf", test_tmpdir());
    write_file(path, CONF);
    struct metad_config c;
    metad_config_defaults(&c);
    char *argv[] = {"--tick-ms",          "20",           "--config",         path,
                    "--snapshot_every=7", "--join=false", "--election-ticks", "30"};
    CHECK_OK(metad_config_args(&c, 8, argv, err, sizeof err));
    CHECK_OK(metad_config_check(&c, err, sizeof err));
    CHECK_EQ_U64(c.id, 2);
    CHECK_STR_EQ(c.listen, "127.0.0.1:7002");
    CHECK_EQ(c.n_peers, 3);
    CHECK_EQ_U64(c.peers[2].id, 3);
    CHECK_STR_EQ(c.peers[2].addr, "[::1]:7003");
    CHECK_STR_EQ(metad_config_peer_addr(&c, 1), "127.0.0.1:7001");
    CHECK(metad_config_peer_addr(&c, 9) == NULL);
    CHECK_STR_EQ(c.data, "/var/lib/cairn/m2");
    CHECK_EQ(c.log_level, CAIRN_LOG_WARN);
    /* Flags win over the file wherever they appear; defaults stay. */
    CHECK_EQ(c.tick_ms, 20);
    CHECK_EQ_U64(c.snapshot_every, 7);
    CHECK_EQ(c.election_ticks, 30);
    CHECK_EQ(c.heartbeat_ticks, 2);
    CHECK_EQ(c.join, 0);
    /* A named cluster hashes to a stable nonzero id; a number is itself. */
    uint64_t named = c.cluster_id;
    CHECK(named != 0);
    CHECK_OK(metad_config_set(&c, "cluster", "prod-a", err, sizeof err));
    CHECK_EQ_U64(c.cluster_id, named);
    CHECK_OK(metad_config_set(&c, "cluster", "0x10", err, sizeof err));
    CHECK_EQ_U64(c.cluster_id, 16);
}

/* A config error names the file and line; a flag error names the flag. */
TEST(config_errors)
{
    struct {
        const char *text;
        const char *want; /* substring of the message */
    } bad[] = {
        {"id = 1\nbogus = 3\n", "cfg:2: unknown key \"bogus\""},
        {"id = 0\n", "cfg:1: id"},
        {"id = -4\n", "cfg:1: id"},
        {"id = 12x\n", "cfg:1: id"},
        {"listen = nowhere\n", "cfg:1: listen: bad address"},
        {"listen = 1.2.3.4:0\n", "listen: bad address"},
        {"listen = 1.2.3.4:70000\n", "listen: bad address"},
        {"listen = ::1:80\n", "listen: bad address"},
        {"peers = 1=a:1,1=b:2\n", "listed twice"},
        {"peers = 1=a:1,,2=b:2\n", "peers: bad entry"},
        {"peers = x=a:1\n", "peers: bad id"},
        {"peers = 1:a:1\n", "not id=host:port"},
        {"\n\ntick_ms = 0\n", "cfg:3: tick_ms"},
        {"election_ticks = 1001\n", "election_ticks"},
        {"log_level = loud\n", "log_level"},
        {"join = maybe\n", "join"},
        {"just words\n", "cfg:1: expected key = value"},
        {"cluster =\n", "cluster: empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct metad_config c;
        metad_config_defaults(&c);
        char err[METAD_ERR_MAX] = "";
        int rc = metad_config_text(&c, bad[i].text, strlen(bad[i].text), "cfg", err, sizeof err);
        CHECKF(rc == CAIRN_EINVAL, "case %zu accepted", i);
        CHECKF(strstr(err, bad[i].want) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
               bad[i].want);
    }
    struct metad_config c;
    metad_config_defaults(&c);
    char err[METAD_ERR_MAX];
    char *a1[] = {"--id"};
    CHECK_EQ(metad_config_args(&c, 1, a1, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "--id needs a value") != NULL);
    char *a2[] = {"--wat", "1"};
    CHECK_EQ(metad_config_args(&c, 2, a2, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "flag --wat") != NULL);
    char *a3[] = {"positional"};
    CHECK_EQ(metad_config_args(&c, 1, a3, err, sizeof err), CAIRN_EINVAL);
    char *a4[] = {"--config", "/nonexistent/cairn.conf"};
    CHECK_EQ(metad_config_args(&c, 2, a4, err, sizeof err), CAIRN_ENOENT);
    CHECK(strstr(err, "/nonexistent/cairn.conf") != NULL);
}

/* Required keys and the relations between them. */
TEST(config_check_rules)
{
    struct metad_config c;
    char err[METAD_ERR_MAX];
    metad_config_defaults(&c);
    CHECK_OK(metad_config_text(&c, CONF, strlen(CONF), "cfg", err, sizeof err));
    CHECK_OK(metad_config_check(&c, err, sizeof err));
    struct metad_config d = c;
    d.set &= ~(1u << METAD_KEY_SECRET);
    CHECK_EQ(metad_config_check(&d, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "missing required key \"secret\"") != NULL);
    d = c;
    d.heartbeat_ticks = d.election_ticks;
    CHECK_EQ(metad_config_check(&d, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "heartbeat_ticks") != NULL);
    d = c;
    d.id = 9;
    CHECK_EQ(metad_config_check(&d, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "not in peers") != NULL);
    d.join = 1;
    CHECK_OK(metad_config_check(&d, err, sizeof err));
    d.id = 2;
    CHECK_EQ(metad_config_check(&d, err, sizeof err), CAIRN_EINVAL);
    CHECK(strstr(err, "already an initial peer") != NULL);
    d = c;
    CHECK_OK(metad_config_text(&d, "x=1", 0, "empty", err, sizeof err)); /* 0 bytes: nothing */
}

TEST(split_hostport)
{
    char host[64];
    uint16_t port;
    CHECK_OK(metad_split_hostport("127.0.0.1:80", host, sizeof host, &port));
    CHECK_STR_EQ(host, "127.0.0.1");
    CHECK_EQ(port, 80);
    CHECK_OK(metad_split_hostport("[::1]:65535", host, sizeof host, &port));
    CHECK_STR_EQ(host, "::1");
    CHECK_EQ(port, 65535);
    const char *bad[] = {"", ":80", "h:", "h:0", "h:65536", "h:8x", "::1:80", "[]:80", "[::1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(metad_split_hostport(bad[i], host, sizeof host, &port) == CAIRN_EINVAL,
               "\"%s\" accepted", bad[i]);
}

TEST(member_map)
{
    struct metad_members m;
    memset(&m, 0, sizeof m);
    CHECK_OK(metad_members_set(&m, 5, "e:5", 3));
    CHECK_OK(metad_members_set(&m, 1, "a:1", 3));
    CHECK_OK(metad_members_set(&m, 3, "c:3", 3));
    CHECK_OK(metad_members_set(&m, 3, "c:33", 4)); /* replace */
    CHECK_EQ(m.n, 3);
    CHECK_EQ_U64(m.v[0].id, 1); /* kept sorted */
    CHECK_EQ_U64(m.v[2].id, 5);
    CHECK_STR_EQ(metad_members_get(&m, 3), "c:33");
    CHECK(metad_members_get(&m, 4) == NULL);
    metad_members_del(&m, 3);
    metad_members_del(&m, 99);
    CHECK_EQ(m.n, 2);
    CHECK(metad_members_get(&m, 3) == NULL);
    CHECK_EQ(metad_members_set(&m, 0, "a:1", 3), CAIRN_EINVAL);
    CHECK_EQ(metad_members_set(&m, 7, "a b:1", 5), CAIRN_EINVAL);
    CHECK_EQ(metad_members_set(&m, 7, "", 0), CAIRN_EINVAL);
    for (uint64_t id = 100; m.n < METAD_MEMBERS_MAX; id++)
        CHECK_OK(metad_members_set(&m, id, "x:1", 3));
    CHECK_EQ(metad_members_set(&m, 99999, "x:1", 3), CAIRN_LIMIT);
    CHECK_OK(metad_members_set(&m, 100, "y:1", 3)); /* replacing still works when full */
}

TEST(entry_tags)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(metad_entry_cmd(&b, (const uint8_t *)"\x01\x00rest", 6));
    CHECK_EQ(b.len, 7);
    CHECK_EQ(b.data[0], METAD_TAG_CMD);
    CHECK_MEM_EQ(b.data + 1, "\x01\x00rest", 6);
    buf_reset(&b);
    CHECK_OK(metad_entry_member(&b, 4, "h:9"));
    /* tag 2, u64 4, str16 "h:9" */
    const uint8_t want[] = {2, 4, 0, 0, 0, 0, 0, 0, 0, 3, 0, 'h', ':', '9'};
    CHECK_EQ(b.len, sizeof want);
    CHECK_MEM_EQ(b.data, want, sizeof want);
    uint64_t id;
    const uint8_t *addr;
    uint16_t len;
    CHECK_OK(metad_entry_member_decode(b.data, b.len, &id, &addr, &len));
    CHECK_EQ_U64(id, 4);
    CHECK_EQ(len, 3);
    for (size_t k = 0; k < b.len; k++)
        CHECK_EQ(metad_entry_member_decode(b.data, k, &id, &addr, &len), CAIRN_TRUNCATED);
    b.data[0] = METAD_TAG_CMD;
    CHECK_EQ(metad_entry_member_decode(b.data, b.len, &id, &addr, &len), CAIRN_BADMSG);
    b.data[0] = METAD_TAG_MEMBER;
    b.data[1] = 0; /* id 0 */
    CHECK_EQ(metad_entry_member_decode(b.data, b.len, &id, &addr, &len), CAIRN_BADMSG);
    buf_reset(&b);
    CHECK_EQ(metad_entry_member(&b, 4, ""), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);
    buf_free(&b);
}

TEST(snapshot_body)
{
    struct metad_members m, d;
    memset(&m, 0, sizeof m);
    CHECK_OK(metad_members_set(&m, 2, "b:2", 3));
    CHECK_OK(metad_members_set(&m, 1, "a:1", 3));
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(metad_snap_encode_head(&b, &m));
    CHECK_OK(buf_append(&b, "META", 4));
    const uint8_t want[] = {0x43, 0x4d, 0x53, 0x4e, 1, 0, 0, 0,   2,   0,   0,   0,   1,   0,
                            0,    0,    0,    0,    0, 0, 3, 0,   'a', ':', '1', 2,   0,   0,
                            0,    0,    0,    0,    0, 3, 0, 'b', ':', '2', 'M', 'E', 'T', 'A'};
    CHECK_EQ(b.len, sizeof want);
    CHECK_MEM_EQ(b.data, want, sizeof want);
    const uint8_t *meta;
    size_t meta_len;
    CHECK_OK(metad_snap_decode(b.data, b.len, &d, &meta, &meta_len));
    CHECK_EQ(d.n, 2);
    CHECK_STR_EQ(metad_members_get(&d, 2), "b:2");
    CHECK_EQ(meta_len, 4);
    CHECK_MEM_EQ(meta, "META", 4);
    /* Bad magic, another version, members out of order. */
    b.data[0] ^= 1;
    CHECK_EQ(metad_snap_decode(b.data, b.len, &d, &meta, &meta_len), CAIRN_BADMSG);
    b.data[0] ^= 1;
    b.data[4] = 2;
    CHECK_EQ(metad_snap_decode(b.data, b.len, &d, &meta, &meta_len), CAIRN_BADVERSION);
    b.data[4] = 1;
    b.data[12] = 3; /* first id 3 > second id 2 */
    CHECK_EQ(metad_snap_decode(b.data, b.len, &d, &meta, &meta_len), CAIRN_BADMSG);
    b.data[12] = 1;
    for (size_t k = 0; k < 38; k++)
        CHECKF(metad_snap_decode(b.data, k, &d, &meta, &meta_len) == CAIRN_TRUNCATED, "prefix %zu",
               k);
    buf_free(&b);
}

TEST(transport_hello_name)
{
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    CHECK_OK(transport_parse_name("meta-12@127.0.0.1:7001", &id, addr, sizeof addr));
    CHECK_EQ_U64(id, 12);
    CHECK_STR_EQ(addr, "127.0.0.1:7001");
    const char *bad[] = {"meta-@a:1",
                         "meta-0@a:1",
                         "meta-12",
                         "meta-12@",
                         "cairn-admin",
                         "meta-1x@a:1",
                         "meta-99999999999999999999@a:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(transport_parse_name(bad[i], &id, addr, sizeof addr) == CAIRN_EINVAL,
               "\"%s\" accepted", bad[i]);
}
