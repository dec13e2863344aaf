/*
 * What the device does with each message of the profile. Every payload is
 * unpacked into the connection's arena (bounded, no heap); types the profile
 * does not declare, device-to-client types sent by a client, and payloads
 * protobuf-c rejects are refused with a log line and the connection stays
 * up. The only protocol violation that closes a connection here is a
 * message before HelloRequest: the hello carries the API version every
 * later message depends on.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *TAG = HOWDY_API_TAG;

#define PB(m) ((const ProtobufCMessage *)(m))

/* protobuf-c packs a NULL string field as absent, but the generated
 * defaults point at protobuf_c_empty_string; keep to that convention. */
static char *str(const char *s) { return (char *)(s ? s : protobuf_c_empty_string); }

int howdy_api_send_empty(howdy_api_conn_t *c, uint16_t type) {
  /* Empty messages are zero bytes of protobuf. */
  return howdy_api_conn_send(c, type, NULL);
}

static void refuse(howdy_api_conn_t *c, uint16_t type, size_t len, const char *why) {
  c->server->stats.refused_messages++;
  const howdy_msg_info_t *info = howdy_proto_info(type);
  howdy_log(HOWDY_LOG_WARN, TAG, "%s: refused message type %u%s%s%s (%zu bytes): %s", c->peer,
            (unsigned)type, info ? " (" : "", info ? info->name : "", info ? ")" : "", len, why);
}

/* ---- connection messages ----------------------------------------------------------- */

static void on_hello(howdy_api_conn_t *c, const Howdy__HelloRequest *m) {
  howdy_api_server_t *s = c->server;
  /* client_info is peer text: keep a bounded, printable copy for the log. */
  size_t j = 0;
  for (const char *p = m->client_info; p && *p && j + 1 < sizeof c->client_info; p++) {
    c->client_info[j++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
  }
  c->client_info[j] = '\0';
  howdy_log(HOWDY_LOG_INFO, TAG, "%s: hello from '%s' (API %u.%u)", c->peer, c->client_info,
            (unsigned)m->api_version_major, (unsigned)m->api_version_minor);
  char server_info[64];
  snprintf(server_info, sizeof server_info, "HowdyScreen %s",
           s->cfg.project_version ? s->cfg.project_version : "");
  Howdy__HelloResponse r = HOWDY__HELLO_RESPONSE__INIT;
  r.api_version_major = HOWDY_API_VERSION_MAJOR;
  r.api_version_minor = HOWDY_API_VERSION_MINOR;
  r.server_info = server_info;
  r.name = str(s->cfg.name);
  if (howdy_api_conn_send(c, HOWDY_MSG_HELLO_RESPONSE, PB(&r)) == HOWDY_OK) {
    c->state = HOWDY_CONN_ACTIVE;
  }
}

static void on_device_info(howdy_api_conn_t *c) {
  const howdy_api_config_t *cfg = &c->server->cfg;
  Howdy__DeviceInfoResponse r = HOWDY__DEVICE_INFO_RESPONSE__INIT;
  r.uses_password = false;
  r.name = str(cfg->name);
  r.mac_address = c->server->mac_colon;
  r.esphome_version = str(cfg->esphome_version);
  r.compilation_time = str(cfg->compilation_time);
  r.model = str(cfg->model);
  r.project_name = str(cfg->project_name);
  r.project_version = str(cfg->project_version);
  r.manufacturer = str(cfg->manufacturer);
  r.friendly_name = str(cfg->friendly_name);
  r.suggested_area = str(cfg->suggested_area);
  r.voice_assistant_feature_flags = cfg->voice_feature_flags;
  howdy_api_conn_send(c, HOWDY_MSG_DEVICE_INFO_RESPONSE, PB(&r));
}

static void on_get_time(howdy_api_conn_t *c) {
  int64_t now = 0;
  if (!howdy_wall_time(&now)) {
    howdy_log(HOWDY_LOG_DEBUG, TAG, "%s: GetTime asked but the clock is not set", c->peer);
    return;
  }
  Howdy__GetTimeResponse r = HOWDY__GET_TIME_RESPONSE__INIT;
  r.epoch_seconds = (uint32_t)now;
  howdy_api_conn_send(c, HOWDY_MSG_GET_TIME_RESPONSE, PB(&r));
}

/* ---- entities ----------------------------------------------------------------------- */

static const char *kind_name(howdy_entity_kind_t k) {
  switch (k) {
    case HOWDY_ENTITY_SENSOR: return "sensor";
    case HOWDY_ENTITY_SWITCH: return "switch";
    case HOWDY_ENTITY_NUMBER: return "number";
  }
  return "entity";
}

static void send_entity_info(howdy_api_conn_t *c, const howdy_entity_t *e) {
  const howdy_entity_common_t *cm = e->d.common;
  char unique_id[96];
  /* mac + kind + object_id: unique across devices and entity kinds. */
  snprintf(unique_id, sizeof unique_id, "%s-%s-%s", c->server->mac_plain, kind_name(e->kind),
           cm->object_id);
  switch (e->kind) {
    case HOWDY_ENTITY_SENSOR: {
      const howdy_sensor_desc_t *d = e->d.sensor;
      Howdy__ListEntitiesSensorResponse r = HOWDY__LIST_ENTITIES_SENSOR_RESPONSE__INIT;
      r.object_id = str(cm->object_id);
      r.key = e->key;
      r.name = str(cm->name);
      r.unique_id = unique_id;
      r.icon = str(cm->icon);
      r.unit_of_measurement = str(d->unit);
      r.accuracy_decimals = d->accuracy_decimals;
      r.device_class = str(cm->device_class);
      r.state_class = (Howdy__SensorStateClass)d->state_class;
      r.disabled_by_default = cm->disabled_by_default;
      r.entity_category = (Howdy__EntityCategory)cm->category;
      howdy_api_conn_send(c, HOWDY_MSG_LIST_ENTITIES_SENSOR_RESPONSE, PB(&r));
      break;
    }
    case HOWDY_ENTITY_SWITCH: {
      Howdy__ListEntitiesSwitchResponse r = HOWDY__LIST_ENTITIES_SWITCH_RESPONSE__INIT;
      r.object_id = str(cm->object_id);
      r.key = e->key;
      r.name = str(cm->name);
      r.unique_id = unique_id;
      r.icon = str(cm->icon);
      r.disabled_by_default = cm->disabled_by_default;
      r.entity_category = (Howdy__EntityCategory)cm->category;
      r.device_class = str(cm->device_class);
      howdy_api_conn_send(c, HOWDY_MSG_LIST_ENTITIES_SWITCH_RESPONSE, PB(&r));
      break;
    }
    case HOWDY_ENTITY_NUMBER: {
      const howdy_number_desc_t *d = e->d.number;
      Howdy__ListEntitiesNumberResponse r = HOWDY__LIST_ENTITIES_NUMBER_RESPONSE__INIT;
      r.object_id = str(cm->object_id);
      r.key = e->key;
      r.name = str(cm->name);
      r.unique_id = unique_id;
      r.icon = str(cm->icon);
      r.min_value = d->min_value;
      r.max_value = d->max_value;
      r.step = d->step;
      r.disabled_by_default = cm->disabled_by_default;
      r.entity_category = (Howdy__EntityCategory)cm->category;
      r.unit_of_measurement = str(d->unit);
      r.mode = (Howdy__NumberMode)d->mode;
      r.device_class = str(cm->device_class);
      howdy_api_conn_send(c, HOWDY_MSG_LIST_ENTITIES_NUMBER_RESPONSE, PB(&r));
      break;
    }
  }
}

void howdy_api_send_entity_state(howdy_api_conn_t *c, const howdy_entity_t *e) {
  switch (e->kind) {
    case HOWDY_ENTITY_SENSOR: {
      Howdy__SensorStateResponse r = HOWDY__SENSOR_STATE_RESPONSE__INIT;
      r.key = e->key;
      r.state = e->has_value ? e->value : 0.0f;
      r.missing_state = !e->has_value;
      howdy_api_conn_send(c, HOWDY_MSG_SENSOR_STATE_RESPONSE, PB(&r));
      break;
    }
    case HOWDY_ENTITY_SWITCH: {
      Howdy__SwitchStateResponse r = HOWDY__SWITCH_STATE_RESPONSE__INIT;
      r.key = e->key;
      r.state = e->value != 0.0f;
      howdy_api_conn_send(c, HOWDY_MSG_SWITCH_STATE_RESPONSE, PB(&r));
      break;
    }
    case HOWDY_ENTITY_NUMBER: {
      Howdy__NumberStateResponse r = HOWDY__NUMBER_STATE_RESPONSE__INIT;
      r.key = e->key;
      r.state = e->has_value ? e->value : 0.0f;
      r.missing_state = !e->has_value;
      howdy_api_conn_send(c, HOWDY_MSG_NUMBER_STATE_RESPONSE, PB(&r));
      break;
    }
  }
}

static void on_list_entities(howdy_api_conn_t *c) {
  howdy_entities_t *r = c->server->entities;
  for (size_t i = 0; i < r->count && c->state == HOWDY_CONN_ACTIVE; i++) {
    send_entity_info(c, &r->items[i]);
  }
  howdy_api_send_empty(c, HOWDY_MSG_LIST_ENTITIES_DONE_RESPONSE);
}

static void on_subscribe_states(howdy_api_conn_t *c) {
  howdy_entities_t *r = c->server->entities;
  c->states_subscribed = true;
  /* A fresh snapshot for this client only; the others keep their deltas. */
  howdy_entities_sample_all(r);
  for (size_t i = 0; i < r->count && c->state == HOWDY_CONN_ACTIVE; i++) {
    howdy_api_send_entity_state(c, &r->items[i]);
  }
}

static void push_entity_now(howdy_api_server_t *s, uint32_t key) {
  howdy_entity_t *e = howdy_entities_find(s->entities, key);
  if (!e) return;
  for (size_t k = 0; k < HOWDY_API_MAX_CLIENTS; k++) {
    howdy_api_conn_t *c = &s->conns[k];
    if (c->state == HOWDY_CONN_ACTIVE && c->states_subscribed) howdy_api_send_entity_state(c, e);
  }
  /* Everyone has it now: the next tick must not send it again. */
  e->dirty = false;
  e->has_published = true;
  e->published_has_value = e->has_value;
  e->published = e->value;
}

static void command_result(howdy_api_conn_t *c, const char *what, uint32_t key,
                           howdy_cmd_status_t st) {
  if (st == HOWDY_CMD_OK) {
    push_entity_now(c->server, key);
    return;
  }
  c->server->stats.refused_messages++;
  howdy_log(HOWDY_LOG_WARN, TAG, "%s: %s command for key 0x%08x refused: %s", c->peer, what,
            (unsigned)key,
            st == HOWDY_CMD_NOT_FOUND    ? "no such entity"
            : st == HOWDY_CMD_WRONG_KIND ? "the entity is of another kind"
                                         : "invalid value");
}

/* ---- voice ---------------------------------------------------------------------------- */

static void voice_default(howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *m) {
  switch (type) {
    case HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST: {
      /* Without a voice session the announcement cannot play; say so at
       * once rather than letting the caller wait for its timeout. */
      howdy_log(HOWDY_LOG_WARN, TAG, "%s: announcement refused, no voice session", c->peer);
      Howdy__VoiceAssistantAnnounceFinished r = HOWDY__VOICE_ASSISTANT_ANNOUNCE_FINISHED__INIT;
      r.success = false;
      howdy_api_conn_send(c, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED, PB(&r));
      break;
    }
    case HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST: {
      Howdy__VoiceAssistantConfigurationResponse r =
          HOWDY__VOICE_ASSISTANT_CONFIGURATION_RESPONSE__INIT;
      r.max_active_wake_words = 1;
      howdy_api_conn_send(c, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE, PB(&r));
      break;
    }
    default:
      (void)m;
      howdy_log(HOWDY_LOG_DEBUG, TAG, "%s: voice message %u ignored (no voice session)", c->peer,
                (unsigned)type);
      break;
  }
}

static void on_voice(howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *m) {
  howdy_api_server_t *s = c->server;
  if (type == HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST) {
    const Howdy__SubscribeVoiceAssistantRequest *r = (const void *)m;
    c->voice_subscribed = r->subscribe;
    c->voice_flags = r->flags;
    howdy_log(HOWDY_LOG_INFO, TAG, "%s: voice assistant %s (flags 0x%x)", c->peer,
              r->subscribe ? "subscribed" : "unsubscribed", (unsigned)r->flags);
  }
  if (s->voice.on_message && s->voice.on_message(s->voice.ctx, c, type, m)) {
    return;
  }
  voice_default(c, type, m);
}

/* ---- dispatch ------------------------------------------------------------------------- */

void howdy_api_dispatch(howdy_api_conn_t *c, uint16_t type, const uint8_t *payload, size_t len) {
  const howdy_msg_info_t *info = howdy_proto_info(type);
  if (c->state == HOWDY_CONN_HELLO && type != HOWDY_MSG_HELLO_REQUEST) {
    c->server->stats.protocol_errors++;
    howdy_log(HOWDY_LOG_WARN, TAG, "%s: message type %u before HelloRequest", c->peer,
              (unsigned)type);
    howdy_api_conn_close(c, "protocol violation: no hello");
    return;
  }
  if (!info) {
    refuse(c, type, len, "not part of the HowdyScreen profile");
    return;
  }
  if (!(info->dir & HOWDY_DIR_IN)) {
    refuse(c, type, len, "only the device sends this message");
    return;
  }
  ProtobufCMessage *m = NULL;
  howdy_proto_status_t st = howdy_proto_unpack(&c->arena, type, payload, len, &m);
  if (st != HOWDY_PROTO_OK) {
    if (type == HOWDY_MSG_HELLO_REQUEST) {
      c->server->stats.protocol_errors++;
      howdy_api_conn_close(c, "undecodable HelloRequest");
      return;
    }
    refuse(c, type, len, howdy_proto_status_str(st));
    return;
  }

  switch (type) {
    case HOWDY_MSG_HELLO_REQUEST:
      on_hello(c, (const Howdy__HelloRequest *)m);
      break;
    case HOWDY_MSG_CONNECT_REQUEST: {
      /* No password exists; any login succeeds. */
      Howdy__ConnectResponse r = HOWDY__CONNECT_RESPONSE__INIT;
      r.invalid_password = false;
      howdy_api_conn_send(c, HOWDY_MSG_CONNECT_RESPONSE, PB(&r));
      break;
    }
    case HOWDY_MSG_DISCONNECT_REQUEST:
      howdy_log(HOWDY_LOG_INFO, TAG, "%s: client said goodbye", c->peer);
      howdy_api_send_empty(c, HOWDY_MSG_DISCONNECT_RESPONSE);
      howdy_api_conn_close(c, "disconnect requested");
      break;
    case HOWDY_MSG_DISCONNECT_RESPONSE:
      howdy_api_conn_close(c, "disconnect acknowledged");
      break;
    case HOWDY_MSG_PING_REQUEST:
      howdy_api_send_empty(c, HOWDY_MSG_PING_RESPONSE);
      break;
    case HOWDY_MSG_PING_RESPONSE:
      /* Liveness is tracked on every received byte; nothing else to do. */
      break;
    case HOWDY_MSG_DEVICE_INFO_REQUEST:
      on_device_info(c);
      break;
    case HOWDY_MSG_LIST_ENTITIES_REQUEST:
      on_list_entities(c);
      break;
    case HOWDY_MSG_SUBSCRIBE_STATES_REQUEST:
      on_subscribe_states(c);
      break;
    case HOWDY_MSG_SWITCH_COMMAND_REQUEST: {
      const Howdy__SwitchCommandRequest *r = (const void *)m;
      howdy_log(HOWDY_LOG_INFO, TAG, "%s: switch 0x%08x -> %s", c->peer, (unsigned)r->key,
                r->state ? "on" : "off");
      command_result(c, "switch", r->key,
                     howdy_entities_switch_command(c->server->entities, r->key, r->state));
      break;
    }
    case HOWDY_MSG_NUMBER_COMMAND_REQUEST: {
      const Howdy__NumberCommandRequest *r = (const void *)m;
      howdy_log(HOWDY_LOG_INFO, TAG, "%s: number 0x%08x -> %g", c->peer, (unsigned)r->key,
                (double)r->state);
      command_result(c, "number", r->key,
                     howdy_entities_number_command(c->server->entities, r->key, r->state));
      break;
    }
    case HOWDY_MSG_GET_TIME_REQUEST:
      on_get_time(c);
      break;
    case HOWDY_MSG_GET_TIME_RESPONSE: {
      const Howdy__GetTimeResponse *r = (const void *)m;
      howdy_wall_time_set((int64_t)r->epoch_seconds);
      break;
    }
    case HOWDY_MSG_SUBSCRIBE_LOGS_REQUEST:
    case HOWDY_MSG_SUBSCRIBE_HOMEASSISTANT_SERVICES_REQUEST:
    case HOWDY_MSG_SUBSCRIBE_HOME_ASSISTANT_STATES_REQUEST:
      /* Home Assistant's esphome integration opens these on every
       * connection; the device has nothing to send on them. */
      howdy_log(HOWDY_LOG_DEBUG, TAG, "%s: %s accepted (nothing to stream)", c->peer, info->name);
      break;
    case HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST:
    case HOWDY_MSG_VOICE_ASSISTANT_RESPONSE:
    case HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE:
    case HOWDY_MSG_VOICE_ASSISTANT_AUDIO:
    case HOWDY_MSG_VOICE_ASSISTANT_TIMER_EVENT_RESPONSE:
    case HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST:
    case HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST:
    case HOWDY_MSG_VOICE_ASSISTANT_SET_CONFIGURATION:
      on_voice(c, type, m);
      break;
    default:
      refuse(c, type, len, "declared but not handled");
      break;
  }
  /* The message's memory dies here; nothing may keep pointers into it. */
  howdy_arena_reset(&c->arena);
}
