/*
 * The API server in-process: the test is the client on a loopback socket and
 * steps howdy_api_server_poll() itself, so every exchange is deterministic
 * and ASan sees both sides. Plaintext framing keeps the client simple; the
 * Noise path is covered by test_codec.c and the pytest interop suite.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "howdy/api_server.h"
#include "howdy/device_entities.h"
#include "howdy/frame_plain.h"
#include "platform_posix.h"

typedef struct {
  howdy_platform_t platform;
  howdy_entities_t entities;
  howdy_device_entities_t device;
  howdy_api_server_t server;
  /* scratch for decoding what the server sent */
  howdy_arena_t arena;
  _Alignas(max_align_t) uint8_t arena_mem[16384];
  uint8_t rx[65536];
  size_t rx_len;
  int voice_calls;
  uint16_t voice_last_type;
} world_t;

static const uint8_t k_mac[6] = {0x02, 0x48, 0x01, 0x02, 0x03, 0x04};

static void start_world(world_t *w, bool encrypted, uint32_t keepalive_ms) {
  memset(w, 0, sizeof *w);
  howdy_log_set_level(HOWDY_LOG_WARN);
  howdy_posix_config_t pcfg = {0};
  assert_int_equal(howdy_posix_platform_init(&w->platform, &pcfg), HOWDY_OK);
  howdy_entities_init(&w->entities, 1000, 60000);
  assert_int_equal(howdy_device_entities_register(&w->device, &w->entities, &w->platform, -1.0f),
                   HOWDY_OK);
  static const uint8_t psk[32] = {1, 2, 3};
  howdy_api_config_t cfg = {
      .bind_addr = "127.0.0.1",
      .port = 0,
      .encrypted = encrypted,
      .psk = psk,
      .name = "unit-test",
      .friendly_name = "Unit Test",
      .model = "model",
      .manufacturer = "HowdyScreen",
      .project_name = "HowdyScreen.Test",
      .project_version = "0.0.1",
      .esphome_version = "2025.4.0",
      .voice_feature_flags = HOWDY_VA_FEATURES_HOWDYSCREEN,
      .keepalive_ms = keepalive_ms,
      .keepalive_timeout_ms = keepalive_ms,
      .hello_timeout_ms = 2000,
  };
  memcpy(cfg.mac, k_mac, 6);
  assert_int_equal(howdy_api_server_start(&w->server, &cfg, &w->platform, &w->entities), HOWDY_OK);
  assert_int_not_equal(howdy_api_server_port(&w->server), 0);
  howdy_arena_init(&w->arena, w->arena_mem, sizeof w->arena_mem);
}

static void stop_world(world_t *w) {
  howdy_api_server_stop(&w->server, 100);
  howdy_posix_platform_deinit(&w->platform);
}

static int world_setup(void **state) {
  world_t *w = calloc(1, sizeof *w);
  start_world(w, false, 60000);
  *state = w;
  return 0;
}

static int world_teardown(void **state) {
  world_t *w = *state;
  stop_world(w);
  free(w);
  return 0;
}

/* ---- client helpers ---------------------------------------------------------------- */

static int client_connect(world_t *w) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(howdy_api_server_port(&w->server))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  /* Let the server accept it. */
  for (int i = 0; i < 5; i++) howdy_api_server_poll(&w->server, 5);
  w->rx_len = 0;
  return fd;
}

static void client_send(int fd, uint16_t type, const ProtobufCMessage *m) {
  uint8_t buf[4096 + HOWDY_PLAIN_HEADER_MAX];
  size_t body = m ? protobuf_c_message_get_packed_size(m) : 0;
  size_t h = howdy_plain_header_encode(buf, (uint32_t)body, type);
  if (m) protobuf_c_message_pack(m, buf + h);
  assert_int_equal(send(fd, buf, h + body, MSG_NOSIGNAL), (ssize_t)(h + body));
}

static void client_send_raw(int fd, const void *data, size_t len) {
  assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Pulls bytes from the socket while stepping the server. Returns false when
 * the server closed the connection. */
static bool pump(world_t *w, int fd, int rounds) {
  for (int i = 0; i < rounds; i++) {
    howdy_api_server_poll(&w->server, 2);
    for (;;) {
      ssize_t n = recv(fd, w->rx + w->rx_len, sizeof w->rx - w->rx_len, 0);
      if (n > 0) {
        w->rx_len += (size_t)n;
        continue;
      }
      if (n == 0) return false;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false; /* reset */
    }
  }
  return true;
}

/* Takes the next complete frame out of rx; false if none is complete yet. */
static bool next_frame(world_t *w, uint16_t *type, uint8_t **payload, size_t *len) {
  howdy_plain_parser_t p;
  howdy_plain_parser_init(&p, sizeof w->rx);
  for (size_t i = 0; i < w->rx_len; i++) {
    howdy_plain_status_t st = howdy_plain_parser_feed(&p, w->rx[i]);
    assert_true(st >= 0);
    if (st == HOWDY_PLAIN_HEADER_DONE) {
      size_t start = i + 1;
      if (w->rx_len - start < p.len) return false;
      static uint8_t copy[65536];
      memcpy(copy, w->rx + start, p.len);
      *type = p.type;
      *payload = copy;
      *len = p.len;
      memmove(w->rx, w->rx + start + p.len, w->rx_len - start - p.len);
      w->rx_len -= start + p.len;
      return true;
    }
  }
  return false;
}

/* Waits for a frame of the given type (skipping others), decoded. */
static ProtobufCMessage *expect(world_t *w, int fd, uint16_t want) {
  bool open = true;
  for (int round = 0; round < 200; round++) {
    uint16_t type;
    uint8_t *payload;
    size_t len;
    while (next_frame(w, &type, &payload, &len)) {
      if (type != want) continue;
      ProtobufCMessage *m = NULL;
      assert_int_equal(howdy_proto_unpack(&w->arena, type, payload, len, &m), HOWDY_PROTO_OK);
      return m;
    }
    if (!open) break;
    /* One more look at what arrived together with the close. */
    open = pump(w, fd, 1);
  }
  fail_msg("message type %u not received", (unsigned)want);
  return NULL;
}

static bool wait_closed(world_t *w, int fd, int rounds) {
  for (int i = 0; i < rounds; i++) {
    if (!pump(w, fd, 1)) return true;
  }
  return false;
}

static void hello(world_t *w, int fd) {
  Howdy__HelloRequest h = HOWDY__HELLO_REQUEST__INIT;
  h.client_info = "cmocka";
  h.api_version_major = 1;
  h.api_version_minor = 10;
  client_send(fd, HOWDY_MSG_HELLO_REQUEST, &h.base);
  Howdy__HelloResponse *r = (Howdy__HelloResponse *)expect(w, fd, HOWDY_MSG_HELLO_RESPONSE);
  assert_int_equal(r->api_version_major, 1);
  assert_true(r->api_version_minor >= 10);
  assert_string_equal(r->name, "unit-test");
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_session(void **state) {
  world_t *w = *state;
  int fd = client_connect(w);
  hello(w, fd);

  Howdy__ConnectRequest c = HOWDY__CONNECT_REQUEST__INIT;
  client_send(fd, HOWDY_MSG_CONNECT_REQUEST, &c.base);
  assert_false(((Howdy__ConnectResponse *)expect(w, fd, HOWDY_MSG_CONNECT_RESPONSE))->invalid_password);

  client_send(fd, HOWDY_MSG_DEVICE_INFO_REQUEST, NULL);
  Howdy__DeviceInfoResponse *di =
      (Howdy__DeviceInfoResponse *)expect(w, fd, HOWDY_MSG_DEVICE_INFO_RESPONSE);
  assert_string_equal(di->name, "unit-test");
  assert_string_equal(di->friendly_name, "Unit Test");
  assert_string_equal(di->mac_address, "02:48:01:02:03:04");
  assert_int_equal(di->voice_assistant_feature_flags, 63);
  assert_false(di->uses_password);

  client_send(fd, HOWDY_MSG_LIST_ENTITIES_REQUEST, NULL);
  expect(w, fd, HOWDY_MSG_LIST_ENTITIES_DONE_RESPONSE);

  client_send(fd, HOWDY_MSG_SUBSCRIBE_STATES_REQUEST, NULL);
  Howdy__NumberStateResponse *vol =
      (Howdy__NumberStateResponse *)expect(w, fd, HOWDY_MSG_NUMBER_STATE_RESPONSE);
  assert_int_equal(vol->key, howdy_entity_key("volume"));

  Howdy__SwitchCommandRequest sw = HOWDY__SWITCH_COMMAND_REQUEST__INIT;
  sw.key = howdy_entity_key("mute");
  sw.state = true;
  client_send(fd, HOWDY_MSG_SWITCH_COMMAND_REQUEST, &sw.base);
  Howdy__SwitchStateResponse *ss =
      (Howdy__SwitchStateResponse *)expect(w, fd, HOWDY_MSG_SWITCH_STATE_RESPONSE);
  assert_int_equal(ss->key, sw.key);
  assert_true(ss->state);
  assert_true(howdy_entities_switch_state(&w->entities, sw.key));

  Howdy__NumberCommandRequest nc = HOWDY__NUMBER_COMMAND_REQUEST__INIT;
  nc.key = howdy_entity_key("volume");
  nc.state = 33.3f;
  client_send(fd, HOWDY_MSG_NUMBER_COMMAND_REQUEST, &nc.base);
  vol = (Howdy__NumberStateResponse *)expect(w, fd, HOWDY_MSG_NUMBER_STATE_RESPONSE);
  assert_true(vol->state == 33.0f);

  client_send(fd, HOWDY_MSG_GET_TIME_REQUEST, NULL);
  Howdy__GetTimeResponse *gt = (Howdy__GetTimeResponse *)expect(w, fd, HOWDY_MSG_GET_TIME_RESPONSE);
  assert_true(gt->epoch_seconds > 1700000000u);

  /* Accepted silently. */
  client_send(fd, HOWDY_MSG_SUBSCRIBE_LOGS_REQUEST, NULL);
  client_send(fd, HOWDY_MSG_SUBSCRIBE_HOMEASSISTANT_SERVICES_REQUEST, NULL);
  client_send(fd, HOWDY_MSG_SUBSCRIBE_HOME_ASSISTANT_STATES_REQUEST, NULL);
  /* Refused but survivable: unknown type, device-only type, malformed payload. */
  client_send_raw(fd, "\x00\x00\xa3\x06", 4); /* type 803, empty */
  client_send(fd, HOWDY_MSG_HELLO_RESPONSE, NULL);
  client_send_raw(fd, "\x00\x02\x21\x0d\x01", 5); /* SwitchCommand, fixed32 cut */
  uint32_t refused_before = w->server.stats.refused_messages;

  client_send(fd, HOWDY_MSG_PING_REQUEST, NULL);
  expect(w, fd, HOWDY_MSG_PING_RESPONSE);
  assert_int_equal(refused_before, 0);
  assert_int_equal(w->server.stats.refused_messages, 3);

  /* Voice defaults without a voice session. */
  client_send(fd, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST, NULL);
  Howdy__VoiceAssistantConfigurationResponse *vc = (Howdy__VoiceAssistantConfigurationResponse *)
      expect(w, fd, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE);
  assert_int_equal(vc->n_available_wake_words, 0);
  Howdy__VoiceAssistantAnnounceRequest an = HOWDY__VOICE_ASSISTANT_ANNOUNCE_REQUEST__INIT;
  an.text = "hello";
  client_send(fd, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST, &an.base);
  Howdy__VoiceAssistantAnnounceFinished *af = (Howdy__VoiceAssistantAnnounceFinished *)expect(
      w, fd, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_false(af->success);

  client_send(fd, HOWDY_MSG_DISCONNECT_REQUEST, NULL);
  expect(w, fd, HOWDY_MSG_DISCONNECT_RESPONSE);
  assert_true(wait_closed(w, fd, 100));
  close(fd);
  pump(w, -1, 0);
  assert_int_equal(howdy_api_server_client_count(&w->server), 0);
}

static void test_message_before_hello_closes(void **state) {
  world_t *w = *state;
  int fd = client_connect(w);
  client_send(fd, HOWDY_MSG_DEVICE_INFO_REQUEST, NULL);
  assert_true(wait_closed(w, fd, 100));
  close(fd);
  assert_int_equal(w->server.stats.protocol_errors, 1);
}

static void test_bad_framing_closes(void **state) {
  world_t *w = *state;
  int fd = client_connect(w);
  hello(w, fd);
  /* A frame announcing 1 MB. */
  client_send_raw(fd, "\x00\x80\x80\x40\x0b", 5);
  assert_true(wait_closed(w, fd, 100));
  close(fd);
  fd = client_connect(w);
  client_send_raw(fd, "\x42garbage", 8);
  assert_true(wait_closed(w, fd, 100));
  close(fd);
}

static void test_slots_full(void **state) {
  world_t *w = *state;
  int fds[HOWDY_API_MAX_CLIENTS];
  for (int i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    fds[i] = client_connect(w);
    hello(w, fds[i]);
  }
  assert_int_equal(howdy_api_server_client_count(&w->server), HOWDY_API_MAX_CLIENTS);
  int extra = client_connect(w);
  assert_true(wait_closed(w, extra, 50));
  close(extra);
  assert_int_equal(w->server.stats.rejected_full, 1);
  /* The others still work. */
  for (int i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    w->rx_len = 0;
    client_send(fds[i], HOWDY_MSG_PING_REQUEST, NULL);
    expect(w, fds[i], HOWDY_MSG_PING_RESPONSE);
  }
  /* A vanished client frees its slot. */
  close(fds[0]);
  pump(w, fds[1], 5);
  assert_int_equal(howdy_api_server_client_count(&w->server), HOWDY_API_MAX_CLIENTS - 1);
  for (int i = 1; i < HOWDY_API_MAX_CLIENTS; i++) close(fds[i]);
}

static void test_keepalive(void **state) {
  world_t *w = *state;
  stop_world(w);
  start_world(w, false, 100);
  int fd = client_connect(w);
  hello(w, fd);
  /* Silence: the server pings. Answering keeps the link. */
  expect(w, fd, HOWDY_MSG_PING_REQUEST);
  client_send(fd, HOWDY_MSG_PING_RESPONSE, NULL);
  expect(w, fd, HOWDY_MSG_PING_REQUEST);
  client_send(fd, HOWDY_MSG_PING_RESPONSE, NULL);
  assert_int_equal(w->server.stats.dropped_keepalive, 0);
  /* Not answering: dropped after the timeout. */
  expect(w, fd, HOWDY_MSG_PING_REQUEST);
  assert_true(wait_closed(w, fd, 500));
  close(fd);
  assert_int_equal(w->server.stats.dropped_keepalive, 1);
}

static bool voice_hook(void *ctx, howdy_api_conn_t *conn, uint16_t type, const ProtobufCMessage *m) {
  world_t *w = ctx;
  (void)conn;
  (void)m;
  w->voice_calls++;
  w->voice_last_type = type;
  return type == HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST; /* claims announcements only */
}

static void test_voice_hooks(void **state) {
  world_t *w = *state;
  howdy_api_voice_hooks_t hooks = {.on_message = voice_hook, .ctx = w};
  howdy_api_server_set_voice_hooks(&w->server, &hooks);
  int fd = client_connect(w);
  hello(w, fd);
  Howdy__SubscribeVoiceAssistantRequest sub = HOWDY__SUBSCRIBE_VOICE_ASSISTANT_REQUEST__INIT;
  sub.subscribe = true;
  sub.flags = 1;
  client_send(fd, HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST, &sub.base);
  Howdy__VoiceAssistantAnnounceRequest an = HOWDY__VOICE_ASSISTANT_ANNOUNCE_REQUEST__INIT;
  client_send(fd, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST, &an.base);
  client_send(fd, HOWDY_MSG_PING_REQUEST, NULL);
  expect(w, fd, HOWDY_MSG_PING_RESPONSE);
  assert_int_equal(w->voice_calls, 2);
  assert_int_equal(w->voice_last_type, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST);
  /* The hook took the announcement: no default AnnounceFinished. */
  uint16_t type;
  uint8_t *payload;
  size_t len;
  while (next_frame(w, &type, &payload, &len)) {
    assert_int_not_equal(type, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  }
  bool subscribed = false;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    if (w->server.conns[i].state == HOWDY_CONN_ACTIVE) subscribed = w->server.conns[i].voice_subscribed;
  }
  assert_true(subscribed);
  close(fd);
}

static void test_stop_says_goodbye(void **state) {
  world_t *w = *state;
  int fd = client_connect(w);
  hello(w, fd);
  howdy_api_server_stop(&w->server, 200);
  /* Collect what the server flushed before closing. */
  for (int i = 0; i < 50; i++) {
    ssize_t n = recv(fd, w->rx + w->rx_len, sizeof w->rx - w->rx_len, 0);
    if (n > 0) w->rx_len += (size_t)n;
    else if (n == 0) break;
    else usleep(2000);
  }
  uint16_t type = 0;
  uint8_t *payload;
  size_t len;
  assert_true(next_frame(w, &type, &payload, &len));
  assert_int_equal(type, HOWDY_MSG_DISCONNECT_REQUEST);
  close(fd);
  /* Restart so teardown has something to stop. */
  howdy_posix_platform_deinit(&w->platform);
  start_world(w, false, 60000);
}

static void test_encrypted_rejects_plaintext_hello(void **state) {
  world_t *w = *state;
  stop_world(w);
  start_world(w, true, 60000);
  int fd = client_connect(w);
  Howdy__HelloRequest h = HOWDY__HELLO_REQUEST__INIT;
  client_send(fd, HOWDY_MSG_HELLO_REQUEST, &h.base);
  assert_true(wait_closed(w, fd, 100));
  /* What came back is a Noise frame (indicator 0x01), which is what makes
   * aioesphomeapi raise RequiresEncryptionAPIError. */
  assert_true(w->rx_len > 0);
  assert_int_equal(w->rx[0], 0x01);
  close(fd);
}

/* Connects without stepping the server, so the test decides which poll round
 * sees the new connection. */
static int client_connect_raw(world_t *w) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(howdy_api_server_port(&w->server))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  return fd;
}

static howdy_socket_t server_sock_of_only_client(world_t *w) {
  howdy_socket_t sock = HOWDY_SOCKET_INVALID;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    howdy_api_conn_t *c = &w->server.conns[i];
    if (c->state == HOWDY_CONN_HELLO || c->state == HOWDY_CONN_ACTIVE) {
      assert_int_equal(sock, HOWDY_SOCKET_INVALID);
      sock = c->sock;
    }
  }
  return sock;
}

/* Home Assistant's esphome config flow says goodbye (DisconnectRequest) and
 * closes without reading the answer; the integration's reconnect follows
 * within milliseconds and sends its first bytes at once. Every ordering of
 * the two in the server's poll rounds must serve the new client: both in one
 * round (0), the old one freed first so the new one gets its descriptor
 * number (1), the old client's close arriving after the reconnect (2), and
 * the old client resetting instead of closing (3). */
static void test_goodbye_then_immediate_reconnect(void **state) {
  world_t *w = *state;
  for (int order = 0; order < 4; order++) {
    int a = client_connect(w);
    hello(w, a);
    howdy_socket_t a_sock = server_sock_of_only_client(w);
    client_send(a, HOWDY_MSG_DISCONNECT_REQUEST, NULL);
    if (order == 3) {
      /* Abortive close: the old link is reset, not closed. */
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (order == 1 || order == 2) {
      /* The server handles the goodbye and frees the slot before the new
       * connection is accepted. */
      for (int i = 0; i < 100 && howdy_api_server_client_count(&w->server) > 0; i++) {
        howdy_api_server_poll(&w->server, 2);
      }
      assert_int_equal(howdy_api_server_client_count(&w->server), 0);
    }
    if (order != 2) close(a);
    int b = client_connect_raw(w);
    /* Hello in the same write as the connect's first bytes. */
    w->rx_len = 0;
    Howdy__HelloRequest h = HOWDY__HELLO_REQUEST__INIT;
    h.client_info = "reconnect";
    h.api_version_major = 1;
    h.api_version_minor = 10;
    client_send(b, HOWDY_MSG_HELLO_REQUEST, &h.base);
    if (order == 2) close(a); /* the old client's close lands after the reconnect */
    Howdy__HelloResponse *r = (Howdy__HelloResponse *)expect(w, b, HOWDY_MSG_HELLO_RESPONSE);
    assert_string_equal(r->name, "unit-test");
    if (order == 1) {
      /* The new link really got the old link's descriptor number. */
      assert_int_equal(server_sock_of_only_client(w), a_sock);
    }
    client_send(b, HOWDY_MSG_PING_REQUEST, NULL);
    expect(w, b, HOWDY_MSG_PING_RESPONSE);
    assert_int_equal(howdy_api_server_client_count(&w->server), 1);
    client_send(b, HOWDY_MSG_DISCONNECT_REQUEST, NULL);
    expect(w, b, HOWDY_MSG_DISCONNECT_RESPONSE);
    assert_true(wait_closed(w, b, 100));
    close(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_session, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_message_before_hello_closes, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_bad_framing_closes, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_slots_full, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_keepalive, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_voice_hooks, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_stop_says_goodbye, world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_encrypted_rejects_plaintext_hello, world_setup,
                                      world_teardown),
      cmocka_unit_test_setup_teardown(test_goodbye_then_immediate_reconnect, world_setup,
                                      world_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
