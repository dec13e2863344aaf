/* Plaintext framing: varints, header parser, and the codec in plaintext mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec_test_io.h"
#include "howdy/codec.h"
#include "howdy/frame_plain.h"

static howdy_codec_t codec;
static capture_t cap;
static howdy_codec_io_t io;

static void plain_setup(void) {
  howdy_codec_config_t cfg = {.mode = HOWDY_CODEC_PLAINTEXT, .node_name = "n", .mac = "00:11:22:33:44:55"};
  howdy_codec_init(&codec, &cfg);
  cap_init(&cap, &io);
}

/* --- varints --------------------------------------------------------------- */

static void test_varint_edges(void **state) {
  (void)state;
  static const struct {
    uint32_t v;
    size_t n;
  } cases[] = {
      {0, 1},          {1, 1},          {127, 1},          {128, 2},        {300, 2},
      {16383, 2},      {16384, 3},      {2097151, 3},      {2097152, 4},    {268435455, 4},
      {268435456, 5},  {0x7FFFFFFFu, 5}, {0xFFFFFFFFu, 5},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[HOWDY_VARINT32_MAX_LEN];
    size_t n = howdy_varint_encode(cases[i].v, buf);
    assert_int_equal(n, cases[i].n);
    howdy_varint_reader_t r = {0};
    for (size_t j = 0; j < n; j++) {
      howdy_varint_status_t st = howdy_varint_feed(&r, buf[j]);
      assert_int_equal(st, j + 1 == n ? HOWDY_VARINT_DONE : HOWDY_VARINT_MORE);
    }
    assert_int_equal(r.value, cases[i].v);
  }
  /* 300 = ac 02, the protobuf documentation's example */
  uint8_t buf[HOWDY_VARINT32_MAX_LEN];
  assert_int_equal(howdy_varint_encode(300, buf), 2);
  assert_int_equal(buf[0], 0xac);
  assert_int_equal(buf[1], 0x02);
}

static void test_varint_overlong(void **state) {
  (void)state;
  /* a fifth byte carrying bits 32+ */
  static const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0x10};
  howdy_varint_reader_t r = {0};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(howdy_varint_feed(&r, too_big[i]), HOWDY_VARINT_MORE);
  }
  assert_int_equal(howdy_varint_feed(&r, too_big[4]), HOWDY_VARINT_BAD);
  /* a fifth byte that wants a sixth */
  howdy_varint_reader_t r2 = {0};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(howdy_varint_feed(&r2, 0x80), HOWDY_VARINT_MORE);
  }
  assert_int_equal(howdy_varint_feed(&r2, 0x80), HOWDY_VARINT_BAD);
  /* the largest legal fifth byte */
  howdy_varint_reader_t r3 = {0};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(howdy_varint_feed(&r3, 0xff), HOWDY_VARINT_MORE);
  }
  assert_int_equal(howdy_varint_feed(&r3, 0x0f), HOWDY_VARINT_DONE);
  assert_int_equal(r3.value, 0xFFFFFFFFu);
}

static void test_header_encode(void **state) {
  (void)state;
  uint8_t h[HOWDY_PLAIN_HEADER_MAX];
  size_t n = howdy_plain_header_encode(h, 0, 7);
  assert_int_equal(n, 3);
  assert_memory_equal(h, "\x00\x00\x07", 3);
  n = howdy_plain_header_encode(h, 300, 0xFFFF);
  assert_int_equal(n, 6);
  assert_memory_equal(h, "\x00\xac\x02\xff\xff\x03", 6);
}

/* --- codec, plaintext -------------------------------------------------------- */

/* A stream of three frames: empty, short, and one with a 2-byte length. */
static size_t build_stream(uint8_t *buf, uint8_t *big, size_t big_len) {
  size_t n = 0;
  uint8_t h[HOWDY_PLAIN_HEADER_MAX];
  size_t hl = howdy_plain_header_encode(h, 0, 7);
  memcpy(buf + n, h, hl);
  n += hl;
  hl = howdy_plain_header_encode(h, 3, 1);
  memcpy(buf + n, h, hl);
  n += hl;
  memcpy(buf + n, "abc", 3);
  n += 3;
  for (size_t i = 0; i < big_len; i++) {
    big[i] = (uint8_t)(i * 13 + 1);
  }
  hl = howdy_plain_header_encode(h, (uint32_t)big_len, 300);
  memcpy(buf + n, h, hl);
  n += hl;
  memcpy(buf + n, big, big_len);
  n += big_len;
  return n;
}

static void check_stream_messages(const uint8_t *big, size_t big_len) {
  assert_int_equal(cap.msg_count, 3);
  assert_int_equal(cap.msg_type[0], 7);
  assert_int_equal(cap.msg_len[0], 0);
  assert_int_equal(cap.msg_type[1], 1);
  assert_int_equal(cap.msg_len[1], 3);
  assert_memory_equal(cap.msg_data[1], "abc", 3);
  assert_int_equal(cap.msg_type[2], 300);
  assert_int_equal(cap.msg_len[2], big_len);
  assert_memory_equal(cap.msg_data[2], big, big_len);
  assert_int_equal(cap.out_len, 0);
}

static void test_multiple_frames_one_read(void **state) {
  (void)state;
  static uint8_t stream[1024], big[600];
  size_t n = build_stream(stream, big, sizeof big);
  plain_setup();
  assert_true(howdy_codec_ready(&codec));
  assert_int_equal(howdy_codec_receive(&codec, stream, n, &io), HOWDY_CODEC_OK);
  check_stream_messages(big, sizeof big);
}

static void test_split_every_boundary(void **state) {
  (void)state;
  static uint8_t stream[1024], big[600];
  size_t n = build_stream(stream, big, sizeof big);
  for (size_t k = 0; k <= n; k++) {
    plain_setup();
    assert_int_equal(howdy_codec_receive(&codec, stream, k, &io), HOWDY_CODEC_OK);
    assert_int_equal(howdy_codec_receive(&codec, stream + k, n - k, &io), HOWDY_CODEC_OK);
    check_stream_messages(big, sizeof big);
  }
  /* and one byte per read */
  plain_setup();
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(howdy_codec_receive(&codec, stream + i, 1, &io), HOWDY_CODEC_OK);
  }
  check_stream_messages(big, sizeof big);
}

static void test_round_trip(void **state) {
  (void)state;
  static howdy_codec_t rx;
  static capture_t rx_cap;
  howdy_codec_io_t rx_io;
  static uint8_t payload[HOWDY_CODEC_MAX_PAYLOAD];
  for (size_t i = 0; i < sizeof payload; i++) {
    payload[i] = (uint8_t)(i ^ 0x5a);
  }
  static const size_t sizes[] = {0, 1, 127, 128, 1000, HOWDY_CODEC_MAX_PAYLOAD};
  static const uint16_t types[] = {0, 1, 127, 128, 16384, 0xFFFF};
  plain_setup();
  howdy_codec_config_t cfg = {.mode = HOWDY_CODEC_PLAINTEXT};
  howdy_codec_init(&rx, &cfg);
  cap_init(&rx_cap, &rx_io);
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(howdy_codec_send(&codec, types[i], payload, sizes[i], &io), HOWDY_CODEC_OK);
  }
  assert_int_equal(cap.write_calls, 6); /* one write per frame */
  assert_int_equal(howdy_codec_receive(&rx, cap.out, cap.out_len, &rx_io), HOWDY_CODEC_OK);
  assert_int_equal(rx_cap.msg_count, 6);
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(rx_cap.msg_type[i], types[i]);
    assert_int_equal(rx_cap.msg_len[i], sizes[i]);
    if (sizes[i] > 0) {
      assert_memory_equal(rx_cap.msg_data[i], payload, sizes[i]);
    }
  }
}

static void test_send_limits(void **state) {
  (void)state;
  static uint8_t payload[HOWDY_CODEC_MAX_PAYLOAD + 1];
  plain_setup();
  assert_int_equal(howdy_codec_send(&codec, 1, payload, sizeof payload, &io), HOWDY_CODEC_TOO_BIG);
  assert_int_equal(cap.write_calls, 0);
  assert_true(howdy_codec_ready(&codec)); /* still usable */
  cap.fail_writes = 1;
  assert_int_equal(howdy_codec_send(&codec, 1, payload, 4, &io), HOWDY_CODEC_CLOSE);
  assert_false(howdy_codec_ready(&codec));
  assert_string_equal(howdy_codec_last_error(&codec), "write to peer failed");
}

static void test_oversized_length_closes(void **state) {
  (void)state;
  uint8_t h[HOWDY_PLAIN_HEADER_MAX];
  /* exactly the limit is fine (header only, payload still to come) */
  plain_setup();
  size_t n = howdy_plain_header_encode(h, HOWDY_CODEC_MAX_PAYLOAD, 1);
  assert_int_equal(howdy_codec_receive(&codec, h, n, &io), HOWDY_CODEC_OK);
  /* one more byte is refused before any payload arrives */
  plain_setup();
  n = howdy_plain_header_encode(h, HOWDY_CODEC_MAX_PAYLOAD + 1, 1);
  assert_int_equal(howdy_codec_receive(&codec, h, n, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 0);
  assert_int_equal(cap.out_len, 0);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "exceeds"));
  /* and later input is refused too */
  assert_int_equal(howdy_codec_receive(&codec, h, 1, &io), HOWDY_CODEC_CLOSE);
  /* a 4 GiB announcement, split byte by byte */
  static const uint8_t huge[] = {0x00, 0xff, 0xff, 0xff, 0xff, 0x0f};
  plain_setup();
  for (size_t i = 0; i + 1 < sizeof huge; i++) {
    assert_int_equal(howdy_codec_receive(&codec, huge + i, 1, &io), HOWDY_CODEC_OK);
  }
  assert_int_equal(howdy_codec_receive(&codec, huge + 5, 1, &io), HOWDY_CODEC_CLOSE);
}

static void test_truncated_and_bad_varint(void **state) {
  (void)state;
  /* a varint cut short just waits for more */
  static const uint8_t partial[] = {0x00, 0x83};
  plain_setup();
  assert_int_equal(howdy_codec_receive(&codec, partial, sizeof partial, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.msg_count, 0);
  /* ...and completes: length 3 (0x83 0x00 is an overlong 3), type 1 */
  static const uint8_t rest[] = {0x00, 0x01, 'x', 'y', 'z'};
  assert_int_equal(howdy_codec_receive(&codec, rest, sizeof rest, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.msg_count, 1);
  assert_int_equal(cap.msg_len[0], 3);
  /* a varint that never ends is refused at its sixth byte */
  static const uint8_t endless[] = {0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
  plain_setup();
  assert_int_equal(howdy_codec_receive(&codec, endless, sizeof endless, &io), HOWDY_CODEC_CLOSE);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "varint"));
  /* a type beyond 16 bits */
  static const uint8_t big_type[] = {0x00, 0x00, 0x80, 0x80, 0x04};
  plain_setup();
  assert_int_equal(howdy_codec_receive(&codec, big_type, sizeof big_type, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 0);
}

static void test_bad_indicator_later(void **state) {
  (void)state;
  static const uint8_t s[] = {0x00, 0x00, 0x07, 0x05, 0x00, 0x07};
  plain_setup();
  assert_int_equal(howdy_codec_receive(&codec, s, sizeof s, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 1);
  assert_int_equal(cap.out_len, 0); /* nothing said to the peer */
  assert_non_null(strstr(howdy_codec_last_error(&codec), "indicator"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_edges),
      cmocka_unit_test(test_varint_overlong),
      cmocka_unit_test(test_header_encode),
      cmocka_unit_test(test_multiple_frames_one_read),
      cmocka_unit_test(test_split_every_boundary),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_send_limits),
      cmocka_unit_test(test_oversized_length_closes),
      cmocka_unit_test(test_truncated_and_bad_varint),
      cmocka_unit_test(test_bad_indicator_later),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
