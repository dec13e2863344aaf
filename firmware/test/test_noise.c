/* Noise NNpsk0: the primitives in both roles, the codec's server handshake
 * and transport, failures, and known answers from the Python noise package. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec_test_io.h"
#include "howdy/codec.h"
#include "howdy/noise.h"
#include "vectors/noise_vectors.h"

static howdy_codec_t codec;
static capture_t cap;
static howdy_codec_io_t io;
static fixed_random_t server_rng;

static void noise_setup(const uint8_t *psk) {
  server_rng = (fixed_random_t){.bytes = kat_server_e, .len = sizeof kat_server_e};
  howdy_codec_config_t cfg = {.mode = HOWDY_CODEC_NOISE,
                              .psk = psk,
                              .node_name = KAT_NODE_NAME,
                              .mac = "0A:1B:2C:3D:4E:5F",
                              .random = fixed_random,
                              .random_ctx = &server_rng};
  howdy_codec_init(&codec, &cfg);
  cap_init(&cap, &io);
}

/* The client side of a session, built on the initiator role. */
typedef struct {
  howdy_noise_handshake_t hs;
  howdy_noise_cipher_t send, recv;
} client_t;

static size_t client_open(client_t *cl, const uint8_t *psk, const uint8_t *e_priv, uint8_t *out) {
  howdy_noise_handshake_init(&cl->hs, true, psk, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE,
                             HOWDY_NOISE_API_PROLOGUE_LEN);
  size_t n = 0;
  /* empty hello frame, then the handshake frame with its 0x00 lead byte */
  memcpy(out, "\x01\x00\x00", 3);
  size_t msg_len = 0;
  assert_int_equal(howdy_noise_write_message(&cl->hs, e_priv, NULL, 0, out + 7, 64, &msg_len),
                   HOWDY_NOISE_OK);
  assert_int_equal(msg_len, HOWDY_NOISE_HANDSHAKE_MSG_LEN);
  out[3] = 0x01;
  out[4] = 0;
  out[5] = (uint8_t)(msg_len + 1);
  out[6] = 0x00;
  n = 7 + msg_len;
  return n;
}

/* Checks the server hello + handshake answer in cap.out and finishes the
 * client side. */
static void client_finish(client_t *cl) {
  static const uint8_t hello[] = "\x01\x00\x18\x01howdy-kat\0000a1b2c3d4e5f";
  assert_true(cap.out_len >= sizeof hello);
  assert_memory_equal(cap.out, hello, sizeof hello); /* includes the final NUL */
  const uint8_t *hs = cap.out + sizeof hello;
  assert_int_equal(hs[0], 0x01);
  assert_int_equal((hs[1] << 8) | hs[2], 1 + HOWDY_NOISE_HANDSHAKE_MSG_LEN);
  assert_int_equal(hs[3], 0x00);
  uint8_t scratch[4];
  size_t plen = 99;
  assert_int_equal(howdy_noise_read_message(&cl->hs, hs + 4, HOWDY_NOISE_HANDSHAKE_MSG_LEN, scratch,
                                            sizeof scratch, &plen),
                   HOWDY_NOISE_OK);
  assert_int_equal(plen, 0);
  assert_int_equal(howdy_noise_split(&cl->hs, &cl->send, &cl->recv), HOWDY_NOISE_OK);
  cap.out_len = 0;
}

static size_t client_frame(client_t *cl, uint16_t type, const uint8_t *data, size_t len,
                           uint8_t *out) {
  uint8_t *inner = out + 3;
  inner[0] = (uint8_t)(type >> 8);
  inner[1] = (uint8_t)type;
  inner[2] = (uint8_t)(len >> 8);
  inner[3] = (uint8_t)len;
  if (len > 0) {
    memcpy(inner + 4, data, len);
  }
  assert_int_equal(howdy_noise_encrypt(&cl->send, NULL, 0, inner, len + 4, inner), HOWDY_NOISE_OK);
  size_t flen = len + 4 + HOWDY_NOISE_TAG_LEN;
  out[0] = 0x01;
  out[1] = (uint8_t)(flen >> 8);
  out[2] = (uint8_t)flen;
  return 3 + flen;
}

/* --- primitives ------------------------------------------------------------ */

static void test_primitives_handshake_and_transport(void **state) {
  (void)state;
  uint8_t psk[32], ie[32], re[32];
  randombytes_buf(psk, sizeof psk);
  randombytes_buf(ie, sizeof ie);
  randombytes_buf(re, sizeof re);
  howdy_noise_handshake_t init, resp;
  howdy_noise_handshake_init(&init, true, psk, (const uint8_t *)"p", 1);
  howdy_noise_handshake_init(&resp, false, psk, (const uint8_t *)"p", 1);

  uint8_t m1[64 + 5], m2[64], pl[16];
  size_t m1_len = 0, m2_len = 0, pl_len = 0;
  /* message 1 carries a payload here, to exercise that path too */
  assert_int_equal(howdy_noise_write_message(&init, ie, (const uint8_t *)"hello", 5, m1, sizeof m1, &m1_len),
                   HOWDY_NOISE_OK);
  assert_int_equal(m1_len, 48 + 5);
  /* wrong order is refused */
  assert_int_equal(howdy_noise_write_message(&init, ie, NULL, 0, m2, sizeof m2, &m2_len), HOWDY_NOISE_ERR_ARG);
  assert_int_equal(howdy_noise_read_message(&resp, m1, m1_len, pl, sizeof pl, &pl_len), HOWDY_NOISE_OK);
  assert_int_equal(pl_len, 5);
  assert_memory_equal(pl, "hello", 5);
  assert_int_equal(howdy_noise_write_message(&resp, re, NULL, 0, m2, sizeof m2, &m2_len), HOWDY_NOISE_OK);
  assert_int_equal(howdy_noise_read_message(&init, m2, m2_len, pl, sizeof pl, &pl_len), HOWDY_NOISE_OK);
  assert_true(howdy_noise_handshake_done(&init));
  assert_memory_equal(howdy_noise_handshake_hash(&init), howdy_noise_handshake_hash(&resp), 32);

  howdy_noise_cipher_t i_send, i_recv, r_send, r_recv;
  assert_int_equal(howdy_noise_split(&init, &i_send, &i_recv), HOWDY_NOISE_OK);
  assert_int_equal(howdy_noise_split(&resp, &r_send, &r_recv), HOWDY_NOISE_OK);
  assert_memory_equal(i_send.k, r_recv.k, 32);
  assert_memory_equal(i_recv.k, r_send.k, 32);
  assert_memory_not_equal(i_send.k, i_recv.k, 32);

  for (int round = 0; round < 3; round++) {
    uint8_t buf[64];
    memcpy(buf, "ping!", 5);
    assert_int_equal(howdy_noise_encrypt(&i_send, NULL, 0, buf, 5, buf), HOWDY_NOISE_OK);
    assert_int_equal(howdy_noise_decrypt(&r_recv, NULL, 0, buf, 5 + 16, buf), HOWDY_NOISE_OK);
    assert_memory_equal(buf, "ping!", 5);
    memcpy(buf, "pong", 4);
    assert_int_equal(howdy_noise_encrypt(&r_send, NULL, 0, buf, 4, buf), HOWDY_NOISE_OK);
    /* tampering fails and does not advance the nonce (decrypted into a
     * copy: a failed decryption clears its output) */
    uint8_t junk[64];
    buf[0] ^= 1;
    assert_int_equal(howdy_noise_decrypt(&i_recv, NULL, 0, buf, 4 + 16, junk), HOWDY_NOISE_ERR_MAC);
    buf[0] ^= 1;
    assert_int_equal(howdy_noise_decrypt(&i_recv, NULL, 0, buf, 4 + 16, buf), HOWDY_NOISE_OK);
    assert_memory_equal(buf, "pong", 4);
  }
  assert_int_equal(i_send.n, 3);
  assert_int_equal(i_recv.n, 3);
}

static void test_primitives_wrong_psk(void **state) {
  (void)state;
  uint8_t psk2[32];
  memcpy(psk2, kat_psk, 32);
  psk2[31] ^= 0x80;
  howdy_noise_handshake_t init, resp;
  howdy_noise_handshake_init(&init, true, psk2, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE, 14);
  howdy_noise_handshake_init(&resp, false, kat_psk, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE, 14);
  uint8_t m1[48], pl[1];
  size_t m1_len = 0, pl_len = 0;
  assert_int_equal(howdy_noise_write_message(&init, kat_client_e, NULL, 0, m1, sizeof m1, &m1_len), HOWDY_NOISE_OK);
  assert_int_equal(howdy_noise_read_message(&resp, m1, m1_len, pl, sizeof pl, &pl_len), HOWDY_NOISE_ERR_MAC);
}

static void test_nonce_limit(void **state) {
  (void)state;
  howdy_noise_cipher_t cs = {.has_key = true, .n = UINT64_MAX - 1};
  uint8_t buf[32] = {0};
  assert_int_equal(howdy_noise_encrypt(&cs, NULL, 0, buf, 4, buf), HOWDY_NOISE_OK);
  assert_int_equal(howdy_noise_encrypt(&cs, NULL, 0, buf, 4, buf), HOWDY_NOISE_ERR_NONCE);
}

static void test_kat_primitives(void **state) {
  (void)state;
  howdy_noise_handshake_t init, resp;
  howdy_noise_handshake_init(&init, true, kat_psk, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE, 14);
  howdy_noise_handshake_init(&resp, false, kat_psk, (const uint8_t *)HOWDY_NOISE_API_PROLOGUE, 14);
  uint8_t m1[48], m2[48], pl[1];
  size_t n = 0, pl_len = 0;
  assert_int_equal(howdy_noise_write_message(&init, kat_client_e, NULL, 0, m1, sizeof m1, &n), HOWDY_NOISE_OK);
  /* kat_client_open = 01 00 00 | 01 00 31 | 00 | message 1 */
  assert_memory_equal(m1, kat_client_open + 7, 48);
  assert_int_equal(howdy_noise_read_message(&resp, m1, n, pl, sizeof pl, &pl_len), HOWDY_NOISE_OK);
  assert_int_equal(howdy_noise_write_message(&resp, kat_server_e, NULL, 0, m2, sizeof m2, &n), HOWDY_NOISE_OK);
  assert_memory_equal(m2, kat_server_answer + KAT_SERVER_ANSWER_LEN - 48, 48);
  assert_memory_equal(howdy_noise_handshake_hash(&resp), kat_handshake_hash, 32);
}

/* --- codec, server side ------------------------------------------------------ */

static void test_kat_codec_byte_identical(void **state) {
  (void)state;
  noise_setup(kat_psk);
  assert_false(howdy_codec_ready(&codec));
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, KAT_SERVER_ANSWER_LEN);
  assert_memory_equal(cap.out, kat_server_answer, KAT_SERVER_ANSWER_LEN);
  assert_true(howdy_codec_ready(&codec));

  /* client frames decode to the generator's messages */
  assert_int_equal(howdy_codec_receive(&codec, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(howdy_codec_receive(&codec, kat_c2s_1_frame, KAT_C2S_1_FRAME_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.msg_count, 2);
  assert_int_equal(cap.msg_type[0], KAT_C2S_0_TYPE);
  assert_int_equal(cap.msg_len[0], KAT_C2S_0_DATA_LEN);
  assert_memory_equal(cap.msg_data[0], kat_c2s_0_data, KAT_C2S_0_DATA_LEN);
  assert_int_equal(cap.msg_type[1], KAT_C2S_1_TYPE);
  assert_int_equal(cap.msg_len[1], 0);

  /* server frames are byte-identical to the generator's */
  cap.out_len = 0;
  assert_int_equal(howdy_codec_send(&codec, KAT_S2C_0_TYPE, kat_s2c_0_data, KAT_S2C_0_DATA_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, KAT_S2C_0_FRAME_LEN);
  assert_memory_equal(cap.out, kat_s2c_0_frame, KAT_S2C_0_FRAME_LEN);
  cap.out_len = 0;
  assert_int_equal(howdy_codec_send(&codec, KAT_S2C_1_TYPE, NULL, 0, &io), HOWDY_CODEC_OK);
  assert_memory_equal(cap.out, kat_s2c_1_frame, KAT_S2C_1_FRAME_LEN);
  cap.out_len = 0;
  assert_int_equal(howdy_codec_send(&codec, KAT_S2C_2_TYPE, kat_s2c_2_data, KAT_S2C_2_DATA_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, KAT_S2C_2_FRAME_LEN);
  assert_memory_equal(cap.out, kat_s2c_2_frame, KAT_S2C_2_FRAME_LEN);
}

static void test_kat_codec_split_everywhere(void **state) {
  (void)state;
  /* the whole client side as one byte stream */
  static uint8_t stream[KAT_CLIENT_OPEN_LEN + KAT_C2S_0_FRAME_LEN + KAT_C2S_1_FRAME_LEN];
  size_t n = 0;
  memcpy(stream + n, kat_client_open, KAT_CLIENT_OPEN_LEN);
  n += KAT_CLIENT_OPEN_LEN;
  memcpy(stream + n, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN);
  n += KAT_C2S_0_FRAME_LEN;
  memcpy(stream + n, kat_c2s_1_frame, KAT_C2S_1_FRAME_LEN);
  n += KAT_C2S_1_FRAME_LEN;
  for (size_t k = 0; k <= n; k++) {
    noise_setup(kat_psk);
    assert_int_equal(howdy_codec_receive(&codec, stream, k, &io), HOWDY_CODEC_OK);
    assert_int_equal(howdy_codec_receive(&codec, stream + k, n - k, &io), HOWDY_CODEC_OK);
    assert_int_equal(cap.out_len, KAT_SERVER_ANSWER_LEN);
    assert_memory_equal(cap.out, kat_server_answer, KAT_SERVER_ANSWER_LEN);
    assert_int_equal(cap.msg_count, 2);
    assert_memory_equal(cap.msg_data[0], kat_c2s_0_data, KAT_C2S_0_DATA_LEN);
  }
  noise_setup(kat_psk);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(howdy_codec_receive(&codec, stream + i, 1, &io), HOWDY_CODEC_OK);
  }
  assert_int_equal(cap.msg_count, 2);
}

static void test_codec_full_session_random_keys(void **state) {
  (void)state;
  uint8_t psk[32], ce[32];
  randombytes_buf(psk, sizeof psk);
  randombytes_buf(ce, sizeof ce);
  howdy_codec_config_t cfg = {.mode = HOWDY_CODEC_NOISE, .psk = psk, .node_name = KAT_NODE_NAME,
                              .mac = "0a1b2c3d4e5f"}; /* default libsodium randomness */
  howdy_codec_init(&codec, &cfg);
  cap_init(&cap, &io);
  client_t cl;
  uint8_t buf[128];
  size_t n = client_open(&cl, psk, ce, buf);
  assert_int_equal(howdy_codec_receive(&codec, buf, n, &io), HOWDY_CODEC_OK);
  client_finish(&cl);

  /* client -> server, several frames in one read, the largest allowed */
  static uint8_t big[HOWDY_CODEC_MAX_PAYLOAD], frames[2 * HOWDY_CODEC_TX_CAP];
  for (size_t i = 0; i < sizeof big; i++) {
    big[i] = (uint8_t)(i * 7);
  }
  n = client_frame(&cl, 1, big, sizeof big, frames);
  n += client_frame(&cl, 7, NULL, 0, frames + n);
  assert_int_equal(howdy_codec_receive(&codec, frames, n, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.msg_count, 2);
  assert_int_equal(cap.msg_type[0], 1);
  assert_int_equal(cap.msg_len[0], sizeof big);
  assert_memory_equal(cap.msg_data[0], big, sizeof big);
  assert_int_equal(cap.msg_type[1], 7);

  /* server -> client */
  assert_int_equal(howdy_codec_send(&codec, 8, (const uint8_t *)"xyz", 3, &io), HOWDY_CODEC_OK);
  assert_int_equal(howdy_codec_send(&codec, 0x1234, big, sizeof big, &io), HOWDY_CODEC_OK);
  const uint8_t *p = cap.out;
  static uint8_t plain[HOWDY_CODEC_TX_CAP];
  size_t flen = (size_t)((p[1] << 8) | p[2]);
  assert_int_equal(p[0], 0x01);
  assert_int_equal(howdy_noise_decrypt(&cl.recv, NULL, 0, p + 3, flen, plain), HOWDY_NOISE_OK);
  assert_memory_equal(plain, "\x00\x08\x00\x03xyz", 7);
  p += 3 + flen;
  flen = (size_t)((p[1] << 8) | p[2]);
  assert_int_equal(flen, sizeof big + 20);
  assert_int_equal(howdy_noise_decrypt(&cl.recv, NULL, 0, p + 3, flen, plain), HOWDY_NOISE_OK);
  assert_memory_equal(plain, "\x12\x34\x10\x00", 4);
  assert_memory_equal(plain + 4, big, sizeof big);
  assert_int_equal((size_t)(p + 3 + flen - cap.out), cap.out_len);
}

static void test_codec_wrong_psk(void **state) {
  (void)state;
  uint8_t wrong[32];
  memcpy(wrong, kat_psk, 32);
  wrong[0] ^= 1;
  noise_setup(kat_psk);
  client_t cl;
  uint8_t buf[128];
  size_t n = client_open(&cl, wrong, kat_client_e, buf);
  assert_int_equal(howdy_codec_receive(&codec, buf, n, &io), HOWDY_CODEC_CLOSE);
  /* server hello, then 01 00 16 01 "Handshake MAC failure" */
  static const uint8_t hello[] = "\x01\x00\x18\x01howdy-kat\0000a1b2c3d4e5f";
  static const uint8_t reject[] = "\x01\x00\x16\x01" HOWDY_CODEC_ERR_TEXT_MAC;
  assert_int_equal(cap.out_len, sizeof hello + sizeof reject - 1);
  assert_memory_equal(cap.out, hello, sizeof hello);
  assert_memory_equal(cap.out + sizeof hello, reject, sizeof reject - 1);
  assert_memory_equal(cap.out + sizeof hello + 4, "Handshake MAC failure", 21);
  assert_false(howdy_codec_ready(&codec));
  assert_non_null(strstr(howdy_codec_last_error(&codec), "MAC"));
  /* the key is gone */
  static const uint8_t zero[32];
  assert_memory_equal(codec.psk, zero, 32);
  /* nothing more is accepted */
  assert_int_equal(howdy_codec_receive(&codec, buf, 1, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(howdy_codec_send(&codec, 1, NULL, 0, &io), HOWDY_CODEC_CLOSE);
}

static void test_codec_bad_handshake_lead(void **state) {
  (void)state;
  noise_setup(kat_psk);
  uint8_t buf[KAT_CLIENT_OPEN_LEN];
  memcpy(buf, kat_client_open, sizeof buf);
  buf[6] = 0x05; /* lead byte of the handshake frame */
  assert_int_equal(howdy_codec_receive(&codec, buf, sizeof buf, &io), HOWDY_CODEC_CLOSE);
  const uint8_t *rej = cap.out + 27;
  assert_int_equal(rej[0], 0x01);
  assert_int_equal(rej[3], 0x01);
  assert_memory_not_equal(rej + 4, "Handshake MAC failure", 21);
  /* a handshake frame too short for message 1 */
  noise_setup(kat_psk);
  static const uint8_t short_hs[] = {0x01, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00, 1, 2, 3, 4};
  assert_int_equal(howdy_codec_receive(&codec, short_hs, sizeof short_hs, &io), HOWDY_CODEC_CLOSE);
}

static void test_codec_bad_indicator(void **state) {
  (void)state;
  /* after the handshake */
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  cap.out_len = 0;
  static const uint8_t bad[] = {0x02, 0x00, 0x00};
  assert_int_equal(howdy_codec_receive(&codec, bad, sizeof bad, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.out_len, 0);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "indicator"));
  /* as the very first byte: neither Noise nor plaintext */
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_receive(&codec, bad, sizeof bad, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.out_len, 0);
}

static void test_codec_oversize_frame(void **state) {
  (void)state;
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  uint8_t hdr[3] = {0x01, (uint8_t)((HOWDY_CODEC_MAX_FRAME_PAYLOAD + 1) >> 8),
                    (uint8_t)(HOWDY_CODEC_MAX_FRAME_PAYLOAD + 1)};
  assert_int_equal(howdy_codec_receive(&codec, hdr, 3, &io), HOWDY_CODEC_CLOSE);
  assert_non_null(strstr(howdy_codec_last_error(&codec), "exceeds"));
  /* also during the hello phase */
  noise_setup(kat_psk);
  static const uint8_t huge[] = {0x01, 0xff, 0xff};
  assert_int_equal(howdy_codec_receive(&codec, huge, sizeof huge, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.out_len, 0);
  /* a data frame shorter than header + tag */
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  static const uint8_t tiny[] = {0x01, 0x00, 0x03, 1, 2, 3};
  assert_int_equal(howdy_codec_receive(&codec, tiny, sizeof tiny, &io), HOWDY_CODEC_CLOSE);
}

static void test_codec_tampered_ciphertext(void **state) {
  (void)state;
  for (size_t pos = 3; pos < KAT_C2S_0_FRAME_LEN; pos += 5) {
    noise_setup(kat_psk);
    assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
    uint8_t f[KAT_C2S_0_FRAME_LEN];
    memcpy(f, kat_c2s_0_frame, sizeof f);
    f[pos] ^= 0x40;
    assert_int_equal(howdy_codec_receive(&codec, f, sizeof f, &io), HOWDY_CODEC_CLOSE);
    assert_int_equal(cap.msg_count, 0);
    assert_non_null(strstr(howdy_codec_last_error(&codec), "decryption"));
  }
  /* replaying a frame fails too (the nonce moved on) */
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, KAT_CLIENT_OPEN_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(howdy_codec_receive(&codec, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN, &io), HOWDY_CODEC_OK);
  assert_int_equal(howdy_codec_receive(&codec, kat_c2s_0_frame, KAT_C2S_0_FRAME_LEN, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 1);
}

static void test_codec_inner_length_mismatch(void **state) {
  (void)state;
  uint8_t psk[32], ce[32];
  randombytes_buf(psk, sizeof psk);
  randombytes_buf(ce, sizeof ce);
  noise_setup(psk);
  client_t cl;
  uint8_t buf[128];
  size_t n = client_open(&cl, psk, ce, buf);
  assert_int_equal(howdy_codec_receive(&codec, buf, n, &io), HOWDY_CODEC_OK);
  client_finish(&cl);
  /* an inner length that claims more than the frame holds */
  uint8_t f[64];
  uint8_t *inner = f + 3;
  memcpy(inner, "\x00\x01\x00\x09" "abc", 7);
  assert_int_equal(howdy_noise_encrypt(&cl.send, NULL, 0, inner, 7, inner), HOWDY_NOISE_OK);
  f[0] = 1;
  f[1] = 0;
  f[2] = 7 + 16;
  assert_int_equal(howdy_codec_receive(&codec, f, 3 + 7 + 16, &io), HOWDY_CODEC_CLOSE);
  assert_int_equal(cap.msg_count, 0);
}

static void test_codec_send_before_ready(void **state) {
  (void)state;
  noise_setup(kat_psk);
  assert_int_equal(howdy_codec_send(&codec, 1, NULL, 0, &io), HOWDY_CODEC_NOT_READY);
  assert_int_equal(cap.out_len, 0);
  /* after the hello only: still not ready */
  assert_int_equal(howdy_codec_receive(&codec, kat_client_open, 3, &io), HOWDY_CODEC_OK);
  assert_int_equal(cap.out_len, 27);
  assert_false(howdy_codec_ready(&codec));
  assert_int_equal(howdy_codec_send(&codec, 1, NULL, 0, &io), HOWDY_CODEC_NOT_READY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_primitives_handshake_and_transport),
      cmocka_unit_test(test_primitives_wrong_psk),
      cmocka_unit_test(test_nonce_limit),
      cmocka_unit_test(test_kat_primitives),
      cmocka_unit_test(test_kat_codec_byte_identical),
      cmocka_unit_test(test_kat_codec_split_everywhere),
      cmocka_unit_test(test_codec_full_session_random_keys),
      cmocka_unit_test(test_codec_wrong_psk),
      cmocka_unit_test(test_codec_bad_handshake_lead),
      cmocka_unit_test(test_codec_bad_indicator),
      cmocka_unit_test(test_codec_oversize_frame),
      cmocka_unit_test(test_codec_tampered_ciphertext),
      cmocka_unit_test(test_codec_inner_length_mismatch),
      cmocka_unit_test(test_codec_send_before_ready),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
