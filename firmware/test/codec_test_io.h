/* Test double for howdy_codec_io_t: records written bytes and delivered
 * messages. Header-only so each cmocka executable stays one source file. */
#ifndef HOWDY_CODEC_TEST_IO_H
#define HOWDY_CODEC_TEST_IO_H

#include <stdint.h>
#include <string.h>

#include "howdy/codec.h"

#define CAP_OUT_MAX 32768u
#define CAP_MSG_MAX 16u
#define CAP_MSG_DATA_MAX 8192u

typedef struct {
  uint8_t out[CAP_OUT_MAX];
  size_t out_len;
  int write_calls;
  int fail_writes; /* make write() return -1 */

  size_t msg_count;
  uint16_t msg_type[CAP_MSG_MAX];
  size_t msg_len[CAP_MSG_MAX];
  uint8_t msg_data[CAP_MSG_MAX][CAP_MSG_DATA_MAX];

  /* optional hooks for re-entrancy tests */
  howdy_codec_t *codec;
  int close_on_type; /* call howdy_codec_close when this type arrives (-1 = never) */
  int echo;          /* send every message straight back */
  howdy_codec_io_t *io_self;
} capture_t;

static inline void cap_on_message(void *ctx, uint16_t type, const uint8_t *payload, size_t len) {
  capture_t *cap = ctx;
  if (cap->msg_count < CAP_MSG_MAX) {
    size_t i = cap->msg_count;
    cap->msg_type[i] = type;
    cap->msg_len[i] = len;
    if (len > 0 && len <= CAP_MSG_DATA_MAX) {
      memcpy(cap->msg_data[i], payload, len);
    }
  }
  cap->msg_count++;
  if (cap->codec != NULL && cap->echo && cap->io_self != NULL) {
    (void)howdy_codec_send(cap->codec, type, payload, len, cap->io_self);
  }
  if (cap->codec != NULL && cap->close_on_type == (int)type) {
    howdy_codec_close(cap->codec, "test asked to close");
  }
}

static inline int cap_write(void *ctx, const uint8_t *data, size_t len) {
  capture_t *cap = ctx;
  cap->write_calls++;
  if (cap->fail_writes) {
    return -1;
  }
  if (cap->out_len + len > CAP_OUT_MAX) {
    return -1;
  }
  memcpy(cap->out + cap->out_len, data, len);
  cap->out_len += len;
  return 0;
}

static inline void cap_init(capture_t *cap, howdy_codec_io_t *io) {
  memset(cap, 0, sizeof *cap);
  cap->close_on_type = -1;
  io->on_message = cap_on_message;
  io->write = cap_write;
  io->ctx = cap;
  cap->io_self = io;
}

/* Random callback that hands out a fixed byte string (the KAT ephemeral). */
typedef struct {
  const uint8_t *bytes;
  size_t len;
  size_t pos;
} fixed_random_t;

static inline void fixed_random(void *ctx, uint8_t *buf, size_t len) {
  fixed_random_t *fr = ctx;
  for (size_t i = 0; i < len; i++) {
    buf[i] = fr->bytes[fr->pos % fr->len];
    fr->pos++;
  }
}

#endif
