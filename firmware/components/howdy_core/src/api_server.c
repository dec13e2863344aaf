/*
 * API server: listener, connection slots, socket I/O, keepalive and state
 * pushes. Message semantics live in messages.c.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *TAG = HOWDY_API_TAG;

#define DEFAULT_KEEPALIVE_MS 60000u
#define DEFAULT_KEEPALIVE_TIMEOUT_MS 30000u
#define DEFAULT_HELLO_TIMEOUT_MS 30000u
/* How long a closing connection may take to flush its last bytes (an error
 * frame, a DisconnectResponse) before the socket is closed regardless. */
#define CLOSE_LINGER_US 500000u
/* Reads per connection per poll round, so one busy client cannot starve the
 * others. */
#define MAX_READS_PER_ROUND 8

bool howdy_mac_parse(const char *text, uint8_t mac[6]) {
  size_t n = 0;
  int nibble = -1;
  for (const char *p = text; *p; p++) {
    char ch = *p;
    int v;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    else if ((ch == ':' || ch == '-') && nibble < 0) continue;
    else return false;
    if (nibble < 0) {
      nibble = v;
    } else {
      if (n >= 6) return false;
      mac[n++] = (uint8_t)((nibble << 4) | v);
      nibble = -1;
    }
  }
  return n == 6 && nibble < 0;
}

/* ---- transmit buffer ---------------------------------------------------------- */

/* Pushes queued bytes into the socket until it would block. Returns false if
 * the connection is dead. */
static bool conn_flush(howdy_api_conn_t *c) {
  while (c->tx_off < c->tx_len) {
    int n = howdy_sock_send(c->sock, c->tx + c->tx_off, c->tx_len - c->tx_off);
    if (n == HOWDY_ERR_AGAIN) break;
    if (n < 0) return false;
    c->tx_off += (size_t)n;
  }
  if (c->tx_off == c->tx_len) {
    c->tx_off = c->tx_len = 0;
  }
  return true;
}

/* howdy_codec_io_t.write: queue bytes for the peer. */
static int conn_write(void *ctx, const uint8_t *data, size_t len) {
  howdy_api_conn_t *c = ctx;
  if (c->write_failed) return -1;
  if (HOWDY_API_TX_BUF - c->tx_len < len) {
    /* Make room: send what the socket takes, then slide the rest down. */
    if (!conn_flush(c)) {
      c->write_failed = true;
      return -1;
    }
    if (c->tx_off > 0) {
      memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
      c->tx_len -= c->tx_off;
      c->tx_off = 0;
    }
    if (HOWDY_API_TX_BUF - c->tx_len < len) {
      c->write_failed = true;
      c->server->stats.dropped_tx_overflow++;
      howdy_log(HOWDY_LOG_WARN, TAG, "%s: transmit buffer full, the client is not reading",
                c->peer);
      return -1;
    }
  }
  memcpy(c->tx + c->tx_len, data, len);
  c->tx_len += len;
  return 0;
}

static void conn_on_message(void *ctx, uint16_t type, const uint8_t *payload, size_t len) {
  howdy_api_conn_t *c = ctx;
  if (c->state == HOWDY_CONN_CLOSING) return;
  howdy_api_dispatch(c, type, payload, len);
}

/* ---- connection lifecycle ------------------------------------------------------ */

static void conn_free(howdy_api_conn_t *c) {
  howdy_api_server_t *s = c->server;
  if (s->voice.on_disconnect && (c->state == HOWDY_CONN_ACTIVE || c->state == HOWDY_CONN_CLOSING)) {
    s->voice.on_disconnect(s->voice.ctx, c);
  }
  howdy_sock_close(c->sock);
  /* Wipes the session keys and the psk copy. */
  howdy_codec_reset(&c->codec);
  c->sock = HOWDY_SOCKET_INVALID;
  c->state = HOWDY_CONN_FREE;
  c->tx_off = c->tx_len = 0;
}

void howdy_api_conn_close(howdy_api_conn_t *c, const char *reason) {
  if (c->state == HOWDY_CONN_FREE || c->state == HOWDY_CONN_CLOSING) return;
  howdy_log(HOWDY_LOG_INFO, TAG, "%s: closing (%s)", c->peer, reason ? reason : "");
  /* Stop delivering the rest of what the peer sent; flush what we owe it. */
  howdy_codec_close(&c->codec, reason);
  c->state = HOWDY_CONN_CLOSING;
  c->close_deadline_us = howdy_time_us() + CLOSE_LINGER_US;
}

static void conn_open(howdy_api_server_t *s, howdy_api_conn_t *c, howdy_socket_t sock,
                      const char *peer) {
  memset(&c->io, 0, sizeof c->io);
  c->server = s;
  c->sock = sock;
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  c->client_info[0] = '\0';
  c->accepted_us = c->last_rx_us = howdy_time_us();
  c->ping_sent_us = c->close_deadline_us = 0;
  c->ping_outstanding = false;
  c->states_subscribed = false;
  c->voice_subscribed = false;
  c->voice_flags = 0;
  c->write_failed = false;
  c->tx_off = c->tx_len = 0;
  c->io.on_message = conn_on_message;
  c->io.write = conn_write;
  c->io.ctx = c;
  howdy_arena_init(&c->arena, c->arena_mem, sizeof c->arena_mem);
  howdy_codec_config_t cc = {
      .mode = s->cfg.encrypted ? HOWDY_CODEC_NOISE : HOWDY_CODEC_PLAINTEXT,
      .psk = s->cfg.encrypted ? s->psk : NULL,
      .node_name = s->cfg.name,
      .mac = s->mac_plain,
      .random = howdy_random_cb,
      .random_ctx = NULL,
  };
  howdy_codec_init(&c->codec, &cc);
  c->state = HOWDY_CONN_HELLO;
}

int howdy_api_conn_send(howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *msg) {
  if (c->state != HOWDY_CONN_ACTIVE && c->state != HOWDY_CONN_HELLO) return HOWDY_ERR;
  howdy_api_server_t *s = c->server;
  bool ok = false;
  size_t n = msg ? howdy_proto_pack(msg, s->pack_buf, sizeof s->pack_buf, &ok) : 0;
  if (msg && !ok) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "%s: message type %u does not fit in %u bytes, not sent",
              c->peer, (unsigned)type, (unsigned)sizeof s->pack_buf);
    return HOWDY_ERR_NO_SPACE;
  }
  howdy_codec_status_t st = howdy_codec_send(&c->codec, type, s->pack_buf, n, &c->io);
  if (st == HOWDY_CODEC_OK) return HOWDY_OK;
  if (st == HOWDY_CODEC_TOO_BIG || st == HOWDY_CODEC_NOT_READY) return HOWDY_ERR_NO_SPACE;
  howdy_api_conn_close(c, c->write_failed ? "transmit failed" : howdy_codec_last_error(&c->codec));
  return HOWDY_ERR;
}

/* ---- server ------------------------------------------------------------------------ */

int howdy_api_server_start(howdy_api_server_t *s, const howdy_api_config_t *cfg,
                           howdy_platform_t *platform, howdy_entities_t *entities) {
  memset(s, 0, sizeof *s);
  s->cfg = *cfg;
  if (!s->cfg.keepalive_ms) s->cfg.keepalive_ms = DEFAULT_KEEPALIVE_MS;
  if (!s->cfg.keepalive_timeout_ms) s->cfg.keepalive_timeout_ms = DEFAULT_KEEPALIVE_TIMEOUT_MS;
  if (!s->cfg.hello_timeout_ms) s->cfg.hello_timeout_ms = DEFAULT_HELLO_TIMEOUT_MS;
  if (cfg->encrypted) {
    if (!cfg->psk) return HOWDY_ERR_INVALID;
    memcpy(s->psk, cfg->psk, HOWDY_KEY_LEN);
  }
  const uint8_t *m = cfg->mac;
  snprintf(s->mac_colon, sizeof s->mac_colon, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2],
           m[3], m[4], m[5]);
  snprintf(s->mac_plain, sizeof s->mac_plain, "%02x%02x%02x%02x%02x%02x", m[0], m[1], m[2], m[3],
           m[4], m[5]);
  s->platform = platform;
  s->entities = entities;
  s->listener = HOWDY_SOCKET_INVALID;
  s->wakeup.read_end = s->wakeup.write_end = HOWDY_SOCKET_INVALID;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    s->conns[i].server = s;
    s->conns[i].sock = HOWDY_SOCKET_INVALID;
    s->conns[i].state = HOWDY_CONN_FREE;
  }
  int rc = howdy_wakeup_open(&s->wakeup);
  if (rc != HOWDY_OK) return rc;
  rc = howdy_tcp_listen(cfg->bind_addr, cfg->port, HOWDY_API_MAX_CLIENTS, &s->listener);
  if (rc != HOWDY_OK) {
    howdy_wakeup_close(&s->wakeup);
    return rc;
  }
  if (howdy_tcp_local_port(s->listener, &s->port) != HOWDY_OK) s->port = cfg->port;
  s->running = true;
  howdy_log(HOWDY_LOG_INFO, TAG, "listening on %s:%u (%s, up to %d clients)",
            cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", (unsigned)s->port,
            cfg->encrypted ? "Noise encryption" : "PLAINTEXT", HOWDY_API_MAX_CLIENTS);
  return HOWDY_OK;
}

void howdy_api_server_set_voice_hooks(howdy_api_server_t *s, const howdy_api_voice_hooks_t *h) {
  s->voice = *h;
}

uint16_t howdy_api_server_port(const howdy_api_server_t *s) { return s->port; }

size_t howdy_api_server_client_count(const howdy_api_server_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    if (s->conns[i].state == HOWDY_CONN_ACTIVE || s->conns[i].state == HOWDY_CONN_HELLO) n++;
  }
  return n;
}

void howdy_api_server_wakeup(howdy_api_server_t *s) { howdy_wakeup_signal(&s->wakeup); }

static void accept_pending(howdy_api_server_t *s) {
  for (;;) {
    howdy_socket_t sock;
    char peer[64];
    int rc = howdy_tcp_accept(s->listener, &sock, peer, sizeof peer);
    if (rc != HOWDY_OK) return;
    howdy_api_conn_t *slot = NULL;
    for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
      if (s->conns[i].state == HOWDY_CONN_FREE) {
        slot = &s->conns[i];
        break;
      }
    }
    if (!slot) {
      s->stats.rejected_full++;
      howdy_log(HOWDY_LOG_WARN, TAG, "%s: refused, all %d client slots are in use", peer,
                HOWDY_API_MAX_CLIENTS);
      howdy_sock_close(sock);
      continue;
    }
    s->stats.accepted++;
    howdy_log(HOWDY_LOG_INFO, TAG, "%s: connected", peer);
    conn_open(s, slot, sock, peer);
  }
}

static void conn_read(howdy_api_conn_t *c) {
  howdy_api_server_t *s = c->server;
  for (int i = 0; i < MAX_READS_PER_ROUND; i++) {
    int n = howdy_sock_recv(c->sock, s->rx_buf, sizeof s->rx_buf);
    if (n == HOWDY_ERR_AGAIN) return;
    if (n < 0) {
      howdy_log(HOWDY_LOG_INFO, TAG, "%s: %s", c->peer,
                n == HOWDY_ERR_CLOSED ? "connection closed by the client" : "socket error");
      conn_free(c);
      return;
    }
    c->last_rx_us = howdy_time_us();
    c->ping_outstanding = false;
    if (c->state == HOWDY_CONN_CLOSING) {
      continue; /* draining: closing with unread input would reset the link */
    }
    howdy_codec_status_t st = howdy_codec_receive(&c->codec, s->rx_buf, (size_t)n, &c->io);
    if (st != HOWDY_CODEC_OK && c->state != HOWDY_CONN_CLOSING) {
      s->stats.protocol_errors++;
      const char *why = c->write_failed ? "transmit failed" : howdy_codec_last_error(&c->codec);
      howdy_api_conn_close(c, (why && why[0]) ? why : "codec error");
    }
    if (c->state == HOWDY_CONN_FREE) return;
  }
}

static void push_states(howdy_api_server_t *s) {
  howdy_entities_t *r = s->entities;
  for (size_t i = 0; i < r->count; i++) {
    howdy_entity_t *e = &r->items[i];
    if (!e->dirty) continue;
    for (size_t k = 0; k < HOWDY_API_MAX_CLIENTS; k++) {
      howdy_api_conn_t *c = &s->conns[k];
      if (c->state == HOWDY_CONN_ACTIVE && c->states_subscribed) howdy_api_send_entity_state(c, e);
    }
  }
  howdy_entities_clear_dirty(r);
}

/* Keepalive and hello deadlines; returns ms until the next one is due. */
static uint64_t run_timers(howdy_api_server_t *s, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    howdy_api_conn_t *c = &s->conns[i];
    uint64_t due;
    switch (c->state) {
      case HOWDY_CONN_HELLO:
        due = c->accepted_us + (uint64_t)s->cfg.hello_timeout_ms * 1000u;
        if (now >= due) {
          s->stats.dropped_keepalive++;
          howdy_api_conn_close(c, "no hello in time");
          due = c->close_deadline_us;
        }
        break;
      case HOWDY_CONN_ACTIVE:
        if (!c->ping_outstanding) {
          due = c->last_rx_us + (uint64_t)s->cfg.keepalive_ms * 1000u;
          if (now >= due) {
            c->ping_outstanding = true;
            c->ping_sent_us = now;
            howdy_log(HOWDY_LOG_DEBUG, TAG, "%s: idle, sending ping", c->peer);
            howdy_api_send_empty(c, HOWDY_MSG_PING_REQUEST);
            due = now + (uint64_t)s->cfg.keepalive_timeout_ms * 1000u;
          }
        } else {
          due = c->ping_sent_us + (uint64_t)s->cfg.keepalive_timeout_ms * 1000u;
          if (now >= due) {
            s->stats.dropped_keepalive++;
            howdy_log(HOWDY_LOG_WARN, TAG, "%s: no answer to the keepalive ping, dropping",
                      c->peer);
            howdy_api_conn_close(c, "keepalive timeout");
            due = c->close_deadline_us;
          }
        }
        break;
      case HOWDY_CONN_CLOSING:
        due = c->close_deadline_us;
        break;
      default:
        continue;
    }
    if (due < next) next = due;
  }
  return next;
}

int howdy_api_server_poll(howdy_api_server_t *s, int timeout_ms) {
  uint64_t now = howdy_time_us();
  uint64_t next_timer = run_timers(s, now);
  if (howdy_entities_tick(s->entities, now)) push_states(s);

  /* Sleep no longer than the nearest timer. */
  uint64_t wait_us = howdy_entities_next_due_us(s->entities, now);
  if (next_timer != UINT64_MAX) {
    uint64_t t = next_timer > now ? next_timer - now : 0;
    if (t < wait_us) wait_us = t;
  }
  int wait_ms = (int)((wait_us + 999u) / 1000u);
  if (timeout_ms >= 0 && wait_ms > timeout_ms) wait_ms = timeout_ms;

  howdy_pollfd_t fds[2 + HOWDY_API_MAX_CLIENTS];
  howdy_api_conn_t *owner[2 + HOWDY_API_MAX_CLIENTS];
  size_t n = 0;
  fds[n].sock = s->wakeup.read_end;
  fds[n].events = HOWDY_POLL_IN;
  owner[n++] = NULL;
  fds[n].sock = s->listener;
  fds[n].events = HOWDY_POLL_IN;
  owner[n++] = NULL;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    howdy_api_conn_t *c = &s->conns[i];
    if (c->state == HOWDY_CONN_FREE) continue;
    fds[n].sock = c->sock;
    fds[n].events = (uint8_t)(HOWDY_POLL_IN | (c->tx_len > c->tx_off ? HOWDY_POLL_OUT : 0));
    owner[n++] = c;
  }
  int rc = howdy_poll(fds, n, wait_ms);
  if (rc < 0) return rc;

  if (fds[0].revents) howdy_wakeup_drain(&s->wakeup);
  if (fds[1].revents & HOWDY_POLL_IN) accept_pending(s);
  for (size_t i = 2; i < n; i++) {
    howdy_api_conn_t *c = owner[i];
    if (c->state == HOWDY_CONN_FREE) continue;
    if (fds[i].revents & (HOWDY_POLL_IN | HOWDY_POLL_ERR)) conn_read(c);
  }

  /* Flush, and finish connections that are closing. */
  now = howdy_time_us();
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    howdy_api_conn_t *c = &s->conns[i];
    if (c->state == HOWDY_CONN_FREE) continue;
    if (c->tx_len > c->tx_off && !conn_flush(c)) {
      howdy_log(HOWDY_LOG_INFO, TAG, "%s: connection lost while sending", c->peer);
      conn_free(c);
      continue;
    }
    if (c->state == HOWDY_CONN_CLOSING &&
        (c->tx_len == c->tx_off || now >= c->close_deadline_us)) {
      conn_free(c);
    } else if (c->write_failed && c->state != HOWDY_CONN_CLOSING) {
      howdy_api_conn_close(c, "transmit failed");
    }
  }
  return HOWDY_OK;
}

void howdy_api_server_stop(howdy_api_server_t *s, uint32_t linger_ms) {
  if (!s->running) return;
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    howdy_api_conn_t *c = &s->conns[i];
    if (c->state == HOWDY_CONN_ACTIVE) {
      /* The client answers with DisconnectResponse and treats the close as
       * expected instead of reconnecting at once. */
      howdy_api_send_empty(c, HOWDY_MSG_DISCONNECT_REQUEST);
      howdy_api_conn_close(c, "server shutting down");
    } else if (c->state == HOWDY_CONN_HELLO) {
      howdy_api_conn_close(c, "server shutting down");
    }
  }
  uint64_t deadline = howdy_time_us() + (uint64_t)linger_ms * 1000u;
  for (;;) {
    bool busy = false;
    for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
      howdy_api_conn_t *c = &s->conns[i];
      if (c->state == HOWDY_CONN_FREE) continue;
      if (c->tx_len > c->tx_off && conn_flush(c) && c->tx_len > c->tx_off) {
        busy = true;
      }
    }
    if (!busy || howdy_time_us() >= deadline) break;
    howdy_sleep_us(10000);
  }
  for (size_t i = 0; i < HOWDY_API_MAX_CLIENTS; i++) {
    if (s->conns[i].state != HOWDY_CONN_FREE) conn_free(&s->conns[i]);
  }
  howdy_sock_close(s->listener);
  s->listener = HOWDY_SOCKET_INVALID;
  howdy_wakeup_close(&s->wakeup);
  /* The key copy is the device's secret: do not leave it in RAM. */
  memset(s->psk, 0, sizeof s->psk);
  s->running = false;
  howdy_log(HOWDY_LOG_INFO, TAG, "stopped");
}
