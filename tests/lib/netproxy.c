/* netproxy.c: the fault-injecting loopback TCP proxy of the nemesis tests
 * (see netproxy.h). One epoll thread; every connection is a pair of
 * sockets (the accepted one, side 0, and the one to the real server,
 * side 1) with a bounded buffer per direction. */
#include "netproxy.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"

/* Bytes buffered per direction of a connection: a full buffer stops the
 * reading side (TCP back-pressure), as a router's queue would. */
#define HALF_BYTES 65536u
/* Connections alive at once (3 + 3 servers, a few clients: tens). */
#define CONNS_MAX 1024u
#define EVENTS_MAX 64
/* want[] of a side no longer in the epoll set. */
#define WANT_GONE UINT32_MAX
#define TAG_EVENTFD (UINT64_MAX)
#define TAG_LISTENER (1ull << 62)

struct half {
    uint8_t buf[HALF_BYTES];
    size_t off, len; /* pending bytes buf[off..off+len) */
    int eof;         /* the reading side sent FIN (or failed) */
    int shut;        /* FIN passed on */
    int lost;        /* bytes of this direction were dropped */
};

struct pconn {
    int fd[2];
    int end[2];       /* endpoint of each side: end[0] the source process */
    int connecting;   /* side 1's connect in progress */
    uint32_t want[2]; /* epoll interest registered per side */
    struct half h[2]; /* h[i]: bytes read from fd[i], to write to fd[1 - i] */
};

struct listener {
    int fd;
    int dst;
    uint16_t port;
    struct sockaddr_in target;
};

struct netproxy {
    pthread_t thread;
    int ep, evfd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu: rules, pids, commands and stats. */
    uint8_t rule[NETPROXY_ENDS_MAX][NETPROXY_ENDS_MAX];
    pid_t pids[NETPROXY_PIDS_MAX];
    int pid_end[NETPROXY_PIDS_MAX];
    uint64_t gen, done_gen;
    int quit;
    struct netproxy_stats st;
    /* The proxy thread's own (listeners are added under mu before use). */
    uint32_t n_listeners;
    struct listener listeners[NETPROXY_LISTENERS_MAX];
    struct pconn *conns[CONNS_MAX];
};

/* --- who connects ---------------------------------------------------------- */

/* The inode of the socket 127.0.0.1:port -> :peer_port in one of the
 * /proc/net/tcp{,6} tables, or 0. */
static unsigned long socket_inode_in(const char *table, uint16_t port, uint16_t peer_port)
{
    FILE *f = fopen(table, "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char local[64], remote[64];
        unsigned long inode;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*d: %63s %63s %*x %*x:%*x %*x:%*x %*x %*u %*u %lu", local, remote,
                   &inode) != 3)
            continue;
        char *lc = strrchr(local, ':'), *rc = strrchr(remote, ':');
        if (!lc || !rc)
            continue;
        unsigned long lp = strtoul(lc + 1, NULL, 16), rp = strtoul(rc + 1, NULL, 16);
        if (lp == port && rp == peer_port)
            found = inode;
    }
    fclose(f);
    return found;
}

static int pid_has_socket(pid_t pid, const char *want)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char link[64];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        found = strcmp(link, want) == 0;
    }
    closedir(d);
    return found;
}

int netproxy_find_owner(uint16_t port, uint16_t peer_port, const pid_t *pids, size_t n)
{
    unsigned long inode = socket_inode_in("/proc/net/tcp", port, peer_port);
    if (!inode)
        inode = socket_inode_in("/proc/net/tcp6", port, peer_port);
    if (!inode)
        return -1;
    char want[48];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0 && pid_has_socket(pids[i], want))
            return (int)i;
    return -1;
}

/* The endpoint of the process on the other end of an accepted socket. */
static int identify(struct netproxy *p, int fd, uint16_t listen_port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &sl) != 0 || sa.sin_family != AF_INET)
        return NETPROXY_CLIENT;
    pid_t pids[NETPROXY_PIDS_MAX];
    int ends[NETPROXY_PIDS_MAX];
    pthread_mutex_lock(&p->mu);
    memcpy(pids, p->pids, sizeof pids);
    memcpy(ends, p->pid_end, sizeof ends);
    pthread_mutex_unlock(&p->mu);
    int i = netproxy_find_owner(ntohs(sa.sin_port), listen_port, pids, NETPROXY_PIDS_MAX);
    return i < 0 ? NETPROXY_CLIENT : ends[i];
}

/* --- connections ----------------------------------------------------------- */

static int blocked(struct netproxy *p, int src, int dst)
{
    pthread_mutex_lock(&p->mu);
    int b = p->rule[src][dst];
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void stat_add(struct netproxy *p, uint64_t *field, uint64_t v)
{
    pthread_mutex_lock(&p->mu);
    *field += v;
    pthread_mutex_unlock(&p->mu);
}

static void conn_close(struct netproxy *p, uint32_t slot)
{
    struct pconn *c = p->conns[slot];
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0)
            close(c->fd[i]); /* also leaves the epoll set */
    free(c);
    p->conns[slot] = NULL;
}

/* Register what side i waits for: input while its buffer has room and it
 * has not ended, output while the other direction has bytes for it. */
static void conn_interest(struct netproxy *p, uint32_t slot, struct pconn *c)
{
    for (int i = 0; i < 2; i++) {
        uint32_t want = 0;
        if (c->want[i] == WANT_GONE)
            continue;
        struct half *in = &c->h[i], *out = &c->h[1 - i];
        if (!in->eof && in->len < HALF_BYTES && !(i == 0 && c->connecting))
            want |= EPOLLIN;
        if (out->len > 0 || (i == 1 && c->connecting))
            want |= EPOLLOUT;
        if (want == c->want[i])
            continue;
        struct epoll_event ev = {.events = want, .data.u64 = ((uint64_t)slot << 1) | (uint64_t)i};
        epoll_ctl(p->ep, EPOLL_CTL_MOD, c->fd[i], &ev);
        c->want[i] = want;
    }
}

/* Move bytes from side i towards side 1 - i: read what fits (or discard it
 * when the direction is blocked), write what is pending. Returns 0, or -1
 * when the connection must close. */
static int pump(struct netproxy *p, struct pconn *c, int i)
{
    struct half *h = &c->h[i];
    if (c->connecting)
        return 0; /* nothing flows before the upstream connection is up */
    int cut = blocked(p, c->end[i], c->end[1 - i]);
    /* Pending bytes to the front: the room to read is then HALF - len,
     * which is what conn_interest registers for. */
    if (h->off > 0) {
        memmove(h->buf, h->buf + h->off, h->len);
        h->off = 0;
    }
    while (!h->eof && h->len < HALF_BYTES) {
        ssize_t n = read(c->fd[i], h->buf + h->len, HALF_BYTES - h->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            h->eof = 1;
            h->lost |= cut; /* a FIN behind a partition does not arrive either */
            break;
        }
        if (cut) {
            h->lost = 1;
            stat_add(p, &p->st.bytes_dropped, (uint64_t)n);
            continue;
        }
        h->len += (size_t)n;
    }
    while (h->len > 0) {
        /* MSG_NOSIGNAL: a peer gone must not SIGPIPE the test process. */
        ssize_t n = send(c->fd[1 - i], h->buf + h->off, h->len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0)
            return -1;
        h->off += (size_t)n;
        h->len -= (size_t)n;
        stat_add(p, &p->st.bytes_passed, (uint64_t)n);
    }
    if (h->eof && h->len == 0 && !h->shut && !h->lost) {
        shutdown(c->fd[1 - i], SHUT_WR);
        h->shut = 1;
    }
    return 0;
}

static void conn_event(struct netproxy *p, uint32_t slot, int side, uint32_t events)
{
    struct pconn *c = p->conns[slot];
    if (!c)
        return;
    if (side == 1 && c->connecting) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &el);
        if (err == EINPROGRESS || (err == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))))
            return;
        if (err != 0 || (events & EPOLLERR)) {
            stat_add(p, &p->st.refused, 1);
            conn_close(p, slot);
            return;
        }
        c->connecting = 0;
    }
    if ((events & (EPOLLHUP | EPOLLERR)) && c->want[side] != WANT_GONE) {
        /* The process on this side is gone. Behind a partition nobody may
         * learn it before the heal: stop watching; otherwise close. */
        if (!c->h[side].lost && !c->h[1 - side].lost) {
            conn_close(p, slot);
            return;
        }
        c->h[side].eof = 1;
        epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd[side], NULL);
        c->want[side] = WANT_GONE;
    }
    if (pump(p, c, 0) != 0 || pump(p, c, 1) != 0) {
        conn_close(p, slot);
        return;
    }
    /* Both directions ended and flushed: nothing more can flow. */
    if (c->h[0].eof && c->h[1].eof && c->h[0].len == 0 && c->h[1].len == 0 && !c->h[0].lost &&
        !c->h[1].lost) {
        conn_close(p, slot);
        return;
    }
    conn_interest(p, slot, c);
}

static int free_slot(struct netproxy *p)
{
    for (uint32_t i = 0; i < CONNS_MAX; i++)
        if (!p->conns[i])
            return (int)i;
    return -1;
}

/* A new connection on listener l: find its source, connect upstream. */
static void on_accept(struct netproxy *p, struct listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int slot = free_slot(p);
        struct pconn *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
        int up = c ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
        if (up < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd[0] = fd;
        c->fd[1] = up;
        c->end[0] = identify(p, fd, l->port);
        c->end[1] = l->dst;
        c->connecting = 1;
        stat_add(p, &p->st.accepted, 1);
        stat_add(p, &p->st.by_src[c->end[0]], 1);
        int rc = connect(up, (struct sockaddr *)&l->target, sizeof l->target);
        if (rc != 0 && errno != EINPROGRESS) {
            stat_add(p, &p->st.refused, 1);
            close(fd);
            close(up);
            free(c);
            continue;
        }
        p->conns[slot] = c;
        for (int i = 0; i < 2; i++) {
            struct epoll_event ev = {.events = 0, .data.u64 = ((uint64_t)slot << 1) | (uint64_t)i};
            epoll_ctl(p->ep, EPOLL_CTL_ADD, c->fd[i], &ev);
        }
        conn_interest(p, (uint32_t)slot, c);
    }
}

/* After a rule change: close the connections that lost bytes in a
 * direction that now passes (their streams have holes). */
static void apply_rules(struct netproxy *p)
{
    for (uint32_t s = 0; s < CONNS_MAX; s++) {
        struct pconn *c = p->conns[s];
        if (!c)
            continue;
        int broken = 0;
        for (int i = 0; i < 2; i++)
            broken |= c->h[i].lost && !blocked(p, c->end[i], c->end[1 - i]);
        if (broken) {
            stat_add(p, &p->st.cut, 1);
            conn_close(p, s);
        }
    }
}

static void *proxy_main(void *arg)
{
    struct netproxy *p = arg;
    struct epoll_event evs[EVENTS_MAX];
    for (;;) {
        int n = epoll_wait(p->ep, evs, EVENTS_MAX, 200);
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == TAG_EVENTFD) {
                uint64_t v;
                if (read(p->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
                    continue;
            } else if (tag & TAG_LISTENER) {
                on_accept(p, &p->listeners[tag & ~TAG_LISTENER]);
            } else {
                conn_event(p, (uint32_t)(tag >> 1), (int)(tag & 1), evs[k].events);
            }
        }
        pthread_mutex_lock(&p->mu);
        uint64_t gen = p->gen;
        int quit = p->quit;
        pthread_mutex_unlock(&p->mu);
        if (!quit)
            apply_rules(p);
        pthread_mutex_lock(&p->mu);
        p->done_gen = gen;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (quit)
            return NULL;
    }
}

/* Wake the proxy thread and wait until it has seen every change so far. */
static void sync_thread(struct netproxy *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t want = ++p->gen;
    pthread_mutex_unlock(&p->mu);
    uint64_t one = 1;
    ssize_t w = write(p->evfd, &one, sizeof one);
    (void)w;
    pthread_mutex_lock(&p->mu);
    while (p->done_gen < want)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* --- public ---------------------------------------------------------------- */

int netproxy_start(struct netproxy **out)
{
    struct netproxy *p = calloc(1, sizeof *p);
    if (!p)
        return CAIRN_ENOMEM;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->ep < 0 || p->evfd < 0) {
        int rc = cairn_err_from_errno(errno);
        if (p->ep >= 0)
            close(p->ep);
        if (p->evfd >= 0)
            close(p->evfd);
        free(p);
        return rc;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < NETPROXY_PIDS_MAX; i++)
        p->pid_end[i] = NETPROXY_CLIENT;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_EVENTFD};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->evfd, &ev);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        close(p->ep);
        close(p->evfd);
        free(p);
        return CAIRN_ENOMEM;
    }
    *out = p;
    return 0;
}

void netproxy_stop(struct netproxy *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_mutex_unlock(&p->mu);
    uint64_t one = 1;
    ssize_t w = write(p->evfd, &one, sizeof one);
    (void)w;
    pthread_join(p->thread, NULL);
    for (uint32_t s = 0; s < CONNS_MAX; s++)
        if (p->conns[s])
            conn_close(p, s);
    for (uint32_t i = 0; i < p->n_listeners; i++)
        close(p->listeners[i].fd);
    close(p->ep);
    close(p->evfd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static int parse_target(const char *target, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof host)
        return CAIRN_EINVAL;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    unsigned long port = strtoul(colon + 1, NULL, 10);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return CAIRN_EINVAL;
    return 0;
}

int netproxy_listen(struct netproxy *p, int dst, const char *target, char *addr_out,
                    size_t addr_len)
{
    CAIRN_ASSERT(dst >= 0 && dst < NETPROXY_ENDS_MAX);
    if (p->n_listeners == NETPROXY_LISTENERS_MAX)
        return CAIRN_LIMIT;
    struct listener l = {.dst = dst};
    int rc = parse_target(target, &l.target);
    if (rc)
        return rc;
    l.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l.fd < 0)
        return cairn_err_from_errno(errno);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(l.fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l.fd, 128) != 0 ||
        getsockname(l.fd, (struct sockaddr *)&sa, &sl) != 0) {
        rc = cairn_err_from_errno(errno);
        close(l.fd);
        return rc;
    }
    l.port = ntohs(sa.sin_port);
    snprintf(addr_out, addr_len, "127.0.0.1:%u", (unsigned)l.port);
    /* The thread reads listeners[i] only after the epoll registration. */
    pthread_mutex_lock(&p->mu);
    uint32_t i = p->n_listeners++;
    p->listeners[i] = l;
    pthread_mutex_unlock(&p->mu);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTENER | i};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, l.fd, &ev);
    return 0;
}

void netproxy_set_pid(struct netproxy *p, pid_t pid, int end)
{
    pthread_mutex_lock(&p->mu);
    int free_i = -1, done = 0;
    for (int i = 0; i < NETPROXY_PIDS_MAX && !done; i++) {
        if (p->pids[i] == pid) {
            if (end < 0)
                p->pids[i] = 0;
            else
                p->pid_end[i] = end;
            done = 1;
        } else if (p->pids[i] == 0 && free_i < 0) {
            free_i = i;
        }
    }
    if (!done && end >= 0) {
        CAIRN_ASSERTF(free_i >= 0, "netproxy: more than %d pids", NETPROXY_PIDS_MAX);
        p->pids[free_i] = pid;
        p->pid_end[free_i] = end;
    }
    pthread_mutex_unlock(&p->mu);
}

void netproxy_block(struct netproxy *p, int src, int dst, int on)
{
    CAIRN_ASSERT(src >= 0 && src < NETPROXY_ENDS_MAX && dst >= 0 && dst < NETPROXY_ENDS_MAX);
    pthread_mutex_lock(&p->mu);
    p->rule[src][dst] = (uint8_t)(on != 0);
    pthread_mutex_unlock(&p->mu);
    sync_thread(p);
}

void netproxy_split(struct netproxy *p, uint32_t a, uint32_t b)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < NETPROXY_ENDS_MAX; i++)
        for (int j = 0; j < NETPROXY_ENDS_MAX; j++)
            if ((a >> i & 1u) && (b >> j & 1u))
                p->rule[i][j] = p->rule[j][i] = 1;
    pthread_mutex_unlock(&p->mu);
    sync_thread(p);
}

void netproxy_heal(struct netproxy *p)
{
    pthread_mutex_lock(&p->mu);
    memset(p->rule, 0, sizeof p->rule);
    pthread_mutex_unlock(&p->mu);
    sync_thread(p);
}

int netproxy_blocked_any(struct netproxy *p)
{
    pthread_mutex_lock(&p->mu);
    int any = 0;
    for (int i = 0; i < NETPROXY_ENDS_MAX; i++)
        for (int j = 0; j < NETPROXY_ENDS_MAX; j++)
            any |= p->rule[i][j];
    pthread_mutex_unlock(&p->mu);
    return any;
}

void netproxy_stats(struct netproxy *p, struct netproxy_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}
