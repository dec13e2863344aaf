/*
 * howdy/platform.h on the ESP32-P4 (ESP-IDF v6.0, FreeRTOS SMP, lwIP).
 *
 * Thin on purpose: each function maps to one or two IDF calls. This file
 * cannot be compiled on the development machines (no ESP-IDF there); parts
 * marked UNVERIFIED follow the IDF documentation but have not run on a board.
 * Sockets mirror platform_posix.c because lwIP offers the same BSD API.
 */
#include "platform_esp32p4.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "esp_vfs_eventfd.h"
#include "lwip/netdb.h"
#include "lwip/sockets.h"
#include "mdns.h"
#include "nvs.h"

#define NVS_KEY_PSK "api_psk"

/* ---- log ------------------------------------------------------------------- */

static const esp_log_level_t k_levels[] = {ESP_LOG_NONE, ESP_LOG_ERROR, ESP_LOG_WARN,
                                           ESP_LOG_INFO, ESP_LOG_DEBUG, ESP_LOG_VERBOSE};

void howdy_log_set_level(howdy_log_level_t level) { esp_log_level_set("*", k_levels[level]); }

bool howdy_log_enabled(howdy_log_level_t level) {
  return level != HOWDY_LOG_NONE && k_levels[level] <= esp_log_get_default_level();
}

void howdy_vlog(howdy_log_level_t level, const char *tag, const char *fmt, va_list ap) {
  /* One line per call, formatted first so ESP_LOG's own prefix is used. */
  char line[256];
  vsnprintf(line, sizeof line, fmt, ap);
  ESP_LOG_LEVEL(k_levels[level], tag, "%s", line);
}

void howdy_log(howdy_log_level_t level, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  howdy_vlog(level, tag, fmt, ap);
  va_end(ap);
}

/* ---- time ------------------------------------------------------------------ */

uint64_t howdy_time_us(void) { return (uint64_t)esp_timer_get_time(); }

bool howdy_wall_time(int64_t *epoch_seconds) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  /* No RTC battery: before the first sync the clock counts from 1970. */
  if (tv.tv_sec < 1700000000) return false;
  *epoch_seconds = tv.tv_sec;
  return true;
}

void howdy_wall_time_set(int64_t epoch_seconds) {
  struct timeval tv = {.tv_sec = (time_t)epoch_seconds};
  settimeofday(&tv, NULL);
}

void howdy_sleep_us(uint32_t us) {
  TickType_t ticks = pdMS_TO_TICKS((us + 999u) / 1000u);
  vTaskDelay(ticks ? ticks : 1);
}

void howdy_sleep_until_us(uint64_t deadline_us) {
  uint64_t now = howdy_time_us();
  if (deadline_us > now) howdy_sleep_us((uint32_t)(deadline_us - now));
}

/* ---- random ---------------------------------------------------------------- */

/* True random once Wi-Fi (RF) is running, which is before the API starts. */
void howdy_random_bytes(uint8_t *buf, size_t len) { esp_fill_random(buf, len); }

void howdy_random_cb(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  esp_fill_random(buf, len);
}

/* ---- sockets (lwIP) --------------------------------------------------------- */

static int nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

int howdy_tcp_listen(const char *bind_addr, uint16_t port, int backlog, howdy_socket_t *out) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = bind_addr ? inet_addr(bind_addr) : htonl(INADDR_ANY);
  int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (fd < 0) return HOWDY_ERR;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, backlog) || nonblock(fd) < 0) {
    close(fd);
    return HOWDY_ERR;
  }
  *out = fd;
  return HOWDY_OK;
}

int howdy_tcp_local_port(howdy_socket_t sock, uint16_t *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(sock, (struct sockaddr *)&a, &len)) return HOWDY_ERR;
  *port = ntohs(a.sin_port);
  return HOWDY_OK;
}

int howdy_tcp_accept(howdy_socket_t listener, howdy_socket_t *out, char *peer, size_t peer_len) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = accept(listener, (struct sockaddr *)&a, &len);
  if (fd < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? HOWDY_ERR_AGAIN : HOWDY_ERR;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  nonblock(fd);
  if (peer && peer_len) {
    snprintf(peer, peer_len, "%s:%u", inet_ntoa(a.sin_addr), (unsigned)ntohs(a.sin_port));
  }
  *out = fd;
  return HOWDY_OK;
}

int howdy_sock_recv(howdy_socket_t sock, uint8_t *buf, size_t len) {
  int n = recv(sock, buf, len, 0);
  if (n > 0) return n;
  if (n == 0) return HOWDY_ERR_CLOSED;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return HOWDY_ERR_AGAIN;
  return errno == ECONNRESET ? HOWDY_ERR_CLOSED : HOWDY_ERR;
}

int howdy_sock_send(howdy_socket_t sock, const uint8_t *buf, size_t len) {
  int n = send(sock, buf, len, 0);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return HOWDY_ERR_AGAIN;
  return HOWDY_ERR_CLOSED;
}

void howdy_sock_close(howdy_socket_t sock) {
  if (sock >= 0) close(sock);
}

int howdy_poll(howdy_pollfd_t *fds, size_t count, int timeout_ms) {
  /* select() works for lwIP sockets and VFS eventfds alike. */
  fd_set rd, wr, ex;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_ZERO(&ex);
  int maxfd = -1;
  for (size_t i = 0; i < count; i++) {
    if (fds[i].events & HOWDY_POLL_IN) FD_SET(fds[i].sock, &rd);
    if (fds[i].events & HOWDY_POLL_OUT) FD_SET(fds[i].sock, &wr);
    FD_SET(fds[i].sock, &ex);
    if (fds[i].sock > maxfd) maxfd = fds[i].sock;
  }
  struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  int n = select(maxfd + 1, &rd, &wr, &ex, timeout_ms < 0 ? NULL : &tv);
  if (n < 0) return errno == EINTR ? 0 : HOWDY_ERR;
  for (size_t i = 0; i < count; i++) {
    uint8_t r = 0;
    if (FD_ISSET(fds[i].sock, &rd)) r |= HOWDY_POLL_IN;
    if (FD_ISSET(fds[i].sock, &wr)) r |= HOWDY_POLL_OUT;
    if (FD_ISSET(fds[i].sock, &ex)) r |= HOWDY_POLL_ERR;
    fds[i].revents = r;
  }
  return n;
}

/* UNVERIFIED: needs esp_vfs_eventfd_register() once at boot (done in init). */
int howdy_wakeup_open(howdy_wakeup_t *w) {
  int fd = eventfd(0, 0);
  if (fd < 0) return HOWDY_ERR;
  w->read_end = w->write_end = fd;
  return HOWDY_OK;
}

void howdy_wakeup_signal(howdy_wakeup_t *w) {
  uint64_t one = 1;
  (void)write(w->write_end, &one, sizeof one);
}

void howdy_wakeup_drain(howdy_wakeup_t *w) {
  uint64_t v;
  (void)read(w->read_end, &v, sizeof v);
}

void howdy_wakeup_close(howdy_wakeup_t *w) {
  if (w->read_end >= 0) close(w->read_end);
  w->read_end = w->write_end = HOWDY_SOCKET_INVALID;
}

/* ---- tasks ------------------------------------------------------------------ */

static void task_entry(void *arg) {
  struct howdy_task *t = arg;
  t->cfg.fn(t->cfg.arg);
  /* Past this point vTaskDelete may free the TCB before join runs: the
   * measurement must stop using the handle first. */
  xSemaphoreTake(t->owner->task_lock, portMAX_DELAY);
  t->ended = true;
  xSemaphoreGive(t->owner->task_lock);
  xSemaphoreGive(t->done);
  vTaskDelete(NULL); /* FreeRTOS tasks must not return */
}

int howdy_task_start(howdy_platform_t *p, const howdy_task_config_t *cfg, howdy_task_t **out) {
  for (size_t i = 0; i < HOWDY_MAX_TASKS; i++) {
    struct howdy_task *t = &p->tasks[i];
    if (t->used) continue;
    t->cfg = *cfg;
    t->owner = p;
    t->adopted = false;
    t->ended = false;
    /* A new task's run-time counter starts at 0; the window starts now. */
    t->run_last = 0;
    t->wall_last = (uint64_t)esp_timer_get_time();
    t->done = xSemaphoreCreateBinaryStatic(&t->done_buf);
    BaseType_t core = cfg->core == HOWDY_CORE_ANY ? tskNO_AFFINITY : cfg->core;
    if (xTaskCreatePinnedToCore(task_entry, cfg->name, cfg->stack_bytes, t, cfg->priority,
                                &t->handle, core) != pdPASS) {
      return HOWDY_ERR;
    }
    xSemaphoreTake(p->task_lock, portMAX_DELAY);
    t->used = true;
    xSemaphoreGive(p->task_lock);
    *out = t;
    return HOWDY_OK;
  }
  return HOWDY_ERR_NO_SPACE;
}

/* The task's total run time so far (FreeRTOS run-time stats). vTaskGetInfo
 * with xGetFreeStackSpace = pdFALSE skips the stack scan, and a state other
 * than eInvalid skips working the state out: only ulRunTimeCounter is used.
 * UNVERIFIED: needs CONFIG_FREERTOS_USE_TRACE_FACILITY and
 * CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS with esp_timer as the run-time clock
 * (counter in microseconds, like esp_timer_get_time). On SMP the counter is
 * brought up to date at context switches, so a task running on the other
 * core at the moment of the call lacks its current slice (at most one tick)
 * until the next call. */
#if configGENERATE_RUN_TIME_STATS == 1 && configUSE_TRACE_FACILITY == 1
#define HOWDY_HAS_TASK_RUN_TIME 1
static configRUN_TIME_COUNTER_TYPE task_run_time(TaskHandle_t h) {
  TaskStatus_t st;
  vTaskGetInfo(h, &st, pdFALSE, eRunning);
  return st.ulRunTimeCounter;
}
#else
#define HOWDY_HAS_TASK_RUN_TIME 0
#endif

int howdy_task_adopt_self(howdy_platform_t *p, const char *name, howdy_task_t **out) {
  xSemaphoreTake(p->task_lock, portMAX_DELAY);
  for (size_t i = 0; i < HOWDY_MAX_TASKS; i++) {
    struct howdy_task *t = &p->tasks[i];
    if (t->used) continue;
    memset(t, 0, sizeof *t);
    t->cfg.name = name;
    t->cfg.core = HOWDY_CORE_ANY;
    t->owner = p;
    t->adopted = true;
    t->handle = xTaskGetCurrentTaskHandle();
#if HOWDY_HAS_TASK_RUN_TIME
    t->run_last = task_run_time(t->handle);
#endif
    t->wall_last = (uint64_t)esp_timer_get_time();
    t->used = true;
    xSemaphoreGive(p->task_lock);
    *out = t;
    return HOWDY_OK;
  }
  xSemaphoreGive(p->task_lock);
  return HOWDY_ERR_NO_SPACE;
}

void howdy_task_join(howdy_platform_t *p, howdy_task_t *task) {
  if (!task->adopted) xSemaphoreTake(task->done, portMAX_DELAY);
  xSemaphoreTake(p->task_lock, portMAX_DELAY);
  task->used = false;
  xSemaphoreGive(p->task_lock);
}

/* ---- audio: ES7210 in / ES8311 out through esp_codec_dev (next issue). -------- */

int howdy_audio_in_open(howdy_platform_t *p, const howdy_audio_format_t *fmt) {
  (void)p;
  (void)fmt;
  return HOWDY_ERR_UNSUPPORTED;
}
int howdy_audio_in_read(howdy_platform_t *p, int16_t *pcm, size_t samples, uint64_t *capture_us) {
  (void)p;
  (void)pcm;
  (void)samples;
  (void)capture_us;
  return HOWDY_ERR_UNSUPPORTED;
}
void howdy_audio_in_close(howdy_platform_t *p) { (void)p; }
int howdy_audio_out_open(howdy_platform_t *p, const howdy_audio_format_t *fmt) {
  (void)p;
  (void)fmt;
  return HOWDY_ERR_UNSUPPORTED;
}
int howdy_audio_out_write(howdy_platform_t *p, const int16_t *pcm, size_t samples) {
  (void)p;
  (void)pcm;
  (void)samples;
  return HOWDY_ERR_UNSUPPORTED;
}
void howdy_audio_out_close(howdy_platform_t *p) { (void)p; }

/* ---- key storage: NVS blob ---------------------------------------------------- */

int howdy_key_load(howdy_platform_t *p, uint8_t key[HOWDY_KEY_LEN]) {
  nvs_handle_t h;
  if (nvs_open(p->nvs_namespace, NVS_READONLY, &h) != ESP_OK) return HOWDY_ERR_NOT_FOUND;
  size_t len = HOWDY_KEY_LEN;
  esp_err_t err = nvs_get_blob(h, NVS_KEY_PSK, key, &len);
  nvs_close(h);
  if (err == ESP_ERR_NVS_NOT_FOUND) return HOWDY_ERR_NOT_FOUND;
  return (err == ESP_OK && len == HOWDY_KEY_LEN) ? HOWDY_OK : HOWDY_ERR;
}

int howdy_key_save(howdy_platform_t *p, const uint8_t key[HOWDY_KEY_LEN]) {
  nvs_handle_t h;
  if (nvs_open(p->nvs_namespace, NVS_READWRITE, &h) != ESP_OK) return HOWDY_ERR;
  esp_err_t err = nvs_set_blob(h, NVS_KEY_PSK, key, HOWDY_KEY_LEN);
  if (err == ESP_OK) err = nvs_commit(h);
  nvs_close(h);
  return err == ESP_OK ? HOWDY_OK : HOWDY_ERR;
}

/* ---- mDNS: the espressif/mdns component ----------------------------------------- */

int howdy_mdns_announce(howdy_platform_t *p, const howdy_mdns_service_t *svc) {
  if (!p->mdns_started) {
    if (mdns_init() != ESP_OK) return HOWDY_ERR;
    p->mdns_started = true;
  }
  mdns_hostname_set(svc->instance_name);
  mdns_instance_name_set(svc->instance_name);
  /* "_howdyscreen._tcp" -> service "_howdyscreen", proto "_tcp". */
  char service[40];
  snprintf(service, sizeof service, "%s", svc->service_type);
  char *dot = strchr(service, '.');
  if (!dot) return HOWDY_ERR_INVALID;
  *dot = '\0';
  mdns_txt_item_t items[16];
  size_t n = svc->txt_count < 16 ? svc->txt_count : 16;
  for (size_t i = 0; i < n; i++) {
    items[i].key = svc->txt[i].key;
    items[i].value = svc->txt[i].value;
  }
  /* mdns copies the strings. */
  esp_err_t err = mdns_service_add(svc->instance_name, service, dot + 1, svc->port, items, n);
  return err == ESP_OK ? HOWDY_OK : HOWDY_ERR;
}

void howdy_mdns_stop(howdy_platform_t *p) {
  if (p->mdns_started) {
    mdns_free();
    p->mdns_started = false;
  }
}

/* ---- measurements ------------------------------------------------------------------ */

int howdy_mem_stats(howdy_platform_t *p, howdy_mem_stats_t *out) {
  (void)p;
  memset(out, 0, sizeof *out);
  out->has_heap = true;
  out->heap_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
  out->heap_min_free = heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL);
  size_t psram_total = heap_caps_get_total_size(MALLOC_CAP_SPIRAM);
  out->has_psram = psram_total > 0;
  out->psram_free = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
  return HOWDY_OK;
}

/* UNVERIFIED: needs CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS with esp_timer as
 * the run-time clock (its counter is in microseconds, like total below). */
int howdy_cpu_load(howdy_platform_t *p, float *pct, size_t max) {
  uint64_t total = (uint64_t)esp_timer_get_time();
  uint64_t span = total - p->total_last;
  p->total_last = total;
  for (int core = 0; core < HOWDY_MAX_CORES; core++) {
    uint64_t idle = ulTaskGetIdleRunTimeCounterForCore(core);
    uint64_t d = idle - p->idle_last[core];
    p->idle_last[core] = idle;
    if ((size_t)core < max) {
      float busy = span ? 100.0f - (float)((double)d * 100.0 / (double)span) : 0.0f;
      pct[core] = busy < 0.0f ? 0.0f : (busy > 100.0f ? 100.0f : busy);
    }
  }
  return HOWDY_MAX_CORES;
}

int howdy_task_cpu_load(howdy_platform_t *p, howdy_task_t *task, float *pct) {
#if HOWDY_HAS_TASK_RUN_TIME
  if (task == NULL) return HOWDY_ERR_INVALID;
  xSemaphoreTake(p->task_lock, portMAX_DELAY);
  if (!task->used || task->ended) {
    xSemaphoreGive(p->task_lock);
    return HOWDY_ERR_INVALID;
  }
  configRUN_TIME_COUNTER_TYPE run = task_run_time(task->handle);
  uint64_t wall = (uint64_t)esp_timer_get_time();
  /* In the counter's own unsigned type: right across one wrap (a 32-bit
   * microsecond counter wraps every 71 minutes; the entities sample every
   * few seconds). */
  configRUN_TIME_COUNTER_TYPE run_d = (configRUN_TIME_COUNTER_TYPE)(run - task->run_last);
  uint64_t wall_d = wall - task->wall_last;
  task->run_last = run;
  task->wall_last = wall;
  xSemaphoreGive(p->task_lock);
  float v = wall_d ? (float)((double)run_d * 100.0 / (double)wall_d) : 0.0f;
  *pct = v > 100.0f ? 100.0f : v;
  return HOWDY_OK;
#else
  (void)p;
  (void)task;
  (void)pct;
  return HOWDY_ERR_UNSUPPORTED;
#endif
}

/* ---- init ---------------------------------------------------------------------------- */

int howdy_esp32p4_platform_init(howdy_platform_t *p) {
  memset(p, 0, sizeof *p);
  p->nvs_namespace = "howdy";
  p->task_lock = xSemaphoreCreateMutexStatic(&p->task_lock_buf);
  esp_vfs_eventfd_config_t ev = ESP_VFS_EVENTD_CONFIG_DEFAULT();
  if (esp_vfs_eventfd_register(&ev) != ESP_OK) return HOWDY_ERR;
  p->total_last = (uint64_t)esp_timer_get_time();
  for (int core = 0; core < HOWDY_MAX_CORES; core++) {
    p->idle_last[core] = ulTaskGetIdleRunTimeCounterForCore(core);
  }
  return HOWDY_OK;
}
