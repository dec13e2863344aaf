/* The voice session state machine (see howdy/voice_session.h and
 * docs/protocol.md, "Voice session"). */
#include "howdy/voice_session.h"

#include <stdio.h>
#include <string.h>

#include "howdy/proto.h"

static const char *TAG = "voice";

#define PB(m) ((const ProtobufCMessage *)(m))
#define MS(x) ((uint64_t)(x) * 1000u)

/* One period of a 1 kHz sine at 16 kHz, amplitude 12000 (about -8.7 dBFS):
 * a table, so the ring needs no libm and costs nothing to compute. */
static const int16_t k_ring_period[16] = {0,     4592,   8485,   11086,  12000,  11086,
                                          8485,  4592,   0,      -4592,  -8485,  -11086,
                                          -12000, -11086, -8485, -4592};

static uint64_t now_us(const howdy_voice_t *v) { return v->cfg.clock(v->cfg.clock_ctx); }

static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  /* Peer text: printable ASCII only, so logs and the UI stay sane. */
  for (; src && src[n] && n + 1 < cap; n++) {
    char ch = src[n];
    dst[n] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  }
  dst[n] = '\0';
}

const char *howdy_voice_state_name(howdy_voice_state_t s) {
  switch (s) {
    case HOWDY_VOICE_IDLE: return "idle";
    case HOWDY_VOICE_STARTING: return "starting";
    case HOWDY_VOICE_STREAMING: return "streaming";
    case HOWDY_VOICE_THINKING: return "thinking";
    case HOWDY_VOICE_REPLYING: return "replying";
  }
  return "?";
}

howdy_voice_state_t howdy_voice_state(const howdy_voice_t *v) { return v->state; }

static int send_to(howdy_voice_t *v, howdy_api_conn_t *c, uint16_t type,
                   const ProtobufCMessage *msg) {
  if (!c) return HOWDY_ERR;
  if (v->cfg.send) return v->cfg.send(v->cfg.send_ctx, c, type, msg);
  return howdy_api_conn_send(c, type, msg);
}

static int send(howdy_voice_t *v, uint16_t type, const ProtobufCMessage *msg) {
  return send_to(v, v->conn, type, msg);
}

static void set_state(howdy_voice_t *v, howdy_voice_state_t s, uint64_t deadline_ms) {
  uint64_t now = now_us(v);
  if (s != v->state) {
    howdy_log(HOWDY_LOG_INFO, TAG, "%s -> %s", howdy_voice_state_name(v->state),
              howdy_voice_state_name(s));
  }
  v->state = s;
  v->state_since_us = now;
  v->deadline_us = deadline_ms ? now + MS(deadline_ms) : 0;
  if (v->cfg.on_state) v->cfg.on_state(v->cfg.hook_ctx, s);
}

/* ---- microphone ------------------------------------------------------------------ */

static void mic_stop(howdy_voice_t *v, bool send_end) {
  if (v->mic_streaming) {
    howdy_mic_stream_stop(&v->cfg.audio->mic);
    v->mic_streaming = false;
    v->mic_end_pending = send_end;
  }
}

/* Drops the microphone run at once: nothing more of it goes on the wire. */
static void mic_drop(howdy_voice_t *v) {
  if (v->mic_streaming) howdy_mic_stream_stop(&v->cfg.audio->mic);
  v->mic_streaming = false;
  v->mic_end_pending = false;
  v->mic_session = 0;
  howdy_mic_discard_queued(&v->cfg.audio->mic);
}

static void send_audio_end(howdy_voice_t *v) {
  Howdy__VoiceAssistantAudio a = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
  a.end = true;
  send(v, HOWDY_MSG_VOICE_ASSISTANT_AUDIO, PB(&a));
}

static void pump_mic(howdy_voice_t *v) {
  howdy_mic_packet_t pkt;
  howdy_mic_t *mic = &v->cfg.audio->mic;
  while (howdy_mic_take_packet(mic, &pkt)) {
    if (pkt.session == 0 || pkt.session != v->mic_session || !v->conn) continue;
    if (pkt.bytes > 0) {
      Howdy__VoiceAssistantAudio a = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
      a.data.data = pkt.pcm;
      a.data.len = pkt.bytes;
      if (send(v, HOWDY_MSG_VOICE_ASSISTANT_AUDIO, PB(&a)) == HOWDY_OK) {
        howdy_mic_packet_sent(mic, &pkt, now_us(v));
        v->mic_packets_sent++;
        v->mic_bytes_sent += pkt.bytes;
      }
    }
    if (pkt.flags & HOWDY_MIC_PKT_LAST) {
      /* The end marker tells the client the microphone is done, so its STT
       * stream ends even if it did not stop on its own VAD. */
      if (v->mic_end_pending) send_audio_end(v);
      v->mic_end_pending = false;
      v->mic_session = 0;
    }
  }
}

/* ---- the run -------------------------------------------------------------------------- */

static void go_idle(howdy_voice_t *v, uint32_t pause_ms) {
  v->resume_at_us = now_us(v) + MS(pause_ms);
  v->tts_expected = false;
  v->run_ended = false;
  v->source = HOWDY_WAKE_NONE;
  set_state(v, HOWDY_VOICE_IDLE, 0);
}

/* The device gives up on a run it started: HA is told (start = false, which
 * aioesphomeapi turns into handle_stop(abort=True)) and the microphone run
 * is dropped. */
static void abort_run(howdy_voice_t *v, const char *why, uint32_t pause_ms) {
  howdy_log(HOWDY_LOG_INFO, TAG, "run aborted: %s", why);
  Howdy__VoiceAssistantRequest r = HOWDY__VOICE_ASSISTANT_REQUEST__INIT;
  r.start = false;
  send(v, HOWDY_MSG_VOICE_ASSISTANT_REQUEST, PB(&r));
  mic_drop(v);
  go_idle(v, pause_ms);
}

static void stop_ring(howdy_voice_t *v) {
  if (!v->ring_stream) return;
  howdy_speaker_abort(&v->cfg.audio->speaker);
  howdy_log(HOWDY_LOG_INFO, TAG, "ring stopped");
  v->ring_stream = 0;
  if (v->ring_pending) v->ring_pending--;
}

static const char *active_phrase(const howdy_voice_t *v) {
  if (v->n_active_wake_words == 0) return NULL;
  return v->cfg.wake_words[v->active_wake_words[0]].wake_word;
}

static void start_run(howdy_voice_t *v, howdy_wake_source_t source) {
  static const char *const names[] = {"none", "wake word", "button", "continuous", "follow-up"};
  const char *name = names[source <= HOWDY_WAKE_FOLLOW_UP ? source : 0];
  if (v->muted) {
    howdy_log(HOWDY_LOG_INFO, TAG, "wake (%s) ignored: muted", name);
    return;
  }
  if (!v->conn) {
    howdy_log(HOWDY_LOG_WARN, TAG, "wake (%s) ignored: no Home Assistant subscribed", name);
    return;
  }
  if (v->state != HOWDY_VOICE_IDLE) {
    howdy_log(HOWDY_LOG_INFO, TAG, "wake (%s) ignored: already %s", name,
              howdy_voice_state_name(v->state));
    return;
  }
  stop_ring(v);
  uint64_t now = now_us(v);
  Howdy__VoiceAssistantAudioSettings as = HOWDY__VOICE_ASSISTANT_AUDIO_SETTINGS__INIT;
  /* The device applies its own microphone gain; HA must not add any. */
  as.noise_suppression_level = 0;
  as.auto_gain = 0;
  as.volume_multiplier = 1.0f;
  Howdy__VoiceAssistantRequest r = HOWDY__VOICE_ASSISTANT_REQUEST__INIT;
  r.start = true;
  r.audio_settings = &as;
  r.flags = source == HOWDY_WAKE_CONTINUOUS ? HOWDY_VOICE_REQ_USE_WAKE_WORD : 0;
  if (v->conversation_id[0] &&
      now - v->conversation_us < MS(HOWDY_VOICE_CONVERSATION_KEEP_MS)) {
    r.conversation_id = v->conversation_id;
  }
  const char *phrase = source == HOWDY_WAKE_WORD ? active_phrase(v) : NULL;
  if (phrase) r.wake_word_phrase = (char *)phrase;
  howdy_log(HOWDY_LOG_INFO, TAG, "wake (%s%s%s): asking Home Assistant to start a run", name,
            phrase ? ": " : "", phrase ? phrase : "");
  if (send(v, HOWDY_MSG_VOICE_ASSISTANT_REQUEST, PB(&r)) != HOWDY_OK) {
    go_idle(v, HOWDY_VOICE_ERROR_BACKOFF_MS);
    return;
  }
  v->source = source;
  v->run_ended = false;
  v->tts_expected = false;
  v->continue_conversation = false;
  v->runs_started++;
  set_state(v, HOWDY_VOICE_STARTING, HOWDY_VOICE_START_TIMEOUT_MS);
}

/* ---- replies and announcements ------------------------------------------------------- */

static void finish_reply(howdy_voice_t *v, bool success) {
  howdy_reply_kind_t kind = v->reply_kind;
  v->reply.success = success;
  if (v->reply_report_ready) v->reply.speaker = v->reply_report;
  uint32_t failures = atomic_load(&v->cfg.audio->pool.failures);
  v->reply.overruns = failures - v->reply_failures_at_start;
  /* One AnnounceFinished for every stream that was opened, pipeline reply
   * or announcement: it means "the speaker is done with it". */
  Howdy__VoiceAssistantAnnounceFinished f = HOWDY__VOICE_ASSISTANT_ANNOUNCE_FINISHED__INIT;
  f.success = success;
  if (v->conn && send(v, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED, PB(&f)) == HOWDY_OK) {
    v->reply.finished_sent_us = now_us(v);
  }
  howdy_log(HOWDY_LOG_INFO, TAG,
            "%s %s: %llu samples, %u chunks, %u underruns, %u overruns",
            kind == HOWDY_REPLY_ANNOUNCE ? "announcement" : "reply",
            success ? "played" : "aborted", (unsigned long long)v->reply.speaker.samples,
            (unsigned)v->reply.chunks_received, (unsigned)v->reply.speaker.underruns,
            (unsigned)v->reply.overruns);
  v->replies_finished++;
  if (v->cfg.on_reply_done) v->cfg.on_reply_done(v->cfg.hook_ctx, &v->reply);
  v->reply_stream = 0;
  v->reply_kind = HOWDY_REPLY_NONE;
  v->reply_report_ready = false;
}

/* Ends an open reply at once (barge-in, error, disconnect). */
static void abort_reply(howdy_voice_t *v) {
  if (!v->reply_stream) return;
  howdy_speaker_abort(&v->cfg.audio->speaker);
  finish_reply(v, false);
}

static void open_reply(howdy_voice_t *v, howdy_reply_kind_t kind, bool start_conversation) {
  abort_reply(v);
  stop_ring(v);
  howdy_speaker_t *sp = &v->cfg.audio->speaker;
  v->reply_stream = howdy_speaker_stream_begin(sp);
  v->reply_kind = kind;
  v->reply_end = false;
  v->reply_start_conversation = start_conversation;
  v->reply_report_ready = false;
  memset(&v->reply, 0, sizeof v->reply);
  v->reply.kind = kind;
  v->reply.stream_open_us = v->reply_last_chunk_us = now_us(v);
  v->reply_failures_at_start = atomic_load(&v->cfg.audio->pool.failures);
  set_state(v, HOWDY_VOICE_REPLYING, 0);
}

static void end_reply_stream(howdy_voice_t *v, bool marker) {
  if (!v->reply_stream || v->reply_end) return;
  howdy_speaker_stream_end(&v->cfg.audio->speaker);
  v->reply_end = true;
  if (marker) v->reply.end_marker_us = now_us(v);
}

static void on_reply_audio(howdy_voice_t *v, const Howdy__VoiceAssistantAudio *a) {
  if (v->state != HOWDY_VOICE_REPLYING || !v->reply_stream || v->reply_end) {
    if (a->data.len) {
      howdy_log(HOWDY_LOG_DEBUG, TAG, "audio chunk (%zu B) outside an open reply dropped",
                a->data.len);
    }
    return;
  }
  if (a->data.len > 0) {
    uint64_t now = now_us(v);
    int n = howdy_speaker_feed(&v->cfg.audio->speaker, a->data.data, a->data.len, now);
    v->reply.chunks_received++;
    v->reply.bytes_received += a->data.len;
    if (n >= 0 && (size_t)n < a->data.len) v->reply.bytes_dropped += a->data.len - (size_t)n;
    v->reply_last_chunk_us = now;
  }
  if (a->end) end_reply_stream(v, true);
}

/* What follows a reply that played out. */
static void after_reply(howdy_voice_t *v, howdy_reply_kind_t kind, bool success) {
  bool follow = success && ((kind == HOWDY_REPLY_ANNOUNCE && v->reply_start_conversation) ||
                            (kind == HOWDY_REPLY_PIPELINE && v->continue_conversation));
  v->continue_conversation = false;
  v->reply_start_conversation = false;
  go_idle(v, HOWDY_VOICE_CONTINUOUS_RESTART_MS);
  if (follow) start_run(v, HOWDY_WAKE_FOLLOW_UP);
}

/* ---- subscription and reset ------------------------------------------------------------ */

static void clear_timers(howdy_voice_t *v) {
  for (size_t i = 0; i < HOWDY_VOICE_MAX_TIMERS; i++) {
    howdy_voice_timer_t *t = &v->timers[i];
    if (!t->used) continue;
    if (v->cfg.on_timer) v->cfg.on_timer(v->cfg.hook_ctx, t, HOWDY_TIMER_EV_CLEARED, 0);
    memset(t, 0, sizeof *t);
  }
}

/* Everything that belongs to the driving connection goes. */
static void reset_session(howdy_voice_t *v, const char *why) {
  howdy_log(HOWDY_LOG_INFO, TAG, "session reset (%s) in state %s", why,
            howdy_voice_state_name(v->state));
  v->conn = NULL; /* nothing more is sent to it */
  mic_drop(v);
  abort_reply(v);
  stop_ring(v);
  v->ring_pending = 0;
  clear_timers(v);
  v->conversation_id[0] = '\0';
  v->continue_conversation = false;
  v->reply_start_conversation = false;
  go_idle(v, 0);
}

void howdy_voice_on_disconnect(howdy_voice_t *v, howdy_api_conn_t *conn) {
  if (conn && conn == v->conn) reset_session(v, "the subscribed client disconnected");
}

static void on_subscribe(howdy_voice_t *v, howdy_api_conn_t *c,
                         const Howdy__SubscribeVoiceAssistantRequest *m) {
  if (!m->subscribe) {
    if (c == v->conn) reset_session(v, "unsubscribed");
    return;
  }
  if (v->conn && v->conn != c) reset_session(v, "another client subscribed");
  if (!(m->flags & HOWDY_VA_FEATURE_API_AUDIO)) {
    howdy_log(HOWDY_LOG_WARN, TAG,
              "subscriber did not ask for API audio (flags 0x%x): this device only streams "
              "inside the API connection",
              (unsigned)m->flags);
  }
  v->conn = c;
  v->resume_at_us = now_us(v);
}

/* ---- events from the pipeline -------------------------------------------------------------- */

static const char *event_data(const Howdy__VoiceAssistantEventResponse *m, const char *name) {
  for (size_t i = 0; i < m->n_data; i++) {
    if (m->data[i] && m->data[i]->name && !strcmp(m->data[i]->name, name)) {
      return m->data[i]->value;
    }
  }
  return NULL;
}

static void on_event(howdy_voice_t *v, const Howdy__VoiceAssistantEventResponse *m) {
  int ev = (int)m->event_type;
  howdy_log(HOWDY_LOG_DEBUG, TAG, "event %d in state %s", ev, howdy_voice_state_name(v->state));
  switch (ev) {
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_ERROR: {
      const char *code = event_data(m, "code");
      const char *msg = event_data(m, "message");
      howdy_log(HOWDY_LOG_WARN, TAG, "pipeline error %s: %s", code ? code : "?", msg ? msg : "");
      mic_drop(v);
      if (v->reply_kind == HOWDY_REPLY_PIPELINE) abort_reply(v);
      /* An announcement is not part of the run: it keeps playing. */
      if (v->reply_kind != HOWDY_REPLY_ANNOUNCE) go_idle(v, HOWDY_VOICE_ERROR_BACKOFF_MS);
      break;
    }
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_WAKE_WORD_END:
      /* HA heard its wake word: now the command follows; bound it. */
      if (v->state == HOWDY_VOICE_STREAMING) {
        v->deadline_us = now_us(v) + MS(HOWDY_VOICE_LISTEN_TIMEOUT_MS);
      }
      break;
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_STT_VAD_END:
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_STT_END:
      if (v->state == HOWDY_VOICE_STREAMING || v->state == HOWDY_VOICE_STARTING) {
        mic_stop(v, true);
        set_state(v, HOWDY_VOICE_THINKING, HOWDY_VOICE_THINK_TIMEOUT_MS);
      }
      break;
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_INTENT_END: {
      const char *cid = event_data(m, "conversation_id");
      if (cid && cid[0]) {
        copy_str(v->conversation_id, sizeof v->conversation_id, cid);
        v->conversation_us = now_us(v);
      }
      const char *cc = event_data(m, "continue_conversation");
      v->continue_conversation = cc && (!strcmp(cc, "1") || !strcmp(cc, "true"));
      break;
    }
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_TTS_END:
      v->tts_expected = true;
      break;
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_TTS_STREAM_START:
      if (v->state == HOWDY_VOICE_IDLE && v->reply_kind == HOWDY_REPLY_NONE &&
          v->runs_started == 0) {
        howdy_log(HOWDY_LOG_DEBUG, TAG, "TTS stream without a run: playing it anyway");
      }
      mic_stop(v, true);
      open_reply(v, HOWDY_REPLY_PIPELINE, false);
      break;
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_TTS_STREAM_END:
      if (v->reply_kind == HOWDY_REPLY_PIPELINE) end_reply_stream(v, true);
      break;
    case HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_RUN_END:
      v->run_ended = true;
      mic_stop(v, true);
      if (v->state == HOWDY_VOICE_REPLYING || v->state == HOWDY_VOICE_IDLE) break;
      if (v->tts_expected) {
        /* HA may announce the end of the run before the TTS stream it is
         * about to send; give the stream a moment to start. */
        set_state(v, HOWDY_VOICE_THINKING, HOWDY_VOICE_REPLY_GRACE_MS);
      } else {
        go_idle(v, HOWDY_VOICE_CONTINUOUS_RESTART_MS);
      }
      break;
    default:
      break; /* RUN_START, STT_START, INTENT_START, TTS_START, ...: UI only */
  }
}

static void on_response(howdy_voice_t *v, const Howdy__VoiceAssistantResponse *m) {
  if (v->state != HOWDY_VOICE_STARTING) {
    howdy_log(HOWDY_LOG_DEBUG, TAG, "VoiceAssistantResponse in state %s ignored",
              howdy_voice_state_name(v->state));
    return;
  }
  if (m->error) {
    howdy_log(HOWDY_LOG_WARN, TAG, "Home Assistant could not start the pipeline");
    go_idle(v, HOWDY_VOICE_ERROR_BACKOFF_MS);
    return;
  }
  if (m->port != 0) {
    abort_run(v, "Home Assistant offered UDP audio; this device streams in the API only",
              HOWDY_VOICE_ERROR_BACKOFF_MS);
    return;
  }
  /* The pre-roll (what the microphone heard just before this moment) goes
   * out first, then live audio without a gap. */
  v->mic_session = howdy_mic_stream_start(&v->cfg.audio->mic);
  v->mic_streaming = true;
  v->mic_end_pending = false;
  set_state(v, HOWDY_VOICE_STREAMING,
            v->source == HOWDY_WAKE_CONTINUOUS ? 0 : HOWDY_VOICE_LISTEN_TIMEOUT_MS);
}

/* ---- timers ---------------------------------------------------------------------------- */

uint32_t howdy_voice_timer_left(const howdy_voice_t *v, const howdy_voice_timer_t *t,
                                uint64_t now) {
  (void)v;
  if (!t->active) return t->seconds_left;
  uint64_t elapsed = now > t->updated_us ? (now - t->updated_us) / 1000000u : 0;
  return elapsed >= t->seconds_left ? 0 : t->seconds_left - (uint32_t)elapsed;
}

size_t howdy_voice_timer_count(const howdy_voice_t *v) {
  size_t n = 0;
  for (size_t i = 0; i < HOWDY_VOICE_MAX_TIMERS; i++) n += v->timers[i].used;
  return n;
}

static howdy_voice_timer_t *timer_find(howdy_voice_t *v, const char *id, bool create) {
  howdy_voice_timer_t *free_slot = NULL;
  for (size_t i = 0; i < HOWDY_VOICE_MAX_TIMERS; i++) {
    howdy_voice_timer_t *t = &v->timers[i];
    if (t->used && !strncmp(t->id, id, sizeof t->id - 1)) return t;
    if (!t->used && !free_slot) free_slot = t;
  }
  if (!create || !free_slot) return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = true;
  copy_str(free_slot->id, sizeof free_slot->id, id);
  return free_slot;
}

static void on_timer_event(howdy_voice_t *v, const Howdy__VoiceAssistantTimerEventResponse *m) {
  const char *id = m->timer_id ? m->timer_id : "";
  int ev = (int)m->event_type;
  bool upsert = ev == HOWDY_TIMER_EV_STARTED || ev == HOWDY_TIMER_EV_UPDATED;
  howdy_voice_timer_t *t = timer_find(v, id, upsert);
  if (!t) {
    if (upsert) {
      howdy_log(HOWDY_LOG_WARN, TAG, "timer '%s' dropped: all %d timer slots are in use", id,
                HOWDY_VOICE_MAX_TIMERS);
      return;
    }
    /* Finished or cancelled before we saw it start (e.g. started on an
     * earlier connection): use a scratch entry for the UI. */
    if (ev != HOWDY_TIMER_EV_FINISHED && ev != HOWDY_TIMER_EV_CANCELLED) return;
  }
  howdy_voice_timer_t scratch;
  if (!t) {
    memset(&scratch, 0, sizeof scratch);
    copy_str(scratch.id, sizeof scratch.id, id);
    t = &scratch;
  }
  copy_str(t->name, sizeof t->name, m->name);
  t->total_seconds = m->total_seconds;
  t->seconds_left = m->seconds_left;
  t->active = m->is_active;
  t->updated_us = now_us(v);
  t->last_shown = t->seconds_left;
  switch (ev) {
    case HOWDY_TIMER_EV_STARTED:
    case HOWDY_TIMER_EV_UPDATED:
      howdy_log(HOWDY_LOG_INFO, TAG, "timer '%s' (%s) %s: %u of %u s left%s", t->id, t->name,
                ev == HOWDY_TIMER_EV_STARTED ? "started" : "updated", (unsigned)t->seconds_left,
                (unsigned)t->total_seconds, t->active ? "" : ", paused");
      if (v->cfg.on_timer) v->cfg.on_timer(v->cfg.hook_ctx, t, (howdy_timer_event_t)ev, t->seconds_left);
      break;
    case HOWDY_TIMER_EV_CANCELLED:
      howdy_log(HOWDY_LOG_INFO, TAG, "timer '%s' cancelled", t->id);
      if (v->cfg.on_timer) v->cfg.on_timer(v->cfg.hook_ctx, t, HOWDY_TIMER_EV_CANCELLED, 0);
      memset(t, 0, sizeof *t);
      break;
    case HOWDY_TIMER_EV_FINISHED:
      howdy_log(HOWDY_LOG_INFO, TAG, "timer '%s' (%s) finished: ringing", t->id, t->name);
      if (v->cfg.on_timer) v->cfg.on_timer(v->cfg.hook_ctx, t, HOWDY_TIMER_EV_FINISHED, 0);
      memset(t, 0, sizeof *t);
      v->ring_pending++;
      break;
    default:
      howdy_log(HOWDY_LOG_DEBUG, TAG, "timer event %d ignored", ev);
      break;
  }
}

/* Countdown for the UI: one TICK per second of every active timer. Returns
 * µs until the next second boundary of any of them. */
static uint64_t tick_timers(howdy_voice_t *v, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < HOWDY_VOICE_MAX_TIMERS; i++) {
    howdy_voice_timer_t *t = &v->timers[i];
    if (!t->used || !t->active) continue;
    uint32_t left = howdy_voice_timer_left(v, t, now);
    if (left != t->last_shown) {
      t->last_shown = left;
      if (v->cfg.on_timer) v->cfg.on_timer(v->cfg.hook_ctx, t, HOWDY_TIMER_EV_TICK, left);
    }
    if (left > 0) {
      uint64_t into = (now - t->updated_us) % 1000000u;
      uint64_t due = 1000000u - into;
      if (due < next) next = due;
    }
  }
  return next;
}

/* ---- ring ----------------------------------------------------------------------------- */

#define RING_BEEP_SAMPLES (HOWDY_VOICE_RING_BEEP_MS * HOWDY_AUDIO_RATE_HZ / 1000u)
#define RING_TOTAL_SAMPLES (HOWDY_VOICE_RING_BEEPS * 2u * RING_BEEP_SAMPLES)

/* Feeds the ring tone into the pool as slots free up (never overrunning it).
 * Returns µs until more can be fed. */
static uint64_t pump_ring(howdy_voice_t *v) {
  howdy_speaker_t *sp = &v->cfg.audio->speaker;
  if (!v->ring_stream) {
    if (!v->ring_pending || v->state == HOWDY_VOICE_REPLYING) return UINT64_MAX;
    v->ring_stream = howdy_speaker_stream_begin(sp);
    v->ring_samples_fed = 0;
    v->ring_phase = 0;
  }
  if (v->ring_samples_fed < RING_TOTAL_SAMPLES) {
    uint8_t buf[HOWDY_POOL_SLOT_BYTES];
    for (;;) {
      howdy_pool_stats_t ps;
      howdy_pool_stats(&v->cfg.audio->pool, &ps);
      if (ps.in_use >= ps.slots || v->ring_samples_fed >= RING_TOTAL_SAMPLES) break;
      uint32_t n = HOWDY_POOL_SLOT_BYTES / 2u;
      if (n > RING_TOTAL_SAMPLES - v->ring_samples_fed) n = RING_TOTAL_SAMPLES - v->ring_samples_fed;
      for (uint32_t i = 0; i < n; i++) {
        uint32_t k = v->ring_samples_fed + i;
        bool on = (k / RING_BEEP_SAMPLES) % 2u == 0;
        int16_t s = on ? k_ring_period[k % 16u] : 0;
        buf[2 * i] = (uint8_t)((uint16_t)s & 0xffu);
        buf[2 * i + 1] = (uint8_t)((uint16_t)s >> 8);
      }
      howdy_speaker_feed(sp, buf, n * 2u, now_us(v));
      v->ring_samples_fed += n;
    }
    if (v->ring_samples_fed >= RING_TOTAL_SAMPLES) howdy_speaker_stream_end(sp);
    else return 10000u; /* a slot plays in 32 ms: look again soon */
  }
  howdy_speaker_report_t rep;
  if (howdy_speaker_report(sp, v->ring_stream, &rep)) {
    howdy_log(HOWDY_LOG_INFO, TAG, "ring done (%llu samples)", (unsigned long long)rep.samples);
    v->ring_stream = 0;
    if (v->ring_pending) v->ring_pending--;
    v->rings++;
  }
  return v->ring_stream ? 20000u : UINT64_MAX;
}

/* ---- wake word configuration ------------------------------------------------------------- */

static void on_config_request(howdy_voice_t *v, howdy_api_conn_t *c) {
  Howdy__VoiceAssistantWakeWord ww[HOWDY_VOICE_MAX_WAKE_WORDS];
  Howdy__VoiceAssistantWakeWord *wwp[HOWDY_VOICE_MAX_WAKE_WORDS];
  char *active[HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS];
  uint32_t n = v->cfg.n_wake_words;
  if (n > HOWDY_VOICE_MAX_WAKE_WORDS) n = HOWDY_VOICE_MAX_WAKE_WORDS;
  for (uint32_t i = 0; i < n; i++) {
    const howdy_wake_word_t *w = &v->cfg.wake_words[i];
    Howdy__VoiceAssistantWakeWord init = HOWDY__VOICE_ASSISTANT_WAKE_WORD__INIT;
    ww[i] = init;
    ww[i].id = (char *)w->id;
    ww[i].wake_word = (char *)w->wake_word;
    ww[i].n_trained_languages = w->n_languages;
    ww[i].trained_languages = (char **)w->languages;
    wwp[i] = &ww[i];
  }
  for (uint32_t i = 0; i < v->n_active_wake_words; i++) {
    active[i] = (char *)v->cfg.wake_words[v->active_wake_words[i]].id;
  }
  Howdy__VoiceAssistantConfigurationResponse r =
      HOWDY__VOICE_ASSISTANT_CONFIGURATION_RESPONSE__INIT;
  r.n_available_wake_words = n;
  r.available_wake_words = wwp;
  r.n_active_wake_words = v->n_active_wake_words;
  r.active_wake_words = active;
  r.max_active_wake_words = v->cfg.max_active_wake_words;
  send_to(v, c, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE, PB(&r));
}

static void on_set_config(howdy_voice_t *v, const Howdy__VoiceAssistantSetConfiguration *m) {
  uint32_t n = 0;
  for (size_t i = 0; i < m->n_active_wake_words; i++) {
    const char *id = m->active_wake_words[i];
    uint32_t found = UINT32_MAX;
    for (uint32_t k = 0; k < v->cfg.n_wake_words && k < HOWDY_VOICE_MAX_WAKE_WORDS; k++) {
      if (id && !strcmp(v->cfg.wake_words[k].id, id)) found = k;
    }
    bool dup = false;
    for (uint32_t k = 0; k < n; k++) dup |= v->active_wake_words[k] == found;
    if (found == UINT32_MAX) {
      howdy_log(HOWDY_LOG_WARN, TAG, "unknown wake word '%s' ignored", id ? id : "");
    } else if (!dup && n < v->cfg.max_active_wake_words) {
      v->active_wake_words[n++] = found;
    } else if (!dup) {
      howdy_log(HOWDY_LOG_WARN, TAG, "wake word '%s' ignored: at most %u active", id,
                (unsigned)v->cfg.max_active_wake_words);
    }
  }
  v->n_active_wake_words = n;
  howdy_log(HOWDY_LOG_INFO, TAG, "%u wake word(s) active%s%s", (unsigned)n, n ? ", first: " : "",
            n ? v->cfg.wake_words[v->active_wake_words[0]].id : "");
}

/* ---- entry points ------------------------------------------------------------------------ */

bool howdy_voice_on_message(howdy_voice_t *v, howdy_api_conn_t *c, uint16_t type,
                            const ProtobufCMessage *msg) {
  switch (type) {
    case HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST:
      on_subscribe(v, c, (const Howdy__SubscribeVoiceAssistantRequest *)msg);
      return true;
    case HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST:
      /* Reading the configuration is harmless: any client may. */
      on_config_request(v, c);
      return true;
    case HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST:
      if (c != v->conn) {
        howdy_log(HOWDY_LOG_WARN, TAG, "announcement from a client that is not subscribed refused");
        Howdy__VoiceAssistantAnnounceFinished f = HOWDY__VOICE_ASSISTANT_ANNOUNCE_FINISHED__INIT;
        f.success = false;
        send_to(v, c, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED, PB(&f));
        return true;
      }
      break;
    default:
      if (c != v->conn) {
        howdy_log(HOWDY_LOG_DEBUG, TAG, "voice message %u from a client that does not drive the "
                  "session ignored", (unsigned)type);
        return true;
      }
      break;
  }

  switch (type) {
    case HOWDY_MSG_VOICE_ASSISTANT_RESPONSE:
      on_response(v, (const Howdy__VoiceAssistantResponse *)msg);
      break;
    case HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE:
      on_event(v, (const Howdy__VoiceAssistantEventResponse *)msg);
      break;
    case HOWDY_MSG_VOICE_ASSISTANT_AUDIO:
      on_reply_audio(v, (const Howdy__VoiceAssistantAudio *)msg);
      break;
    case HOWDY_MSG_VOICE_ASSISTANT_TIMER_EVENT_RESPONSE:
      on_timer_event(v, (const Howdy__VoiceAssistantTimerEventResponse *)msg);
      break;
    case HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST: {
      const Howdy__VoiceAssistantAnnounceRequest *r = (const void *)msg;
      howdy_log(HOWDY_LOG_INFO, TAG, "announcement (media '%.64s', start_conversation %d)",
                r->media_id ? r->media_id : "", (int)r->start_conversation);
      if (v->state == HOWDY_VOICE_STARTING || v->state == HOWDY_VOICE_STREAMING ||
          v->state == HOWDY_VOICE_THINKING) {
        /* The announcement wins over a run in progress: HA is told to stop
         * the run, then the announcement plays. */
        Howdy__VoiceAssistantRequest stop = HOWDY__VOICE_ASSISTANT_REQUEST__INIT;
        stop.start = false;
        send(v, HOWDY_MSG_VOICE_ASSISTANT_REQUEST, PB(&stop));
        mic_drop(v);
        howdy_log(HOWDY_LOG_INFO, TAG, "run in state %s aborted for the announcement",
                  howdy_voice_state_name(v->state));
      }
      open_reply(v, HOWDY_REPLY_ANNOUNCE, r->start_conversation);
      break;
    }
    case HOWDY_MSG_VOICE_ASSISTANT_SET_CONFIGURATION:
      on_set_config(v, (const Howdy__VoiceAssistantSetConfiguration *)msg);
      break;
    default:
      return false;
  }
  return true;
}

void howdy_voice_request_wake(howdy_voice_t *v, howdy_wake_source_t source) {
  atomic_store(&v->wake_request, (int)source);
}

void howdy_voice_set_continuous(howdy_voice_t *v, bool on) {
  v->continuous = on;
  if (!on && v->state == HOWDY_VOICE_STREAMING && v->source == HOWDY_WAKE_CONTINUOUS) {
    abort_run(v, "continuous streaming switched off", 0);
  }
}

void howdy_voice_set_muted(howdy_voice_t *v, bool muted) {
  v->muted = muted;
  howdy_mic_set_muted(&v->cfg.audio->mic, muted);
  if (muted && (v->state == HOWDY_VOICE_STARTING || v->state == HOWDY_VOICE_STREAMING)) {
    abort_run(v, "muted", 0);
  }
}

uint64_t howdy_voice_poll(howdy_voice_t *v) {
  uint64_t now = now_us(v);
  uint64_t next = UINT64_MAX;

  int w = atomic_exchange(&v->wake_request, HOWDY_WAKE_NONE);
  if (w != HOWDY_WAKE_NONE) start_run(v, (howdy_wake_source_t)w);
  if (v->continuous && v->state == HOWDY_VOICE_IDLE && v->conn && !v->muted &&
      !v->ring_stream) {
    if (now >= v->resume_at_us) start_run(v, HOWDY_WAKE_CONTINUOUS);
    else next = v->resume_at_us - now;
  }

  pump_mic(v);

  if (v->state == HOWDY_VOICE_REPLYING && v->reply_stream) {
    if (!v->reply_end && now - v->reply_last_chunk_us >= MS(HOWDY_VOICE_STREAM_IDLE_MS)) {
      howdy_log(HOWDY_LOG_WARN, TAG,
                "reply stream silent for %u ms without an end marker: ending it",
                (unsigned)HOWDY_VOICE_STREAM_IDLE_MS);
      end_reply_stream(v, false);
    }
    if (!v->reply_report_ready &&
        howdy_speaker_report(&v->cfg.audio->speaker, v->reply_stream, &v->reply_report)) {
      v->reply_report_ready = true;
    }
    if (v->reply_report_ready) {
      /* AnnounceFinished only once the last sample is out of the speaker:
       * the tick reports the stream done while its last frame is still
       * being played. */
      uint64_t due = v->reply_report.played_any ? v->reply_report.last_sample_us + 63u : 0;
      if (now >= due) {
        howdy_reply_kind_t kind = v->reply_kind;
        bool ok = !v->reply_report.aborted;
        finish_reply(v, ok);
        after_reply(v, kind, ok);
      } else if (due - now < next) {
        next = due - now;
      }
    } else if (!v->reply_end) {
      uint64_t due = v->reply_last_chunk_us + MS(HOWDY_VOICE_STREAM_IDLE_MS);
      if (due > now && due - now < next) next = due - now;
    } else if (next > 10000u) {
      next = 10000u; /* the output task wakes us too; this is a backstop */
    }
  }

  if (v->deadline_us && now >= v->deadline_us) {
    switch (v->state) {
      case HOWDY_VOICE_STARTING:
        abort_run(v, "no VoiceAssistantResponse in time", HOWDY_VOICE_ERROR_BACKOFF_MS);
        break;
      case HOWDY_VOICE_STREAMING:
        abort_run(v, "no end of speech in time", HOWDY_VOICE_ERROR_BACKOFF_MS);
        break;
      case HOWDY_VOICE_THINKING:
        if (v->run_ended) {
          howdy_log(HOWDY_LOG_INFO, TAG, "run ended without a reply stream");
          go_idle(v, HOWDY_VOICE_CONTINUOUS_RESTART_MS);
        } else {
          abort_run(v, "no reply in time", HOWDY_VOICE_ERROR_BACKOFF_MS);
        }
        break;
      default:
        v->deadline_us = 0;
        break;
    }
  }
  if (v->deadline_us) {
    uint64_t d = v->deadline_us > now ? v->deadline_us - now : 0;
    if (d < next) next = d;
  }

  uint64_t t = tick_timers(v, now);
  if (t < next) next = t;
  t = pump_ring(v);
  if (t < next) next = t;
  return next;
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static bool hook_message(void *ctx, howdy_api_conn_t *c, uint16_t type,
                         const ProtobufCMessage *msg) {
  return howdy_voice_on_message(ctx, c, type, msg);
}

static void hook_disconnect(void *ctx, howdy_api_conn_t *c) { howdy_voice_on_disconnect(ctx, c); }

void howdy_voice_attach(howdy_voice_t *v, howdy_api_server_t *server) {
  howdy_api_voice_hooks_t h = {.on_message = hook_message, .on_disconnect = hook_disconnect,
                               .ctx = v};
  howdy_api_server_set_voice_hooks(server, &h);
}

void howdy_voice_init(howdy_voice_t *v, const howdy_voice_config_t *cfg) {
  memset(v, 0, sizeof *v);
  v->cfg = *cfg;
  if (v->cfg.max_active_wake_words == 0) v->cfg.max_active_wake_words = 1;
  if (v->cfg.max_active_wake_words > HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS) {
    v->cfg.max_active_wake_words = HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS;
  }
  if (v->cfg.n_wake_words > HOWDY_VOICE_MAX_WAKE_WORDS) {
    v->cfg.n_wake_words = HOWDY_VOICE_MAX_WAKE_WORDS;
  }
  atomic_init(&v->wake_request, HOWDY_WAKE_NONE);
  /* Factory default: the first on-device wake word listens. */
  if (v->cfg.n_wake_words > 0) {
    v->active_wake_words[0] = 0;
    v->n_active_wake_words = 1;
  }
  v->state = HOWDY_VOICE_IDLE;
}
