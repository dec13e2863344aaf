/*
 * The native-API server of the device: a TCP listener (6053), a few client
 * connections at once, each with its own codec (plaintext or Noise), fixed
 * transmit buffer and unpack arena; message dispatch; keepalive; entity
 * state pushes.
 *
 * Runs in one task: howdy_api_server_poll() waits on the sockets (and on the
 * server's wakeup, which other tasks or a signal handler raise) for at most
 * the given time and does all the work that is due. Nothing here allocates;
 * the struct is big (several connections' buffers) and is meant to live in
 * static storage or be allocated once at start-up.
 */
#ifndef HOWDY_API_SERVER_H
#define HOWDY_API_SERVER_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "howdy/codec.h"
#include "howdy/entities.h"
#include "howdy/platform.h"
#include "howdy/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOWDY_API_DEFAULT_PORT 6053u
/* API level announced in HelloResponse. aioesphomeapi gates the voice
 * assistant feature flags on >= 1.10. */
#define HOWDY_API_VERSION_MAJOR 1u
#define HOWDY_API_VERSION_MINOR 10u

#ifndef HOWDY_API_MAX_CLIENTS
#define HOWDY_API_MAX_CLIENTS 4
#endif
/* Bytes queued for one client beyond what the socket took. Two full frames
 * at least, so a reply never fails because a push is still queued. A client
 * that lets this fill up is not reading and is dropped. */
#ifndef HOWDY_API_TX_BUF
#define HOWDY_API_TX_BUF (4u * HOWDY_CODEC_TX_CAP)
#endif
/* Unpack arena per connection: the largest payload decodes into at most its
 * own size plus the message structs; anything bigger is refused. */
#ifndef HOWDY_API_ARENA_SIZE
#define HOWDY_API_ARENA_SIZE (2u * HOWDY_CODEC_MAX_PAYLOAD)
#endif

/* Voice-assistant feature flags (DeviceInfoResponse field 17). */
#define HOWDY_VA_FEATURE_VOICE_ASSISTANT (1u << 0)
#define HOWDY_VA_FEATURE_SPEAKER (1u << 1)
#define HOWDY_VA_FEATURE_API_AUDIO (1u << 2)
#define HOWDY_VA_FEATURE_TIMERS (1u << 3)
#define HOWDY_VA_FEATURE_ANNOUNCE (1u << 4)
#define HOWDY_VA_FEATURE_START_CONVERSATION (1u << 5)
#define HOWDY_VA_FEATURES_HOWDYSCREEN                                              \
  (HOWDY_VA_FEATURE_VOICE_ASSISTANT | HOWDY_VA_FEATURE_SPEAKER |                   \
   HOWDY_VA_FEATURE_API_AUDIO | HOWDY_VA_FEATURE_TIMERS | HOWDY_VA_FEATURE_ANNOUNCE | \
   HOWDY_VA_FEATURE_START_CONVERSATION)

typedef struct {
  const char *bind_addr; /* NULL = all IPv4 interfaces */
  uint16_t port;         /* 0 = any free port (tests) */
  bool encrypted;
  const uint8_t *psk;    /* HOWDY_KEY_LEN bytes when encrypted (copied per connection) */

  /* Identity. Strings must outlive the server. */
  const char *name;          /* node name: [a-z0-9-], also the hello name */
  const char *friendly_name;
  uint8_t mac[6];
  const char *model;
  const char *manufacturer;
  const char *project_name;  /* "vendor.product": Home Assistant splits it on '.' */
  const char *project_version;
  const char *esphome_version; /* the ESPHome release whose API level we match */
  const char *compilation_time;
  const char *suggested_area;
  uint32_t voice_feature_flags;

  /* Keepalive: after keepalive_ms without a byte from a client the server
   * sends PingRequest; a client silent for keepalive_timeout_ms more is
   * dropped. A new connection must complete its hello within
   * hello_timeout_ms. 0 = defaults (60 s, 30 s, 30 s). */
  uint32_t keepalive_ms;
  uint32_t keepalive_timeout_ms;
  uint32_t hello_timeout_ms;
} howdy_api_config_t;

typedef struct howdy_api_server howdy_api_server_t;
typedef struct howdy_api_conn howdy_api_conn_t;

/* Hooks of the voice session (next issue). on_message gets every voice
 * message a client sends (SubscribeVoiceAssistant, VoiceAssistantResponse,
 * EventResponse, Audio, TimerEvent, AnnounceRequest, Configuration request
 * and Set) and returns true if it handled it; false (or no hook) runs the
 * default: AnnounceRequest is answered with AnnounceFinished(success=false),
 * a configuration request with an empty configuration, the rest is logged. */
typedef struct {
  bool (*on_message)(void *ctx, howdy_api_conn_t *conn, uint16_t type, const ProtobufCMessage *msg);
  void (*on_disconnect)(void *ctx, howdy_api_conn_t *conn);
  void *ctx;
} howdy_api_voice_hooks_t;

typedef enum {
  HOWDY_CONN_FREE = 0,
  HOWDY_CONN_HELLO,   /* connected; handshake and HelloRequest pending */
  HOWDY_CONN_ACTIVE,  /* hello done: requests are served */
  HOWDY_CONN_CLOSING, /* flushing the last bytes, then closed */
} howdy_conn_state_t;

struct howdy_api_conn {
  howdy_api_server_t *server;
  howdy_conn_state_t state;
  howdy_socket_t sock;
  char peer[64];
  char client_info[48];
  uint64_t accepted_us;
  uint64_t last_rx_us;
  uint64_t ping_sent_us;
  uint64_t close_deadline_us;
  bool ping_outstanding;
  bool states_subscribed;
  bool voice_subscribed;
  uint32_t voice_flags;
  bool write_failed; /* tx overflow or dead socket seen inside a codec call */
  size_t tx_off;     /* first unsent byte in tx */
  size_t tx_len;     /* end of queued bytes in tx */
  howdy_codec_io_t io;
  howdy_arena_t arena;
  howdy_codec_t codec;
  uint8_t tx[HOWDY_API_TX_BUF];
  alignas(max_align_t) uint8_t arena_mem[HOWDY_API_ARENA_SIZE];
};

typedef struct {
  uint32_t accepted;
  uint32_t rejected_full; /* connections refused: all slots busy */
  uint32_t dropped_keepalive;
  uint32_t dropped_tx_overflow;
  uint32_t protocol_errors;
  uint32_t refused_messages; /* unknown or unsupported types, malformed payloads */
} howdy_api_stats_t;

struct howdy_api_server {
  howdy_api_config_t cfg;
  char mac_colon[18]; /* "AA:BB:CC:DD:EE:FF" for DeviceInfo */
  char mac_plain[13]; /* "aabbccddeeff" for unique ids and the codec */
  uint8_t psk[HOWDY_KEY_LEN];
  howdy_platform_t *platform;
  howdy_entities_t *entities;
  howdy_api_voice_hooks_t voice;
  howdy_socket_t listener;
  uint16_t port;
  howdy_wakeup_t wakeup;
  bool running;
  howdy_api_stats_t stats;
  uint8_t rx_buf[1536];
  uint8_t pack_buf[HOWDY_CODEC_MAX_PAYLOAD];
  howdy_api_conn_t conns[HOWDY_API_MAX_CLIENTS];
};

/* Copies cfg (not the strings), opens the listener and the wakeup. */
int howdy_api_server_start(howdy_api_server_t *s, const howdy_api_config_t *cfg,
                           howdy_platform_t *platform, howdy_entities_t *entities);
void howdy_api_server_set_voice_hooks(howdy_api_server_t *s, const howdy_api_voice_hooks_t *h);

/* One round: waits up to timeout_ms (less if a timer is due) and serves.
 * Returns HOWDY_OK, or < 0 if the wait itself failed. */
int howdy_api_server_poll(howdy_api_server_t *s, int timeout_ms);

/* Wakes a poll in progress (from another task or a signal handler). */
void howdy_api_server_wakeup(howdy_api_server_t *s);

/* Tells every client goodbye (DisconnectRequest), flushes for at most
 * linger_ms, closes all sockets. */
void howdy_api_server_stop(howdy_api_server_t *s, uint32_t linger_ms);

uint16_t howdy_api_server_port(const howdy_api_server_t *s);
size_t howdy_api_server_client_count(const howdy_api_server_t *s);

/* Sends one message to a client (the voice session uses it). Returns
 * HOWDY_OK, HOWDY_ERR_NO_SPACE (too big, not sent) or HOWDY_ERR (the
 * connection is being closed). */
int howdy_api_conn_send(howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *msg);
/* Closes a connection after flushing what is queued. */
void howdy_api_conn_close(howdy_api_conn_t *c, const char *reason);

/* "aa:bb:cc:dd:ee:ff", "AA-BB-..." or "aabbccddeeff" -> 6 bytes. */
bool howdy_mac_parse(const char *text, uint8_t mac[6]);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_API_SERVER_H */
