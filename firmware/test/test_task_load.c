/*
 * Per-task CPU load (howdy_task_cpu_load on the host platform) and the
 * cpu_task_* sensors that publish it: a spinning task must read high, a task
 * that mostly sleeps low, each on its own window. The machine running the
 * tests is shared (benchmarks, parallel ctest), so the thresholds only tell
 * "busy" from "idle", not exact figures.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/device_entities.h"
#include "howdy/entities.h"
#include "platform_posix.h"

/* A spinning thread gets a whole core on an idle machine; on a loaded one
 * (two cores, a benchmark on both) it still gets well over a quarter. */
#define BUSY_MIN_PCT 25.0f
/* Waking every 10 ms costs microseconds; 5 % leaves room for a slow CI. */
#define IDLE_MAX_PCT 5.0f
#define WINDOW_US 600000u

static atomic_bool g_stop;
static atomic_uint_least64_t g_spins;

static void busy_task(void *arg) {
  (void)arg;
  /* The count is published so that no compiler treats the loop as dead. */
  while (!atomic_load(&g_stop)) atomic_fetch_add(&g_spins, 1);
}

static void idle_task(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) howdy_sleep_us(10000);
}

static void spin_for_us(uint64_t us) {
  uint64_t until = howdy_time_us() + us;
  while (howdy_time_us() < until) atomic_fetch_add(&g_spins, 1);
}

typedef struct {
  howdy_platform_t platform;
  howdy_task_t *busy;
  howdy_task_t *idle;
} fixture_t;

static fixture_t g_fx;

static int start_tasks(void **state) {
  fixture_t *f = &g_fx;
  howdy_posix_config_t cfg = {0};
  if (howdy_posix_platform_init(&f->platform, &cfg) != HOWDY_OK) return -1;
  atomic_store(&g_stop, false);
  howdy_task_config_t busy = {.name = "busy", .fn = busy_task, .stack_bytes = 65536, .core = 1};
  howdy_task_config_t idle = {.name = "idle", .fn = idle_task, .stack_bytes = 65536, .core = 1};
  if (howdy_task_start(&f->platform, &busy, &f->busy) != HOWDY_OK ||
      howdy_task_start(&f->platform, &idle, &f->idle) != HOWDY_OK) {
    return -1;
  }
  *state = f;
  return 0;
}

static int stop_tasks(void **state) {
  fixture_t *f = *state;
  atomic_store(&g_stop, true);
  if (f->busy) howdy_task_join(&f->platform, f->busy);
  if (f->idle) howdy_task_join(&f->platform, f->idle);
  howdy_posix_platform_deinit(&f->platform);
  memset(f, 0, sizeof *f);
  return 0;
}

static void test_busy_task_reads_high_idle_low(void **state) {
  fixture_t *f = *state;
  float busy = -1.0f, idle = -1.0f;
  /* Two windows in a row: the second shows each window stands alone. */
  for (int round = 0; round < 2; round++) {
    howdy_sleep_us(WINDOW_US);
    assert_int_equal(howdy_task_cpu_load(&f->platform, f->busy, &busy), HOWDY_OK);
    assert_int_equal(howdy_task_cpu_load(&f->platform, f->idle, &idle), HOWDY_OK);
    print_message("round %d: busy task %.1f %%, idle task %.2f %%\n", round, (double)busy,
                  (double)idle);
    assert_true(busy >= BUSY_MIN_PCT && busy <= 100.0f);
    assert_true(idle >= 0.0f && idle <= IDLE_MAX_PCT);
  }
  assert_true(atomic_load(&g_spins) > 0);
}

static void test_adopted_thread_is_measured(void **state) {
  fixture_t *f = *state;
  howdy_task_t *self = NULL;
  assert_int_equal(howdy_task_adopt_self(&f->platform, "test-main", &self), HOWDY_OK);
  float pct = -1.0f;
  /* Busy window, then a sleeping one: the figure follows this thread only,
   * although the busy task spins on another thread all along. */
  spin_for_us(WINDOW_US / 2);
  assert_int_equal(howdy_task_cpu_load(&f->platform, self, &pct), HOWDY_OK);
  print_message("adopted thread spinning: %.1f %%\n", (double)pct);
  assert_true(pct >= BUSY_MIN_PCT && pct <= 100.0f);
  howdy_sleep_us(WINDOW_US / 2);
  assert_int_equal(howdy_task_cpu_load(&f->platform, self, &pct), HOWDY_OK);
  print_message("adopted thread sleeping: %.2f %%\n", (double)pct);
  assert_true(pct >= 0.0f && pct <= IDLE_MAX_PCT);
  /* Join on an adopted task frees the slot without waiting for itself. */
  howdy_task_join(&f->platform, self);
  assert_int_equal(howdy_task_cpu_load(&f->platform, self, &pct), HOWDY_ERR_INVALID);
}

static void test_invalid_task(void **state) {
  fixture_t *f = *state;
  float pct = 0.0f;
  assert_int_equal(howdy_task_cpu_load(&f->platform, NULL, &pct), HOWDY_ERR_INVALID);
  /* A joined task's slot is free: no figure, and no use of its old thread. */
  atomic_store(&g_stop, true);
  howdy_task_join(&f->platform, f->idle);
  assert_int_equal(howdy_task_cpu_load(&f->platform, f->idle, &pct), HOWDY_ERR_INVALID);
  f->idle = NULL;
}

/* The rows, their metadata, and the values the readers publish. */
static void test_task_load_sensors(void **state) {
  fixture_t *f = *state;
  static howdy_entities_t r;
  static howdy_device_entities_t d;
  howdy_entities_init(&r, 1000, 15000);
  assert_int_equal(howdy_device_entities_register(&d, &r, &f->platform, -1.0f), HOWDY_OK);
  static const char *const ids[HOWDY_LOAD_TASK_COUNT] = {
      [HOWDY_LOAD_TASK_MIC] = "cpu_task_mic",
      [HOWDY_LOAD_TASK_SPEAKER] = "cpu_task_speaker",
      [HOWDY_LOAD_TASK_API] = "cpu_task_api",
  };
  for (size_t i = 0; i < HOWDY_LOAD_TASK_COUNT; i++) {
    howdy_entity_t *e = howdy_entities_find_id(&r, ids[i]);
    assert_non_null(e);
    assert_int_equal(e->kind, HOWDY_ENTITY_SENSOR);
    assert_int_equal(e->key, howdy_entity_key(ids[i]));
    const howdy_sensor_desc_t *s = e->d.sensor;
    assert_string_equal(s->unit, "%");
    assert_int_equal(s->state_class, HOWDY_STATE_CLASS_MEASUREMENT);
    assert_int_equal(s->accuracy_decimals, 1);
    assert_int_equal(s->c.category, HOWDY_CATEGORY_DIAGNOSTIC);
    assert_true(s->c.disabled_by_default);
    assert_null(s->c.device_class);
    assert_true(s->deadband > 0.0f);
    assert_non_null(s->read);
  }

  /* No task attached: the rows exist but carry no value. */
  howdy_entities_sample_all(&r);
  for (size_t i = 0; i < HOWDY_LOAD_TASK_COUNT; i++) {
    assert_false(howdy_entities_find_id(&r, ids[i])->has_value);
  }

  /* The busy task stands in for the speaker task, the idle one for the
   * microphone task; the API row is left empty. */
  howdy_device_entities_set_task(&d, HOWDY_LOAD_TASK_SPEAKER, f->busy);
  howdy_device_entities_set_task(&d, HOWDY_LOAD_TASK_MIC, f->idle);
  howdy_entity_t *spk = howdy_entities_find_id(&r, "cpu_task_speaker");
  howdy_entity_t *mic = howdy_entities_find_id(&r, "cpu_task_mic");
  howdy_entity_t *api = howdy_entities_find_id(&r, "cpu_task_api");
  /* Attaching starts a window: no figure until it is a full window long. */
  howdy_entities_sample_all(&r);
  assert_false(spk->has_value);
  assert_false(mic->has_value);
  howdy_sleep_us(HOWDY_CPU_WINDOW_MS * 1000u + 50000u);
  howdy_entities_sample_all(&r);
  print_message("sensors: speaker(busy) %.1f %%, mic(idle) %.2f %%\n", (double)spk->value,
                (double)mic->value);
  assert_true(spk->has_value && spk->value >= BUSY_MIN_PCT && spk->value <= 100.0f);
  assert_true(mic->has_value && mic->value >= 0.0f && mic->value <= IDLE_MAX_PCT);
  assert_false(api->has_value);

  /* Detaching (before a join) makes the row report no value again. */
  howdy_device_entities_set_task(&d, HOWDY_LOAD_TASK_SPEAKER, NULL);
  howdy_entities_sample_all(&r);
  assert_false(spk->has_value);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_busy_task_reads_high_idle_low, start_tasks,
                                      stop_tasks),
      cmocka_unit_test_setup_teardown(test_adopted_thread_is_measured, start_tasks, stop_tasks),
      cmocka_unit_test_setup_teardown(test_invalid_task, start_tasks, stop_tasks),
      cmocka_unit_test_setup_teardown(test_task_load_sensors, start_tasks, stop_tasks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
