/* Device health sensors and the mute/volume controls (see howdy/device_entities.h). */
#include "howdy/device_entities.h"

#include <string.h>

static bool read_heap_free(void *ctx, float *v) {
  howdy_device_entities_t *d = ctx;
  howdy_mem_stats_t m;
  if (howdy_mem_stats(d->platform, &m) != HOWDY_OK || !m.has_heap) return false;
  *v = (float)m.heap_free;
  return true;
}

static bool read_heap_min_free(void *ctx, float *v) {
  howdy_device_entities_t *d = ctx;
  howdy_mem_stats_t m;
  if (howdy_mem_stats(d->platform, &m) != HOWDY_OK || !m.has_heap) return false;
  *v = (float)m.heap_min_free;
  return true;
}

static bool read_psram_free(void *ctx, float *v) {
  howdy_device_entities_t *d = ctx;
  howdy_mem_stats_t m;
  /* A platform without PSRAM (the simulator) reports the sensor as missing
   * rather than dropping it, so the entity list is the same everywhere. */
  if (howdy_mem_stats(d->platform, &m) != HOWDY_OK || !m.has_psram) return false;
  *v = (float)m.psram_free;
  return true;
}

static bool read_uptime(void *ctx, float *v) {
  howdy_device_entities_t *d = ctx;
  *v = (float)((howdy_time_us() - d->boot_us) / 1000000u);
  return true;
}

static bool read_cpu(void *ctx, float *v) {
  howdy_cpu_slot_t *slot = ctx;
  howdy_device_entities_t *d = slot->owner;
  uint64_t now = howdy_time_us();
  if (now - d->cpu_sampled_us >= d->cpu_window_us) {
    d->cpu_cores = howdy_cpu_load(d->platform, d->cpu_pct, HOWDY_MAX_CORES);
    d->cpu_sampled_us = now;
  }
  if (slot->core >= d->cpu_cores || d->cpu_cores <= 0) return false;
  *v = d->cpu_pct[slot->core];
  return true;
}

static bool read_task_cpu(void *ctx, float *v) {
  howdy_task_load_slot_t *slot = ctx;
  if (slot->task == NULL) return false;
  uint64_t now = howdy_time_us();
  if (now - slot->sampled_us >= HOWDY_CPU_WINDOW_MS * 1000u) {
    float pct = 0.0f;
    slot->has_value = howdy_task_cpu_load(slot->owner->platform, slot->task, &pct) == HOWDY_OK;
    slot->pct = pct;
    slot->sampled_us = now;
  }
  if (!slot->has_value) return false;
  *v = slot->pct;
  return true;
}

static void mute_changed(void *ctx, bool state) {
  howdy_device_entities_t *d = ctx;
  if (d->on_mute) d->on_mute(d->hook_ctx, state);
}

static void volume_changed(void *ctx, float value) {
  howdy_device_entities_t *d = ctx;
  if (d->on_volume) d->on_volume(d->hook_ctx, value);
}

/* Memory sensors: bytes, as Home Assistant's data_size class expects them.
 * Enabled by default: what a user charts or automates on (free heap, PSRAM,
 * CPU load). The low-water mark and the uptime only matter when debugging a
 * device, so they start disabled (Home Assistant mirrors disabled_by_default
 * into its entity registry). */
static const howdy_sensor_desc_t k_heap_free = {
    .c = {.object_id = "heap_free", .name = "Heap free", .icon = "mdi:memory",
          .device_class = "data_size", .category = HOWDY_CATEGORY_DIAGNOSTIC},
    .unit = "B", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 0,
    .deadband = 4096.0f, .read = read_heap_free};
static const howdy_sensor_desc_t k_heap_min_free = {
    .c = {.object_id = "heap_min_free", .name = "Heap minimum free", .icon = "mdi:memory",
          .device_class = "data_size", .category = HOWDY_CATEGORY_DIAGNOSTIC,
          .disabled_by_default = true},
    .unit = "B", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 0,
    .deadband = 1024.0f, .read = read_heap_min_free};
static const howdy_sensor_desc_t k_psram_free = {
    .c = {.object_id = "psram_free", .name = "PSRAM free", .icon = "mdi:memory",
          .device_class = "data_size", .category = HOWDY_CATEGORY_DIAGNOSTIC},
    .unit = "B", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 0,
    .deadband = 65536.0f, .read = read_psram_free};
static const howdy_sensor_desc_t k_uptime = {
    .c = {.object_id = "uptime", .name = "Uptime", .icon = "mdi:timer-outline",
          .device_class = "duration", .category = HOWDY_CATEGORY_DIAGNOSTIC,
          .disabled_by_default = true},
    .unit = "s", .state_class = HOWDY_STATE_CLASS_TOTAL_INCREASING, .accuracy_decimals = 0,
    .deadband = -1.0f, .read = read_uptime};
static const howdy_sensor_desc_t k_cpu[HOWDY_MAX_CORES] = {
    {.c = {.object_id = "cpu_load_core0", .name = "CPU load core 0", .icon = "mdi:cpu-64-bit",
           .category = HOWDY_CATEGORY_DIAGNOSTIC},
     .unit = "%", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,
     .deadband = 5.0f, .read = read_cpu},
    {.c = {.object_id = "cpu_load_core1", .name = "CPU load core 1", .icon = "mdi:cpu-64-bit",
           .category = HOWDY_CATEGORY_DIAGNOSTIC},
     .unit = "%", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,
     .deadband = 5.0f, .read = read_cpu},
};

/* Per-task CPU load: for finding which audio-path task eats a core, so
 * disabled by default. A task's figure usually sits at a few percent, hence a
 * 1-point threshold where the per-core sensors use 5. */
#define HOWDY_TASK_CPU_ROW(id, label)                                                    \
  {.c = {.object_id = id, .name = label, .icon = "mdi:cpu-64-bit",                       \
         .category = HOWDY_CATEGORY_DIAGNOSTIC, .disabled_by_default = true},            \
   .unit = "%", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,    \
   .deadband = 1.0f, .read = read_task_cpu}
static const howdy_sensor_desc_t k_task_cpu[HOWDY_LOAD_TASK_COUNT] = {
    [HOWDY_LOAD_TASK_MIC] = HOWDY_TASK_CPU_ROW("cpu_task_mic", "CPU load microphone task"),
    [HOWDY_LOAD_TASK_SPEAKER] = HOWDY_TASK_CPU_ROW("cpu_task_speaker", "CPU load speaker task"),
    [HOWDY_LOAD_TASK_API] = HOWDY_TASK_CPU_ROW("cpu_task_api", "CPU load API task"),
};

static const howdy_switch_desc_t k_mute = {
    .c = {.object_id = "mute", .name = "Mute", .icon = "mdi:microphone-off",
          .device_class = "switch", .category = HOWDY_CATEGORY_CONFIG},
    .initial = false, .on_change = mute_changed};
static const howdy_number_desc_t k_volume = {
    .c = {.object_id = "volume", .name = "Volume", .icon = "mdi:volume-high",
          .category = HOWDY_CATEGORY_CONFIG},
    .unit = "%", .min_value = 0.0f, .max_value = 100.0f, .step = 1.0f,
    .mode = HOWDY_NUMBER_MODE_SLIDER, .initial = 80.0f, .on_change = volume_changed};

int howdy_device_entities_register(howdy_device_entities_t *d, howdy_entities_t *r,
                                   howdy_platform_t *p, float initial_volume) {
  memset(d, 0, sizeof *d);
  d->platform = p;
  d->boot_us = howdy_time_us();
  /* Open the first per-core window now; read_cpu reports nothing until it is
   * full (cpu_cores stays 0 until then). */
  d->cpu_window_us = (uint64_t)HOWDY_CPU_WINDOW_MS * 1000u;
  (void)howdy_cpu_load(p, d->cpu_pct, HOWDY_MAX_CORES);
  d->cpu_sampled_us = d->boot_us;
  d->cpu_cores = 0;
  bool ok = howdy_entities_add_sensor(r, &k_heap_free, d) &&
            howdy_entities_add_sensor(r, &k_heap_min_free, d) &&
            howdy_entities_add_sensor(r, &k_psram_free, d) &&
            howdy_entities_add_sensor(r, &k_uptime, d);
  for (uint8_t c = 0; ok && c < HOWDY_MAX_CORES; c++) {
    d->cpu_slot[c].owner = d;
    d->cpu_slot[c].core = c;
    ok = howdy_entities_add_sensor(r, &k_cpu[c], &d->cpu_slot[c]) != 0;
  }
  for (size_t t = 0; ok && t < HOWDY_LOAD_TASK_COUNT; t++) {
    d->task_slot[t].owner = d;
    ok = howdy_entities_add_sensor(r, &k_task_cpu[t], &d->task_slot[t]) != 0;
  }
  if (!ok) return HOWDY_ERR_NO_SPACE;
  d->key_mute = howdy_entities_add_switch(r, &k_mute, d);
  d->key_volume = howdy_entities_add_number(r, &k_volume, d);
  if (!d->key_mute || !d->key_volume) return HOWDY_ERR_NO_SPACE;
  /* The device restores its last volume; the initial row value is only the
   * factory default. */
  howdy_entity_t *v = howdy_entities_find(r, d->key_volume);
  if (v && initial_volume >= 0.0f && initial_volume <= 100.0f) v->value = initial_volume;
  return HOWDY_OK;
}

void howdy_device_entities_set_task(howdy_device_entities_t *d, howdy_load_task_t which,
                                    howdy_task_t *task) {
  if ((unsigned)which >= HOWDY_LOAD_TASK_COUNT) return;
  howdy_task_load_slot_t *slot = &d->task_slot[which];
  slot->task = task;
  slot->has_value = false;
  slot->sampled_us = howdy_time_us();
  /* Starts the task's window now and publishes nothing until it is a full
   * HOWDY_CPU_WINDOW_MS long: a first figure over the few microseconds since
   * the task started reads 100 % from thread start-up alone (seen in the
   * simulator). The sensor gains its value at the first sample after that. */
  if (task) {
    float ignored;
    (void)howdy_task_cpu_load(d->platform, task, &ignored);
  }
}
