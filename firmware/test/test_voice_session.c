/* The voice session state machine with a fake clock: the messages it sends
 * are recorded instead of going to a socket, the microphone and output tasks
 * are played by the test, one 10 ms frame at a time. Every abort path is
 * driven: disconnect in each state, pipeline errors, timeouts, a TTS stream
 * without end, an announcement while listening, mute, takeover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/voice_session.h"

#define MAX_SENT 4096

typedef struct {
  howdy_api_conn_t *conn;
  uint16_t type;
  bool start;         /* Request */
  uint32_t flags;     /* Request */
  char phrase[32];    /* Request */
  char conv[32];      /* Request */
  size_t audio_len;   /* Audio */
  bool end;           /* Audio */
  bool success;       /* AnnounceFinished */
  uint64_t at_us;
  size_t n_available, n_active; /* ConfigurationResponse */
  char active0[32];
} sent_t;

typedef struct {
  uint64_t now;
  sent_t sent[MAX_SENT];
  size_t n_sent;
  int timer_events[8];
  int timer_ticks;
  int replies_done;
  howdy_voice_reply_info_t last_reply;
} world_t;

static world_t W;
static howdy_audio_path_t audio;
static howdy_voice_t voice;
static howdy_api_conn_t conn_a, conn_b;

static uint64_t fake_clock(void *ctx) {
  (void)ctx;
  return W.now;
}

static int fake_send(void *ctx, howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *m) {
  (void)ctx;
  assert_true(W.n_sent < MAX_SENT);
  sent_t *s = &W.sent[W.n_sent++];
  memset(s, 0, sizeof *s);
  s->conn = c;
  s->type = type;
  s->at_us = W.now;
  switch (type) {
    case HOWDY_MSG_VOICE_ASSISTANT_REQUEST: {
      const Howdy__VoiceAssistantRequest *r = (const void *)m;
      s->start = r->start;
      s->flags = r->flags;
      if (r->wake_word_phrase) strncpy(s->phrase, r->wake_word_phrase, sizeof s->phrase - 1);
      if (r->conversation_id) strncpy(s->conv, r->conversation_id, sizeof s->conv - 1);
      if (r->start) assert_non_null(r->audio_settings);
      break;
    }
    case HOWDY_MSG_VOICE_ASSISTANT_AUDIO: {
      const Howdy__VoiceAssistantAudio *a = (const void *)m;
      s->audio_len = a->data.len;
      s->end = a->end;
      break;
    }
    case HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED:
      s->success = ((const Howdy__VoiceAssistantAnnounceFinished *)m)->success;
      break;
    case HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE: {
      const Howdy__VoiceAssistantConfigurationResponse *r = (const void *)m;
      s->n_available = r->n_available_wake_words;
      s->n_active = r->n_active_wake_words;
      if (r->n_active_wake_words) strncpy(s->active0, r->active_wake_words[0], sizeof s->active0 - 1);
      break;
    }
    default:
      break;
  }
  return HOWDY_OK;
}

static void on_timer(void *ctx, const howdy_voice_timer_t *t, howdy_timer_event_t ev,
                     uint32_t left) {
  (void)ctx;
  (void)t;
  (void)left;
  if (ev == HOWDY_TIMER_EV_TICK) W.timer_ticks++;
  else if (ev <= HOWDY_TIMER_EV_FINISHED) W.timer_events[ev]++;
  else if (ev == HOWDY_TIMER_EV_CLEARED) W.timer_events[4]++;
}

static void on_reply_done(void *ctx, const howdy_voice_reply_info_t *info) {
  (void)ctx;
  W.replies_done++;
  W.last_reply = *info;
}

static const char *const k_en[] = {"en"};
static const howdy_wake_word_t k_words[] = {
    {.id = "okay_howdy", .wake_word = "Okay Howdy", .languages = k_en, .n_languages = 1},
    {.id = "hey_howdy", .wake_word = "Hey Howdy", .languages = k_en, .n_languages = 1},
};

static int setup(void **state) {
  (void)state;
  memset(&W, 0, sizeof W);
  W.now = 1000000;
  howdy_log_set_level(HOWDY_LOG_WARN);
  howdy_audio_path_init(&audio, fake_clock, NULL);
  howdy_voice_config_t cfg = {
      .audio = &audio, .clock = fake_clock, .send = fake_send,
      .wake_words = k_words, .n_wake_words = 2, .max_active_wake_words = 1,
      .on_timer = on_timer, .on_reply_done = on_reply_done,
  };
  howdy_voice_init(&voice, &cfg);
  return 0;
}

/* ---- drivers --------------------------------------------------------------------------- */

static void subscribe(howdy_api_conn_t *c, bool on) {
  Howdy__SubscribeVoiceAssistantRequest m = HOWDY__SUBSCRIBE_VOICE_ASSISTANT_REQUEST__INIT;
  m.subscribe = on;
  m.flags = 4;
  assert_true(howdy_voice_on_message(&voice, c, HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST,
                                     (const ProtobufCMessage *)&m));
}

static void event_kv(howdy_api_conn_t *c, int ev, const char *k, const char *val) {
  Howdy__VoiceAssistantEventResponse m = HOWDY__VOICE_ASSISTANT_EVENT_RESPONSE__INIT;
  Howdy__VoiceAssistantEventData d = HOWDY__VOICE_ASSISTANT_EVENT_DATA__INIT;
  Howdy__VoiceAssistantEventData *dp[1] = {&d};
  m.event_type = (Howdy__VoiceAssistantEvent)ev;
  if (k) {
    d.name = (char *)k;
    d.value = (char *)val;
    m.n_data = 1;
    m.data = dp;
  }
  howdy_voice_on_message(&voice, c, HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE,
                         (const ProtobufCMessage *)&m);
  howdy_voice_poll(&voice);
}

static void event(howdy_api_conn_t *c, int ev) { event_kv(c, ev, NULL, NULL); }

static void response(howdy_api_conn_t *c, uint32_t port, bool error) {
  Howdy__VoiceAssistantResponse m = HOWDY__VOICE_ASSISTANT_RESPONSE__INIT;
  m.port = port;
  m.error = error;
  howdy_voice_on_message(&voice, c, HOWDY_MSG_VOICE_ASSISTANT_RESPONSE,
                         (const ProtobufCMessage *)&m);
  howdy_voice_poll(&voice);
}

static void audio_in(howdy_api_conn_t *c, size_t len, bool end) {
  static uint8_t buf[HOWDY_POOL_SLOT_BYTES];
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(i * 7u);
  Howdy__VoiceAssistantAudio m = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
  m.data.data = buf;
  m.data.len = len;
  m.end = end;
  howdy_voice_on_message(&voice, c, HOWDY_MSG_VOICE_ASSISTANT_AUDIO,
                         (const ProtobufCMessage *)&m);
  howdy_voice_poll(&voice);
}

static void announce(howdy_api_conn_t *c, bool start_conversation) {
  Howdy__VoiceAssistantAnnounceRequest m = HOWDY__VOICE_ASSISTANT_ANNOUNCE_REQUEST__INIT;
  m.media_id = "howdy://x";
  m.start_conversation = start_conversation;
  howdy_voice_on_message(&voice, c, HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST,
                         (const ProtobufCMessage *)&m);
  howdy_voice_poll(&voice);
}

static void timer_event(howdy_api_conn_t *c, int ev, const char *id, uint32_t left, bool active) {
  Howdy__VoiceAssistantTimerEventResponse m = HOWDY__VOICE_ASSISTANT_TIMER_EVENT_RESPONSE__INIT;
  m.event_type = (Howdy__VoiceAssistantTimerEvent)ev;
  m.timer_id = (char *)id;
  m.name = "tea";
  m.total_seconds = 10;
  m.seconds_left = left;
  m.is_active = active;
  howdy_voice_on_message(&voice, c, HOWDY_MSG_VOICE_ASSISTANT_TIMER_EVENT_RESPONSE,
                         (const ProtobufCMessage *)&m);
  howdy_voice_poll(&voice);
}

/* n frames of the microphone task and the output task, 10 ms each, with a
 * session poll after every frame (as the wakeups would trigger it). */
static void run_ms(uint32_t ms) {
  int16_t frame[HOWDY_AUDIO_FRAME_SAMPLES];
  for (uint32_t f = 0; f < ms / 10u; f++) {
    for (uint32_t i = 0; i < HOWDY_AUDIO_FRAME_SAMPLES; i++) frame[i] = (int16_t)(i + f);
    howdy_mic_process(&audio.mic, frame, W.now);
    howdy_speaker_tick(&audio.speaker, W.now, frame);
    W.now += 5000;
    howdy_voice_poll(&voice);
    W.now += 5000;
    howdy_voice_poll(&voice);
  }
}

static size_t count(uint16_t type) {
  size_t n = 0;
  for (size_t i = 0; i < W.n_sent; i++) n += W.sent[i].type == type;
  return n;
}

static const sent_t *last(uint16_t type) {
  for (size_t i = W.n_sent; i-- > 0;) {
    if (W.sent[i].type == type) return &W.sent[i];
  }
  return NULL;
}

#define EVT(x) HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_##x

/* Idle, nothing streaming or playing, nobody driving: the reset state. */
static void assert_reset(void) {
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_null(voice.conn);
  assert_false(voice.mic_streaming);
  assert_int_equal(voice.reply_stream, 0);
  assert_int_equal(howdy_voice_timer_count(&voice), 0);
  run_ms(50);
  assert_false(howdy_speaker_playing(&audio.speaker));
  howdy_pool_stats_t ps;
  howdy_pool_stats(&audio.pool, &ps);
  assert_int_equal(ps.in_use, 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_full_turn(void **state) {
  (void)state;
  subscribe(&conn_a, true);
  run_ms(500); /* the pre-roll fills */
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  const sent_t *req = last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  assert_non_null(req);
  assert_true(req->start);
  assert_string_equal(req->phrase, "Okay Howdy");
  assert_int_equal(req->flags, 0);
  response(&conn_a, 0, false);
  run_ms(200);
  /* 300 ms of pre-roll + 200 ms live, in 640-byte packets. */
  assert_true(count(HOWDY_MSG_VOICE_ASSISTANT_AUDIO) >= 24);
  assert_int_equal(W.sent[1].audio_len, HOWDY_MIC_PACKET_BYTES);
  event(&conn_a, EVT(STT_VAD_END));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_THINKING);
  run_ms(30);
  const sent_t *end = last(HOWDY_MSG_VOICE_ASSISTANT_AUDIO);
  assert_true(end->end);
  assert_int_equal(end->audio_len, 0);
  size_t mic_msgs = count(HOWDY_MSG_VOICE_ASSISTANT_AUDIO);
  run_ms(100);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_AUDIO), mic_msgs); /* nothing after end */

  event_kv(&conn_a, EVT(INTENT_END), "conversation_id", "conv-42");
  event(&conn_a, EVT(TTS_END));
  event(&conn_a, EVT(TTS_STREAM_START));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_REPLYING);
  for (int i = 0; i < 3; i++) audio_in(&conn_a, HOWDY_POOL_SLOT_BYTES, false);
  event(&conn_a, EVT(RUN_END)); /* before the stream ends: playback goes on */
  event(&conn_a, EVT(TTS_STREAM_END));
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED), 0);
  run_ms(120);
  const sent_t *fin = last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_non_null(fin);
  assert_true(fin->success);
  /* Not before the last sample played. */
  assert_true(fin->at_us > W.last_reply.speaker.last_sample_us);
  assert_int_equal(W.last_reply.speaker.samples, 3 * HOWDY_POOL_SLOT_BYTES / 2);
  assert_int_equal(W.last_reply.speaker.underruns, 0);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);

  /* The next run carries the conversation id. */
  howdy_voice_request_wake(&voice, HOWDY_WAKE_BUTTON);
  howdy_voice_poll(&voice);
  req = last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  assert_string_equal(req->conv, "conv-42");
  assert_string_equal(req->phrase, "");
}

static void drive_to(howdy_voice_state_t target) {
  subscribe(&conn_a, true);
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  if (target == HOWDY_VOICE_STARTING) return;
  response(&conn_a, 0, false);
  run_ms(60);
  if (target == HOWDY_VOICE_STREAMING) return;
  event(&conn_a, EVT(STT_VAD_END));
  if (target == HOWDY_VOICE_THINKING) return;
  event(&conn_a, EVT(TTS_STREAM_START));
  audio_in(&conn_a, HOWDY_POOL_SLOT_BYTES, false);
  audio_in(&conn_a, HOWDY_POOL_SLOT_BYTES, false);
  run_ms(20);
}

static void disconnect_in(howdy_voice_state_t st) {
  setup(NULL);
  drive_to(st);
  assert_int_equal(howdy_voice_state(&voice), st);
  timer_event(&conn_a, HOWDY_TIMER_EV_STARTED, "t", 9, true);
  size_t before = W.n_sent;
  howdy_voice_on_disconnect(&voice, &conn_a);
  assert_int_equal(W.n_sent, before); /* nothing goes to a closed connection */
  assert_reset();
  assert_int_equal(W.timer_events[4], 1); /* the timer was cleared */
  assert_int_equal(W.n_sent, before);
  /* A new client gets a full run. */
  subscribe(&conn_b, true);
  howdy_voice_request_wake(&voice, HOWDY_WAKE_BUTTON);
  howdy_voice_poll(&voice);
  assert_ptr_equal(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->conn, &conn_b);
  response(&conn_b, 0, false);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STREAMING);
}

static void test_disconnect_in_every_state(void **state) {
  (void)state;
  disconnect_in(HOWDY_VOICE_STARTING);
  disconnect_in(HOWDY_VOICE_STREAMING);
  disconnect_in(HOWDY_VOICE_THINKING);
  disconnect_in(HOWDY_VOICE_REPLYING);
  /* Another client's disconnect changes nothing. */
  setup(NULL);
  drive_to(HOWDY_VOICE_STREAMING);
  howdy_voice_on_disconnect(&voice, &conn_b);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STREAMING);
  /* Unsubscribing is a reset too. */
  subscribe(&conn_a, false);
  assert_reset();
}

static void test_pipeline_error(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_STREAMING);
  event_kv(&conn_a, EVT(ERROR), "code", "stt-no-text-recognized");
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_false(voice.mic_streaming);
  size_t n = count(HOWDY_MSG_VOICE_ASSISTANT_AUDIO);
  run_ms(100);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_AUDIO), n); /* no more mic audio */

  setup(NULL);
  drive_to(HOWDY_VOICE_REPLYING);
  event(&conn_a, EVT(ERROR));
  const sent_t *fin = last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_non_null(fin);
  assert_false(fin->success);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  run_ms(50);
  assert_false(howdy_speaker_playing(&audio.speaker));
}

static void test_tts_stream_without_end(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_REPLYING);
  run_ms(HOWDY_VOICE_STREAM_IDLE_MS - 100);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED), 0);
  assert_true(howdy_audio_metrics_underruns(&audio.metrics) > 0); /* starved, end missing */
  run_ms(200);
  const sent_t *fin = last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_non_null(fin);
  assert_true(fin->success); /* what came was played */
  assert_int_equal(W.last_reply.end_marker_us, 0);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
}

static void test_announce_while_listening(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_STREAMING);
  announce(&conn_a, false);
  const sent_t *stop = last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  assert_false(stop->start); /* HA is told to abort the run */
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_REPLYING);
  assert_false(voice.mic_streaming);
  audio_in(&conn_a, 600, true);
  run_ms(60);
  assert_true(last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED)->success);
  assert_int_equal(W.last_reply.kind, HOWDY_REPLY_ANNOUNCE);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
}

static void test_announce_barge_and_start_conversation(void **state) {
  (void)state;
  subscribe(&conn_a, true);
  announce(&conn_a, false);
  audio_in(&conn_a, 1024, false);
  announce(&conn_a, true); /* the first one is cut off */
  const sent_t *fin = last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_non_null(fin);
  assert_false(fin->success);
  audio_in(&conn_a, 1024, true);
  size_t reqs = count(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  run_ms(100);
  assert_true(last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED)->success);
  /* start_conversation: listening follows without a wake word. */
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_REQUEST), reqs + 1);
  assert_string_equal(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->phrase, "");
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STARTING);
  /* An announcement from a client that does not drive the session. */
  announce(&conn_b, false);
  fin = last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED);
  assert_ptr_equal(fin->conn, &conn_b);
  assert_false(fin->success);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STARTING);
}

static void test_timeouts(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_STARTING);
  W.now += (uint64_t)HOWDY_VOICE_START_TIMEOUT_MS * 1000u;
  howdy_voice_poll(&voice);
  assert_false(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->start);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);

  setup(NULL);
  drive_to(HOWDY_VOICE_STREAMING);
  run_ms(HOWDY_VOICE_LISTEN_TIMEOUT_MS);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_false(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->start);

  setup(NULL);
  drive_to(HOWDY_VOICE_THINKING);
  W.now += (uint64_t)HOWDY_VOICE_THINK_TIMEOUT_MS * 1000u;
  howdy_voice_poll(&voice);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);

  /* Response errors and UDP offers end the run. */
  setup(NULL);
  drive_to(HOWDY_VOICE_STARTING);
  response(&conn_a, 0, true);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  W.now += (uint64_t)HOWDY_VOICE_ERROR_BACKOFF_MS * 1000u;
  howdy_voice_request_wake(&voice, HOWDY_WAKE_BUTTON);
  howdy_voice_poll(&voice);
  response(&conn_a, 12345, false);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_false(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->start);
}

static void test_run_end_before_tts_stream(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_THINKING);
  event(&conn_a, EVT(TTS_END));
  event(&conn_a, EVT(RUN_END));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_THINKING); /* grace */
  event(&conn_a, EVT(TTS_STREAM_START));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_REPLYING);
  audio_in(&conn_a, 320, true);
  run_ms(40);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);

  /* No stream within the grace period: idle. */
  setup(NULL);
  drive_to(HOWDY_VOICE_THINKING);
  event(&conn_a, EVT(TTS_END));
  event(&conn_a, EVT(RUN_END));
  W.now += (uint64_t)HOWDY_VOICE_REPLY_GRACE_MS * 1000u;
  howdy_voice_poll(&voice);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  /* RUN_END without TTS: idle at once. */
  setup(NULL);
  drive_to(HOWDY_VOICE_THINKING);
  event(&conn_a, EVT(RUN_END));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
}

static void test_mute(void **state) {
  (void)state;
  subscribe(&conn_a, true);
  howdy_voice_set_muted(&voice, true);
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_REQUEST), 0);
  howdy_voice_set_muted(&voice, false);
  drive_to(HOWDY_VOICE_STREAMING);
  howdy_voice_set_muted(&voice, true);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_false(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->start);
  assert_true(howdy_mic_muted(&audio.mic));
}

static void test_timers_and_ring(void **state) {
  (void)state;
  subscribe(&conn_a, true);
  timer_event(&conn_a, HOWDY_TIMER_EV_STARTED, "t1", 5, true);
  assert_int_equal(W.timer_events[HOWDY_TIMER_EV_STARTED], 1);
  assert_int_equal(howdy_voice_timer_count(&voice), 1);
  run_ms(3000);
  assert_int_equal(W.timer_ticks, 3); /* the countdown: 4, 3, 2 */
  assert_int_equal(howdy_voice_timer_left(&voice, &voice.timers[0], W.now), 2);
  timer_event(&conn_a, HOWDY_TIMER_EV_UPDATED, "t1", 60, false); /* paused */
  run_ms(2000);
  assert_int_equal(howdy_voice_timer_left(&voice, &voice.timers[0], W.now), 60);
  timer_event(&conn_a, HOWDY_TIMER_EV_STARTED, "t2", 1, true);
  timer_event(&conn_a, HOWDY_TIMER_EV_CANCELLED, "t1", 0, false);
  assert_int_equal(howdy_voice_timer_count(&voice), 1);
  timer_event(&conn_a, HOWDY_TIMER_EV_FINISHED, "t2", 0, false);
  assert_int_equal(howdy_voice_timer_count(&voice), 0);
  run_ms(1500);
  assert_int_equal(voice.rings, 1);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED), 0); /* not a reply */
  assert_int_equal(howdy_audio_metrics_overruns(&audio.metrics), 0); /* fed at the pool's pace */

  /* A timer table that is full drops the newest, not an old one. */
  char id[8];
  for (int i = 0; i < HOWDY_VOICE_MAX_TIMERS + 2; i++) {
    snprintf(id, sizeof id, "x%d", i);
    timer_event(&conn_a, HOWDY_TIMER_EV_STARTED, id, 100, true);
  }
  assert_int_equal(howdy_voice_timer_count(&voice), HOWDY_VOICE_MAX_TIMERS);
  /* A ring interrupted by a reply. */
  timer_event(&conn_a, HOWDY_TIMER_EV_FINISHED, "x0", 0, false);
  run_ms(100);
  assert_non_null(voice.ring_stream ? &voice : NULL);
  event(&conn_a, EVT(TTS_STREAM_START));
  assert_int_equal(voice.ring_stream, 0);
  audio_in(&conn_a, 640, true);
  run_ms(100);
  assert_true(last(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_FINISHED)->success);
}

static void test_takeover_and_foreign_messages(void **state) {
  (void)state;
  drive_to(HOWDY_VOICE_STREAMING);
  /* Events from a client that does not drive the session are ignored. */
  event(&conn_b, EVT(STT_VAD_END));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STREAMING);
  /* A new subscriber takes over: the old run is reset. */
  subscribe(&conn_b, true);
  assert_ptr_equal(voice.conn, &conn_b);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_false(voice.mic_streaming);
  /* Without a subscriber, a wake goes nowhere. */
  subscribe(&conn_b, false);
  size_t n = W.n_sent;
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  assert_int_equal(W.n_sent, n);
  /* Reply audio outside a reply is dropped. */
  subscribe(&conn_a, true);
  audio_in(&conn_a, 1024, false);
  howdy_pool_stats_t ps;
  howdy_pool_stats(&audio.pool, &ps);
  assert_int_equal(ps.attempts, 0);
}

static void test_wake_word_configuration(void **state) {
  (void)state;
  howdy_voice_on_message(&voice, &conn_b, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST, NULL);
  const sent_t *r = last(HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE);
  assert_int_equal(r->n_available, 2);
  assert_int_equal(r->n_active, 1);
  assert_string_equal(r->active0, "okay_howdy");
  subscribe(&conn_a, true);
  char *ids[] = {"nope", "hey_howdy", "okay_howdy"};
  Howdy__VoiceAssistantSetConfiguration set = HOWDY__VOICE_ASSISTANT_SET_CONFIGURATION__INIT;
  set.n_active_wake_words = 3;
  set.active_wake_words = ids;
  howdy_voice_on_message(&voice, &conn_a, HOWDY_MSG_VOICE_ASSISTANT_SET_CONFIGURATION,
                         (const ProtobufCMessage *)&set);
  howdy_voice_on_message(&voice, &conn_a, HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST, NULL);
  r = last(HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_RESPONSE);
  assert_int_equal(r->n_active, 1); /* max_active_wake_words = 1 */
  assert_string_equal(r->active0, "hey_howdy");
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  assert_string_equal(last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST)->phrase, "Hey Howdy");
  /* The configuration is the device's, not the connection's. */
  howdy_voice_on_disconnect(&voice, &conn_a);
  assert_int_equal(voice.n_active_wake_words, 1);
}

static void test_continuous(void **state) {
  (void)state;
  subscribe(&conn_a, true);
  howdy_voice_set_continuous(&voice, true);
  howdy_voice_poll(&voice);
  const sent_t *req = last(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  assert_non_null(req);
  assert_int_equal(req->flags, HOWDY_VOICE_REQ_USE_WAKE_WORD);
  response(&conn_a, 0, false);
  run_ms(HOWDY_VOICE_LISTEN_TIMEOUT_MS + 100); /* no timeout while HA waits for its wake word */
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_STREAMING);
  event(&conn_a, EVT(WAKE_WORD_END));
  event(&conn_a, EVT(RUN_END));
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  size_t n = count(HOWDY_MSG_VOICE_ASSISTANT_REQUEST);
  run_ms(HOWDY_VOICE_CONTINUOUS_RESTART_MS + 20);
  assert_int_equal(count(HOWDY_MSG_VOICE_ASSISTANT_REQUEST), n + 1); /* streaming again */
  howdy_voice_set_continuous(&voice, false);
  response(&conn_a, 0, false);
  howdy_voice_set_continuous(&voice, false);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_full_turn, setup),
      cmocka_unit_test_setup(test_disconnect_in_every_state, setup),
      cmocka_unit_test_setup(test_pipeline_error, setup),
      cmocka_unit_test_setup(test_tts_stream_without_end, setup),
      cmocka_unit_test_setup(test_announce_while_listening, setup),
      cmocka_unit_test_setup(test_announce_barge_and_start_conversation, setup),
      cmocka_unit_test_setup(test_timeouts, setup),
      cmocka_unit_test_setup(test_run_end_before_tts_stream, setup),
      cmocka_unit_test_setup(test_mute, setup),
      cmocka_unit_test_setup(test_timers_and_ring, setup),
      cmocka_unit_test_setup(test_takeover_and_foreign_messages, setup),
      cmocka_unit_test_setup(test_wake_word_configuration, setup),
      cmocka_unit_test_setup(test_continuous, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
