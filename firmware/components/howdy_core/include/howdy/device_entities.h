/*
 * The entities every HowdyScreen has today: device health sensors read from
 * the platform (heap, PSRAM, uptime, per-core and per-task CPU load) and the
 * user controls
 * (the "mute" switch and the "volume" number). The audio path of the next
 * issue adds its metrics with more rows in its own table and reads mute and
 * volume through the keys kept here.
 */
#ifndef HOWDY_DEVICE_ENTITIES_H
#define HOWDY_DEVICE_ENTITIES_H

#include <stdbool.h>
#include <stdint.h>

#include "howdy/entities.h"
#include "howdy/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU load is measured over the time between two samples; shorter windows
 * are noise. */
#define HOWDY_CPU_WINDOW_MS 2000u

typedef struct howdy_device_entities howdy_device_entities_t;

typedef struct {
  howdy_device_entities_t *owner;
  uint8_t core;
} howdy_cpu_slot_t;

/* The tasks whose own CPU load is published (cpu_task_mic, cpu_task_speaker,
 * cpu_task_api): the three a voice turn's audio passes through. */
typedef enum {
  HOWDY_LOAD_TASK_MIC = 0,
  HOWDY_LOAD_TASK_SPEAKER,
  HOWDY_LOAD_TASK_API,
  HOWDY_LOAD_TASK_COUNT,
} howdy_load_task_t;

typedef struct {
  howdy_device_entities_t *owner;
  howdy_task_t *task; /* NULL: not running, the sensor reports no value */
  /* Each task is sampled on its own window (howdy_task_cpu_load keeps a
   * baseline per task); the value is cached so that a SubscribeStates
   * snapshot right after a sample does not measure a window of microseconds. */
  uint64_t sampled_us;
  bool has_value;
  float pct;
} howdy_task_load_slot_t;

struct howdy_device_entities {
  howdy_platform_t *platform;
  uint64_t boot_us;
  /* CPU: the platform measures "since the previous call", so one sample
   * serves all cores and is cached here. */
  uint64_t cpu_sampled_us;
  /* Length of a per-core load window; HOWDY_CPU_WINDOW_MS unless a test
   * shortens it. No figure is published before the first full window: a
   * window of a few microseconds after start-up reads as 80-100 %. */
  uint64_t cpu_window_us;
  int cpu_cores;
  float cpu_pct[HOWDY_MAX_CORES];
  howdy_cpu_slot_t cpu_slot[HOWDY_MAX_CORES];
  howdy_task_load_slot_t task_slot[HOWDY_LOAD_TASK_COUNT];

  uint32_t key_mute;
  uint32_t key_volume;
  /* Optional: told when mute/volume change (the audio path). */
  void (*on_mute)(void *ctx, bool muted);
  void (*on_volume)(void *ctx, float percent);
  void *hook_ctx;
};

/* Registers the rows; returns HOWDY_OK or HOWDY_ERR_NO_SPACE. */
int howdy_device_entities_register(howdy_device_entities_t *d, howdy_entities_t *r,
                                   howdy_platform_t *p, float initial_volume);

/* Tells which platform task a cpu_task_* sensor measures (NULL: none, e.g.
 * before the audio tasks start or before they are joined). The rows exist
 * from registration on, so the entity list does not depend on start-up
 * order. The sensor reports no value until a full HOWDY_CPU_WINDOW_MS has
 * passed since this call. API server task, like every entity call. */
void howdy_device_entities_set_task(howdy_device_entities_t *d, howdy_load_task_t which,
                                    howdy_task_t *task);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_DEVICE_ENTITIES_H */
