/* secret.c: the cluster secret, handshake proofs, nonces, address parsing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "rpc/rpc.h"

int rpc_secret_set(struct rpc_secret *s, const void *key, size_t len)
{
    if (len < CAIRN_SECRET_MIN)
        return CAIRN_EINVAL;
    if (len > CAIRN_SECRET_MAX)
        return CAIRN_TOOBIG;
    memcpy(s->key, key, len);
    s->len = len;
    return 0;
}

void rpc_secret_wipe(struct rpc_secret *s)
{
    OPENSSL_cleanse(s->key, sizeof s->key);
    s->len = 0;
}

/* Read at most cap bytes of fd into p; the count, or a negative cairn code. */
static ssize_t read_upto(int fd, uint8_t *p, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, p + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cairn_err_from_errno(errno);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* The mode check lives apart so the reason of a refusal is one log line. */
static int secret_check_mode(const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode)) {
        LOG_ERROR("rpc", "secret file %s is not a regular file", path);
        return CAIRN_EINVAL;
    }
    if (st->st_mode & (S_IROTH | S_IWOTH)) {
        LOG_ERROR("rpc", "secret file %s is accessible to others (mode %03o): chmod 600 it", path,
                  (unsigned)(st->st_mode & 0777));
        return CAIRN_EACCES;
    }
    if (st->st_mode & (S_IRGRP | S_IWGRP))
        LOG_WARN("rpc", "secret file %s is accessible to its group (mode %03o)", path,
                 (unsigned)(st->st_mode & 0777));
    return 0;
}

int rpc_secret_load(const char *path, struct rpc_secret *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = cairn_err_from_errno(errno);
        LOG_ERROR("rpc", "cannot open secret file %s: %s", path, cairn_strerror(rc));
        return rc;
    }
    struct stat st;
    int rc = fstat(fd, &st) ? cairn_err_from_errno(errno) : secret_check_mode(path, &st);
    /* Two bytes beyond the limit: room for "\r\n", and one more shows that
     * the file is too long. */
    uint8_t tmp[CAIRN_SECRET_MAX + 3];
    ssize_t n = rc ? rc : read_upto(fd, tmp, sizeof tmp);
    close(fd);
    if (n < 0)
        return (int)n;
    size_t len = (size_t)n;
    if (len > 0 && tmp[len - 1] == '\n') {
        len--;
        if (len > 0 && tmp[len - 1] == '\r')
            len--;
    }
    rc = rpc_secret_set(out, tmp, len);
    OPENSSL_cleanse(tmp, sizeof tmp);
    if (rc)
        LOG_ERROR("rpc", "secret file %s: the secret must be %u..%u bytes", path, CAIRN_SECRET_MIN,
                  CAIRN_SECRET_MAX);
    return rc;
}

int rpc_proof(const struct rpc_secret *s, const char *label, const uint8_t *first,
              const uint8_t *second, uint8_t out[WIRE_MAC_SIZE])
{
    CAIRN_ASSERT(s->len >= CAIRN_SECRET_MIN && s->len <= CAIRN_SECRET_MAX);
    uint8_t msg[32 + WIRE_NONCE_SIZE * 2];
    size_t ll = strlen(label);
    CAIRN_ASSERT(ll <= 32);
    memcpy(msg, label, ll);
    memcpy(msg + ll, first, WIRE_NONCE_SIZE);
    memcpy(msg + ll + WIRE_NONCE_SIZE, second, WIRE_NONCE_SIZE);
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), s->key, (int)s->len, msg, ll + 2 * WIRE_NONCE_SIZE, out, &mac_len) ||
        mac_len != WIRE_MAC_SIZE)
        return CAIRN_EIO;
    return 0;
}

int rpc_random(void *p, size_t n)
{
    uint8_t *q = p;
    while (n > 0) {
        ssize_t got = getrandom(q, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return cairn_err_from_errno(errno);
        q += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Split "host:port" / "[v6]:port"; host is copied into host (NUL ended). */
static int addr_split(const char *s, char *host, size_t host_cap, unsigned long *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return CAIRN_EINVAL;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        /* An IPv6 host must be bracketed: "::1:5" is ambiguous. */
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return CAIRN_EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= host_cap || colon[1] == '\0')
        return CAIRN_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    *port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || errno || *port > 65535 || colon[1] == '-' || colon[1] == '+')
        return CAIRN_EINVAL;
    return 0;
}

int rpc_addr_parse(const char *hostport, struct sockaddr_storage *out)
{
    char host[64];
    unsigned long port;
    if (!hostport || addr_split(hostport, host, sizeof host, &port))
        return CAIRN_EINVAL;
    memset(out, 0, sizeof *out);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return CAIRN_EINVAL;
}

void rpc_limits_fill(struct rpc_limits *l)
{
    if (!l->conn_max)
        l->conn_max = CAIRN_RPC_CONN_MAX;
    if (!l->inflight_max)
        l->inflight_max = CAIRN_RPC_INFLIGHT_MAX;
    if (!l->auth_timeout_ms)
        l->auth_timeout_ms = CAIRN_RPC_AUTH_TIMEOUT_MS;
    if (!l->frame_timeout_ms)
        l->frame_timeout_ms = CAIRN_RPC_FRAME_TIMEOUT_MS;
    if (!l->write_queue_max)
        l->write_queue_max = CAIRN_RPC_WRITE_QUEUE_MAX;
    if (!l->backoff_min_ms)
        l->backoff_min_ms = CAIRN_RPC_BACKOFF_MIN_MS;
    if (!l->backoff_max_ms)
        l->backoff_max_ms = CAIRN_RPC_BACKOFF_MAX_MS;
    if (l->backoff_max_ms < l->backoff_min_ms)
        l->backoff_max_ms = l->backoff_min_ms;
}
