/*
 * The platform seam: the one header through which the portable core reaches
 * the machine it runs on. The ESP32-P4 implements it in
 * components/howdy_platform_esp32p4/ (ESP-IDF, lwIP sockets, FreeRTOS), Linux
 * in firmware/host/platform_posix.c (POSIX). Nothing else in the core may
 * include a system or vendor header for these services.
 *
 * Two kinds of calls live here:
 *  - process-wide services that exist exactly once on both platforms (log,
 *    monotonic clock, random bytes, sockets, sleeping): plain functions;
 *  - services with state that a platform instance owns (key storage, mDNS,
 *    memory and CPU measurement, tasks, audio): they take the
 *    howdy_platform_t that the platform's own init function set up. Its
 *    layout is private to each platform (platform_posix.h, platform_esp32p4.h),
 *    so the core only ever holds a pointer.
 *
 * Event model: the API server runs in one task around howdy_poll(), a
 * poll(2)-style wait on non-blocking sockets with a timeout. lwIP provides
 * select(), which is enough to implement it. Other tasks (the audio work of
 * the next issue) wake that loop through a howdy_wakeup_t, which is pollable
 * like a socket (a pipe on Linux, an eventfd from esp_vfs_eventfd on the
 * device).
 *
 * Return codes: 0 (HOWDY_OK) or a negative HOWDY_ERR_* value unless stated.
 */
#ifndef HOWDY_PLATFORM_H
#define HOWDY_PLATFORM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct howdy_platform howdy_platform_t;

enum {
  HOWDY_OK = 0,
  HOWDY_ERR = -1,             /* generic failure (see the log) */
  HOWDY_ERR_AGAIN = -2,       /* non-blocking call would block; retry later */
  HOWDY_ERR_NOT_FOUND = -3,   /* nothing stored yet */
  HOWDY_ERR_UNSUPPORTED = -4, /* this platform (or build) does not offer it */
  HOWDY_ERR_NO_SPACE = -5,    /* a fixed table or buffer is full */
  HOWDY_ERR_CLOSED = -6,      /* the peer closed or reset the connection */
  HOWDY_ERR_INVALID = -7,     /* bad argument */
};

/* ---- logging --------------------------------------------------------------
 * Lines go to the platform's console (stderr on Linux, the UART/USB console
 * on the device) with a level and a tag. Process-wide like ESP_LOG itself. */
typedef enum {
  HOWDY_LOG_NONE = 0,
  HOWDY_LOG_ERROR = 1,
  HOWDY_LOG_WARN = 2,
  HOWDY_LOG_INFO = 3,
  HOWDY_LOG_DEBUG = 4,
  HOWDY_LOG_VERBOSE = 5,
} howdy_log_level_t;

void howdy_log(howdy_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void howdy_vlog(howdy_log_level_t level, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Lines above this level are dropped before formatting. */
void howdy_log_set_level(howdy_log_level_t level);
bool howdy_log_enabled(howdy_log_level_t level);

#define HOWDY_LOGE(tag, ...) howdy_log(HOWDY_LOG_ERROR, tag, __VA_ARGS__)
#define HOWDY_LOGW(tag, ...) howdy_log(HOWDY_LOG_WARN, tag, __VA_ARGS__)
#define HOWDY_LOGI(tag, ...) howdy_log(HOWDY_LOG_INFO, tag, __VA_ARGS__)
#define HOWDY_LOGD(tag, ...) howdy_log(HOWDY_LOG_DEBUG, tag, __VA_ARGS__)

/* ---- time ------------------------------------------------------------------ */

/* Monotonic microseconds since an arbitrary origin (boot); never goes back. */
uint64_t howdy_time_us(void);

/* Wall clock as Unix seconds. Returns false while the clock is unknown (the
 * device has no RTC battery: it learns the time from Home Assistant through
 * GetTimeResponse, or from SNTP). */
bool howdy_wall_time(int64_t *epoch_seconds);
/* Sets the wall clock from a trusted source (Home Assistant). A platform
 * whose clock is managed by the OS (Linux) may ignore it. */
void howdy_wall_time_set(int64_t epoch_seconds);

void howdy_sleep_us(uint32_t us);
/* Sleeps until howdy_time_us() >= deadline_us (returns at once if past). The
 * audio ticks of the next issue pace themselves on absolute deadlines so that
 * jitter does not accumulate. */
void howdy_sleep_until_us(uint64_t deadline_us);

/* ---- random ---------------------------------------------------------------- */

/* Cryptographically secure random bytes (getrandom(2); esp_fill_random with
 * the RF subsystem or bootloader entropy on the device). */
void howdy_random_bytes(uint8_t *buf, size_t len);
/* Same, with the howdy_random_fn signature of the codec. ctx is unused. */
void howdy_random_cb(void *ctx, uint8_t *buf, size_t len);

/* ---- sockets -----------------------------------------------------------------
 * Handles are the platform's descriptors (POSIX fds; lwIP socket numbers).
 * Every socket the core gets from here is non-blocking. */
typedef int howdy_socket_t;
#define HOWDY_SOCKET_INVALID (-1)

/* Listens on bind_addr ("0.0.0.0", "127.0.0.1", "::" ...; NULL = all IPv4
 * interfaces) and port (0 = any free port, see howdy_tcp_local_port). */
int howdy_tcp_listen(const char *bind_addr, uint16_t port, int backlog, howdy_socket_t *out);
int howdy_tcp_local_port(howdy_socket_t sock, uint16_t *port);
/* Accepts one pending connection. HOWDY_ERR_AGAIN if none is waiting. peer
 * receives "addr:port" (truncated to peer_len, may be NULL). The new socket
 * is non-blocking with TCP_NODELAY set (small API frames must not wait). */
int howdy_tcp_accept(howdy_socket_t listener, howdy_socket_t *out, char *peer, size_t peer_len);
/* > 0: bytes read; HOWDY_ERR_CLOSED: orderly close or reset by the peer;
 * HOWDY_ERR_AGAIN: nothing to read; other < 0: error. Never returns 0. */
int howdy_sock_recv(howdy_socket_t sock, uint8_t *buf, size_t len);
/* >= 0: bytes accepted by the stack (possibly fewer than len);
 * HOWDY_ERR_AGAIN: send buffer full; other < 0: the connection is dead. */
int howdy_sock_send(howdy_socket_t sock, const uint8_t *buf, size_t len);
void howdy_sock_close(howdy_socket_t sock);

#define HOWDY_POLL_IN 0x01u
#define HOWDY_POLL_OUT 0x02u
#define HOWDY_POLL_ERR 0x04u /* error or hang-up: recv/send will tell which */

typedef struct {
  howdy_socket_t sock;
  uint8_t events;  /* HOWDY_POLL_IN | HOWDY_POLL_OUT */
  uint8_t revents; /* filled in */
} howdy_pollfd_t;

/* Waits until one of the sockets is ready or timeout_ms passed (0 = do not
 * wait, < 0 = forever). Returns the number of ready entries, 0 on timeout or
 * on an interrupted wait (signal), < 0 on error. */
int howdy_poll(howdy_pollfd_t *fds, size_t count, int timeout_ms);

/* A pollable flag another task (or a signal handler on Linux: signal() is
 * async-signal-safe) raises to wake the howdy_poll() loop. */
typedef struct {
  howdy_socket_t read_end;
  howdy_socket_t write_end; /* == read_end on an eventfd platform */
} howdy_wakeup_t;

int howdy_wakeup_open(howdy_wakeup_t *w);
void howdy_wakeup_signal(howdy_wakeup_t *w);
/* Clears the flag; call when howdy_poll reported read_end readable. */
void howdy_wakeup_drain(howdy_wakeup_t *w);
void howdy_wakeup_close(howdy_wakeup_t *w);

/* ---- tasks -------------------------------------------------------------------
 * Created at start-up only (the platform keeps them in a fixed table). The
 * core pins work to cores the way the device does: core 0 runs the network
 * (the API server loop, which is the thread that initialised the platform),
 * core 1 the audio path. A task ends by returning from fn; the caller tells it
 * to stop through its own state and then joins it. */
#define HOWDY_MAX_TASKS 8
#define HOWDY_MAX_CORES 2
#define HOWDY_CORE_ANY (-1)

typedef void (*howdy_task_fn)(void *arg);
typedef struct {
  const char *name;   /* shown in logs and task lists */
  howdy_task_fn fn;
  void *arg;
  uint32_t stack_bytes;
  int priority;       /* FreeRTOS priority; Linux ignores it */
  int core;           /* 0, 1 or HOWDY_CORE_ANY */
} howdy_task_config_t;

typedef struct howdy_task howdy_task_t;
int howdy_task_start(howdy_platform_t *p, const howdy_task_config_t *cfg, howdy_task_t **out);
/* Waits for fn to return and frees the table slot. On a task entered with
 * howdy_task_adopt_self it only frees the slot (a task cannot wait for
 * itself), and must then be called by that task. */
void howdy_task_join(howdy_platform_t *p, howdy_task_t *task);

/* Enters the calling task, which the platform did not start (the API server
 * loop runs in the thread that initialised the platform: app_main's task on
 * the device, main() on Linux), into the task table so that it can be
 * measured like a started task. Takes one slot of HOWDY_MAX_TASKS. */
int howdy_task_adopt_self(howdy_platform_t *p, const char *name, howdy_task_t **out);

/* ---- audio. PCM is signed 16-bit little-endian, interleaved. The
 * microphone task calls howdy_audio_in_read in a loop (it blocks at the
 * capture pace); the output task paces itself on absolute 10 ms deadlines
 * (howdy_sleep_until_us) and hands each frame to howdy_audio_out_write. */
typedef struct {
  uint32_t sample_rate;  /* 16000 on the wire */
  uint8_t channels;      /* 1 */
  uint16_t frame_samples; /* samples per channel per read/write: 160 = 10 ms */
} howdy_audio_format_t;

int howdy_audio_in_open(howdy_platform_t *p, const howdy_audio_format_t *fmt);
/* Blocks until one frame of fmt->frame_samples is captured. capture_us is
 * the howdy_time_us() of the frame's first sample (for the latency metric).
 * Returns samples read (> 0) or < 0. */
int howdy_audio_in_read(howdy_platform_t *p, int16_t *pcm, size_t samples, uint64_t *capture_us);
void howdy_audio_in_close(howdy_platform_t *p);
int howdy_audio_out_open(howdy_platform_t *p, const howdy_audio_format_t *fmt);
/* Hands one frame to the output (the device's I2S write blocks while its DMA
 * is full; the simulator's output is a sink that returns at once). Returns
 * samples written or < 0. */
int howdy_audio_out_write(howdy_platform_t *p, const int16_t *pcm, size_t samples);
void howdy_audio_out_close(howdy_platform_t *p);

/* ---- key storage -------------------------------------------------------------
 * The 32-byte Noise pre-shared key (NVS on the device, the state file of the
 * simulator). */
#define HOWDY_KEY_LEN 32u
/* HOWDY_OK, HOWDY_ERR_NOT_FOUND (first boot) or another error. */
int howdy_key_load(howdy_platform_t *p, uint8_t key[HOWDY_KEY_LEN]);
int howdy_key_save(howdy_platform_t *p, const uint8_t key[HOWDY_KEY_LEN]);

/* ---- mDNS announcement ------------------------------------------------------- */
typedef struct {
  const char *key;
  const char *value;
} howdy_txt_record_t;

typedef struct {
  const char *instance_name;
  const char *service_type; /* "_howdyscreen._tcp" */
  uint16_t port;
  const howdy_txt_record_t *txt;
  size_t txt_count;
  /* IPv4 address (dotted quad) of the one interface to announce on, or NULL
   * for every interface.  A device whose API listens on a single address must
   * not advertise the others: a client would find an address nobody serves. */
  const char *interface_address;
} howdy_mdns_service_t;

/* Starts announcing svc (the strings are copied) until howdy_mdns_stop. */
int howdy_mdns_announce(howdy_platform_t *p, const howdy_mdns_service_t *svc);
void howdy_mdns_stop(howdy_platform_t *p);

/* ---- measurements --------------------------------------------------------------
 * Real measurements only; what each number means on each platform is spelled
 * out in docs/protocol.md ("Entities"). */
typedef struct {
  bool has_heap;
  uint64_t heap_free;      /* bytes the allocator could hand out now */
  uint64_t heap_min_free;  /* lowest heap_free since boot */
  bool has_psram;
  uint64_t psram_free;
} howdy_mem_stats_t;

int howdy_mem_stats(howdy_platform_t *p, howdy_mem_stats_t *out);

/* Busy percentage of each core since the previous call (the first call
 * measures since platform init). Fills up to max entries of pct and returns
 * how many cores the platform has (<= HOWDY_MAX_CORES), or < 0. */
int howdy_cpu_load(howdy_platform_t *p, float *pct, size_t max);

/* CPU time one task used, as a percentage of one core, since the previous
 * call for the same task (the first call measures since the task was started
 * or adopted). Each task keeps its own baseline, so sampling one task does
 * not shorten the window of another, nor of howdy_cpu_load. A task that is
 * always runnable on its core shows 100; time it spends blocked (waiting for
 * the microphone, a deadline, a socket) does not count.
 * HOWDY_OK, HOWDY_ERR_INVALID (task not in the table, or already ended) or
 * HOWDY_ERR_UNSUPPORTED (the build has no per-task run-time accounting).
 * Call from one task at a time per measured task (the entity readers run in
 * the API task). */
int howdy_task_cpu_load(howdy_platform_t *p, howdy_task_t *task, float *pct);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_PLATFORM_H */
