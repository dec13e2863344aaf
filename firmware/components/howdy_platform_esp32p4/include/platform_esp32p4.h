/*
 * ESP32-P4 implementation of howdy/platform.h: layout of howdy_platform_t on
 * the device and its init. Written against the ESP-IDF v6.0 API; see the
 * UNVERIFIED notes in platform_esp32p4.c for what has not run on hardware.
 */
#ifndef HOWDY_PLATFORM_ESP32P4_H
#define HOWDY_PLATFORM_ESP32P4_H

#include <stdbool.h>
#include <stdint.h>

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "howdy/platform.h"

struct howdy_task {
  bool used;
  bool adopted; /* howdy_task_adopt_self: not created here, never deleted here */
  /* Set under the platform's task_lock once fn has returned: from then on
   * the handle may be deleted at any moment, so nothing may pass it to the
   * kernel any more. */
  bool ended;
  howdy_platform_t *owner;
  TaskHandle_t handle;
  SemaphoreHandle_t done; /* given when fn returns; join takes it */
  StaticSemaphore_t done_buf;
  /* howdy_task_cpu_load's baseline: the task's FreeRTOS run-time counter and
   * esp_timer time at the previous call. The counter keeps the kernel's own
   * type so that differences stay right across its wrap. */
  configRUN_TIME_COUNTER_TYPE run_last;
  uint64_t wall_last;
  howdy_task_config_t cfg;
};

struct howdy_platform {
  const char *nvs_namespace; /* "howdy" */
  bool mdns_started;
  bool wall_valid;
  /* CPU load: idle-task run time per core at the previous sample. */
  uint64_t idle_last[HOWDY_MAX_CORES];
  uint64_t total_last;
  struct howdy_task tasks[HOWDY_MAX_TASKS];
  /* Guards used/ended against the per-task measurement (API task) and a task
   * ending (its own task). Static: no heap after init. */
  SemaphoreHandle_t task_lock;
  StaticSemaphore_t task_lock_buf;
};

/* Call once from app_main after nvs_flash_init() and the network is up. */
int howdy_esp32p4_platform_init(howdy_platform_t *p);

#endif /* HOWDY_PLATFORM_ESP32P4_H */
