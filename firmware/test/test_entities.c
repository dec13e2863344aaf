/*
 * Entity registry: keys, registration limits, deadband and periodic
 * publishing with a fake clock, commands (clamping, stepping, hooks), and the
 * device's own entity table on the host platform.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/device_entities.h"
#include "howdy/entities.h"
#include "platform_posix.h"

typedef struct {
  float value;
  bool ok;
  int reads;
} fake_sensor_t;

static bool fake_read(void *ctx, float *v) {
  fake_sensor_t *s = ctx;
  s->reads++;
  *v = s->value;
  return s->ok;
}

static const howdy_sensor_desc_t k_temp = {
    .c = {.object_id = "temp", .name = "Temp", .device_class = "temperature"},
    .unit = "°C", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,
    .deadband = 0.5f, .read = fake_read};
static const howdy_sensor_desc_t k_counter = {
    .c = {.object_id = "counter", .name = "Counter"},
    .state_class = HOWDY_STATE_CLASS_TOTAL_INCREASING, .deadband = -1.0f, .read = fake_read};
static const howdy_sensor_desc_t k_exact = {
    .c = {.object_id = "exact", .name = "Exact"}, .deadband = 0.0f, .read = fake_read};

typedef struct {
  int calls;
  bool last_bool;
  float last_float;
} hook_log_t;

static void on_switch(void *ctx, bool v) {
  hook_log_t *h = ctx;
  h->calls++;
  h->last_bool = v;
}

static void on_number(void *ctx, float v) {
  hook_log_t *h = ctx;
  h->calls++;
  h->last_float = v;
}

static const howdy_switch_desc_t k_sw = {.c = {.object_id = "sw", .name = "Sw"},
                                         .initial = true, .on_change = on_switch};
static const howdy_number_desc_t k_num = {.c = {.object_id = "num", .name = "Num"},
                                          .min_value = 10.0f, .max_value = 20.0f, .step = 0.5f,
                                          .initial = 15.0f, .on_change = on_number};

static void test_key_is_fnv1a(void **state) {
  (void)state;
  /* Known FNV-1a 32 values: "" -> 0x811c9dc5, "a" -> 0xe40c292c. */
  assert_int_equal(howdy_entity_key(""), 0x811c9dc5u);
  assert_int_equal(howdy_entity_key("a"), 0xe40c292cu);
  assert_int_not_equal(howdy_entity_key("mute"), howdy_entity_key("volume"));
}

static void test_registration(void **state) {
  (void)state;
  static howdy_entities_t r;
  howdy_entities_init(&r, 1000, 10000);
  fake_sensor_t s = {.value = 1.0f, .ok = true};
  uint32_t k = howdy_entities_add_sensor(&r, &k_temp, &s);
  assert_int_equal(k, howdy_entity_key("temp"));
  /* The same object_id twice would give two entities one key. */
  assert_int_equal(howdy_entities_add_sensor(&r, &k_temp, &s), 0);
  assert_ptr_equal(howdy_entities_find_id(&r, "temp"), howdy_entities_find(&r, k));
  assert_null(howdy_entities_find(&r, 12345));
  /* Fill the table: further rows are refused, not written past the end. */
  static char ids[HOWDY_MAX_ENTITIES + 4][16];
  static howdy_sensor_desc_t descs[HOWDY_MAX_ENTITIES + 4];
  size_t added = 1;
  for (size_t i = 0; i < HOWDY_MAX_ENTITIES + 4; i++) {
    snprintf(ids[i], sizeof ids[i], "s%zu", i);
    descs[i] = k_temp;
    descs[i].c.object_id = ids[i];
    if (howdy_entities_add_sensor(&r, &descs[i], &s)) added++;
  }
  assert_int_equal(added, HOWDY_MAX_ENTITIES);
  assert_int_equal(r.count, HOWDY_MAX_ENTITIES);
}

static void test_deadband_and_periodic(void **state) {
  (void)state;
  static howdy_entities_t r;
  howdy_entities_init(&r, 1000, 10000);
  fake_sensor_t temp = {.value = 20.0f, .ok = true};
  fake_sensor_t counter = {.value = 1.0f, .ok = true};
  fake_sensor_t exact = {.value = 3.0f, .ok = true};
  uint32_t kt = howdy_entities_add_sensor(&r, &k_temp, &temp);
  uint32_t kc = howdy_entities_add_sensor(&r, &k_counter, &counter);
  uint32_t ke = howdy_entities_add_sensor(&r, &k_exact, &exact);
  howdy_entity_t *et = howdy_entities_find(&r, kt);
  howdy_entity_t *ec = howdy_entities_find(&r, kc);
  howdy_entity_t *ee = howdy_entities_find(&r, ke);

  uint64_t t = 1000000;
  /* First sample: never published, so everything is dirty. */
  assert_true(howdy_entities_tick(&r, t));
  assert_true(et->dirty && ec->dirty && ee->dirty);
  howdy_entities_clear_dirty(&r);

  /* Not due yet: no read. */
  int reads = temp.reads;
  assert_false(howdy_entities_tick(&r, t + 500000));
  assert_int_equal(temp.reads, reads);

  /* Below the deadband: quiet. Uptime-like counter: quiet despite change. */
  temp.value = 20.4f;
  counter.value = 50.0f;
  t += 1000000;
  assert_false(howdy_entities_tick(&r, t));
  /* At the deadband: pushed. Deadband 0: any change is pushed. */
  temp.value = 20.5f;
  exact.value = 3.001f;
  t += 1000000;
  assert_true(howdy_entities_tick(&r, t));
  assert_true(et->dirty);
  assert_true(ee->dirty);
  assert_false(ec->dirty);
  howdy_entities_clear_dirty(&r);
  assert_true(fabsf(et->published - 20.5f) < 1e-6f);

  /* Losing the value (reader says no) is a change too. */
  temp.ok = false;
  t += 1000000;
  assert_true(howdy_entities_tick(&r, t));
  assert_true(et->dirty);
  assert_false(et->has_value);
  howdy_entities_clear_dirty(&r);

  /* Periodic: after periodic_ms everything goes out again. */
  t = 1000000 + 10000000;
  assert_true(howdy_entities_tick(&r, t));
  assert_true(et->dirty && ec->dirty && ee->dirty);
  howdy_entities_clear_dirty(&r);
  assert_true(howdy_entities_next_due_us(&r, t) <= 1000000);

  /* Event-driven push. */
  assert_int_equal(howdy_entities_sensor_push(&r, kc, 99.0f), HOWDY_CMD_OK);
  assert_true(ec->dirty);
  assert_int_equal(howdy_entities_sensor_push(&r, 4242, 1.0f), HOWDY_CMD_NOT_FOUND);
}

static void test_commands(void **state) {
  (void)state;
  static howdy_entities_t r;
  howdy_entities_init(&r, 1000, 10000);
  hook_log_t hs = {0}, hn = {0};
  fake_sensor_t s = {.value = 1.0f, .ok = true};
  uint32_t ks = howdy_entities_add_switch(&r, &k_sw, &hs);
  uint32_t kn = howdy_entities_add_number(&r, &k_num, &hn);
  uint32_t kt = howdy_entities_add_sensor(&r, &k_temp, &s);
  assert_true(howdy_entities_switch_state(&r, ks)); /* initial */
  assert_true(fabsf(howdy_entities_number_value(&r, kn) - 15.0f) < 1e-6f);

  assert_int_equal(howdy_entities_switch_command(&r, ks, false), HOWDY_CMD_OK);
  assert_false(howdy_entities_switch_state(&r, ks));
  assert_int_equal(hs.calls, 1);
  assert_false(hs.last_bool);
  assert_true(howdy_entities_find(&r, ks)->dirty);

  struct {
    float in, out;
  } cases[] = {{12.0f, 12.0f}, {12.2f, 12.0f}, {12.3f, 12.5f}, {-5.0f, 10.0f},
               {99.0f, 20.0f}, {19.9f, 20.0f}, {10.0f, 10.0f}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(howdy_entities_number_command(&r, kn, cases[i].in), HOWDY_CMD_OK);
    assert_true(fabsf(howdy_entities_number_value(&r, kn) - cases[i].out) < 1e-5f);
    assert_true(fabsf(hn.last_float - cases[i].out) < 1e-5f);
  }
  assert_int_equal(howdy_entities_number_command(&r, kn, NAN), HOWDY_CMD_INVALID);
  assert_int_equal(howdy_entities_number_command(&r, kn, INFINITY), HOWDY_CMD_INVALID);
  assert_int_equal(howdy_entities_number_command(&r, 777, 1.0f), HOWDY_CMD_NOT_FOUND);
  assert_int_equal(howdy_entities_switch_command(&r, kn, true), HOWDY_CMD_WRONG_KIND);
  assert_int_equal(howdy_entities_number_command(&r, kt, 1.0f), HOWDY_CMD_WRONG_KIND);
}

static void test_device_entities_on_host(void **state) {
  (void)state;
  static howdy_platform_t p;
  howdy_posix_config_t cfg = {0};
  assert_int_equal(howdy_posix_platform_init(&p, &cfg), HOWDY_OK);
  static howdy_entities_t r;
  static howdy_device_entities_t d;
  howdy_entities_init(&r, 1000, 15000);
  assert_int_equal(howdy_device_entities_register(&d, &r, &p, 55.0f), HOWDY_OK);
  static const char *const expected[] = {
      "heap_free",      "heap_min_free",  "psram_free",       "uptime",
      "cpu_load_core0", "cpu_load_core1", "cpu_task_mic",     "cpu_task_speaker",
      "cpu_task_api",   "mute",           "volume"};
  assert_int_equal(r.count, sizeof expected / sizeof expected[0]);
  for (size_t i = 0; i < r.count; i++) {
    assert_string_equal(r.items[i].d.common->object_id, expected[i]);
  }
  assert_int_equal(d.key_mute, howdy_entity_key("mute"));
  assert_true(fabsf(howdy_entities_number_value(&r, d.key_volume) - 55.0f) < 1e-6f);

  /* Nothing before the first full window. */
  howdy_entities_sample_all(&r);
  assert_false(howdy_entities_find_id(&r, "cpu_load_core0")->has_value);
  /* A short window for the test; burn some CPU in it so the load is not zero. */
  d.cpu_window_us = 40000;
  /* The loop's count is checked so that no compiler treats it as dead code. */
  volatile uint64_t spins = 0;
  uint64_t until = howdy_time_us() + 50000;
  while (howdy_time_us() < until) spins = spins + 1;
  assert_true(spins > 0);
  howdy_entities_sample_all(&r);
  howdy_entity_t *heap = howdy_entities_find_id(&r, "heap_free");
  howdy_entity_t *heap_min = howdy_entities_find_id(&r, "heap_min_free");
  howdy_entity_t *psram = howdy_entities_find_id(&r, "psram_free");
  howdy_entity_t *cpu0 = howdy_entities_find_id(&r, "cpu_load_core0");
  howdy_entity_t *cpu1 = howdy_entities_find_id(&r, "cpu_load_core1");
  /* Under AddressSanitizer malloc statistics are unavailable (missing). */
  assert_int_equal(heap->has_value, heap_min->has_value);
  if (heap->has_value) {
    assert_true(heap->value > 0.0f);
    assert_true(heap_min->value <= heap->value);
  }
  assert_false(psram->has_value); /* no PSRAM on the host */
  assert_true(cpu0->has_value && cpu0->value > 0.0f && cpu0->value <= 100.0f);
  assert_true(cpu1->has_value && cpu1->value >= 0.0f && cpu1->value <= 100.0f);
  howdy_posix_platform_deinit(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_is_fnv1a),
      cmocka_unit_test(test_registration),
      cmocka_unit_test(test_deadband_and_periodic),
      cmocka_unit_test(test_commands),
      cmocka_unit_test(test_device_entities_on_host),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
