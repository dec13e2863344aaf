/*
 * Linux side of the platform seam (howdy/platform.h): the layout of
 * howdy_platform_t on the host, and how the simulator sets it up.
 */
#ifndef HOWDY_PLATFORM_POSIX_H
#define HOWDY_PLATFORM_POSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "howdy/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mDNS goes through function pointers so that the platform does not depend
 * on which responder is linked in (the C responder in mdns_responder.c, or
 * none). start returns 0 and an opaque handle, or < 0. */
typedef struct {
  int (*start)(void **handle, const howdy_mdns_service_t *svc);
  void (*stop)(void *handle);
} howdy_posix_mdns_ops_t;

typedef struct {
  const char *state_file;  /* JSON file holding the key; NULL = no storage */
  const char *device_name; /* written next to the key for humans */
  howdy_posix_mdns_ops_t mdns;
} howdy_posix_config_t;

struct howdy_task {
  bool used;
  bool has_clock;
  pthread_t thread;
  int core;
  uint64_t cpu_ns_last; /* thread CPU time at the previous howdy_cpu_load() */
  howdy_task_config_t cfg;
};

#define HOWDY_POSIX_STATE_PATH_MAX 512

struct howdy_platform {
  char state_file[HOWDY_POSIX_STATE_PATH_MAX];
  char device_name[64];
  howdy_posix_mdns_ops_t mdns;
  void *mdns_handle;

  /* CPU accounting: the thread that called init counts as core 0 (it runs the
   * API server loop, which is pinned to core 0 on the device). */
  pthread_t main_thread;
  uint64_t process_cpu_ns_last;
  uint64_t wall_ns_last;
  pthread_mutex_t task_lock;
  struct howdy_task tasks[HOWDY_MAX_TASKS];

  /* Lowest heap_free seen by howdy_mem_stats (the C library keeps no such
   * watermark itself). */
  uint64_t heap_min_free;
};

int howdy_posix_platform_init(howdy_platform_t *p, const howdy_posix_config_t *cfg);
void howdy_posix_platform_deinit(howdy_platform_t *p);

/* Default state file: $XDG_STATE_HOME/howdyscreen-sim/<name>.json, falling
 * back to ~/.local/state/howdyscreen-sim/<name>.json, else ./<name>.json. */
int howdy_posix_default_state_file(const char *name, char *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_PLATFORM_POSIX_H */
