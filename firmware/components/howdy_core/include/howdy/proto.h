/*
 * Protobuf side of the API: the message-type table generated from
 * proto/howdy_api.proto, unpacking into a fixed arena, and packing.
 *
 * Why an arena: protobuf-c allocates while unpacking (the message struct,
 * strings, bytes, repeated arrays, unknown fields). Giving it a bump allocator
 * over a fixed per-connection buffer, reset before every message, means a
 * peer can make the device neither call malloc nor hold memory across
 * messages: a message that does not fit is refused like a malformed one.
 */
#ifndef HOWDY_PROTO_H
#define HOWDY_PROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "howdy_api.pb-c.h"
#include "howdy_api_ids.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t *base;
  size_t cap;
  size_t used;
  size_t high_water; /* largest 'used' seen, for sizing the arena */
  uint32_t failures; /* allocations refused because the arena was full */
  ProtobufCAllocator allocator;
} howdy_arena_t;

void howdy_arena_init(howdy_arena_t *a, void *mem, size_t cap);
/* Forgets every allocation (the previous message is gone). */
void howdy_arena_reset(howdy_arena_t *a);
void *howdy_arena_alloc(howdy_arena_t *a, size_t size);

typedef struct {
  uint16_t id;
  uint8_t dir; /* HOWDY_DIR_IN / OUT / BOTH */
  const char *name;
  const ProtobufCMessageDescriptor *descriptor;
} howdy_msg_info_t;

/* NULL for a type id the profile does not declare. */
const howdy_msg_info_t *howdy_proto_info(uint16_t id);
/* All declared messages (HOWDY_API_MESSAGE_COUNT of them). */
const howdy_msg_info_t *howdy_proto_table(size_t *count);

typedef enum {
  HOWDY_PROTO_OK = 0,
  HOWDY_PROTO_UNKNOWN_TYPE = -1,
  HOWDY_PROTO_MALFORMED = -2, /* protobuf-c rejected the bytes */
  HOWDY_PROTO_TOO_BIG = -3,   /* decoded form did not fit into the arena */
} howdy_proto_status_t;

/* Resets the arena and unpacks data as message type id into it. The result
 * lives until the next reset. */
howdy_proto_status_t howdy_proto_unpack(howdy_arena_t *a, uint16_t id, const uint8_t *data,
                                        size_t len, ProtobufCMessage **out);

/* Packs msg into buf; returns its size, or 0 if it does not fit in cap
 * (an empty message packs to 0 bytes too: check *ok). */
size_t howdy_proto_pack(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, bool *ok);

const char *howdy_proto_status_str(howdy_proto_status_t st);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_PROTO_H */
