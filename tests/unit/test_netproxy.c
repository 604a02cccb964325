/* test_netproxy.c: the nemesis's loopback proxy (tests/lib/netproxy.h):
 * bytes pass both ways, a blocked direction black-holes bytes, a heal cuts
 * the connections that lost bytes and new ones flow, and the source
 * process of a connection is identified by pid. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "netproxy.h"
#include "test.h"

/* An echo server on a kernel-picked loopback port: one connection at a
 * time, counting the bytes it received. */
struct echo {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_ulong received;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        int c = accept(e->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0) {
            atomic_fetch_add(&e->received, (unsigned long)n);
            if (send(c, buf, (size_t)n, MSG_NOSIGNAL) != n)
                break;
        }
        close(c);
    }
}

static void echo_start(struct echo *e)
{
    memset(e, 0, sizeof *e);
    e->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(e->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK(bind(e->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(e->fd, 16) == 0);
    CHECK(getsockname(e->fd, (struct sockaddr *)&sa, &sl) == 0);
    e->port = ntohs(sa.sin_port);
    CHECK(pthread_create(&e->thread, NULL, echo_main, e) == 0);
}

static void echo_stop(struct echo *e)
{
    shutdown(e->fd, SHUT_RDWR); /* wakes the blocked accept */
    pthread_join(e->thread, NULL);
    close(e->fd);
}

static int dial(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    return fd;
}

/* Read up to len bytes within ms: the count read, 0 at EOF, -1 on a reset,
 * -2 when nothing came in time. */
static ssize_t read_within(int fd, char *buf, size_t len, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, ms) <= 0)
        return -2;
    ssize_t n = read(fd, buf, len);
    return n < 0 ? -1 : n;
}

static void send_all(int fd, const char *s)
{
    CHECK_EQ(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void expect_echo(int fd, const char *s)
{
    send_all(fd, s);
    char buf[64];
    size_t got = 0;
    while (got < strlen(s)) {
        ssize_t n = read_within(fd, buf + got, sizeof buf - got, 5000);
        CHECKF(n > 0, "echo of \"%s\": read %zd after %zu bytes", s, n, got);
        got += (size_t)n;
    }
    CHECK_MEM_EQ(buf, s, strlen(s));
}

/* Wait (bounded) until the echo server has received `want` bytes. */
static void wait_received(struct echo *e, unsigned long want)
{
    for (int i = 0; i < 500 && atomic_load(&e->received) < want; i++)
        usleep(10000);
    CHECK_EQ(atomic_load(&e->received), want);
}

TEST_T(netproxy_passes_both_ways, 20)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 0, target, addr, sizeof addr));
    int fd = dial(addr);
    expect_echo(fd, "hello");
    expect_echo(fd, "again");
    close(fd);
    struct netproxy_stats st;
    /* The proxy counts a write after making it: the echo may be read first. */
    for (int i = 0; i < 500; i++) {
        netproxy_stats(p, &st);
        if (st.bytes_passed >= 20)
            break;
        usleep(10000);
    }
    CHECK_EQ(st.accepted, 1);
    CHECK_EQ(st.by_src[NETPROXY_CLIENT], 1);
    CHECK(st.bytes_passed >= 20);
    CHECK_EQ(st.bytes_dropped, 0);
    netproxy_stop(p);
    echo_stop(&e);
}

/* Client -> server blocked: the server hears nothing, the client waits;
 * the heal cuts that connection and a new one echoes. */
TEST_T(netproxy_block_one_way_and_heal, 30)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 0, target, addr, sizeof addr));
    int fd = dial(addr);
    expect_echo(fd, "before");
    netproxy_block(p, NETPROXY_CLIENT, 0, 1);
    CHECK(netproxy_blocked_any(p));
    send_all(fd, "lost");
    char buf[64];
    CHECK_EQ(read_within(fd, buf, sizeof buf, 300), -2);
    CHECK_EQ(atomic_load(&e.received), 6);
    /* The other way passes: blocking server -> client instead shows the
     * server receiving and the client hearing nothing. */
    netproxy_heal(p);
    ssize_t n = read_within(fd, buf, sizeof buf, 5000);
    CHECKF(n == 0 || n == -1, "a connection that lost bytes is closed at the heal: %zd", n);
    close(fd);
    fd = dial(addr);
    netproxy_block(p, 0, NETPROXY_CLIENT, 1);
    send_all(fd, "oneway");
    wait_received(&e, 12);
    CHECK_EQ(read_within(fd, buf, sizeof buf, 300), -2);
    netproxy_block(p, 0, NETPROXY_CLIENT, 0);
    n = read_within(fd, buf, sizeof buf, 5000);
    CHECKF(n == 0 || n == -1, "unblocking the lossy direction closes the connection: %zd", n);
    close(fd);
    fd = dial(addr);
    expect_echo(fd, "after");
    close(fd);
    struct netproxy_stats st;
    netproxy_stats(p, &st);
    CHECK_EQ(st.cut, 2);
    CHECK(st.bytes_dropped >= 10);
    netproxy_stop(p);
    echo_stop(&e);
}

/* A connection that never lost bytes survives a heal. */
TEST_T(netproxy_heal_keeps_clean_connections, 20)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 3, target, addr, sizeof addr));
    int fd = dial(addr);
    netproxy_split(p, 1u << 1, 1u << 3); /* not this client's path */
    expect_echo(fd, "clean");
    netproxy_heal(p);
    expect_echo(fd, "still");
    close(fd);
    netproxy_stop(p);
    echo_stop(&e);
}

/* A forked child that connects is identified by its pid: its connection
 * counts for its endpoint, and a rule on that endpoint drops its bytes
 * while the parent's (a "client") pass. */
TEST_T(netproxy_identifies_forked_child, 30)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 0, target, addr, sizeof addr));
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        int fd = dial(addr);
        const char *s = "child";
        if (write(fd, s, 5) != 5)
            _exit(3);
        char buf[8];
        /* Blocked: no echo comes back; exit 0 when none did. */
        _exit(read_within(fd, buf, sizeof buf, 500) == -2 ? 0 : 4);
    }
    netproxy_set_pid(p, child, 2);
    netproxy_block(p, 2, 0, 1);
    CHECK_EQ(write(go[1], "g", 1), 1);
    int st = 0;
    CHECK_EQ(waitpid(child, &st, 0), child);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    CHECK_EQ(atomic_load(&e.received), 0);
    /* The echo server serves one connection at a time, and the child's
     * hangs behind the rule (its FIN was dropped too): clearing the rule
     * cuts it. With the rule back, the parent's bytes still pass. */
    netproxy_block(p, 2, 0, 0);
    netproxy_block(p, 2, 0, 1);
    int fd = dial(addr);
    expect_echo(fd, "parent");
    close(fd);
    struct netproxy_stats ps;
    netproxy_stats(p, &ps);
    CHECK_EQ(ps.by_src[2], 1);
    CHECK_EQ(ps.by_src[NETPROXY_CLIENT], 1);
    CHECK_EQ(ps.bytes_dropped, 5);
    CHECK_EQ(ps.cut, 1);
    close(go[0]);
    close(go[1]);
    netproxy_stop(p);
    echo_stop(&e);
}

/* netproxy_find_owner on a socket of this very process. */
TEST_T(netproxy_find_owner_self, 10)
{
    struct echo e;
    echo_start(&e);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)e.port);
    int fd = dial(addr);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    pid_t pids[] = {1, getpid()};
    CHECK_EQ(netproxy_find_owner(ntohs(sa.sin_port), e.port, pids, 2), 1);
    CHECK_EQ(netproxy_find_owner(ntohs(sa.sin_port), e.port, pids, 1), -1);
    close(fd);
    echo_stop(&e);
}

/* Megabytes through the proxy in both directions at once (frames far
 * larger than the proxy's buffers): every byte arrives, in order. */
TEST_T(netproxy_large_transfer, 30)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 0, target, addr, sizeof addr));
    int fd = dial(addr);
    const size_t total = 8u << 20;
    static uint8_t out[8u << 20], in[8u << 20];
    prng_fill(test_rng(), out, total);
    size_t sent = 0, got = 0;
    while (got < total) {
        struct pollfd pf = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        CHECK(poll(&pf, 1, 5000) > 0);
        if ((pf.revents & POLLOUT) && sent < total) {
            ssize_t n = send(fd, out + sent, CAIRN_MIN(total - sent, 100000u), MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        if (pf.revents & POLLIN) {
            ssize_t n = recv(fd, in + got, total - got, MSG_DONTWAIT);
            CHECK(n > 0 || (n < 0 && errno == EAGAIN));
            if (n > 0)
                got += (size_t)n;
        }
    }
    CHECK_MEM_EQ(in, out, total);
    close(fd);
    netproxy_stop(p);
    echo_stop(&e);
}

/* A client that goes away while the server still answers: the proxy's
 * writes to its closed socket fail with EPIPE and must not kill the test
 * process with SIGPIPE. */
TEST_T(netproxy_peer_gone_no_sigpipe, 30)
{
    struct echo e;
    echo_start(&e);
    struct netproxy *p;
    CHECK_OK(netproxy_start(&p));
    char target[32], addr[32];
    snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)e.port);
    CHECK_OK(netproxy_listen(p, 0, target, addr, sizeof addr));
    static uint8_t junk[1u << 20];
    for (int round = 0; round < 12; round++) {
        int fd = dial(addr);
        size_t sent = 0;
        while (sent < sizeof junk) {
            ssize_t n = send(fd, junk + sent, sizeof junk - sent, MSG_NOSIGNAL);
            CHECK(n > 0);
            sent += (size_t)n;
        }
        close(fd); /* unread echo bytes: the kernel answers with a reset */
    }
    /* The echoes race towards the closed clients; let them arrive. */
    usleep(500000);
    int fd = dial(addr);
    expect_echo(fd, "alive");
    close(fd);
    netproxy_stop(p);
    echo_stop(&e);
}
