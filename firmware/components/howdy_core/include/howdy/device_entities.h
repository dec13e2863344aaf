/*
 * The entities every HowdyScreen has today: device health sensors read from
 * the platform (heap, PSRAM, uptime, per-core CPU load) and the user controls
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

struct howdy_device_entities {
  howdy_platform_t *platform;
  uint64_t boot_us;
  /* CPU: the platform measures "since the previous call", so one sample
   * serves all cores and is cached here. */
  uint64_t cpu_sampled_us;
  int cpu_cores;
  float cpu_pct[HOWDY_MAX_CORES];
  howdy_cpu_slot_t cpu_slot[HOWDY_MAX_CORES];

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

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_DEVICE_ENTITIES_H */
