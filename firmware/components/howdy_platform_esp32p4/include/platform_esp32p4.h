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
  TaskHandle_t handle;
  SemaphoreHandle_t done; /* given when fn returns; join takes it */
  StaticSemaphore_t done_buf;
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
};

/* Call once from app_main after nvs_flash_init() and the network is up. */
int howdy_esp32p4_platform_init(howdy_platform_t *p);

#endif /* HOWDY_PLATFORM_ESP32P4_H */
