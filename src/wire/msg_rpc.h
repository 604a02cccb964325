/*
 * msg_rpc.h: encoders and decoders of the connection-layer messages of
 * wire.h: ERROR, HELLO, HELLO_REPLY, AUTH, AUTH_REPLY, ECHO(_REPLY) and
 * PING(_REPLY). Only payloads are handled here; frame.h wraps them.
 *
 * Encoders append one payload to a cairn_buf and return 0 or a negative
 * cairn_err; on failure the buffer is left exactly as it was (so a caller may
 * encode straight into a connection's output queue). Decoders are strict:
 * every length is checked against the bytes present (CAIRN_TRUNCATED) and
 * against the limits of wire.h (CAIRN_BADMSG), and trailing bytes are refused
 * (CAIRN_BADMSG). Decoded byte strings point into the input and live as long
 * as it does; fixed-size fields (nonces, proofs) are copied into the struct.
 * Pure functions, no global state, any thread.
 */
#ifndef CAIRN_WIRE_MSG_RPC_H
#define CAIRN_WIRE_MSG_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "wire/codec.h"
#include "wire/wire.h"

/* Largest ECHO data: the u32 length prefix and the data fill one frame. */
#define WIRE_ECHO_DATA_MAX (CAIRN_FRAME_PAYLOAD_MAX - 4u)

/* ERROR: i32 code (< 0), str16 message (<= WIRE_ERROR_MSG_MAX). */
struct wire_error {
    int32_t code;
    const uint8_t *msg; /* not NUL-terminated; NULL when msg_len is 0 */
    uint16_t msg_len;
};

/* HELLO: u32 proto, raw[32] client nonce, str16 name (<= 64 bytes).
 * The decoder accepts any proto value: the server judges it. */
struct wire_hello {
    uint32_t proto;
    uint8_t client_nonce[WIRE_NONCE_SIZE];
    const uint8_t *name;
    uint16_t name_len;
};

/* HELLO_REPLY: raw[32] server nonce, raw[32] server proof. */
struct wire_hello_reply {
    uint8_t server_nonce[WIRE_NONCE_SIZE];
    uint8_t server_proof[WIRE_MAC_SIZE];
};

/* AUTH: raw[32] client proof. */
struct wire_auth {
    uint8_t client_proof[WIRE_MAC_SIZE];
};

/* CAIRN_EINVAL if code >= 0, CAIRN_TOOBIG if msg_len > WIRE_ERROR_MSG_MAX. */
int wire_error_encode(struct cairn_buf *out, int32_t code, const void *msg, size_t msg_len);
int wire_error_decode(const uint8_t *p, size_t n, struct wire_error *m);

/* CAIRN_TOOBIG if the name is longer than WIRE_CLIENT_NAME_MAX. */
int wire_hello_encode(struct cairn_buf *out, const struct wire_hello *m);
int wire_hello_decode(const uint8_t *p, size_t n, struct wire_hello *m);

int wire_hello_reply_encode(struct cairn_buf *out, const struct wire_hello_reply *m);
int wire_hello_reply_decode(const uint8_t *p, size_t n, struct wire_hello_reply *m);

int wire_auth_encode(struct cairn_buf *out, const struct wire_auth *m);
int wire_auth_decode(const uint8_t *p, size_t n, struct wire_auth *m);

/* ECHO and ECHO_REPLY share one layout: bytes data (<= WIRE_ECHO_DATA_MAX).
 * CAIRN_TOOBIG from the encoder above the limit. */
int wire_echo_encode(struct cairn_buf *out, const void *data, size_t len);
int wire_echo_decode(const uint8_t *p, size_t n, struct wire_bytes *data);

/* AUTH_REPLY, PING and PING_REPLY have empty payloads: nothing to encode;
 * the decoder refuses any byte (CAIRN_BADMSG). */
int wire_empty_decode(const uint8_t *p, size_t n);

#endif
