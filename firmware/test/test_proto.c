/*
 * Protobuf layer: the generated message table, round trips through the
 * arena, and hostile input (truncated, malformed, oversized, random) that
 * must be refused without touching memory outside the arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/base64.h"
#include "howdy/proto.h"

#define ARENA_SIZE 8192u

typedef struct {
  howdy_arena_t arena;
  _Alignas(max_align_t) uint8_t mem[ARENA_SIZE];
  uint8_t buf[4096];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  howdy_arena_init(&f->arena, f->mem, sizeof f->mem);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

static void test_table_ids_unique_and_named(void **state) {
  (void)state;
  size_t n = 0;
  const howdy_msg_info_t *t = howdy_proto_table(&n);
  assert_int_equal(n, HOWDY_API_MESSAGE_COUNT);
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) assert_int_not_equal(t[i].id, t[j].id);
    /* The descriptor behind an id must be the message the id names. */
    char full[96];
    snprintf(full, sizeof full, "howdy.%s", t[i].name);
    assert_string_equal(t[i].descriptor->name, full);
    assert_ptr_equal(howdy_proto_info(t[i].id), &t[i]);
  }
  /* A few ids checked against the API's published numbers. */
  assert_int_equal(HOWDY_MSG_HELLO_REQUEST, 1);
  assert_int_equal(HOWDY_MSG_DEVICE_INFO_RESPONSE, 10);
  assert_int_equal(HOWDY_MSG_LIST_ENTITIES_NUMBER_RESPONSE, 49);
  assert_int_equal(HOWDY_MSG_VOICE_ASSISTANT_AUDIO, 106);
  assert_int_equal(HOWDY_MSG_VOICE_ASSISTANT_SET_CONFIGURATION, 123);
  assert_null(howdy_proto_info(0));
  assert_null(howdy_proto_info(12)); /* binary sensors: not in the profile */
  assert_null(howdy_proto_info(65535));
}

/* Every declared message: the default instance survives pack -> unpack -> pack. */
static void test_empty_round_trip_all(void **state) {
  fixture_t *f = *state;
  size_t n = 0;
  const howdy_msg_info_t *t = howdy_proto_table(&n);
  for (size_t i = 0; i < n; i++) {
    uint8_t storage[512] __attribute__((aligned(16)));
    assert_true(t[i].descriptor->sizeof_message <= sizeof storage);
    protobuf_c_message_init(t[i].descriptor, storage);
    bool ok = false;
    size_t len = howdy_proto_pack((ProtobufCMessage *)storage, f->buf, sizeof f->buf, &ok);
    assert_true(ok);
    ProtobufCMessage *m = NULL;
    assert_int_equal(howdy_proto_unpack(&f->arena, t[i].id, f->buf, len, &m), HOWDY_PROTO_OK);
    assert_ptr_equal(m->descriptor, t[i].descriptor);
  }
}

static void test_device_info_round_trip(void **state) {
  fixture_t *f = *state;
  Howdy__DeviceInfoResponse r = HOWDY__DEVICE_INFO_RESPONSE__INIT;
  r.name = "kitchen";
  r.mac_address = "02:48:AA:BB:CC:DD";
  r.friendly_name = "Kitchen screen";
  r.project_name = "HowdyScreen.HowdyScreen Simulator";
  r.voice_assistant_feature_flags = 63;
  bool ok = false;
  size_t len = howdy_proto_pack(&r.base, f->buf, sizeof f->buf, &ok);
  assert_true(ok);
  ProtobufCMessage *m = NULL;
  assert_int_equal(howdy_proto_unpack(&f->arena, HOWDY_MSG_DEVICE_INFO_RESPONSE, f->buf, len, &m),
                   HOWDY_PROTO_OK);
  Howdy__DeviceInfoResponse *d = (Howdy__DeviceInfoResponse *)m;
  assert_string_equal(d->name, "kitchen");
  assert_string_equal(d->mac_address, "02:48:AA:BB:CC:DD");
  assert_string_equal(d->friendly_name, "Kitchen screen");
  assert_int_equal(d->voice_assistant_feature_flags, 63);
  /* Everything the unpack produced lives inside the arena. */
  assert_true((uint8_t *)d >= f->arena.base && (uint8_t *)d < f->arena.base + f->arena.cap);
  assert_true((uint8_t *)d->name >= f->arena.base &&
              (uint8_t *)d->name < f->arena.base + f->arena.cap);
}

static void test_nested_repeated_round_trip(void **state) {
  fixture_t *f = *state;
  Howdy__VoiceAssistantEventData d1 = HOWDY__VOICE_ASSISTANT_EVENT_DATA__INIT;
  Howdy__VoiceAssistantEventData d2 = HOWDY__VOICE_ASSISTANT_EVENT_DATA__INIT;
  d1.name = "text";
  d1.value = "turn on the kitchen lights";
  d2.name = "url";
  d2.value = "http://ha.local/tts.wav";
  Howdy__VoiceAssistantEventData *items[] = {&d1, &d2};
  Howdy__VoiceAssistantEventResponse ev = HOWDY__VOICE_ASSISTANT_EVENT_RESPONSE__INIT;
  ev.event_type = HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_TTS_END;
  ev.n_data = 2;
  ev.data = items;
  bool ok = false;
  size_t len = howdy_proto_pack(&ev.base, f->buf, sizeof f->buf, &ok);
  assert_true(ok);
  ProtobufCMessage *m = NULL;
  assert_int_equal(
      howdy_proto_unpack(&f->arena, HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE, f->buf, len, &m),
      HOWDY_PROTO_OK);
  Howdy__VoiceAssistantEventResponse *e = (Howdy__VoiceAssistantEventResponse *)m;
  assert_int_equal(e->event_type, HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_TTS_END);
  assert_int_equal(e->n_data, 2);
  assert_string_equal(e->data[1]->value, "http://ha.local/tts.wav");

  /* Audio: bytes field of the largest size the codec allows. */
  static uint8_t pcm[3000];
  for (size_t i = 0; i < sizeof pcm; i++) pcm[i] = (uint8_t)(i * 7u);
  Howdy__VoiceAssistantAudio a = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
  a.data.data = pcm;
  a.data.len = sizeof pcm;
  a.end = true;
  len = howdy_proto_pack(&a.base, f->buf, sizeof f->buf, &ok);
  assert_true(ok);
  assert_int_equal(howdy_proto_unpack(&f->arena, HOWDY_MSG_VOICE_ASSISTANT_AUDIO, f->buf, len, &m),
                   HOWDY_PROTO_OK);
  Howdy__VoiceAssistantAudio *au = (Howdy__VoiceAssistantAudio *)m;
  assert_int_equal(au->data.len, sizeof pcm);
  assert_memory_equal(au->data.data, pcm, sizeof pcm);
  assert_true(au->end);
}

static void test_pack_too_small_buffer(void **state) {
  (void)state;
  Howdy__HelloResponse r = HOWDY__HELLO_RESPONSE__INIT;
  r.server_info = "HowdyScreen 0.1.0";
  uint8_t small[4];
  bool ok = true;
  assert_int_equal(howdy_proto_pack(&r.base, small, sizeof small, &ok), 0);
  assert_false(ok);
}

static void test_malformed_inputs(void **state) {
  fixture_t *f = *state;
  ProtobufCMessage *m = (ProtobufCMessage *)1;
  const struct {
    uint16_t type;
    const uint8_t *data;
    size_t len;
  } cases[] = {
      /* field 1 varint, truncated */
      {HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST, (const uint8_t[]){0x08, 0x80}, 2},
      /* string field 1 claims 10 bytes, 2 present */
      {HOWDY_MSG_HELLO_REQUEST, (const uint8_t[]){0x0a, 0x0a, 'a', 'b'}, 4},
      /* fixed32 key truncated */
      {HOWDY_MSG_SWITCH_COMMAND_REQUEST, (const uint8_t[]){0x0d, 0x01, 0x02}, 3},
      /* wire type 7 does not exist */
      {HOWDY_MSG_NUMBER_COMMAND_REQUEST, (const uint8_t[]){0x0f, 0x00}, 2},
      /* field number 0 is invalid */
      {HOWDY_MSG_PING_REQUEST, (const uint8_t[]){0x00, 0x00}, 2},
      /* varint of 11 bytes */
      {HOWDY_MSG_SUBSCRIBE_LOGS_REQUEST,
       (const uint8_t[]){0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
       12},
      /* length-delimited with a length varint that overflows */
      {HOWDY_MSG_VOICE_ASSISTANT_AUDIO, (const uint8_t[]){0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6},
      /* nested message truncated inside */
      {HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE, (const uint8_t[]){0x12, 0x04, 0x0a, 0x05, 'x', 'y'},
       6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    howdy_proto_status_t st = howdy_proto_unpack(&f->arena, cases[i].type, cases[i].data,
                                                 cases[i].len, &m);
    assert_int_equal(st, HOWDY_PROTO_MALFORMED);
    assert_null(m);
  }
  assert_int_equal(howdy_proto_unpack(&f->arena, 4242, NULL, 0, &m), HOWDY_PROTO_UNKNOWN_TYPE);
}

/* A payload whose decoded form is far larger than its wire form (many empty
 * nested messages) must hit the arena limit, not the heap. */
static void test_oversized_decode_refused(void **state) {
  fixture_t *f = *state;
  size_t len = 0;
  while (len + 2 <= 4000) {
    f->buf[len++] = 0x12; /* field 2 (data), length-delimited */
    f->buf[len++] = 0x00; /* empty VoiceAssistantEventData */
  }
  ProtobufCMessage *m = NULL;
  howdy_proto_status_t st =
      howdy_proto_unpack(&f->arena, HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE, f->buf, len, &m);
  assert_int_equal(st, HOWDY_PROTO_TOO_BIG);
  assert_null(m);
  assert_true(f->arena.high_water <= f->arena.cap);
  /* The arena is reusable right after. */
  uint8_t ok_msg[] = {0x08, 0x01};
  assert_int_equal(
      howdy_proto_unpack(&f->arena, HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST, ok_msg, 2, &m),
      HOWDY_PROTO_OK);
  assert_true(((Howdy__SubscribeVoiceAssistantRequest *)m)->subscribe);
}

/* Unknown fields are kept by protobuf-c; they too come from the arena. */
static void test_unknown_fields_bounded(void **state) {
  fixture_t *f = *state;
  size_t len = 0;
  for (uint32_t field = 20; len + 3 < 4000; field++) {
    uint32_t tag = (field << 3) | 0u;
    f->buf[len++] = (uint8_t)(0x80u | (tag & 0x7fu));
    f->buf[len++] = (uint8_t)(tag >> 7);
    f->buf[len++] = 0x01;
    if (field > 2000) break;
  }
  ProtobufCMessage *m = NULL;
  howdy_proto_status_t st =
      howdy_proto_unpack(&f->arena, HOWDY_MSG_PING_REQUEST, f->buf, len, &m);
  assert_true(st == HOWDY_PROTO_OK || st == HOWDY_PROTO_TOO_BIG);
  assert_true(f->arena.high_water <= f->arena.cap);
}

/* Random bytes as every message the device accepts: no crash, no
 * out-of-arena allocation (ASan would catch a stray heap access). */
static void test_random_input(void **state) {
  fixture_t *f = *state;
  size_t n = 0;
  const howdy_msg_info_t *t = howdy_proto_table(&n);
  uint32_t seed = 12345u;
  for (int round = 0; round < 3000; round++) {
    size_t len = 0;
    seed = seed * 1103515245u + 12345u;
    len = (seed >> 8) % 300u;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      f->buf[i] = (uint8_t)(seed >> 16);
    }
    const howdy_msg_info_t *info = &t[(size_t)round % n];
    ProtobufCMessage *m = NULL;
    howdy_proto_status_t st = howdy_proto_unpack(&f->arena, info->id, f->buf, len, &m);
    assert_true(st == HOWDY_PROTO_OK || st == HOWDY_PROTO_MALFORMED || st == HOWDY_PROTO_TOO_BIG);
    assert_true(f->arena.used <= f->arena.cap);
  }
}

static void test_arena_alignment_and_limit(void **state) {
  (void)state;
  _Alignas(max_align_t) uint8_t mem[256];
  howdy_arena_t a;
  howdy_arena_init(&a, mem + 1, sizeof mem - 1); /* misaligned on purpose */
  void *p1 = howdy_arena_alloc(&a, 3);
  void *p2 = howdy_arena_alloc(&a, 5);
  assert_non_null(p1);
  assert_non_null(p2);
  assert_int_equal((uintptr_t)p1 % _Alignof(max_align_t), 0);
  assert_int_equal((uintptr_t)p2 % _Alignof(max_align_t), 0);
  assert_null(howdy_arena_alloc(&a, 1000));
  assert_int_equal(a.failures, 1);
  howdy_arena_reset(&a);
  assert_non_null(howdy_arena_alloc(&a, 100));
}

static void test_base64(void **state) {
  (void)state;
  uint8_t key[32];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 9 + 1);
  char b64[64];
  assert_int_equal(howdy_base64_encode(key, 32, b64, sizeof b64), 44);
  uint8_t back[34];
  assert_int_equal(howdy_base64_decode(b64, 44, back, sizeof back), 32);
  assert_memory_equal(back, key, 32);
  assert_int_equal(howdy_base64_encode((const uint8_t *)"f", 1, b64, sizeof b64), 4);
  assert_string_equal(b64, "Zg==");
  assert_int_equal(howdy_base64_encode((const uint8_t *)"foob", 4, b64, sizeof b64), 8);
  assert_string_equal(b64, "Zm9vYg==");
  assert_int_equal(howdy_base64_decode("Zm9vYg==", 8, back, sizeof back), 4);
  assert_memory_equal(back, "foob", 4);
  /* malformed */
  assert_int_equal(howdy_base64_decode("Zm9", 3, back, sizeof back), -1);
  assert_int_equal(howdy_base64_decode("Zm=v", 4, back, sizeof back), -1);
  assert_int_equal(howdy_base64_decode("=AAA", 4, back, sizeof back), -1);
  assert_int_equal(howdy_base64_decode("Zg==Zg==", 8, back, sizeof back), -1);
  assert_int_equal(howdy_base64_decode("Z!==", 4, back, sizeof back), -1);
  assert_int_equal(howdy_base64_decode("Zm9vYmFy", 8, back, 5), -1); /* too small */
  assert_int_equal(howdy_base64_encode(key, 32, b64, 44), 0);       /* no room for NUL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_ids_unique_and_named),
      cmocka_unit_test_setup_teardown(test_empty_round_trip_all, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_info_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nested_repeated_round_trip, setup, teardown),
      cmocka_unit_test(test_pack_too_small_buffer),
      cmocka_unit_test_setup_teardown(test_malformed_inputs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_decode_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_fields_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_random_input, setup, teardown),
      cmocka_unit_test(test_arena_alignment_and_limit),
      cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
