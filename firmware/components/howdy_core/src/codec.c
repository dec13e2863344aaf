/*
 * Server side of one API connection's wire format: plaintext frames, or the
 * Noise hello / handshake / transport exchange that aioesphomeapi's
 * APINoiseFrameHelper drives. Bytes are consumed as they come; a frame's
 * payload is only buffered once its header has passed the size checks.
 */
#include "howdy/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* Leading byte of a Noise handshake-phase frame payload. */
#define HS_BYTE_OK 0x00u
#define HS_BYTE_ERROR 0x01u
/* The protocol the server hello announces: 0x01 = NNpsk0_25519_ChaChaPoly_SHA256,
 * the only one aioesphomeapi accepts. */
#define SERVER_HELLO_PROTOCOL 0x01u

/* Answers to a client of the other mode. Each is at least 3 bytes because
 * aioesphomeapi waits for a 3-byte header before it looks at the marker. */
static const char TEXT_REQUIRES_ENCRYPTION[] = "Encryption required";
static const char TEXT_PLAINTEXT_ONLY[] = "Plaintext only";
static const char TEXT_BAD_HANDSHAKE[] = "Bad handshake frame";

/* The Noise frame header has 16 bits for the length. */
_Static_assert(HOWDY_CODEC_MAX_FRAME_PAYLOAD <= 0xFFFFu, "HOWDY_CODEC_MAX_PAYLOAD too large for Noise frames");

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static howdy_codec_status_t fail(howdy_codec_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
  va_end(ap);
  c->state = HOWDY_CODEC_S_CLOSED;
  /* nothing useful can follow, so drop the secrets now rather than at reset */
  howdy_noise_handshake_wipe(&c->hs);
  howdy_noise_cipher_wipe(&c->send_cs);
  howdy_noise_cipher_wipe(&c->recv_cs);
  sodium_memzero(c->psk, sizeof c->psk);
  return HOWDY_CODEC_CLOSE;
}

static void copy_name(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  if (src != NULL) {
    while (src[n] != '\0' && n + 1 < cap) {
      dst[n] = src[n];
      n++;
    }
  }
  dst[n] = '\0';
}

static void copy_mac(char dst[HOWDY_CODEC_MAX_MAC + 1], const char *src) {
  size_t n = 0;
  for (; src != NULL && *src != '\0' && n < HOWDY_CODEC_MAX_MAC; src++) {
    char ch = *src;
    if (ch >= 'A' && ch <= 'F') {
      ch = (char)(ch - 'A' + 'a');
    }
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) {
      dst[n++] = ch;
    }
  }
  dst[n] = '\0';
}

static void default_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  randombytes_buf(buf, len);
}

static void rx_frame_reset(howdy_codec_t *c) {
  c->rx_hdr_len = 0;
  c->rx_in_payload = false;
  c->rx_need = 0;
  c->rx_have = 0;
  howdy_plain_parser_init(&c->plain, HOWDY_CODEC_MAX_PAYLOAD);
}

void howdy_codec_init(howdy_codec_t *c, const howdy_codec_config_t *cfg) {
  /* idempotent; randombytes and the fast code paths need it */
  int sodium_rc = sodium_init();
  sodium_memzero(c, sizeof *c);
  c->mode = cfg->mode;
  copy_name(c->node_name, sizeof c->node_name, cfg->node_name);
  copy_mac(c->mac, cfg->mac);
  c->random = cfg->random != NULL ? cfg->random : default_random;
  c->random_ctx = cfg->random != NULL ? cfg->random_ctx : NULL;
  rx_frame_reset(c);
  if (sodium_rc < 0) {
    (void)fail(c, "libsodium failed to initialise");
    return;
  }
  if (cfg->mode == HOWDY_CODEC_NOISE) {
    if (cfg->psk == NULL) {
      (void)fail(c, "noise mode without a key");
      return;
    }
    memcpy(c->psk, cfg->psk, sizeof c->psk);
    c->state = HOWDY_CODEC_S_NOISE_HELLO;
  } else {
    c->state = HOWDY_CODEC_S_PLAIN_DATA;
  }
}

bool howdy_codec_ready(const howdy_codec_t *c) {
  return c->state == HOWDY_CODEC_S_PLAIN_DATA || c->state == HOWDY_CODEC_S_NOISE_DATA;
}

const char *howdy_codec_last_error(const howdy_codec_t *c) { return c->last_error; }

void howdy_codec_close(howdy_codec_t *c, const char *reason) {
  if (c->state == HOWDY_CODEC_S_CLOSED) {
    return;
  }
  (void)fail(c, "%s", reason != NULL ? reason : "closed");
}

void howdy_codec_reset(howdy_codec_t *c) {
  sodium_memzero(c, sizeof *c);
  c->state = HOWDY_CODEC_S_CLOSED;
}

/* --- writing -------------------------------------------------------------- */

static howdy_codec_status_t write_out(howdy_codec_t *c, const howdy_codec_io_t *io, size_t len) {
  if (io->write(io->ctx, c->tx, len) < 0) {
    return fail(c, "write to peer failed");
  }
  return HOWDY_CODEC_OK;
}

/* A handshake-phase Noise frame: 0x01, length, lead byte, body. */
static howdy_codec_status_t write_noise_plain_frame(howdy_codec_t *c, const howdy_codec_io_t *io,
                                                    uint8_t lead, const void *body,
                                                    size_t body_len) {
  size_t payload_len = 1 + body_len;
  c->tx[0] = HOWDY_NOISE_INDICATOR;
  c->tx[1] = (uint8_t)(payload_len >> 8);
  c->tx[2] = (uint8_t)payload_len;
  c->tx[3] = lead;
  if (body_len > 0) {
    memcpy(c->tx + 4, body, body_len);
  }
  return write_out(c, io, HOWDY_NOISE_FRAME_HEADER_LEN + payload_len);
}

/* Reports a failed handshake to the client, then closes. */
static howdy_codec_status_t handshake_reject(howdy_codec_t *c, const howdy_codec_io_t *io,
                                             const char *text, const char *why) {
  if (write_noise_plain_frame(c, io, HS_BYTE_ERROR, text, strlen(text)) != HOWDY_CODEC_OK) {
    return HOWDY_CODEC_CLOSE;
  }
  return fail(c, "noise handshake: %s", why);
}

/* --- noise phases ---------------------------------------------------------- */

static howdy_codec_status_t on_client_hello(howdy_codec_t *c, const howdy_codec_io_t *io) {
  /* The client hello carries nothing we use (aioesphomeapi sends it empty). */
  size_t name_len = strlen(c->node_name);
  size_t mac_len = strlen(c->mac);
  size_t payload_len = 1 + name_len + 1 + mac_len + 1;
  uint8_t *p = c->tx;
  *p++ = HOWDY_NOISE_INDICATOR;
  *p++ = (uint8_t)(payload_len >> 8);
  *p++ = (uint8_t)payload_len;
  *p++ = SERVER_HELLO_PROTOCOL;
  memcpy(p, c->node_name, name_len + 1);
  p += name_len + 1;
  memcpy(p, c->mac, mac_len + 1);
  c->state = HOWDY_CODEC_S_NOISE_HANDSHAKE;
  return write_out(c, io, HOWDY_NOISE_FRAME_HEADER_LEN + payload_len);
}

static howdy_codec_status_t on_client_handshake(howdy_codec_t *c, const howdy_codec_io_t *io,
                                                uint8_t *frame, size_t len) {
  if (len < 1 || frame[0] != HS_BYTE_OK) {
    return handshake_reject(c, io, TEXT_BAD_HANDSHAKE, "bad handshake frame lead byte");
  }
  howdy_noise_handshake_init(&c->hs, false, c->psk, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE,
                             HOWDY_NOISE_API_PROLOGUE_LEN);
  sodium_memzero(c->psk, sizeof c->psk);

  /* The client's payload (normally empty) is decrypted in place and unused. */
  uint8_t *msg = frame + 1;
  size_t msg_len = len - 1;
  size_t payload_len = 0;
  uint8_t *payload_out = msg + HOWDY_NOISE_DH_LEN;
  size_t payload_cap = msg_len > HOWDY_NOISE_HANDSHAKE_MSG_LEN ? msg_len - HOWDY_NOISE_HANDSHAKE_MSG_LEN : 0;
  howdy_noise_result_t r = howdy_noise_read_message(&c->hs, msg, msg_len, payload_out, payload_cap,
                                                    &payload_len);
  if (r == HOWDY_NOISE_ERR_MAC) {
    return handshake_reject(c, io, HOWDY_CODEC_ERR_TEXT_MAC, "MAC failure (wrong key?)");
  }
  if (r != HOWDY_NOISE_OK) {
    return handshake_reject(c, io, TEXT_BAD_HANDSHAKE, "malformed message 1");
  }

  uint8_t e_priv[HOWDY_NOISE_DH_LEN];
  c->random(c->random_ctx, e_priv, sizeof e_priv);
  /* answer: [0x01 len_hi len_lo] [0x00] [message 2] */
  uint8_t *out = c->tx + HOWDY_NOISE_FRAME_HEADER_LEN + 1;
  size_t out_len = 0;
  r = howdy_noise_write_message(&c->hs, e_priv, NULL, 0, out,
                                sizeof c->tx - HOWDY_NOISE_FRAME_HEADER_LEN - 1, &out_len);
  sodium_memzero(e_priv, sizeof e_priv);
  if (r != HOWDY_NOISE_OK) {
    return handshake_reject(c, io, HOWDY_CODEC_ERR_TEXT_HANDSHAKE, "could not write message 2");
  }
  r = howdy_noise_split(&c->hs, &c->send_cs, &c->recv_cs);
  if (r != HOWDY_NOISE_OK) {
    return handshake_reject(c, io, HOWDY_CODEC_ERR_TEXT_HANDSHAKE, "split failed");
  }
  size_t payload_total = 1 + out_len;
  c->tx[0] = HOWDY_NOISE_INDICATOR;
  c->tx[1] = (uint8_t)(payload_total >> 8);
  c->tx[2] = (uint8_t)payload_total;
  c->tx[3] = HS_BYTE_OK;
  c->state = HOWDY_CODEC_S_NOISE_DATA;
  return write_out(c, io, HOWDY_NOISE_FRAME_HEADER_LEN + payload_total);
}

static howdy_codec_status_t on_noise_data(howdy_codec_t *c, const howdy_codec_io_t *io,
                                          uint8_t *frame, size_t len) {
  if (len < HOWDY_CODEC_NOISE_MSG_OVERHEAD) {
    return fail(c, "encrypted frame too short (%u bytes)", (unsigned)len);
  }
  if (howdy_noise_decrypt(&c->recv_cs, NULL, 0, frame, len, frame) != HOWDY_NOISE_OK) {
    return fail(c, "decryption failed (tampered or out of order frame)");
  }
  size_t plain_len = len - HOWDY_NOISE_TAG_LEN;
  uint16_t type = (uint16_t)((frame[0] << 8) | frame[1]);
  size_t data_len = (size_t)((frame[2] << 8) | frame[3]);
  if (data_len != plain_len - 4) {
    return fail(c, "inner length %u does not match frame (%u)", (unsigned)data_len,
                (unsigned)(plain_len - 4));
  }
  io->on_message(io->ctx, type, frame + 4, data_len);
  return HOWDY_CODEC_OK;
}

static howdy_codec_status_t on_noise_frame(howdy_codec_t *c, const howdy_codec_io_t *io) {
  switch (c->state) {
  case HOWDY_CODEC_S_NOISE_HELLO:
    return on_client_hello(c, io);
  case HOWDY_CODEC_S_NOISE_HANDSHAKE:
    return on_client_handshake(c, io, c->rx, c->rx_need);
  case HOWDY_CODEC_S_NOISE_DATA:
    return on_noise_data(c, io, c->rx, c->rx_need);
  default:
    return fail(c, "frame in wrong state");
  }
}

/* --- reading --------------------------------------------------------------- */

/* Copies what is available of the current payload; true when it is complete. */
static bool take_payload(howdy_codec_t *c, const uint8_t *data, size_t len, size_t *i) {
  size_t want = c->rx_need - c->rx_have;
  size_t avail = len - *i;
  size_t n = want < avail ? want : avail;
  memcpy(c->rx + c->rx_have, data + *i, n);
  c->rx_have += (uint32_t)n;
  *i += n;
  return c->rx_have == c->rx_need;
}

static howdy_codec_status_t receive_noise(howdy_codec_t *c, const uint8_t *data, size_t len,
                                          const howdy_codec_io_t *io) {
  size_t i = 0;
  while (i < len && c->state != HOWDY_CODEC_S_CLOSED) {
    if (c->rx_in_payload) {
      if (!take_payload(c, data, len, &i)) {
        break;
      }
      howdy_codec_status_t st = on_noise_frame(c, io);
      rx_frame_reset(c);
      if (st != HOWDY_CODEC_OK) {
        return st;
      }
      continue;
    }
    uint8_t b = data[i++];
    if (c->rx_hdr_len == 0 && b != HOWDY_NOISE_INDICATOR) {
      if (!c->first_byte_seen && b == HOWDY_PLAIN_INDICATOR) {
        /* A plaintext client: a frame with the Noise marker makes
         * aioesphomeapi raise RequiresEncryptionAPIError. */
        if (write_noise_plain_frame(c, io, HS_BYTE_ERROR, TEXT_REQUIRES_ENCRYPTION,
                                    sizeof TEXT_REQUIRES_ENCRYPTION - 1) != HOWDY_CODEC_OK) {
          return HOWDY_CODEC_CLOSE;
        }
        return fail(c, "plaintext client on an encrypted connection");
      }
      return fail(c, "bad frame indicator 0x%02x", b);
    }
    c->first_byte_seen = true;
    c->rx_hdr[c->rx_hdr_len++] = b;
    if (c->rx_hdr_len < HOWDY_NOISE_FRAME_HEADER_LEN) {
      continue;
    }
    uint32_t need = ((uint32_t)c->rx_hdr[1] << 8) | c->rx_hdr[2];
    if (need > HOWDY_CODEC_MAX_FRAME_PAYLOAD) {
      return fail(c, "frame of %u bytes exceeds the %u byte limit", (unsigned)need,
                  (unsigned)HOWDY_CODEC_MAX_FRAME_PAYLOAD);
    }
    c->rx_hdr_len = 0;
    c->rx_need = need;
    c->rx_have = 0;
    c->rx_in_payload = true;
    if (need == 0) {
      /* an empty frame is complete already (the client hello is one) */
      howdy_codec_status_t st = on_noise_frame(c, io);
      rx_frame_reset(c);
      if (st != HOWDY_CODEC_OK) {
        return st;
      }
    }
  }
  return c->state == HOWDY_CODEC_S_CLOSED ? HOWDY_CODEC_CLOSE : HOWDY_CODEC_OK;
}

static howdy_codec_status_t receive_plain(howdy_codec_t *c, const uint8_t *data, size_t len,
                                          const howdy_codec_io_t *io) {
  size_t i = 0;
  while (i < len && c->state != HOWDY_CODEC_S_CLOSED) {
    if (c->rx_in_payload) {
      if (!take_payload(c, data, len, &i)) {
        break;
      }
      uint16_t type = c->plain.type;
      uint32_t n = c->rx_need;
      rx_frame_reset(c);
      io->on_message(io->ctx, type, c->rx, n);
      continue;
    }
    uint8_t b = data[i++];
    if (!c->first_byte_seen) {
      c->first_byte_seen = true;
      if (b == HOWDY_NOISE_INDICATOR) {
        /* A Noise client: a reply led by the plaintext marker makes
         * aioesphomeapi raise EncryptionPlaintextAPIError ("The device is
         * using plaintext protocol"). */
        c->tx[0] = HOWDY_PLAIN_INDICATOR;
        memcpy(c->tx + 1, TEXT_PLAINTEXT_ONLY, sizeof TEXT_PLAINTEXT_ONLY - 1);
        if (write_out(c, io, sizeof TEXT_PLAINTEXT_ONLY) != HOWDY_CODEC_OK) {
          return HOWDY_CODEC_CLOSE;
        }
        return fail(c, "encrypted client on a plaintext connection");
      }
    }
    switch (howdy_plain_parser_feed(&c->plain, b)) {
    case HOWDY_PLAIN_MORE:
      break;
    case HOWDY_PLAIN_HEADER_DONE:
      c->rx_need = c->plain.len;
      c->rx_have = 0;
      if (c->rx_need == 0) {
        uint16_t type = c->plain.type;
        rx_frame_reset(c);
        io->on_message(io->ctx, type, c->rx, 0);
      } else {
        c->rx_in_payload = true;
      }
      break;
    case HOWDY_PLAIN_ERR_INDICATOR:
      return fail(c, "bad frame indicator 0x%02x", b);
    case HOWDY_PLAIN_ERR_VARINT:
      return fail(c, "varint longer than 32 bits in frame header");
    case HOWDY_PLAIN_ERR_TOO_BIG:
      return fail(c, "frame of %u bytes exceeds the %u byte limit", (unsigned)c->plain.len,
                  (unsigned)HOWDY_CODEC_MAX_PAYLOAD);
    case HOWDY_PLAIN_ERR_TYPE:
      return fail(c, "message type above 65535");
    }
  }
  return c->state == HOWDY_CODEC_S_CLOSED ? HOWDY_CODEC_CLOSE : HOWDY_CODEC_OK;
}

howdy_codec_status_t howdy_codec_receive(howdy_codec_t *c, const uint8_t *data, size_t len,
                                         const howdy_codec_io_t *io) {
  if (c->state == HOWDY_CODEC_S_CLOSED) {
    return HOWDY_CODEC_CLOSE;
  }
  if (len == 0) {
    return HOWDY_CODEC_OK;
  }
  return c->mode == HOWDY_CODEC_NOISE ? receive_noise(c, data, len, io)
                                      : receive_plain(c, data, len, io);
}

howdy_codec_status_t howdy_codec_send(howdy_codec_t *c, uint16_t type, const uint8_t *payload,
                                      size_t len, const howdy_codec_io_t *io) {
  if (c->state == HOWDY_CODEC_S_CLOSED) {
    return HOWDY_CODEC_CLOSE;
  }
  if (!howdy_codec_ready(c)) {
    return HOWDY_CODEC_NOT_READY;
  }
  if (len > HOWDY_CODEC_MAX_PAYLOAD) {
    return HOWDY_CODEC_TOO_BIG;
  }
  if (c->mode == HOWDY_CODEC_PLAINTEXT) {
    size_t h = howdy_plain_header_encode(c->tx, (uint32_t)len, type);
    if (len > 0) {
      memcpy(c->tx + h, payload, len);
    }
    return write_out(c, io, h + len);
  }
  uint8_t *inner = c->tx + HOWDY_NOISE_FRAME_HEADER_LEN;
  size_t frame_len = len + HOWDY_CODEC_NOISE_MSG_OVERHEAD;
  c->tx[0] = HOWDY_NOISE_INDICATOR;
  c->tx[1] = (uint8_t)(frame_len >> 8);
  c->tx[2] = (uint8_t)frame_len;
  inner[0] = (uint8_t)(type >> 8);
  inner[1] = (uint8_t)type;
  inner[2] = (uint8_t)(len >> 8);
  inner[3] = (uint8_t)len;
  if (len > 0) {
    memcpy(inner + 4, payload, len);
  }
  if (howdy_noise_encrypt(&c->send_cs, NULL, 0, inner, len + 4, inner) != HOWDY_NOISE_OK) {
    return fail(c, "send nonce exhausted");
  }
  return write_out(c, io, HOWDY_NOISE_FRAME_HEADER_LEN + frame_len);
}
