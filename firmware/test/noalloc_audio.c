/* Zero-allocation check of the audio path: malloc and friends are wrapped at
 * link time (-Wl,--wrap=..., see CMakeLists.txt), so every call from the core
 * or from this file goes through a counter. After start-up (init and entity
 * registration) a full voice turn (pre-roll, microphone streaming, a reply
 * played to its end, an aborted reply, metrics published) must count 0, and
 * so must a whole voice session driven in-process through howdy_voice_t
 * (every message packed to protobuf, logging on), from subscription to a
 * disconnect mid-reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/audio_path.h"
#include "howdy/entities.h"
#include "howdy/proto.h"
#include "howdy/voice_session.h"

/* volatile: only the wrappers write it, and they are reached through the
 * linker's --wrap, behind the optimiser's back; a plain static would let it
 * assume malloc() cannot change the count. */
static volatile unsigned long heap_calls;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n) { heap_calls++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { heap_calls++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { heap_calls++; return __real_realloc(p, n); }
void __wrap_free(void *p) { if (p) heap_calls++; __real_free(p); }

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx) {
  (void)ctx;
  return fake_now += 5;
}

static howdy_audio_path_t audio;
static howdy_entities_t registry;

static void test_wrapper_is_active(void **state) {
  (void)state;
  unsigned long before = heap_calls;
  void *p = malloc(16);
  free(p);
  assert_int_equal(heap_calls - before, 2); /* otherwise the check proves nothing */
}

static void test_voice_turn_allocates_nothing(void **state) {
  (void)state;
  /* start-up */
  howdy_audio_path_init(&audio, fake_clock, NULL);
  howdy_entities_init(&registry, 1000, 60000);
  assert_int_equal(howdy_audio_metrics_register(&audio.metrics, &registry), 0);
  heap_calls = 0;

  int16_t frame[HOWDY_AUDIO_FRAME_SAMPLES];
  howdy_mic_packet_t pkt;
  uint64_t t = 1000000;
  for (int f = 0; f < 50; f++, t += 10000) { /* idle: pre-roll fills */
    for (int i = 0; i < (int)HOWDY_AUDIO_FRAME_SAMPLES; i++) frame[i] = (int16_t)(i * f);
    howdy_mic_process(&audio.mic, frame, t);
  }
  howdy_mic_set_gain_db(&audio.mic, 6);
  howdy_mic_stream_start(&audio.mic);
  for (int f = 0; f < 100; f++, t += 10000) {
    howdy_mic_process(&audio.mic, frame, t);
    while (howdy_mic_take_packet(&audio.mic, &pkt)) howdy_mic_packet_sent(&audio.mic, &pkt, t + 500);
  }
  howdy_mic_stream_stop(&audio.mic);
  howdy_mic_process(&audio.mic, frame, t);
  howdy_mic_discard_queued(&audio.mic);

  static uint8_t chunk[HOWDY_POOL_SLOT_BYTES];
  for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)i;
  howdy_speaker_set_volume(&audio.speaker, 80.0f);
  uint16_t s = howdy_speaker_stream_begin(&audio.speaker);
  int fed = 0;
  bool done = false;
  for (int tick = 0; tick < 400 && !done; tick++, t += 10000) {
    howdy_pool_stats_t ps;
    howdy_pool_stats(&audio.pool, &ps);
    while (fed < 40 && ps.in_use < ps.slots) {
      howdy_speaker_feed(&audio.speaker, chunk, sizeof chunk, t);
      fed++;
      howdy_pool_stats(&audio.pool, &ps);
    }
    if (fed == 40) howdy_speaker_stream_end(&audio.speaker);
    uint32_t evt = howdy_speaker_tick(&audio.speaker, t, frame);
    if (evt) howdy_audio_metrics_push_events(&audio.metrics, &registry);
    done = (evt & HOWDY_SPK_EVT_DONE) != 0;
    howdy_entities_tick(&registry, t);
  }
  assert_true(done);
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&audio.speaker, s, &rep));

  howdy_speaker_stream_begin(&audio.speaker);
  howdy_speaker_feed(&audio.speaker, chunk, sizeof chunk, t);
  howdy_speaker_feed(&audio.speaker, chunk, sizeof chunk, t);
  howdy_speaker_tick(&audio.speaker, t, frame);
  howdy_speaker_abort(&audio.speaker);
  howdy_speaker_tick(&audio.speaker, t + 10000, frame);
  howdy_entities_sample_all(&registry);

  assert_int_equal(heap_calls, 0);
}

/* ---- a whole voice session ------------------------------------------------ */

static howdy_voice_t voice;
static howdy_api_conn_t conn; /* never dereferenced: the send hook stands in */
static uint8_t packed[HOWDY_CODEC_MAX_PAYLOAD];
static unsigned long messages_out;
static uint64_t session_now;

static uint64_t session_clock(void *ctx) {
  (void)ctx;
  return session_now;
}

/* Packs what the session sends, as the server would, so protobuf-c's packer
 * is inside the measured span too. */
static int pack_send(void *ctx, howdy_api_conn_t *c, uint16_t type, const ProtobufCMessage *m) {
  (void)ctx;
  (void)c;
  (void)type;
  bool ok = true;
  if (m) howdy_proto_pack(m, packed, sizeof packed, &ok);
  messages_out++;
  return ok ? 0 : -1;
}

static void deliver(uint16_t type, const ProtobufCMessage *m) {
  howdy_voice_on_message(&voice, &conn, type, m);
  howdy_voice_poll(&voice);
}

static void event(int ev) {
  Howdy__VoiceAssistantEventResponse m = HOWDY__VOICE_ASSISTANT_EVENT_RESPONSE__INIT;
  m.event_type = (Howdy__VoiceAssistantEvent)ev;
  deliver(HOWDY_MSG_VOICE_ASSISTANT_EVENT_RESPONSE, (const ProtobufCMessage *)&m);
}

static void frames(int n) {
  int16_t frame[HOWDY_AUDIO_FRAME_SAMPLES];
  for (int f = 0; f < n; f++) {
    for (int i = 0; i < (int)HOWDY_AUDIO_FRAME_SAMPLES; i++) frame[i] = (int16_t)(i * 13 + f);
    howdy_mic_process(&audio.mic, frame, session_now);
    uint32_t evt = howdy_speaker_tick(&audio.speaker, session_now, frame);
    if (evt) howdy_audio_metrics_push_events(&audio.metrics, &registry);
    session_now += 10000;
    howdy_voice_poll(&voice);
    howdy_entities_tick(&registry, session_now);
  }
}

static void reply_chunks(int n, bool end) {
  static uint8_t pcm[HOWDY_POOL_SLOT_BYTES];
  for (size_t i = 0; i < sizeof pcm; i++) pcm[i] = (uint8_t)(i * 3u);
  for (int k = 0; k < n; k++) {
    Howdy__VoiceAssistantAudio a = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
    a.data.data = pcm;
    a.data.len = sizeof pcm;
    a.end = end && k == n - 1;
    deliver(HOWDY_MSG_VOICE_ASSISTANT_AUDIO, (const ProtobufCMessage *)&a);
    frames(3);
  }
}

#define EVT(x) HOWDY__VOICE_ASSISTANT_EVENT__VOICE_ASSISTANT_##x

static void test_voice_session_allocates_nothing(void **state) {
  (void)state;
  static const char *const langs[] = {"en"};
  static const howdy_wake_word_t words[] = {
      {.id = "okay_howdy", .wake_word = "Okay Howdy", .languages = langs, .n_languages = 1}};
  /* start-up */
  session_now = 1000000;
  howdy_log_set_level(HOWDY_LOG_DEBUG); /* the log path is measured too */
  howdy_audio_path_init(&audio, session_clock, NULL);
  howdy_entities_init(&registry, 1000, 60000);
  assert_int_equal(howdy_audio_metrics_register(&audio.metrics, &registry), 0);
  howdy_voice_config_t cfg = {.audio = &audio, .clock = session_clock, .send = pack_send,
                              .wake_words = words, .n_wake_words = 1};
  howdy_voice_init(&voice, &cfg);
  frames(1); /* first use of every code path's statics */
  heap_calls = 0;

  Howdy__SubscribeVoiceAssistantRequest sub = HOWDY__SUBSCRIBE_VOICE_ASSISTANT_REQUEST__INIT;
  sub.subscribe = true;
  sub.flags = 4;
  deliver(HOWDY_MSG_SUBSCRIBE_VOICE_ASSISTANT_REQUEST, (const ProtobufCMessage *)&sub);
  deliver(HOWDY_MSG_VOICE_ASSISTANT_CONFIGURATION_REQUEST, NULL);
  frames(40); /* pre-roll */
  howdy_voice_request_wake(&voice, HOWDY_WAKE_WORD);
  howdy_voice_poll(&voice);
  Howdy__VoiceAssistantResponse resp = HOWDY__VOICE_ASSISTANT_RESPONSE__INIT;
  deliver(HOWDY_MSG_VOICE_ASSISTANT_RESPONSE, (const ProtobufCMessage *)&resp);
  frames(100);
  event(EVT(STT_VAD_END));
  frames(5);
  event(EVT(INTENT_END));
  event(EVT(TTS_END));
  event(EVT(TTS_STREAM_START));
  reply_chunks(12, false);
  event(EVT(TTS_STREAM_END));
  event(EVT(RUN_END));
  frames(60);
  assert_int_equal(voice.replies_finished, 1);

  Howdy__VoiceAssistantTimerEventResponse te = HOWDY__VOICE_ASSISTANT_TIMER_EVENT_RESPONSE__INIT;
  te.timer_id = "t";
  te.name = "tea";
  te.seconds_left = 2;
  te.is_active = true;
  deliver(HOWDY_MSG_VOICE_ASSISTANT_TIMER_EVENT_RESPONSE, (const ProtobufCMessage *)&te);
  frames(250);
  te.event_type = HOWDY__VOICE_ASSISTANT_TIMER_EVENT__VOICE_ASSISTANT_TIMER_FINISHED;
  deliver(HOWDY_MSG_VOICE_ASSISTANT_TIMER_EVENT_RESPONSE, (const ProtobufCMessage *)&te);
  frames(150);
  assert_int_equal(voice.rings, 1);

  Howdy__VoiceAssistantAnnounceRequest ann = HOWDY__VOICE_ASSISTANT_ANNOUNCE_REQUEST__INIT;
  deliver(HOWDY_MSG_VOICE_ASSISTANT_ANNOUNCE_REQUEST, (const ProtobufCMessage *)&ann);
  reply_chunks(4, true);
  frames(20);
  assert_int_equal(voice.replies_finished, 2);

  /* A disconnect mid-reply. */
  event(EVT(TTS_STREAM_START));
  reply_chunks(3, false);
  howdy_voice_on_disconnect(&voice, &conn);
  frames(10);
  assert_int_equal(howdy_voice_state(&voice), HOWDY_VOICE_IDLE);
  assert_true(messages_out > 60); /* pre-roll + 1 s of packets + replies */

  assert_int_equal(heap_calls, 0);
  howdy_log_set_level(HOWDY_LOG_INFO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrapper_is_active),
      cmocka_unit_test(test_voice_turn_allocates_nothing),
      cmocka_unit_test(test_voice_session_allocates_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
