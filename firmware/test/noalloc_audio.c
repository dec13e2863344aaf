/* Zero-allocation check of the audio path: malloc and friends are wrapped at
 * link time (-Wl,--wrap=..., see CMakeLists.txt), so every call from the core
 * or from this file goes through a counter. After start-up (init and entity
 * registration) a full voice turn (pre-roll, microphone streaming, a reply
 * played to its end, an aborted reply, metrics published) must count 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/audio_path.h"
#include "howdy/entities.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrapper_is_active),
      cmocka_unit_test(test_voice_turn_allocates_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
