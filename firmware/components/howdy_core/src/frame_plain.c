/* Plaintext frame header of the ESPHome native API: encoding and an
 * incremental, bounded parser. */
#include "howdy/frame_plain.h"

size_t howdy_varint_encode(uint32_t v, uint8_t out[HOWDY_VARINT32_MAX_LEN]) {
  size_t n = 0;
  while (v >= 0x80u) {
    out[n++] = (uint8_t)(v | 0x80u);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

size_t howdy_plain_header_encode(uint8_t out[HOWDY_PLAIN_HEADER_MAX], uint32_t len,
                                 uint16_t type) {
  size_t n = 0;
  out[n++] = HOWDY_PLAIN_INDICATOR;
  n += howdy_varint_encode(len, out + n);
  n += howdy_varint_encode(type, out + n);
  return n;
}

howdy_varint_status_t howdy_varint_feed(howdy_varint_reader_t *r, uint8_t byte) {
  if (r->count >= HOWDY_VARINT32_MAX_LEN) {
    return HOWDY_VARINT_BAD;
  }
  /* the fifth group only has room for the top 4 bits of a 32-bit value;
   * anything more (or a continuation bit) would be a value past 32 bits */
  if (r->count == HOWDY_VARINT32_MAX_LEN - 1 && (byte & 0xF0u) != 0) {
    return HOWDY_VARINT_BAD;
  }
  r->value |= (uint32_t)(byte & 0x7Fu) << (7u * r->count);
  r->count++;
  return (byte & 0x80u) ? HOWDY_VARINT_MORE : HOWDY_VARINT_DONE;
}

void howdy_plain_parser_init(howdy_plain_parser_t *p, uint32_t max_len) {
  p->stage = 0;
  p->vr.value = 0;
  p->vr.count = 0;
  p->max_len = max_len;
  p->len = 0;
  p->type = 0;
}

howdy_plain_status_t howdy_plain_parser_feed(howdy_plain_parser_t *p, uint8_t byte) {
  if (p->stage > 2) {
    /* fed past a finished header without re-initialising: refuse rather
     * than parse payload bytes as a header */
    return HOWDY_PLAIN_ERR_INDICATOR;
  }
  if (p->stage == 0) {
    if (byte != HOWDY_PLAIN_INDICATOR) {
      return HOWDY_PLAIN_ERR_INDICATOR;
    }
    p->stage = 1;
    return HOWDY_PLAIN_MORE;
  }
  howdy_varint_status_t vs = howdy_varint_feed(&p->vr, byte);
  if (vs == HOWDY_VARINT_BAD) {
    return HOWDY_PLAIN_ERR_VARINT;
  }
  if (vs == HOWDY_VARINT_MORE) {
    return HOWDY_PLAIN_MORE;
  }
  uint32_t value = p->vr.value;
  p->vr.value = 0;
  p->vr.count = 0;
  if (p->stage == 1) {
    /* refuse before any payload byte arrives, so nothing is ever buffered
     * for an oversized frame */
    if (value > p->max_len) {
      p->len = value;
      return HOWDY_PLAIN_ERR_TOO_BIG;
    }
    p->len = value;
    p->stage = 2;
    return HOWDY_PLAIN_MORE;
  }
  if (value > 0xFFFFu) {
    return HOWDY_PLAIN_ERR_TYPE;
  }
  p->type = (uint16_t)value;
  p->stage = 3;
  return HOWDY_PLAIN_HEADER_DONE;
}
