/* Message table, arena allocator and pack/unpack helpers (see howdy/proto.h). */
#include "howdy/proto.h"

#include <stdalign.h>
#include <string.h>

/* The table comes from the "// id=N dir=D" comments of the .proto, through
 * the generated HOWDY_API_MESSAGES X-macro, so ids live in exactly one place. */
#define HOWDY_MSG_ROW(id_, Name, snake, dir_) \
  {.id = (id_), .dir = (dir_), .name = #Name, .descriptor = &howdy__##snake##__descriptor},
static const howdy_msg_info_t k_messages[] = {HOWDY_API_MESSAGES(HOWDY_MSG_ROW)};
#undef HOWDY_MSG_ROW

const howdy_msg_info_t *howdy_proto_info(uint16_t id) {
  /* ~40 rows: a linear scan is smaller than any index and fast enough. */
  for (size_t i = 0; i < sizeof k_messages / sizeof k_messages[0]; i++) {
    if (k_messages[i].id == id) {
      return &k_messages[i];
    }
  }
  return NULL;
}

const howdy_msg_info_t *howdy_proto_table(size_t *count) {
  *count = sizeof k_messages / sizeof k_messages[0];
  return k_messages;
}

/* ---- arena ---------------------------------------------------------------- */

#define ARENA_ALIGN alignof(max_align_t)

void *howdy_arena_alloc(howdy_arena_t *a, size_t size) {
  size_t start = (a->used + (ARENA_ALIGN - 1u)) & ~(size_t)(ARENA_ALIGN - 1u);
  if (size == 0) size = 1;
  if (start > a->cap || size > a->cap - start) {
    a->failures++;
    return NULL;
  }
  a->used = start + size;
  if (a->used > a->high_water) a->high_water = a->used;
  return a->base + start;
}

static void *arena_pb_alloc(void *ctx, size_t size) { return howdy_arena_alloc(ctx, size); }

static void arena_pb_free(void *ctx, void *ptr) {
  /* Individual frees are no-ops: the whole arena is reset per message. */
  (void)ctx;
  (void)ptr;
}

void howdy_arena_init(howdy_arena_t *a, void *mem, size_t cap) {
  /* Align the base so every allocation is aligned for any type. */
  uintptr_t b = (uintptr_t)mem;
  uintptr_t aligned = (b + (ARENA_ALIGN - 1u)) & ~(uintptr_t)(ARENA_ALIGN - 1u);
  size_t lost = (size_t)(aligned - b);
  a->base = (uint8_t *)aligned;
  a->cap = cap > lost ? cap - lost : 0;
  a->used = 0;
  a->high_water = 0;
  a->failures = 0;
  a->allocator.alloc = arena_pb_alloc;
  a->allocator.free = arena_pb_free;
  a->allocator.allocator_data = a;
}

void howdy_arena_reset(howdy_arena_t *a) { a->used = 0; }

/* ---- pack / unpack ---------------------------------------------------------- */

howdy_proto_status_t howdy_proto_unpack(howdy_arena_t *a, uint16_t id, const uint8_t *data,
                                        size_t len, ProtobufCMessage **out) {
  *out = NULL;
  const howdy_msg_info_t *info = howdy_proto_info(id);
  if (!info) {
    return HOWDY_PROTO_UNKNOWN_TYPE;
  }
  howdy_arena_reset(a);
  uint32_t failures_before = a->failures;
  /* protobuf-c dereferences data only within len; an empty message may come
   * with data == NULL, which it accepts for len 0. */
  static const uint8_t empty = 0;
  ProtobufCMessage *m =
      protobuf_c_message_unpack(info->descriptor, &a->allocator, len, data ? data : &empty);
  if (!m) {
    return a->failures != failures_before ? HOWDY_PROTO_TOO_BIG : HOWDY_PROTO_MALFORMED;
  }
  *out = m;
  return HOWDY_PROTO_OK;
}

size_t howdy_proto_pack(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, bool *ok) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > cap) {
    *ok = false;
    return 0;
  }
  *ok = true;
  return protobuf_c_message_pack(msg, buf);
}

const char *howdy_proto_status_str(howdy_proto_status_t st) {
  switch (st) {
    case HOWDY_PROTO_OK: return "ok";
    case HOWDY_PROTO_UNKNOWN_TYPE: return "unknown message type";
    case HOWDY_PROTO_MALFORMED: return "malformed protobuf";
    case HOWDY_PROTO_TOO_BIG: return "decoded message exceeds the arena";
  }
  return "?";
}
