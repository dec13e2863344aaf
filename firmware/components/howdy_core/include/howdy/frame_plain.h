/*
 * Plaintext framing of the ESPHome native API:
 *     0x00, varint(payload length), varint(message type), payload
 * Varints are protobuf base-128, little-endian groups. The parser takes one
 * byte at a time so a frame header may be split anywhere across TCP reads.
 */
#ifndef HOWDY_FRAME_PLAIN_H
#define HOWDY_FRAME_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOWDY_PLAIN_INDICATOR 0x00u
#define HOWDY_VARINT32_MAX_LEN 5u
/* indicator + two 32-bit varints */
#define HOWDY_PLAIN_HEADER_MAX (1u + 2u * HOWDY_VARINT32_MAX_LEN)

/* Encodes v; returns the number of bytes written (1..5). */
size_t howdy_varint_encode(uint32_t v, uint8_t out[HOWDY_VARINT32_MAX_LEN]);

/* Writes the frame header for a payload of len bytes; returns its size. */
size_t howdy_plain_header_encode(uint8_t out[HOWDY_PLAIN_HEADER_MAX], uint32_t len,
                                 uint16_t type);

typedef struct {
  uint32_t value;
  uint8_t count;
} howdy_varint_reader_t;

typedef enum {
  HOWDY_VARINT_MORE = 0,
  HOWDY_VARINT_DONE = 1,
  HOWDY_VARINT_BAD = -1, /* more than 5 bytes, or a value above 32 bits */
} howdy_varint_status_t;

howdy_varint_status_t howdy_varint_feed(howdy_varint_reader_t *r, uint8_t byte);

typedef enum {
  HOWDY_PLAIN_MORE = 0,          /* header incomplete, feed more */
  HOWDY_PLAIN_HEADER_DONE = 1,   /* len and type are valid; payload follows */
  HOWDY_PLAIN_ERR_INDICATOR = -1,
  HOWDY_PLAIN_ERR_VARINT = -2,
  HOWDY_PLAIN_ERR_TOO_BIG = -3,
  HOWDY_PLAIN_ERR_TYPE = -4,     /* type does not fit in 16 bits */
} howdy_plain_status_t;

typedef struct {
  uint8_t stage; /* 0 indicator, 1 length, 2 type */
  howdy_varint_reader_t vr;
  uint32_t max_len;
  uint32_t len;
  uint16_t type;
} howdy_plain_parser_t;

void howdy_plain_parser_init(howdy_plain_parser_t *p, uint32_t max_len);

/* Feeds one header byte. After HEADER_DONE (or an error) the parser must be
 * re-initialised with howdy_plain_parser_init before the next frame. */
howdy_plain_status_t howdy_plain_parser_feed(howdy_plain_parser_t *p, uint8_t byte);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_FRAME_PLAIN_H */
