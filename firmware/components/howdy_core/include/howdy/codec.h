/*
 * One API connection's wire codec, server side: the plaintext framing or the
 * Noise handshake + transport of the ESPHome native API.
 *
 * The codec is a byte-stream state machine: feed it whatever the socket
 * returned (any split, several frames at once) with howdy_codec_receive; it
 * calls io->on_message once per complete, authenticated message and
 * io->write for everything the peer must receive (server hello, handshake
 * answer, error frames). Storage is fixed inside howdy_codec_t; nothing is
 * allocated and nothing is sized by the peer.
 *
 * Threading: one codec belongs to one connection task. on_message may call
 * howdy_codec_send and howdy_codec_close on the same codec (tx and rx buffers
 * are distinct); it must not call howdy_codec_receive or howdy_codec_reset.
 */
#ifndef HOWDY_CODEC_H
#define HOWDY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "howdy/frame_plain.h"
#include "howdy/noise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest protobuf message (either direction). A peer announcing more is a
 * protocol error and closes the connection. Override at build time if a
 * profile needs more (costs 2x per connection). */
#ifndef HOWDY_CODEC_MAX_PAYLOAD
#define HOWDY_CODEC_MAX_PAYLOAD 4096u
#endif

#define HOWDY_CODEC_MAX_NODE_NAME 64u /* bytes, without the NUL */
/* The server hello carries the MAC as 12 lowercase hex digits, the form
 * aioesphomeapi's expected_mac is compared with ("00aa22334455"). */
#define HOWDY_CODEC_MAX_MAC 12u
#define HOWDY_CODEC_ERROR_LEN 96u

/* Noise frame: indicator 0x01, 16-bit big-endian length, then payload. */
#define HOWDY_NOISE_INDICATOR 0x01u
#define HOWDY_NOISE_FRAME_HEADER_LEN 3u
/* Noise transport payload: type(2) + len(2) + data, encrypted, + tag. */
#define HOWDY_CODEC_NOISE_MSG_OVERHEAD (4u + HOWDY_NOISE_TAG_LEN)
#define HOWDY_CODEC_MAX_FRAME_PAYLOAD (HOWDY_CODEC_MAX_PAYLOAD + HOWDY_CODEC_NOISE_MSG_OVERHEAD)
#define HOWDY_CODEC_TX_CAP (HOWDY_NOISE_FRAME_HEADER_LEN + HOWDY_CODEC_MAX_FRAME_PAYLOAD)

/* Texts a failed handshake sends (after the 0x01 error byte). aioesphomeapi
 * maps exactly "Handshake MAC failure" to InvalidEncryptionKeyAPIError. */
#define HOWDY_CODEC_ERR_TEXT_MAC "Handshake MAC failure"
#define HOWDY_CODEC_ERR_TEXT_HANDSHAKE "Handshake error"

typedef enum { HOWDY_CODEC_PLAINTEXT, HOWDY_CODEC_NOISE } howdy_codec_mode_t;

/* Fills buf with len cryptographically random bytes. */
typedef void (*howdy_random_fn)(void *ctx, uint8_t *buf, size_t len);

typedef struct {
  howdy_codec_mode_t mode;
  const uint8_t *psk;    /* 32 bytes, mode NOISE only (copied into the codec) */
  const char *node_name; /* sent in the server hello (copied, truncated to MAX_NODE_NAME) */
  /* "aa:bb:cc:dd:ee:ff", "aa-bb-..." or "aabbccddeeff"; separators are
   * dropped and letters lowered before it goes into the server hello. */
  const char *mac;
  howdy_random_fn random; /* ephemeral key bytes; NULL = libsodium randombytes_buf */
  void *random_ctx;
} howdy_codec_config_t;

typedef struct {
  /* One complete, authenticated message. payload points into the codec and
   * is valid only during the call. */
  void (*on_message)(void *ctx, uint16_t type, const uint8_t *payload, size_t len);
  /* Bytes for the peer (handshake answers, errors, encoded messages). Must
   * take all of them (send or queue); returns 0, or <0 on failure which
   * makes the codec return HOWDY_CODEC_CLOSE. */
  int (*write)(void *ctx, const uint8_t *data, size_t len);
  void *ctx;
} howdy_codec_io_t;

typedef enum {
  HOWDY_CODEC_OK = 0,
  /* The connection must be closed; anything the peer should be told has
   * already been written. howdy_codec_last_error says why. */
  HOWDY_CODEC_CLOSE = -1,
  /* howdy_codec_send only: the message was not sent but the connection is
   * still usable (payload above HOWDY_CODEC_MAX_PAYLOAD, or not ready yet). */
  HOWDY_CODEC_TOO_BIG = -2,
  HOWDY_CODEC_NOT_READY = -3,
} howdy_codec_status_t;

/* Internal progress; visible for logs and tests. */
typedef enum {
  HOWDY_CODEC_S_PLAIN_DATA = 0,  /* plaintext: frames flow */
  HOWDY_CODEC_S_NOISE_HELLO,     /* waiting for the client's hello frame */
  HOWDY_CODEC_S_NOISE_HANDSHAKE, /* waiting for the client's handshake frame */
  HOWDY_CODEC_S_NOISE_DATA,      /* encrypted frames flow */
  HOWDY_CODEC_S_CLOSED,          /* failed or closed: everything is refused */
} howdy_codec_state_t;

typedef struct howdy_codec {
  howdy_codec_mode_t mode;
  howdy_codec_state_t state;
  bool first_byte_seen;

  /* receive side */
  uint8_t rx_hdr[HOWDY_NOISE_FRAME_HEADER_LEN];
  uint8_t rx_hdr_len;
  howdy_plain_parser_t plain;
  uint16_t rx_type;
  uint32_t rx_need; /* payload bytes of the current frame */
  uint32_t rx_have;
  bool rx_in_payload;
  uint8_t rx[HOWDY_CODEC_MAX_FRAME_PAYLOAD];

  /* send side */
  uint8_t tx[HOWDY_CODEC_TX_CAP];

  /* identity and secrets */
  char node_name[HOWDY_CODEC_MAX_NODE_NAME + 1];
  char mac[HOWDY_CODEC_MAX_MAC + 1];
  uint8_t psk[HOWDY_NOISE_KEY_LEN];
  howdy_random_fn random;
  void *random_ctx;
  howdy_noise_handshake_t hs;
  howdy_noise_cipher_t send_cs;
  howdy_noise_cipher_t recv_cs;

  char last_error[HOWDY_CODEC_ERROR_LEN];
} howdy_codec_t;

void howdy_codec_init(howdy_codec_t *c, const howdy_codec_config_t *cfg);

/* Feeds bytes read from the socket. Returns HOWDY_CODEC_OK (keep reading) or
 * HOWDY_CODEC_CLOSE. Once CLOSE was returned every later call returns CLOSE. */
howdy_codec_status_t howdy_codec_receive(howdy_codec_t *c, const uint8_t *data, size_t len,
                                         const howdy_codec_io_t *io);

/* Encodes and writes one message (payload = protobuf bytes, may be NULL if
 * len is 0). */
howdy_codec_status_t howdy_codec_send(howdy_codec_t *c, uint16_t type, const uint8_t *payload,
                                      size_t len, const howdy_codec_io_t *io);

/* True once messages may be sent (plaintext: at once; Noise: after the
 * handshake answer was written). */
bool howdy_codec_ready(const howdy_codec_t *c);

/* Human reason for the last failure ("" if none), for the log. */
const char *howdy_codec_last_error(const howdy_codec_t *c);

/* Marks the connection as finished (e.g. after a DisconnectRequest) so that
 * the rest of a read is not delivered; reason goes to last_error (may be
 * NULL). Writes nothing. */
void howdy_codec_close(howdy_codec_t *c, const char *reason);

/* Wipes keys, psk and buffers (on disconnect). The codec must be
 * re-initialised with howdy_codec_init before any further use. */
void howdy_codec_reset(howdy_codec_t *c);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_CODEC_H */
