/* The windowed duration statistic behind the latency and frame-time sensors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "howdy/audio_metrics.h"

static howdy_stat_t st;

static void test_empty_stat_has_no_value(void **state) {
  (void)state;
  howdy_stat_init(&st, true);
  howdy_stat_snapshot_t s;
  assert_false(howdy_stat_read(&st, &s));
  assert_int_equal(s.count, 0);
}

static void test_window_average_max_and_eviction(void **state) {
  (void)state;
  howdy_stat_init(&st, true);
  howdy_stat_snapshot_t s;
  howdy_stat_add(&st, 1000000); /* one outlier, then a full window of 10 */
  for (uint32_t i = 0; i < HOWDY_METRICS_WINDOW - 1; i++) howdy_stat_add(&st, 10);
  assert_true(howdy_stat_read(&st, &s));
  assert_int_equal(s.max, 1000000);
  assert_int_equal(s.window_n, HOWDY_METRICS_WINDOW);
  howdy_stat_add(&st, 20); /* evicts the outlier */
  howdy_stat_read(&st, &s);
  assert_int_equal(s.count, HOWDY_METRICS_WINDOW + 1);
  assert_int_equal(s.max, 20);
  assert_int_equal(s.max_ever, 1000000);
  assert_int_equal(s.last, 20);
  assert_int_equal(s.avg, (10 * (HOWDY_METRICS_WINDOW - 1) + 20 + HOWDY_METRICS_WINDOW / 2) /
                              HOWDY_METRICS_WINDOW);
}

static void test_p95_nearest_rank(void **state) {
  (void)state;
  howdy_stat_init(&st, true);
  howdy_stat_snapshot_t s;
  /* 1..20 in scrambled order: ceil(0.95 * 20) = 19th smallest = 19. */
  for (uint32_t i = 0; i < 20; i++) howdy_stat_add(&st, (i * 7) % 20 + 1);
  howdy_stat_read(&st, &s);
  assert_int_equal(s.p95, 19);
  assert_int_equal(s.max, 20);
  howdy_stat_init(&st, true);
  howdy_stat_add(&st, 42);
  howdy_stat_read(&st, &s);
  assert_int_equal(s.p95, 42);
  assert_int_equal(s.avg, 42);
  /* Without p95 the figure stays 0 (not computed). */
  howdy_stat_init(&st, false);
  howdy_stat_add(&st, 42);
  howdy_stat_read(&st, &s);
  assert_int_equal(s.p95, 0);
}

static void test_frame_time_combines_both_paths(void **state) {
  (void)state;
  static howdy_audio_metrics_t m;
  howdy_audio_metrics_init(&m, NULL);
  uint32_t avg, max;
  assert_false(howdy_audio_metrics_frame_time(&m, &avg, &max));
  howdy_stat_add(&m.mic_frame_time, 100);
  howdy_stat_add(&m.mic_frame_time, 100);
  howdy_stat_add(&m.mic_frame_time, 100);
  howdy_stat_add(&m.speaker_frame_time, 500);
  assert_true(howdy_audio_metrics_frame_time(&m, &avg, &max));
  assert_int_equal(avg, 200);
  assert_int_equal(max, 500);
  assert_int_equal(howdy_audio_metrics_overruns(&m), 0); /* no pool bound */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_stat_has_no_value),
      cmocka_unit_test(test_window_average_max_and_eviction),
      cmocka_unit_test(test_p95_nearest_rank),
      cmocka_unit_test(test_frame_time_combines_both_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
