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

#define HOWDY_POSIX_MIC_PATH_MAX 512

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
  /* Microphone source: a 16 kHz s16le mono WAV played in real time (NULL:
   * digital silence). mic_loop starts it over at its end; otherwise silence
   * follows. */
  const char *mic_wav;
  bool mic_loop;
  /* Microphone trace for latency benchmarks (NULL: none). Created (or
   * truncated) by howdy_posix_platform_init, which fails when it cannot be;
   * closed by howdy_posix_platform_deinit. Every frame howdy_audio_in_read
   * returns appends one text line "<wav_pos> <capture_us> <read_us>\n":
   * wav_pos is the sample offset, inside the WAV's PCM data, of the frame's
   * first sample (-1: no mic_wav, or the WAV has ended and the frame is
   * silence; a looped WAV wraps to 0), capture_us the frame's capture time
   * (its first sample), read_us howdy_time_us() as the read returns; both on
   * the howdy_time_us clock (CLOCK_MONOTONIC, microseconds). One write(2) per
   * line, no allocation. A failed write logs one warning and ends the trace;
   * the microphone carries on. */
  const char *mic_trace;
} howdy_posix_config_t;

/* The simulated microphone (howdy_audio_in_*). */
typedef struct {
  char path[HOWDY_POSIX_MIC_PATH_MAX];
  bool loop;
  int fd;                /* -1: silence */
  uint64_t data_off;     /* first PCM byte in the file */
  uint64_t data_len;     /* PCM bytes */
  uint64_t pos;          /* next PCM byte to read */
  uint64_t next_us;      /* when the frame being captured is complete */
  uint32_t frame_samples;
  bool ended_logged;
  int trace_fd;          /* --mic-trace file; -1: no trace (or it failed) */
} howdy_posix_mic_t;

struct howdy_task {
  bool used;
  bool adopted;   /* howdy_task_adopt_self: not started here, never joined here */
  bool has_clock;
  pthread_t thread;
  /* The thread's CPU-time clock (a clockid_t), taken once while the thread
   * surely exists: measuring never touches the pthread_t, which join
   * invalidates. Held as int because strict C11 users of this header do not
   * see clockid_t; platform_posix.c checks the two agree. */
  int cpu_clock;
  int core;
  uint64_t cpu_ns_last; /* thread CPU time at the previous howdy_cpu_load() */
  /* howdy_task_cpu_load's own baseline (thread CPU time, monotonic time). */
  uint64_t load_cpu_ns_last;
  uint64_t load_wall_ns_last;
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

  howdy_posix_mic_t mic;

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
