/* The codec as a whole: clients of the wrong mode, closing from a callback,
 * replies sent from a callback, reset, and configuration handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec_test_io.h"
#include "howdy/codec.h"
#include "howdy/frame_plain.h"
#include "vectors/noise_vectors.h"

static howdy_codec_t codec;
static capture_t cap;
static howdy_codec_io_t io;
static fixed_random_t rng;

static void setup_mode(howdy_codec_mode_t mode) {
  rng = (fixed_random_t){.bytes = kat_server_e, .len = sizeof kat_server_e};
  howdy_codec_config_t cfg = {.mode = mode,
                              .psk = mode == HOWDY_CODEC_NOISE ? kat_psk : NULL,
                              .node_name = KAT_NODE_NAME,
                              .mac = KAT_MAC,
                              .random = fixed_random,
                              .random_ctx = &rng};
  howdy_codec_init(&codec, &cfg);
  cap_init(&cap, &io);
  cap.codec = &codec;
}

/* What aioesphomeapi's plaintext helper sends first: a HelloRequest. */
static const uint8_t plain_hello[] = {0x00, 0x05, 0x01, 0x0a, 0x03, 'c', 'l', 'i'};

static void test_plain_device_gets_noise_hello(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_PLAINTEXT);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io),
                   HOWDY_CODEC_CLOSE);
  /* the Noise client reads a 3-byte header and sees the plaintext marker */
  assert_true(cap.out_len >= 3);
  assert_int_equal(cap.out[0], 0x00);
  assert_int_equal(cap.msg_count, 0);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "encrypted client"));
  /* same when the hello trickles in */
  setup_mode(HOWDY_CODEC_PLAINTEXT);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, 1, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.out[0], 0x00);
}

static void test_noise_device_gets_plaintext(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_NOISE);
  assert_int_equal(howdy_codec_receive(&codec, plain_hello, sizeof plain_hello, &io),
                   HOWDY_CODEC_CLOSE);
  /* a well-formed Noise frame: 01, length, 01 + text. The plaintext client
   * only needs the 0x01 marker to raise RequiresEncryptionAPIError. */
  assert_true(cap.out_len >= 4);
  assert_int_equal(cap.out[0], 0x01);
  size_t flen = (size_t)((cap.out[1] << 8) | cap.out[2]);
  assert_int_equal(cap.out_len, 3 + flen);
  assert_int_equal(cap.out[3], 0x01);
  assert_memory_equal(cap.out + 4, "Encryption required", flen - 1);
  assert_int_equal(cap.msg_count, 0);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "plaintext client"));
}

static void test_close_from_callback(void **state) {
  (void)state;
  static const uint8_t two[] = {0x00, 0x00, 0x05, 0x00, 0x00, 0x07};
  setup_mode(HOWDY_CODEC_PLAINTEXT);
  cap.close_on_type = 5; /* e.g. a DisconnectRequest */
  assert_int_equal(howdy_codec_receive(&codec, two, sizeof two, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 1);
  assert_string_equal(howdy_codec_last_error(&codec), "test asked to close");

  setup_mode(HOWDY_CODEC_NOISE);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  cap.close_on_type = KAT_C2S_0_TYPE;
  static uint8_t both[KAT_C2S_0_FRAME_LEN + KAT_C2S_1_FRAME_LEN];
  memcpy(both, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN);
  memcpy(both + KAT_C2S_0_FRAME_LEN, kat_c2s_1_frame, KAT_C2S_1_FRAME_LEN);
  assert_int_equal(howdy_codec_receive(&codec, both, sizeof both, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 1);
}

static void test_reply_from_callback(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_NOISE);
  cap.echo = 1;
  static uint8_t stream[KAT_CLIENT_OPEN_LEN + KAT_C2S_0_FRAME_LEN];
  memcpy(stream, kat_client_open, KAT_CLIENT_OPEN_LEN);
  memcpy(stream + KAT_CLIENT_OPEN_LEN, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN);
  assert_int_equal(howdy_codec_receive(&codec, stream, sizeof stream, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.msg_count, 1);
  /* handshake answer + the echoed, encrypted message */
  assert_memory_equal(cap.out, kat_server_answer, KAT_SERVER_ANSWER_LEN);
  assert_int_equal(cap.out_len, KAT_SERVER_ANSWER_LEN + KAT_C2S_0_DATA_LEN + 3 + 4 + 16);

  setup_mode(HOWDY_CODEC_PLAINTEXT);
  cap.echo = 1;
  assert_int_equal(howdy_codec_receive(&codec, plain_hello, sizeof plain_hello, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, sizeof plain_hello);
  assert_memory_equal(cap.out, plain_hello, sizeof plain_hello);
}

static void test_reset_wipes(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_NOISE);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  assert_true(howdy_codec_ready(&codec));
  howdy_codec_reset(&codec);
  static const uint8_t zero[HOWDY_NOISE_KEY_LEN];
  assert_memory_equal(codec.send_cs.k, zero, sizeof zero);
  assert_memory_equal(codec.recv_cs.k, zero, sizeof zero);
  assert_memory_equal(codec.psk, zero, sizeof zero);
  assert_false(howdy_codec_ready(&codec));
  assert_int_equal(howdy_codec_receive(&codec, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(howdy_codec_send(&codec, 1, NULL, 0, &io), HOWDY_CODEC_CLOSE);
  /* and it can be initialised again for a new connection */
  setup_mode(HOWDY_CODEC_NOISE);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  assert_memory_equal(cap.out, kat_server_answer, KAT_SERVER_ANSWER_LEN);
}

static void test_config_handling(void **state) {
  (void)state;
  /* noise without a key cannot work */
  howdy_codec_config_t cfg = {.mode = HOWDY_CODEC_NOISE, .psk = NULL, .node_name = "x", .mac = "x"};
  howdy_codec_init(&codec, &cfg);
  cap_init(&cap, &io);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, 3, &io), HOWDY_CODEC_CLOSE);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "key"));

  /* the MAC is normalised to the 12 lowercase hex digits the client expects,
   * and a long name is cut, never overflowed */
  char long_name[200];
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  howdy_codec_config_t cfg2 = {.mode = HOWDY_CODEC_NOISE, .psk = kat_psk, .node_name = long_name,
                               .mac = "0A-1B-2C-3D-4E-5F"};
  howdy_codec_init(&codec, &cfg2);
  cap_init(&cap, &io);
  assert_string_equal(codec.mac, "0a1b2c3d4e5f");
  assert_int_equal(strlen(codec.node_name), HOWDY_CODEC_MAX_NODE_NAME);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, 3, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, 3 + 1 + HOWDY_CODEC_MAX_NODE_NAME + 1 + 12 + 1);
  assert_int_equal(cap.out[3], 0x01);
  assert_int_equal(cap.out[4 + HOWDY_CODEC_MAX_NODE_NAME], 0x00);
  assert_memory_equal(cap.out + 5 + HOWDY_CODEC_MAX_NODE_NAME, "0a1b2c3d4e5f", 13);

  /* NULL name and MAC give empty fields */
  howdy_codec_config_t cfg3 = {.mode = HOWDY_CODEC_NOISE, .psk = kat_psk};
  howdy_codec_init(&codec, &cfg3);
  cap_init(&cap, &io);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, 3, &io), HOWDY_CODEC_OK);
  assert_memory_equal(cap.out, "\x01\x00\x03\x01\x00\x00", 6);
}

static void test_write_failure_in_handshake(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_NOISE);
  cap.fail_writes = 1;
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.write_calls, 1); /* the hello; nothing after the failure */
  assert_false(howdy_codec_ready(&codec));
}

static void test_empty_input(void **state) {
  (void)state;
  setup_mode(HOWDY_CODEC_NOISE);
  assert_int_equal(howdy_codec_receive(&codec, NULL, 0, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_device_gets_noise_hello),
      cmocka_unit_test(test_noise_device_gets_plaintext),
      cmocka_unit_test(test_close_from_callback),
      cmocka_unit_test(test_reply_from_callback),
      cmocka_unit_test(test_reset_wipes),
      cmocka_unit_test(test_config_handling),
      cmocka_unit_test(test_write_failure_in_handshake),
      cmocka_unit_test(test_empty_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
