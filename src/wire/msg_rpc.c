/* msg_rpc.c: payloads of the connection-layer messages (layouts in wire.h). */
#include "wire/msg_rpc.h"

#include <string.h>

#include "cairn_errors.h"

/* Close an encoding: on a sticky error, put the buffer back as it was. */
static int enc_finish(struct wire_enc *e, size_t start)
{
    if (e->err)
        e->b->len = start;
    return e->err;
}

int wire_error_encode(struct cairn_buf *out, int32_t code, const void *msg, size_t msg_len)
{
    if (code >= 0)
        return CAIRN_EINVAL;
    if (msg_len > WIRE_ERROR_MSG_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, (uint32_t)code);
    wire_put_str16(&e, msg, msg_len);
    return enc_finish(&e, start);
}

int wire_error_decode(const uint8_t *p, size_t n, struct wire_error *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->code = (int32_t)wire_get_u32(&d);
    struct wire_bytes s = wire_get_str16(&d, WIRE_ERROR_MSG_MAX);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    /* A success code in an error reply would let a caller mistake an error
     * for a result: refuse it. */
    if (m->code >= 0)
        return CAIRN_BADMSG;
    m->msg = s.len ? s.p : NULL;
    m->msg_len = (uint16_t)s.len;
    return 0;
}

int wire_hello_encode(struct cairn_buf *out, const struct wire_hello *m)
{
    if (m->name_len > WIRE_CLIENT_NAME_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->proto);
    wire_put_raw(&e, m->client_nonce, WIRE_NONCE_SIZE);
    wire_put_str16(&e, m->name, m->name_len);
    return enc_finish(&e, start);
}

int wire_hello_decode(const uint8_t *p, size_t n, struct wire_hello *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->proto = wire_get_u32(&d);
    const uint8_t *nonce = wire_get_raw(&d, WIRE_NONCE_SIZE);
    struct wire_bytes name = wire_get_str16(&d, WIRE_CLIENT_NAME_MAX);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    memcpy(m->client_nonce, nonce, WIRE_NONCE_SIZE);
    m->name = name.len ? name.p : NULL;
    m->name_len = (uint16_t)name.len;
    return 0;
}

int wire_hello_reply_encode(struct cairn_buf *out, const struct wire_hello_reply *m)
{
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_raw(&e, m->server_nonce, WIRE_NONCE_SIZE);
    wire_put_raw(&e, m->server_proof, WIRE_MAC_SIZE);
    return enc_finish(&e, start);
}

int wire_hello_reply_decode(const uint8_t *p, size_t n, struct wire_hello_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    const uint8_t *nonce = wire_get_raw(&d, WIRE_NONCE_SIZE);
    const uint8_t *proof = wire_get_raw(&d, WIRE_MAC_SIZE);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    memcpy(m->server_nonce, nonce, WIRE_NONCE_SIZE);
    memcpy(m->server_proof, proof, WIRE_MAC_SIZE);
    return 0;
}

int wire_auth_encode(struct cairn_buf *out, const struct wire_auth *m)
{
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_raw(&e, m->client_proof, WIRE_MAC_SIZE);
    return enc_finish(&e, start);
}

int wire_auth_decode(const uint8_t *p, size_t n, struct wire_auth *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    const uint8_t *proof = wire_get_raw(&d, WIRE_MAC_SIZE);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    memcpy(m->client_proof, proof, WIRE_MAC_SIZE);
    return 0;
}

int wire_echo_encode(struct cairn_buf *out, const void *data, size_t len)
{
    if (len > WIRE_ECHO_DATA_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_bytes(&e, data, len);
    return enc_finish(&e, start);
}

int wire_echo_decode(const uint8_t *p, size_t n, struct wire_bytes *data)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    *data = wire_get_bytes(&d, WIRE_ECHO_DATA_MAX);
    int rc = wire_dec_finish(&d);
    if (rc) {
        data->p = NULL;
        data->len = 0;
    }
    return rc;
}

int wire_empty_decode(const uint8_t *p, size_t n)
{
    (void)p;
    return n == 0 ? 0 : CAIRN_BADMSG;
}
