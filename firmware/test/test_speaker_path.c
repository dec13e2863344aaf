/* Speaker path with a fake clock: sample-exact playback, volume and mute,
 * underrun and overrun accounting, playback latency, stream completion time,
 * aborts and the published metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_clock.h"
#include "howdy/audio_metrics.h"
#include "howdy/audio_pool.h"
#include "howdy/platform.h"
#include "howdy/speaker_path.h"

#define N HOWDY_AUDIO_FRAME_SAMPLES
#define TICK_US 10000u

static howdy_pool_t pool;
static howdy_audio_metrics_t metrics;
static howdy_speaker_t sp;
static fake_clock_t clk;
static uint64_t tick_now; /* start time of the next output frame */

static int setup(void **state) {
  (void)state;
  howdy_pool_init(&pool);
  howdy_audio_metrics_init(&metrics, &pool);
  clk = (fake_clock_t){.now = 0, .step = 3};
  howdy_speaker_init(&sp, &pool, &metrics, fake_clock, &clk);
  tick_now = 1000000u;
  return 0;
}

static uint32_t tick(int16_t *out) {
  uint32_t evt = howdy_speaker_tick(&sp, tick_now, out);
  tick_now += TICK_US;
  return evt;
}

/* s16le bytes of samples with value base + i (wrapping through the range). */
static void make_pcm(uint8_t *dst, uint32_t samples, uint32_t base) {
  for (uint32_t i = 0; i < samples; i++) {
    uint16_t v = (uint16_t)(base + i * 97u);
    dst[2 * i] = (uint8_t)v;
    dst[2 * i + 1] = (uint8_t)(v >> 8);
  }
}

static int16_t sample_at(uint32_t base, uint32_t i) { return (int16_t)(uint16_t)(base + i * 97u); }

static void assert_silence(const int16_t *out, uint32_t from) {
  for (uint32_t i = from; i < N; i++) assert_int_equal(out[i], 0);
}

/* ---- sample-exact playback and completion ------------------------------------------ */

/* A reply of 5000 samples in pool-slot chunks, paced the way the integration
 * does it (never more than the pool ahead): the output is the input, sample
 * for sample, and the stream is reported done in the tick of its last sample
 * with that sample's exact time. */
static void test_passthrough_at_full_volume_and_done_time(void **state) {
  (void)state;
  enum { TOTAL = 5000 };
  static uint8_t reply[TOTAL * 2];
  make_pcm(reply, TOTAL, 11);
  uint16_t stream = howdy_speaker_stream_begin(&sp);
  assert_int_not_equal(stream, 0);
  size_t sent = 0;
  uint32_t played = 0;
  uint64_t done_tick = 0;
  int16_t out[N];
  bool ended = false;
  howdy_speaker_report_t rep;
  while (!done_tick) {
    /* The slot being played is still in use: the integration may be at most
     * HOWDY_POOL_SLOTS slots ahead counting it. */
    howdy_pool_stats_t ps;
    howdy_pool_stats(&pool, &ps);
    while (sent < sizeof reply && ps.in_use < HOWDY_POOL_SLOTS) {
      size_t n = sizeof reply - sent;
      if (n > HOWDY_POOL_SLOT_BYTES) n = HOWDY_POOL_SLOT_BYTES;
      assert_int_equal(howdy_speaker_feed(&sp, reply + sent, n, tick_now), (int)n);
      sent += n;
      howdy_pool_stats(&pool, &ps);
    }
    if (sent == sizeof reply && !ended) {
      howdy_speaker_stream_end(&sp);
      ended = true;
    }
    assert_false(howdy_speaker_report(&sp, stream, &rep));
    uint64_t t = tick_now;
    uint32_t evt = tick(out);
    uint32_t n = TOTAL - played < N ? TOTAL - played : N;
    for (uint32_t i = 0; i < n; i++) assert_int_equal(out[i], sample_at(11, played + i));
    assert_silence(out, n);
    if (played == 0) assert_true(evt & HOWDY_SPK_EVT_STARTED);
    played += n;
    assert_false(evt & HOWDY_SPK_EVT_UNDERRUN);
    if (evt & HOWDY_SPK_EVT_DONE) {
      done_tick = t;
      assert_int_equal(played, TOTAL);
    }
  }
  assert_true(howdy_speaker_report(&sp, stream, &rep));
  assert_false(rep.aborted);
  assert_true(rep.played_any);
  assert_int_equal(rep.samples, TOTAL);
  assert_int_equal(rep.underruns, 0);
  /* 5000 = 31 * 160 + 40: the last sample is #39 of the 32nd frame. */
  assert_int_equal(done_tick, 1000000u + 31u * TICK_US);
  assert_int_equal(rep.last_sample_us, done_tick + 39u * 1000000u / 16000u);
  assert_int_equal(rep.first_sample_us, 1000000u);
  assert_int_equal(rep.chunks, (TOTAL * 2 + HOWDY_POOL_SLOT_BYTES - 1) / HOWDY_POOL_SLOT_BYTES);
  assert_false(howdy_speaker_playing(&sp));
  assert_int_equal(howdy_audio_metrics_underruns(&metrics), 0);
  assert_int_equal(howdy_audio_metrics_overruns(&metrics), 0);
  /* Nothing left behind in the pool. */
  howdy_pool_stats_t st;
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.in_use, 0);
  /* Every chunk was queued before playback began, as far as the pool holds. */
  assert_int_equal(st.high_water, rep.chunks < HOWDY_POOL_SLOTS ? rep.chunks : HOWDY_POOL_SLOTS);
  /* After the end: silence, and no underrun is counted. */
  for (int i = 0; i < 5; i++) {
    assert_int_equal(tick(out) & (HOWDY_SPK_EVT_UNDERRUN | HOWDY_SPK_EVT_AUDIO), 0);
    assert_silence(out, 0);
  }
  assert_int_equal(howdy_audio_metrics_underruns(&metrics), 0);
}

static void test_volume_zero_and_mute_silence_but_keep_timing(void **state) {
  (void)state;
  uint8_t chunk[2 * N * 2];
  make_pcm(chunk, 2 * N, 500);
  int16_t out[N];

  howdy_speaker_set_volume(&sp, 0.0f);
  uint16_t s1 = howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  howdy_speaker_stream_end(&sp);
  assert_true(tick(out) & HOWDY_SPK_EVT_AUDIO);
  assert_silence(out, 0);
  assert_true(tick(out) & HOWDY_SPK_EVT_DONE);
  assert_silence(out, 0);
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, s1, &rep));
  assert_int_equal(rep.samples, 2 * N);

  howdy_speaker_set_volume(&sp, 100.0f);
  howdy_speaker_set_muted(&sp, true);
  uint16_t s2 = howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  howdy_speaker_stream_end(&sp);
  tick(out);
  assert_silence(out, 0);
  uint64_t t = tick_now;
  assert_true(tick(out) & HOWDY_SPK_EVT_DONE);
  assert_silence(out, 0);
  assert_true(howdy_speaker_report(&sp, s2, &rep));
  assert_int_equal(rep.last_sample_us, t + (N - 1) * 1000000u / 16000u);

  /* Half volume on the cubic curve = 0.125 in Q15 = 4096: y = x/8 rounded. */
  howdy_speaker_set_muted(&sp, false);
  howdy_speaker_set_volume(&sp, 50.0f);
  howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  tick(out);
  for (uint32_t i = 0; i < N; i++) {
    assert_int_equal(out[i], howdy_apply_gain_q15(sample_at(500, i), 4096));
  }
}

/* ---- underruns ------------------------------------------------------------------------ */

static void test_underrun_only_while_playing_and_before_end(void **state) {
  (void)state;
  int16_t out[N];
  /* Idle ticks, and ticks after TTS_STREAM_START but before the first chunk
   * (the engine still thinking), are not underruns. */
  for (int i = 0; i < 3; i++) assert_false(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  uint16_t s = howdy_speaker_stream_begin(&sp);
  for (int i = 0; i < 3; i++) assert_false(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  assert_false(howdy_speaker_playing(&sp));

  /* 200 samples: one full frame, then 40 samples and a gap = underrun. */
  uint8_t chunk[400];
  make_pcm(chunk, 200, 7);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  assert_false(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  assert_true(howdy_speaker_playing(&sp));
  uint32_t evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_UNDERRUN);
  assert_int_equal(out[39], sample_at(7, 199));
  assert_silence(out, 40);
  /* Starved ticks keep counting while the end marker has not come. */
  assert_true(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  assert_true(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  assert_int_equal(howdy_audio_metrics_underruns(&metrics), 3);

  /* Data resumes where it stopped: no sample is lost to the gap. */
  make_pcm(chunk, 200, 9000);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  evt = tick(out);
  assert_false(evt & HOWDY_SPK_EVT_UNDERRUN);
  assert_int_equal(out[0], sample_at(9000, 0));
  uint64_t last_tick = tick_now;
  assert_true(tick(out) & HOWDY_SPK_EVT_UNDERRUN); /* 40 samples, end not in */
  /* The end marker arrives late: the stream is done at the next tick, its
   * last sample dated in the earlier tick, and no more underruns. */
  howdy_speaker_stream_end(&sp);
  evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_DONE);
  assert_false(evt & HOWDY_SPK_EVT_UNDERRUN);
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, s, &rep));
  assert_int_equal(rep.underruns, 4);
  assert_int_equal(rep.samples, 400);
  assert_int_equal(rep.last_sample_us, last_tick + 39u * 1000000u / 16000u);
  for (int i = 0; i < 4; i++) assert_false(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  assert_int_equal(howdy_audio_metrics_underruns(&metrics), 4);
}

static void test_end_in_time_means_no_underrun_on_short_last_frame(void **state) {
  (void)state;
  int16_t out[N];
  uint16_t s = howdy_speaker_stream_begin(&sp);
  uint8_t chunk[100 * 2];
  make_pcm(chunk, 100, 3);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  howdy_speaker_stream_end(&sp);
  uint64_t t = tick_now;
  uint32_t evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_DONE);
  assert_true(evt & HOWDY_SPK_EVT_STARTED);
  assert_false(evt & HOWDY_SPK_EVT_UNDERRUN);
  assert_silence(out, 100);
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, s, &rep));
  assert_int_equal(rep.first_sample_us, t);
  assert_int_equal(rep.last_sample_us, t + 99u * 1000000u / 16000u);
}

/* ---- overruns -------------------------------------------------------------------------- */

static void test_overrun_when_pool_full(void **state) {
  (void)state;
  uint8_t chunk[HOWDY_POOL_SLOT_BYTES];
  make_pcm(chunk, HOWDY_POOL_SLOT_BYTES / 2, 1);
  howdy_speaker_stream_begin(&sp);
  for (uint32_t i = 0; i < HOWDY_POOL_SLOTS; i++) {
    assert_int_equal(howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now), (int)sizeof chunk);
  }
  /* A reply sent too fast: counted, dropped, nothing breaks. */
  assert_int_equal(howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now), 0);
  assert_int_equal(howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now), 0);
  assert_int_equal(howdy_audio_metrics_overruns(&metrics), 2);
  float rate;
  assert_true(howdy_pool_hit_rate(&pool, &rate));
  assert_float_equal(rate, 100.0f * HOWDY_POOL_SLOTS / (HOWDY_POOL_SLOTS + 2), 1e-3);
  /* A chunk spanning two slots with room for one keeps its first part. */
  int16_t out[N];
  uint32_t ticks_per_slot = (HOWDY_POOL_SLOT_BYTES / 2 + N - 1) / N;
  for (uint32_t i = 0; i < ticks_per_slot; i++) tick(out);
  uint8_t big[2 * HOWDY_POOL_SLOT_BYTES];
  make_pcm(big, HOWDY_POOL_SLOT_BYTES, 2);
  assert_int_equal(howdy_speaker_feed(&sp, big, sizeof big, tick_now), HOWDY_POOL_SLOT_BYTES);
  assert_int_equal(howdy_audio_metrics_overruns(&metrics), 3);
}

static void test_feed_rules(void **state) {
  (void)state;
  uint8_t b[5] = {1, 2, 3, 4, 5};
  assert_int_equal(howdy_speaker_feed(&sp, b, 4, 0), HOWDY_ERR_INVALID); /* no stream */
  howdy_speaker_stream_begin(&sp);
  assert_int_equal(howdy_speaker_feed(&sp, b, 5, 0), 4); /* odd byte dropped */
  assert_int_equal(howdy_speaker_feed(&sp, b, 1, 0), 0);
  assert_int_equal(howdy_pool_filled(&pool), 1);
  /* A chunk larger than a slot spans slots; it is one chunk for latency. */
  static uint8_t big[HOWDY_POOL_SLOT_BYTES * 2 + 100];
  assert_int_equal(howdy_speaker_feed(&sp, big, sizeof big, 0), (int)sizeof big);
  assert_int_equal(howdy_pool_filled(&pool), 4);
  howdy_pool_slot_t *s = howdy_pool_peek(&pool);
  assert_true(s->chunk_start);
  howdy_speaker_stream_end(&sp);
  int16_t out[N];
  while (!(tick(out) & HOWDY_SPK_EVT_DONE)) {
  }
  howdy_stat_snapshot_t lat;
  assert_true(howdy_stat_read(&metrics.playback_latency, &lat));
  assert_int_equal(lat.count, 2);
}

/* ---- latency --------------------------------------------------------------------------- */

static void test_playback_latency_from_arrival_to_first_sample(void **state) {
  (void)state;
  int16_t out[N];
  howdy_speaker_stream_begin(&sp);
  /* Chunk A: 100 samples, arrived 4 ms before the tick. Chunk B: arrived
   * 1 ms before; its first sample is #100 of the same frame, 6250 us in. */
  uint8_t a[200], b[400];
  make_pcm(a, 100, 0);
  make_pcm(b, 200, 0);
  uint64_t t = tick_now;
  howdy_speaker_feed(&sp, a, sizeof a, t - 4000);
  howdy_speaker_feed(&sp, b, sizeof b, t - 1000);
  tick(out);
  howdy_stat_snapshot_t lat;
  assert_true(howdy_stat_read(&metrics.playback_latency, &lat));
  assert_int_equal(lat.count, 2);
  assert_int_equal(lat.last, 1000 + 6250);
  assert_int_equal(lat.max, 7250);
  assert_int_equal(lat.avg, (4000 + 7250 + 1) / 2);
  /* A chunk that waits in the pool: arrival long before it is reached. */
  uint8_t c[320];
  make_pcm(c, 160, 0);
  howdy_speaker_feed(&sp, c, sizeof c, tick_now - 123456);
  howdy_speaker_stream_end(&sp);
  /* B has 140 samples left: they fill 140 of the next frame, C starts at 140. */
  tick(out);
  assert_true(howdy_stat_read(&metrics.playback_latency, &lat));
  assert_int_equal(lat.last, 123456 + 140u * 1000000u / 16000u);
  assert_int_equal(lat.max_ever, lat.last);
  howdy_speaker_report_t rep;
  assert_true(tick(out) & HOWDY_SPK_EVT_DONE);
  assert_true(howdy_speaker_report(&sp, sp.play_stream, &rep));
  assert_int_equal(rep.first_chunk_latency_us, 4000);
  assert_int_equal(rep.chunks, 3);
}

/* ---- stream life cycle ------------------------------------------------------------------- */

static void test_abort_flushes_and_reports(void **state) {
  (void)state;
  int16_t out[N];
  uint8_t chunk[HOWDY_POOL_SLOT_BYTES];
  make_pcm(chunk, HOWDY_POOL_SLOT_BYTES / 2, 5);
  uint16_t s = howdy_speaker_stream_begin(&sp);
  for (int i = 0; i < 4; i++) howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  tick(out);
  assert_true(howdy_speaker_playing(&sp));
  howdy_speaker_abort(&sp);
  uint32_t evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_ABORTED);
  assert_false(evt & HOWDY_SPK_EVT_AUDIO);
  assert_silence(out, 0);
  assert_false(howdy_speaker_playing(&sp));
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, s, &rep));
  assert_true(rep.aborted);
  assert_int_equal(rep.samples, N);
  howdy_pool_stats_t st;
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.in_use, 0);
  /* Feeding after the abort is refused until a new stream begins; idle
   * ticks are not underruns. */
  assert_int_equal(howdy_speaker_feed(&sp, chunk, sizeof chunk, 0), HOWDY_ERR_INVALID);
  for (int i = 0; i < 3; i++) assert_int_equal(tick(out), 0);
  assert_int_equal(howdy_audio_metrics_underruns(&metrics), 0);

  /* Aborted before its first sample: still reported, so nobody waits. */
  uint16_t s2 = howdy_speaker_stream_begin(&sp);
  howdy_speaker_abort(&sp);
  assert_true(tick(out) & HOWDY_SPK_EVT_ABORTED);
  assert_true(howdy_speaker_report(&sp, s2, &rep));
  assert_true(rep.aborted);
  assert_false(rep.played_any);

  /* The next stream plays normally. */
  uint16_t s3 = howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, chunk, 320, tick_now);
  howdy_speaker_stream_end(&sp);
  evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_DONE);
  assert_int_equal(out[0], sample_at(5, 0));
  assert_true(howdy_speaker_report(&sp, s3, &rep));
  assert_false(rep.aborted);
}

static void test_empty_stream_is_done_at_once(void **state) {
  (void)state;
  int16_t out[N];
  uint16_t s = howdy_speaker_stream_begin(&sp);
  howdy_speaker_stream_end(&sp);
  uint32_t evt = tick(out);
  assert_true(evt & HOWDY_SPK_EVT_DONE);
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, s, &rep));
  assert_false(rep.played_any);
  assert_int_equal(rep.samples, 0);
  assert_int_equal(tick(out), 0); /* reported once */
}

static void test_back_to_back_streams(void **state) {
  (void)state;
  int16_t out[N];
  uint8_t a[240 * 2], b[100 * 2];
  make_pcm(a, 240, 100);
  make_pcm(b, 100, 30000);
  uint16_t sa = howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, a, sizeof a, tick_now);
  /* begin() without end(): the previous stream is ended implicitly. */
  uint16_t sb = howdy_speaker_stream_begin(&sp);
  assert_int_not_equal(sa, sb);
  howdy_speaker_feed(&sp, b, sizeof b, tick_now);
  howdy_speaker_stream_end(&sp);
  tick(out);
  uint32_t evt = tick(out); /* A's last 80 samples, then B's first 80 */
  assert_true(evt & HOWDY_SPK_EVT_DONE);    /* A: its successor's slot proves it */
  assert_true(evt & HOWDY_SPK_EVT_STARTED); /* B */
  assert_int_equal(out[79], sample_at(100, 239));
  assert_int_equal(out[80], sample_at(30000, 0));
  howdy_speaker_report_t rep;
  assert_true(howdy_speaker_report(&sp, sa, &rep));
  assert_int_equal(rep.samples, 240);
  assert_false(howdy_speaker_report(&sp, sb, &rep));
  evt = tick(out); /* B's last 20 */
  assert_true(evt & HOWDY_SPK_EVT_DONE);
  assert_false(evt & HOWDY_SPK_EVT_UNDERRUN);
  assert_int_equal(out[19], sample_at(30000, 99));
  assert_silence(out, 20);
  assert_true(howdy_speaker_report(&sp, sb, &rep));
  assert_int_equal(rep.samples, 100);
  /* The report slot holds the latest finished stream only. */
  assert_false(howdy_speaker_report(&sp, sa, &rep));
}

static void test_metrics_registration_and_push(void **state) {
  (void)state;
  static howdy_entities_t reg;
  howdy_entities_init(&reg, 1000, 60000);
  assert_int_equal(howdy_audio_metrics_register(&metrics, &reg), HOWDY_OK);
  howdy_entity_t *e = howdy_entities_find_id(&reg, "audio_pool_slots");
  assert_non_null(e);
  float v = 0;
  assert_true(e->d.sensor->read(e->ctx, &v));
  assert_float_equal(v, HOWDY_POOL_SLOTS, 0);
  e = howdy_entities_find_id(&reg, "audio_pool_slot_bytes");
  assert_true(e->d.sensor->read(e->ctx, &v));
  assert_float_equal(v, HOWDY_POOL_SLOT_BYTES, 0);
  /* Before any audio: latencies and hit rate have no value (not 0). */
  e = howdy_entities_find_id(&reg, "playback_latency");
  assert_false(e->d.sensor->read(e->ctx, &v));
  e = howdy_entities_find_id(&reg, "audio_pool_hit_rate");
  assert_false(e->d.sensor->read(e->ctx, &v));
  assert_false(howdy_audio_metrics_push_events(&metrics, &reg));

  /* An underrun is pushed as soon as the server loop asks. */
  int16_t out[N];
  uint8_t chunk[100];
  make_pcm(chunk, 50, 0);
  howdy_speaker_stream_begin(&sp);
  howdy_speaker_feed(&sp, chunk, sizeof chunk, tick_now);
  assert_true(tick(out) & HOWDY_SPK_EVT_UNDERRUN);
  howdy_entities_clear_dirty(&reg);
  assert_true(howdy_audio_metrics_push_events(&metrics, &reg));
  e = howdy_entities_find_id(&reg, "audio_underruns");
  assert_true(e->dirty);
  assert_float_equal(e->value, 1.0f, 0);
  assert_false(howdy_audio_metrics_push_events(&metrics, &reg));

  e = howdy_entities_find_id(&reg, "playback_latency");
  assert_true(e->d.sensor->read(e->ctx, &v));
  e = howdy_entities_find_id(&reg, "audio_frame_time_max");
  assert_true(e->d.sensor->read(e->ctx, &v));
  assert_float_equal(v, 0.003f, 1e-6); /* the fake clock steps 3 us a reading */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_passthrough_at_full_volume_and_done_time, setup),
      cmocka_unit_test_setup(test_volume_zero_and_mute_silence_but_keep_timing, setup),
      cmocka_unit_test_setup(test_underrun_only_while_playing_and_before_end, setup),
      cmocka_unit_test_setup(test_end_in_time_means_no_underrun_on_short_last_frame, setup),
      cmocka_unit_test_setup(test_overrun_when_pool_full, setup),
      cmocka_unit_test_setup(test_feed_rules, setup),
      cmocka_unit_test_setup(test_playback_latency_from_arrival_to_first_sample, setup),
      cmocka_unit_test_setup(test_abort_flushes_and_reports, setup),
      cmocka_unit_test_setup(test_empty_stream_is_done_at_once, setup),
      cmocka_unit_test_setup(test_back_to_back_streams, setup),
      cmocka_unit_test_setup(test_metrics_registration_and_push, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
