/* Microphone path: gain, level, mute, pre-roll order, packetizer boundaries,
 * timestamps and the latency/frame-time measurements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_clock.h"
#include "howdy/audio_dsp.h"
#include "howdy/audio_metrics.h"
#include "howdy/mic_path.h"

#define N HOWDY_AUDIO_FRAME_SAMPLES

static howdy_mic_t mic;
static howdy_audio_metrics_t metrics;
static howdy_pool_t pool;
static fake_clock_t clk;

static int setup(void **state) {
  (void)state;
  howdy_pool_init(&pool);
  howdy_audio_metrics_init(&metrics, &pool);
  clk = (fake_clock_t){.now = 1000, .step = 7};
  howdy_mic_init(&mic, &metrics, fake_clock, &clk);
  return 0;
}

static void fill(int16_t *pcm, int16_t v) {
  for (int i = 0; i < (int)N; i++) pcm[i] = v;
}

/* cmocka's assert_in_range is unsigned; levels are negative. */
#define assert_between(v, lo, hi)                                                  \
  do {                                                                             \
    long v_ = (long)(v);                                                           \
    if (v_ < (lo) || v_ > (hi)) fail_msg("%ld not in [%d, %d]", v_, (lo), (hi));   \
  } while (0)

static int16_t le16(const uint8_t *p) { return (int16_t)(uint16_t)(p[0] | (p[1] << 8)); }

/* ---- dsp helpers --------------------------------------------------------------- */

static void test_gain_db_table(void **state) {
  (void)state;
  assert_int_equal(howdy_gain_db_to_q15(0), HOWDY_Q15_ONE);
  assert_int_equal(howdy_gain_db_to_q15(6), 65381);
  assert_int_equal(howdy_gain_db_to_q15(20), 327680);
  assert_int_equal(howdy_gain_db_to_q15(40), 3276800);
  assert_int_equal(howdy_gain_db_to_q15(99), 3276800); /* clamped */
  assert_int_equal(howdy_gain_db_to_q15(-20), 3277);
  assert_int_equal(howdy_gain_db_to_q15(-6), 16423);
  assert_true(howdy_gain_db_to_q15(-90) > 0);
}

static void test_gain_unity_is_exact_and_saturates(void **state) {
  (void)state;
  for (int32_t x = INT16_MIN; x <= INT16_MAX; x++) {
    assert_int_equal(howdy_apply_gain_q15((int16_t)x, HOWDY_Q15_ONE), x);
    assert_int_equal(howdy_apply_gain_q15((int16_t)x, 0), 0);
  }
  int32_t g40 = howdy_gain_db_to_q15(40);
  assert_int_equal(howdy_apply_gain_q15(1000, g40), INT16_MAX);
  assert_int_equal(howdy_apply_gain_q15(-1000, g40), INT16_MIN);
  assert_int_equal(howdy_apply_gain_q15(327, g40), 32700);
  assert_int_equal(howdy_apply_gain_q15(INT16_MIN, 2 * HOWDY_Q15_ONE), INT16_MIN);
  assert_int_equal(howdy_apply_gain_q15(INT16_MAX, 2 * HOWDY_Q15_ONE), INT16_MAX);
  /* Halving rounds to nearest, halves upward. */
  assert_int_equal(howdy_apply_gain_q15(3, HOWDY_Q15_ONE / 2), 2);
  assert_int_equal(howdy_apply_gain_q15(-3, HOWDY_Q15_ONE / 2), -1);
  assert_int_equal(howdy_apply_gain_q15(-4, HOWDY_Q15_ONE / 2), -2);
}

static void test_volume_curve(void **state) {
  (void)state;
  assert_int_equal(howdy_volume_percent_to_q15(100.0f), HOWDY_Q15_ONE);
  assert_int_equal(howdy_volume_percent_to_q15(150.0f), HOWDY_Q15_ONE);
  assert_int_equal(howdy_volume_percent_to_q15(0.0f), 0);
  assert_int_equal(howdy_volume_percent_to_q15(-5.0f), 0);
  assert_int_equal(howdy_volume_percent_to_q15(50.0f), 4096); /* 0.125 */
  assert_int_equal(howdy_volume_percent_to_q15(10.0f), 33);   /* 0.001 */
  int32_t prev = -1;
  for (int p = 0; p <= 100; p++) {
    int32_t q = howdy_volume_percent_to_q15((float)p);
    assert_true(q >= prev); /* monotonic */
    prev = q;
  }
}

static void test_level_meter(void **state) {
  (void)state;
  int16_t pcm[N];
  fill(pcm, 0);
  howdy_level_t lv = howdy_level_measure(pcm, N);
  assert_int_equal(lv.rms_cdb, HOWDY_LEVEL_FLOOR_CDB);
  assert_int_equal(lv.peak_cdb, HOWDY_LEVEL_FLOOR_CDB);

  for (int i = 0; i < (int)N; i++) pcm[i] = (i & 1) ? INT16_MIN : INT16_MAX;
  lv = howdy_level_measure(pcm, N);
  assert_int_equal(lv.peak_cdb, 0);
  assert_between(lv.rms_cdb, -1, 1);

  /* 1 kHz sine at half scale: 16 samples a period, the crest is sampled. */
  static const int16_t quarter[5] = {0, 6270, 11585, 15137, 16384};
  for (int i = 0; i < (int)N; i++) {
    int k = i % 16;
    int16_t v = k <= 4 ? quarter[k] : k <= 8 ? quarter[8 - k] : k <= 12 ? -quarter[k - 8]
                                                                         : -quarter[16 - k];
    pcm[i] = v;
  }
  lv = howdy_level_measure(pcm, N);
  assert_between(lv.peak_cdb, -603, -601); /* -6.02 dBFS */
  assert_between(lv.rms_cdb, -905, -901);  /* -9.03 dBFS */

  fill(pcm, 1);
  lv = howdy_level_measure(pcm, N);
  assert_between(lv.peak_cdb, -9032, -9030); /* one LSB: -90.31 dBFS */
}

/* ---- path ----------------------------------------------------------------------- */

static void test_process_applies_gain_and_publishes_level(void **state) {
  (void)state;
  int16_t pcm[N];
  fill(pcm, 1000);
  howdy_mic_set_gain_db(&mic, 6);
  howdy_mic_process(&mic, pcm, 0);
  assert_int_equal(pcm[0], howdy_apply_gain_q15(1000, 65381));
  howdy_mic_level_t lv = howdy_mic_level(&mic);
  assert_true(lv.peak_cdb > HOWDY_LEVEL_FLOOR_CDB);

  howdy_mic_set_gain_db(&mic, 40);
  fill(pcm, -20000);
  howdy_mic_process(&mic, pcm, 0);
  assert_int_equal(pcm[N - 1], INT16_MIN);
  lv = howdy_mic_level(&mic);
  assert_int_equal(lv.peak_cdb, 0);

  howdy_mic_set_gain_q15(&mic, -5); /* clamped to 0 */
  fill(pcm, 1234);
  howdy_mic_process(&mic, pcm, 0);
  assert_int_equal(pcm[7], 0);
}

static void test_frame_time_measured_with_clock(void **state) {
  (void)state;
  int16_t pcm[N];
  for (int i = 0; i < 5; i++) {
    fill(pcm, 1);
    howdy_mic_process(&mic, pcm, (uint64_t)i * 10000);
  }
  howdy_stat_snapshot_t s;
  assert_true(howdy_stat_read(&metrics.mic_frame_time, &s));
  assert_int_equal(s.count, 5);
  assert_int_equal(s.last, 7);
  assert_int_equal(s.max, 7);
  uint32_t avg, max;
  assert_true(howdy_audio_metrics_frame_time(&metrics, &avg, &max));
  assert_int_equal(avg, 7);
}

/* Frames carry their index in every sample and are captured every 10 ms. */
static uint32_t feed(int first, int count) {
  uint32_t evt = 0;
  int16_t pcm[N];
  for (int f = first; f < first + count; f++) {
    fill(pcm, (int16_t)(f + 1));
    evt |= howdy_mic_process(&mic, pcm, 5000000u + (uint64_t)f * 10000u);
  }
  return evt;
}

static void expect_packet(int first_frame, uint16_t bytes, uint16_t flags, uint16_t session) {
  howdy_mic_packet_t p;
  assert_true(howdy_mic_take_packet(&mic, &p));
  assert_int_equal(p.bytes, bytes);
  assert_int_equal(p.flags, flags);
  assert_int_equal(p.session, session);
  if (bytes == 0) return;
  assert_int_equal(p.capture_us, 5000000u + (uint64_t)first_frame * 10000u);
  for (uint32_t i = 0; i < bytes / 2u; i++) {
    assert_int_equal(le16(p.pcm + 2 * i), first_frame + 1 + (int)(i / N));
  }
}

static void test_preroll_order_and_live_continuation(void **state) {
  (void)state;
  assert_int_equal(HOWDY_MIC_PACKET_BYTES, 640);
  feed(0, 40); /* frames 0..39: the pre-roll keeps the last 30 */
  howdy_mic_packet_t p;
  assert_false(howdy_mic_take_packet(&mic, &p)); /* nothing goes out idle */
  uint16_t session = howdy_mic_stream_start(&mic);
  assert_int_not_equal(session, 0);
  uint32_t evt = feed(40, 4);
  assert_true(evt & HOWDY_MIC_EVT_STARTED);
  assert_true(evt & HOWDY_MIC_EVT_PACKET);
  /* 30 pre-roll frames = 15 packets, oldest first, then live without gap. */
  for (int f = 10; f < 40; f += 2) expect_packet(f, 640, HOWDY_MIC_PKT_PREROLL, session);
  expect_packet(40, 640, 0, session);
  expect_packet(42, 640, 0, session);
  assert_false(howdy_mic_take_packet(&mic, &p));
}

static void test_preroll_shorter_than_full_and_mixed_packet(void **state) {
  (void)state;
  feed(0, 3); /* only 30 ms of pre-roll so far */
  uint16_t session = howdy_mic_stream_start(&mic);
  feed(3, 3);
  expect_packet(0, 640, HOWDY_MIC_PKT_PREROLL, session);
  /* Frame 2 (pre-roll) and 3 (live) share a packet: flagged pre-roll so the
   * latency statistic does not count the waiting time on purpose. */
  expect_packet(2, 640, HOWDY_MIC_PKT_PREROLL, session);
  expect_packet(4, 640, 0, session);
}

static void test_stop_flushes_partial_packet(void **state) {
  (void)state;
  uint16_t s1 = howdy_mic_stream_start(&mic);
  feed(0, 3); /* 0: pre-roll none; frames 0,1 -> packet; frame 2 building */
  howdy_mic_stream_stop(&mic);
  uint32_t evt = feed(3, 1); /* the stop is seen before frame 3 is filed */
  assert_true(evt & HOWDY_MIC_EVT_STOPPED);
  expect_packet(0, 640, 0, s1);
  expect_packet(2, 320, HOWDY_MIC_PKT_LAST, s1);
  howdy_mic_packet_t p;
  assert_false(howdy_mic_take_packet(&mic, &p));

  /* Stop on a packet boundary: an empty LAST packet marks the end. The next
   * session gets a new number and the frames filed meanwhile as pre-roll. */
  uint16_t s2 = howdy_mic_stream_start(&mic);
  assert_int_not_equal(s2, s1);
  feed(4, 2);
  howdy_mic_stream_stop(&mic);
  feed(6, 1);
  expect_packet(3, 640, HOWDY_MIC_PKT_PREROLL, s2); /* frame 3 was pre-roll */
  expect_packet(5, 320, HOWDY_MIC_PKT_LAST, s2);
  assert_false(howdy_mic_take_packet(&mic, &p));

  uint16_t s3 = howdy_mic_stream_start(&mic);
  feed(7, 2); /* pre-roll frame 6 + live 7 in one packet, 8 building */
  feed(9, 1);
  howdy_mic_stream_stop(&mic);
  feed(10, 1);
  expect_packet(6, 640, HOWDY_MIC_PKT_PREROLL, s3);
  expect_packet(8, 640, 0, s3);
  expect_packet(0, 0, HOWDY_MIC_PKT_LAST, s3);
}

static void test_mute_zeroes_and_clears_preroll(void **state) {
  (void)state;
  feed(0, 10); /* pre-mute audio in the pre-roll */
  howdy_mic_set_muted(&mic, true);
  assert_true(howdy_mic_muted(&mic));
  int16_t pcm[N];
  fill(pcm, 12345);
  howdy_mic_process(&mic, pcm, 0);
  for (int i = 0; i < (int)N; i++) assert_int_equal(pcm[i], 0);
  assert_int_equal(howdy_mic_level(&mic).peak_cdb, HOWDY_LEVEL_FLOOR_CDB);

  /* A session started while muted streams silence only, and none of the
   * audio from before the mute. */
  uint16_t s = howdy_mic_stream_start(&mic);
  feed(20, 3);
  howdy_mic_packet_t p;
  int packets = 0;
  while (howdy_mic_take_packet(&mic, &p)) {
    packets++;
    assert_int_equal(p.session, s);
    for (uint32_t i = 0; i < p.bytes; i++) assert_int_equal(p.pcm[i], 0);
  }
  assert_int_equal(packets, 2); /* 1 pre-roll + 3 live frames = 2 packets */
  /* Unmuted, audio flows again. */
  howdy_mic_set_muted(&mic, false);
  feed(23, 2);
  assert_true(howdy_mic_take_packet(&mic, &p));
  assert_int_equal(le16(p.pcm), 24);           /* frame 23 carries 24 */
  assert_int_equal(le16(p.pcm + 640 - 2), 25); /* frame 24 carries 25 */
}

static void test_latency_measured_at_send_without_preroll(void **state) {
  (void)state;
  feed(0, 4);
  howdy_mic_stream_start(&mic);
  feed(4, 4); /* pre-roll 0..3 (2 packets), live 4..7 (2 packets) */
  howdy_mic_packet_t p;
  uint64_t sent = 5000000u + 80000u;
  while (howdy_mic_take_packet(&mic, &p)) howdy_mic_packet_sent(&mic, &p, sent);
  howdy_stat_snapshot_t s;
  assert_true(howdy_stat_read(&metrics.mic_latency, &s));
  assert_int_equal(s.count, 2);       /* only the live packets */
  assert_int_equal(s.max, 40000);     /* frame 4 captured at +40 ms */
  assert_int_equal(s.last, 20000);    /* frame 6 at +60 ms */
  assert_int_equal(s.avg, 30000);
  assert_int_equal(s.p95, 40000);
}

static void test_queue_full_drops_and_counts(void **state) {
  (void)state;
  howdy_mic_stream_start(&mic);
  size_t cap = HOWDY_MIC_QUEUE_BYTES / sizeof(howdy_mic_packet_t);
  uint32_t evt = feed(0, (int)(2 * cap + 4));
  assert_true(evt & HOWDY_MIC_EVT_DROPPED);
  assert_int_equal(howdy_audio_metrics_mic_dropped(&metrics), 2);
  /* What was queued is intact and in order; discard empties the queue. */
  expect_packet(0, 640, 0, 1);
  howdy_mic_discard_queued(&mic);
  howdy_mic_packet_t p;
  assert_false(howdy_mic_take_packet(&mic, &p));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gain_db_table),
      cmocka_unit_test(test_gain_unity_is_exact_and_saturates),
      cmocka_unit_test(test_volume_curve),
      cmocka_unit_test(test_level_meter),
      cmocka_unit_test_setup(test_process_applies_gain_and_publishes_level, setup),
      cmocka_unit_test_setup(test_frame_time_measured_with_clock, setup),
      cmocka_unit_test_setup(test_preroll_order_and_live_continuation, setup),
      cmocka_unit_test_setup(test_preroll_shorter_than_full_and_mixed_packet, setup),
      cmocka_unit_test_setup(test_stop_flushes_partial_packet, setup),
      cmocka_unit_test_setup(test_mute_zeroes_and_clears_preroll, setup),
      cmocka_unit_test_setup(test_latency_measured_at_send_without_preroll, setup),
      cmocka_unit_test_setup(test_queue_full_drops_and_counts, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
