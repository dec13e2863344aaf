/*
 * Linux implementation of howdy/platform.h for howdyscreen-sim and the host
 * tests. Plain POSIX plus two Linux/glibc measurement calls (mallinfo2,
 * pthread_getcpuclockid), each documented where it is used.
 */
#define _GNU_SOURCE
#include "platform_posix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "howdy/base64.h"

static const char *TAG = "platform";

#define HOWDY_POSIX_AUDIO_RATE 16000u

/* ---- logging ---------------------------------------------------------------
 * The threshold is process-wide on purpose: it mirrors esp_log_level_set and
 * is set once by main from the command line. */
static _Atomic int s_log_level = HOWDY_LOG_INFO;

void howdy_log_set_level(howdy_log_level_t level) { s_log_level = (int)level; }

bool howdy_log_enabled(howdy_log_level_t level) {
  return level != HOWDY_LOG_NONE && (int)level <= s_log_level;
}

void howdy_vlog(howdy_log_level_t level, const char *tag, const char *fmt, va_list ap) {
  if (!howdy_log_enabled(level)) {
    return;
  }
  static const char letters[] = "-EWIDV";
  char line[768];
  uint64_t now = howdy_time_us();
  int n = snprintf(line, sizeof line, "%c (%llu.%03llu) %s: ", letters[level],
                   (unsigned long long)(now / 1000000u),
                   (unsigned long long)((now / 1000u) % 1000u), tag);
  if (n < 0) {
    return;
  }
  if ((size_t)n < sizeof line) {
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  }
  /* One write per line so lines of different threads do not interleave. */
  size_t len = strnlen(line, sizeof line - 2);
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}

void howdy_log(howdy_log_level_t level, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  howdy_vlog(level, tag, fmt, ap);
  va_end(ap);
}

/* ---- time ------------------------------------------------------------------ */

static uint64_t ts_ns(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

uint64_t howdy_time_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts_ns(&ts) / 1000u;
}

bool howdy_wall_time(int64_t *epoch_seconds) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    return false;
  }
  *epoch_seconds = (int64_t)ts.tv_sec;
  return true;
}

void howdy_wall_time_set(int64_t epoch_seconds) {
  /* The host's clock belongs to the OS; only report the offset. */
  int64_t now = 0;
  if (howdy_wall_time(&now)) {
    howdy_log(HOWDY_LOG_DEBUG, TAG, "peer time %lld (host clock differs by %lld s)",
              (long long)epoch_seconds, (long long)(epoch_seconds - now));
  }
}

void howdy_sleep_us(uint32_t us) {
  struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void howdy_sleep_until_us(uint64_t deadline_us) {
  struct timespec ts = {.tv_sec = (time_t)(deadline_us / 1000000u),
                        .tv_nsec = (long)(deadline_us % 1000000u) * 1000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* ---- random ---------------------------------------------------------------- */

void howdy_random_bytes(uint8_t *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = getrandom(buf + off, len - off, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      /* No entropy source means no keys: refusing to run is the only safe
       * answer. */
      howdy_log(HOWDY_LOG_ERROR, TAG, "getrandom failed: %s", strerror(errno));
      abort();
    }
    off += (size_t)n;
  }
}

void howdy_random_cb(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  howdy_random_bytes(buf, len);
}

/* ---- sockets ---------------------------------------------------------------- */

static int set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    return HOWDY_ERR;
  }
  return HOWDY_OK;
}

int howdy_tcp_listen(const char *bind_addr, uint16_t port, int backlog, howdy_socket_t *out) {
  struct addrinfo hints = {0};
  struct addrinfo *res = NULL;
  char port_s[8];
  snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  int rc = getaddrinfo(bind_addr ? bind_addr : "0.0.0.0", port_s, &hints, &res);
  if (rc != 0 || res == NULL) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "bad bind address '%s': %s", bind_addr ? bind_addr : "",
              gai_strerror(rc));
    return HOWDY_ERR_INVALID;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return HOWDY_ERR;
  }
  int one = 1;
  /* Restarting the simulator must not wait for TIME_WAIT of the last run. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0 ||
      set_nonblocking(fd) != HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot listen on %s:%u: %s",
              bind_addr ? bind_addr : "0.0.0.0", (unsigned)port, strerror(errno));
    close(fd);
    freeaddrinfo(res);
    return HOWDY_ERR;
  }
  freeaddrinfo(res);
  *out = fd;
  return HOWDY_OK;
}

int howdy_tcp_local_port(howdy_socket_t sock, uint16_t *port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(sock, (struct sockaddr *)&ss, &len) != 0) {
    return HOWDY_ERR;
  }
  if (ss.ss_family == AF_INET) {
    *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else {
    return HOWDY_ERR;
  }
  return HOWDY_OK;
}

int howdy_tcp_accept(howdy_socket_t listener, howdy_socket_t *out, char *peer, size_t peer_len) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = accept4(listener, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
      return HOWDY_ERR_AGAIN;
    }
    return HOWDY_ERR;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (peer && peer_len) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      p = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      p = ntohs(a->sin6_port);
    }
    snprintf(peer, peer_len, "%s:%u", host, p);
  }
  *out = fd;
  return HOWDY_OK;
}

int howdy_sock_recv(howdy_socket_t sock, uint8_t *buf, size_t len) {
  for (;;) {
    ssize_t n = recv(sock, buf, len, 0);
    if (n > 0) return (int)n;
    if (n == 0) return HOWDY_ERR_CLOSED;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return HOWDY_ERR_AGAIN;
    if (errno == ECONNRESET || errno == EPIPE || errno == ETIMEDOUT) return HOWDY_ERR_CLOSED;
    return HOWDY_ERR;
  }
}

int howdy_sock_send(howdy_socket_t sock, const uint8_t *buf, size_t len) {
  for (;;) {
    /* MSG_NOSIGNAL: a peer that vanished must give EPIPE, not kill us. */
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (int)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return HOWDY_ERR_AGAIN;
    if (errno == ECONNRESET || errno == EPIPE) return HOWDY_ERR_CLOSED;
    return HOWDY_ERR;
  }
}

void howdy_sock_close(howdy_socket_t sock) {
  if (sock >= 0) {
    close(sock);
  }
}

int howdy_poll(howdy_pollfd_t *fds, size_t count, int timeout_ms) {
  struct pollfd pfd[16];
  if (count > sizeof pfd / sizeof pfd[0]) {
    return HOWDY_ERR_INVALID;
  }
  for (size_t i = 0; i < count; i++) {
    pfd[i].fd = fds[i].sock;
    pfd[i].events = (short)(((fds[i].events & HOWDY_POLL_IN) ? POLLIN : 0) |
                            ((fds[i].events & HOWDY_POLL_OUT) ? POLLOUT : 0));
    pfd[i].revents = 0;
  }
  int n = poll(pfd, (nfds_t)count, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) n = 0;
    else return HOWDY_ERR;
  }
  for (size_t i = 0; i < count; i++) {
    uint8_t r = 0;
    if (pfd[i].revents & POLLIN) r |= HOWDY_POLL_IN;
    if (pfd[i].revents & POLLOUT) r |= HOWDY_POLL_OUT;
    if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) r |= HOWDY_POLL_ERR;
    fds[i].revents = r;
  }
  return n;
}

int howdy_wakeup_open(howdy_wakeup_t *w) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return HOWDY_ERR;
  }
  w->read_end = fds[0];
  w->write_end = fds[1];
  return HOWDY_OK;
}

void howdy_wakeup_signal(howdy_wakeup_t *w) {
  uint8_t b = 1;
  /* A full pipe already means "wake up"; nothing else can go wrong that a
   * caller (possibly a signal handler) could act on. */
  ssize_t r = write(w->write_end, &b, 1);
  (void)r;
}

void howdy_wakeup_drain(howdy_wakeup_t *w) {
  uint8_t buf[64];
  while (read(w->read_end, buf, sizeof buf) > 0) {
  }
}

void howdy_wakeup_close(howdy_wakeup_t *w) {
  if (w->read_end >= 0) close(w->read_end);
  if (w->write_end >= 0 && w->write_end != w->read_end) close(w->write_end);
  w->read_end = w->write_end = HOWDY_SOCKET_INVALID;
}

/* ---- tasks ------------------------------------------------------------------ */

static uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0) return 0;
  return ts_ns(&ts);
}

/* Both CPU baselines start now: right after pthread_create the new thread
 * has used (almost) nothing, and an adopted thread's history before adoption
 * is not part of any window. Caller holds task_lock. */
_Static_assert(sizeof(clockid_t) == sizeof(int) && (clockid_t)-1 < 0,
               "struct howdy_task keeps the thread clock as an int");

static void task_clock_init(struct howdy_task *t) {
  struct timespec ts;
  clockid_t clk;
  t->has_clock = pthread_getcpuclockid(t->thread, &clk) == 0 && clock_gettime(clk, &ts) == 0;
  t->cpu_clock = (int)clk;
  t->cpu_ns_last = t->has_clock ? ts_ns(&ts) : 0;
  t->load_cpu_ns_last = t->cpu_ns_last;
  t->load_wall_ns_last = clock_ns(CLOCK_MONOTONIC);
}

static void *task_trampoline(void *arg) {
  struct howdy_task *t = arg;
  t->cfg.fn(t->cfg.arg);
  return NULL;
}

int howdy_task_start(howdy_platform_t *p, const howdy_task_config_t *cfg, howdy_task_t **out) {
  pthread_mutex_lock(&p->task_lock);
  struct howdy_task *t = NULL;
  for (size_t i = 0; i < HOWDY_MAX_TASKS; i++) {
    if (!p->tasks[i].used) {
      t = &p->tasks[i];
      break;
    }
  }
  if (!t) {
    pthread_mutex_unlock(&p->task_lock);
    return HOWDY_ERR_NO_SPACE;
  }
  memset(t, 0, sizeof *t);
  t->cfg = *cfg;
  t->core = cfg->core == HOWDY_CORE_ANY ? 0 : cfg->core;
  if (t->core < 0 || t->core >= HOWDY_MAX_CORES) t->core = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (cfg->stack_bytes >= PTHREAD_STACK_MIN) {
    pthread_attr_setstacksize(&attr, cfg->stack_bytes);
  }
  int rc = pthread_create(&t->thread, &attr, task_trampoline, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    pthread_mutex_unlock(&p->task_lock);
    return HOWDY_ERR;
  }
  t->used = true;
  task_clock_init(t);
  if (cfg->name) pthread_setname_np(t->thread, cfg->name);
  pthread_mutex_unlock(&p->task_lock);
  *out = t;
  return HOWDY_OK;
}

int howdy_task_adopt_self(howdy_platform_t *p, const char *name, howdy_task_t **out) {
  pthread_mutex_lock(&p->task_lock);
  struct howdy_task *t = NULL;
  for (size_t i = 0; i < HOWDY_MAX_TASKS && !t; i++) {
    if (!p->tasks[i].used) t = &p->tasks[i];
  }
  if (!t) {
    pthread_mutex_unlock(&p->task_lock);
    return HOWDY_ERR_NO_SPACE;
  }
  memset(t, 0, sizeof *t);
  t->cfg.name = name;
  t->cfg.core = 0;
  t->used = true;
  t->adopted = true;
  t->thread = pthread_self();
  /* howdy_cpu_load already counts threads it did not start for core 0; an
   * adopted one keeps counting there (the API loop's core on the device). */
  t->core = 0;
  task_clock_init(t);
  pthread_mutex_unlock(&p->task_lock);
  *out = t;
  return HOWDY_OK;
}

void howdy_task_join(howdy_platform_t *p, howdy_task_t *task) {
  if (!task->adopted) pthread_join(task->thread, NULL);
  pthread_mutex_lock(&p->task_lock);
  task->used = false;
  pthread_mutex_unlock(&p->task_lock);
}

/* ---- audio ---------------------------------------------------------------------
 * Microphone: a WAV file read in real time. Each read blocks until the frame
 * would be complete on a real microphone (absolute 10 ms deadlines, so no
 * drift), and its capture time is the time of its first sample. Speaker: a
 * sink; the simulator records what the output task produces itself (it knows
 * which frames belong to a reply), and the output task paces itself. */

static uint32_t le32(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint16_t le16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }

static bool read_at(int fd, uint64_t off, uint8_t *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += (size_t)n;
  }
  return true;
}

/* Finds the PCM data of a RIFF/WAVE file and checks it is 16 kHz s16 mono. */
static int wav_open_pcm(const char *path, int *fd_out, uint64_t *off, uint64_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot open %s: %s", path, strerror(errno));
    return HOWDY_ERR;
  }
  uint8_t h[12];
  if (!read_at(fd, 0, h, sizeof h) || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "%s is not a RIFF/WAVE file", path);
    close(fd);
    return HOWDY_ERR;
  }
  uint64_t pos = 12;
  bool fmt_ok = false;
  for (int guard = 0; guard < 64; guard++) {
    uint8_t ch[8];
    if (!read_at(fd, pos, ch, sizeof ch)) break;
    uint32_t size = le32(ch + 4);
    if (!memcmp(ch, "fmt ", 4)) {
      uint8_t f[16];
      if (size < 16 || !read_at(fd, pos + 8, f, sizeof f)) break;
      uint16_t format = le16(f), channels = le16(f + 2), bits = le16(f + 14);
      uint32_t rate = le32(f + 4);
      fmt_ok = (format == 1 || format == 0xFFFE) && channels == 1 && bits == 16 &&
               rate == HOWDY_POSIX_AUDIO_RATE;
      if (!fmt_ok) {
        howdy_log(HOWDY_LOG_ERROR, TAG,
                  "%s: %u Hz, %u channel(s), %u bit (format %u); need 16000 Hz mono 16-bit PCM",
                  path, (unsigned)rate, (unsigned)channels, (unsigned)bits, (unsigned)format);
        close(fd);
        return HOWDY_ERR;
      }
    } else if (!memcmp(ch, "data", 4)) {
      if (!fmt_ok) break;
      struct stat st;
      uint64_t avail = fstat(fd, &st) == 0 && (uint64_t)st.st_size > pos + 8
                           ? (uint64_t)st.st_size - (pos + 8) : 0;
      /* Streaming writers leave the size at 0 or 0xFFFFFFFF: take the file. */
      uint64_t n = (size == 0 || size == 0xFFFFFFFFu || size > avail) ? avail : size;
      *fd_out = fd;
      *off = pos + 8;
      *len = n & ~(uint64_t)1;
      return HOWDY_OK;
    }
    pos += 8 + (uint64_t)size + (size & 1u);
  }
  howdy_log(HOWDY_LOG_ERROR, TAG, "%s: no usable fmt/data chunk", path);
  close(fd);
  return HOWDY_ERR;
}

int howdy_audio_in_open(howdy_platform_t *p, const howdy_audio_format_t *fmt) {
  howdy_posix_mic_t *m = &p->mic;
  if (fmt->sample_rate != HOWDY_POSIX_AUDIO_RATE || fmt->channels != 1 || !fmt->frame_samples) {
    return HOWDY_ERR_UNSUPPORTED;
  }
  m->fd = -1;
  m->pos = 0;
  m->next_us = 0;
  m->frame_samples = fmt->frame_samples;
  m->ended_logged = false;
  if (m->path[0]) {
    int rc = wav_open_pcm(m->path, &m->fd, &m->data_off, &m->data_len);
    if (rc != HOWDY_OK) return rc;
    howdy_log(HOWDY_LOG_INFO, TAG, "microphone: %s (%.2f s%s)", m->path,
              (double)m->data_len / (2.0 * HOWDY_POSIX_AUDIO_RATE), m->loop ? ", looped" : "");
  } else {
    howdy_log(HOWDY_LOG_INFO, TAG, "microphone: silence (no --mic-wav)");
  }
  return HOWDY_OK;
}

/* One --mic-trace line per frame: a stack buffer and one write(2), no stdio
 * and no heap (the audio path must not allocate). */
static void mic_trace_line(howdy_posix_mic_t *m, long long wav_pos, uint64_t capture_us,
                           uint64_t read_us) {
  char line[80];
  int n = snprintf(line, sizeof line, "%lld %llu %llu\n", wav_pos,
                   (unsigned long long)capture_us, (unsigned long long)read_us);
  if (n <= 0 || (size_t)n >= sizeof line) return; /* cannot happen: 3 numbers fit */
  size_t done = 0;
  while (done < (size_t)n) {
    ssize_t w = write(m->trace_fd, line + done, (size_t)n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      howdy_log(HOWDY_LOG_WARN, TAG, "microphone trace: write failed (%s); tracing stopped",
                w < 0 ? strerror(errno) : "nothing written");
      close(m->trace_fd);
      m->trace_fd = -1;
      return;
    }
    done += (size_t)w;
  }
}

int howdy_audio_in_read(howdy_platform_t *p, int16_t *pcm, size_t samples, uint64_t *capture_us) {
  howdy_posix_mic_t *m = &p->mic;
  uint64_t dur = (uint64_t)samples * 1000000u / HOWDY_POSIX_AUDIO_RATE;
  uint64_t now = howdy_time_us();
  /* First frame, or the task was held up for long (a debugger, a suspended
   * process): restart the schedule instead of bursting to catch up. */
  if (m->next_us == 0 || now > m->next_us + 200000u) m->next_us = now + dur;
  howdy_sleep_until_us(m->next_us);
  *capture_us = m->next_us - dur;
  m->next_us += dur;

  /* Sample offset of the frame's first sample, for the trace. */
  long long wav_pos = -1;
  if (m->fd >= 0) {
    if (m->pos < m->data_len) {
      wav_pos = (long long)(m->pos / 2);
    } else if (m->loop && m->data_len) {
      wav_pos = 0;
    }
  }

  size_t got = 0;
  uint8_t buf[2 * 480];
  while (m->fd >= 0 && got < samples) {
    if (m->pos >= m->data_len) {
      if (!m->loop || m->data_len == 0) {
        if (!m->ended_logged) howdy_log(HOWDY_LOG_INFO, TAG, "microphone WAV ended: silence follows");
        m->ended_logged = true;
        break;
      }
      m->pos = 0;
    }
    size_t want = samples - got;
    if (want > sizeof buf / 2) want = sizeof buf / 2;
    if (want > (m->data_len - m->pos) / 2) want = (size_t)((m->data_len - m->pos) / 2);
    if (!read_at(m->fd, m->data_off + m->pos, buf, want * 2)) break;
    for (size_t i = 0; i < want; i++) pcm[got + i] = (int16_t)le16(buf + 2 * i);
    got += want;
    m->pos += want * 2;
  }
  for (; got < samples; got++) pcm[got] = 0;
  if (m->trace_fd >= 0) mic_trace_line(m, wav_pos, *capture_us, howdy_time_us());
  return (int)samples;
}

void howdy_audio_in_close(howdy_platform_t *p) {
  if (p->mic.fd >= 0) close(p->mic.fd);
  p->mic.fd = -1;
}

int howdy_audio_out_open(howdy_platform_t *p, const howdy_audio_format_t *fmt) {
  (void)p;
  if (fmt->sample_rate != HOWDY_POSIX_AUDIO_RATE || fmt->channels != 1) return HOWDY_ERR_UNSUPPORTED;
  return HOWDY_OK;
}

int howdy_audio_out_write(howdy_platform_t *p, const int16_t *pcm, size_t samples) {
  (void)p;
  (void)pcm;
  return (int)samples; /* no sound card: the simulator records frames itself */
}

void howdy_audio_out_close(howdy_platform_t *p) { (void)p; }

/* ---- key storage: a small JSON file {"name": ..., "key": "<base64>"} ------- */

static int read_small_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? HOWDY_ERR_NOT_FOUND : HOWDY_ERR;
  }
  size_t off = 0;
  for (;;) {
    if (off + 1 >= cap) break;
    ssize_t n = read(fd, buf + off, cap - 1 - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  close(fd);
  buf[off] = '\0';
  return (int)off;
}

int howdy_key_load(howdy_platform_t *p, uint8_t key[HOWDY_KEY_LEN]) {
  if (!p->state_file[0]) {
    return HOWDY_ERR_NOT_FOUND;
  }
  char buf[2048];
  int n = read_small_file(p->state_file, buf, sizeof buf);
  if (n < 0) {
    return n;
  }
  /* The file is ours and tiny: find "key", then the next quoted string. */
  const char *k = strstr(buf, "\"key\"");
  if (!k) {
    return HOWDY_ERR_NOT_FOUND;
  }
  const char *q1 = strchr(k + 5, '"');
  const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
  if (!q2) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "%s: malformed key entry", p->state_file);
    return HOWDY_ERR;
  }
  uint8_t tmp[HOWDY_KEY_LEN + 3];
  int len = howdy_base64_decode(q1 + 1, (size_t)(q2 - q1 - 1), tmp, sizeof tmp);
  if (len != (int)HOWDY_KEY_LEN) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "%s: the key is not 32 bytes of base64", p->state_file);
    return HOWDY_ERR;
  }
  memcpy(key, tmp, HOWDY_KEY_LEN);
  return HOWDY_OK;
}

static int mkdir_parents(const char *path) {
  char tmp[HOWDY_POSIX_STATE_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *s = tmp + 1; *s; s++) {
    if (*s == '/') {
      *s = '\0';
      if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return HOWDY_ERR;
      *s = '/';
    }
  }
  return HOWDY_OK;
}

int howdy_key_save(howdy_platform_t *p, const uint8_t key[HOWDY_KEY_LEN]) {
  if (!p->state_file[0]) {
    return HOWDY_ERR_UNSUPPORTED;
  }
  if (mkdir_parents(p->state_file) != HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot create the folder of %s: %s", p->state_file,
              strerror(errno));
    return HOWDY_ERR;
  }
  char b64[HOWDY_BASE64_LEN(HOWDY_KEY_LEN) + 1];
  howdy_base64_encode(key, HOWDY_KEY_LEN, b64, sizeof b64);
  /* The name is a host-name-like label; drop anything JSON would need to
   * escape rather than writing an escaper for a comment field. */
  char name[sizeof p->device_name];
  size_t j = 0;
  for (size_t i = 0; p->device_name[i] && j + 1 < sizeof name; i++) {
    unsigned char c = (unsigned char)p->device_name[i];
    if (c >= 0x20 && c != '"' && c != '\\') name[j++] = (char)c;
  }
  name[j] = '\0';
  char tmp_path[HOWDY_POSIX_STATE_PATH_MAX + 8];
  snprintf(tmp_path, sizeof tmp_path, "%s.tmp", p->state_file);
  /* 0600: the file holds the device's secret. Written then renamed so a
   * crash never leaves half a key behind. */
  int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot write %s: %s", tmp_path, strerror(errno));
    return HOWDY_ERR;
  }
  char text[256];
  int n = snprintf(text, sizeof text, "{\n  \"name\": \"%s\",\n  \"key\": \"%s\"\n}\n", name, b64);
  bool ok = n > 0 && (size_t)n < sizeof text && write(fd, text, (size_t)n) == n &&
            fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp_path, p->state_file) != 0) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot save %s: %s", p->state_file, strerror(errno));
    unlink(tmp_path);
    return HOWDY_ERR;
  }
  return HOWDY_OK;
}

int howdy_posix_default_state_file(const char *name, char *out, size_t out_len) {
  const char *xdg = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  int n;
  if (xdg && xdg[0] == '/') {
    n = snprintf(out, out_len, "%s/howdyscreen-sim/%s.json", xdg, name);
  } else if (home && home[0] == '/') {
    n = snprintf(out, out_len, "%s/.local/state/howdyscreen-sim/%s.json", home, name);
  } else {
    n = snprintf(out, out_len, "%s.json", name);
  }
  return (n > 0 && (size_t)n < out_len) ? HOWDY_OK : HOWDY_ERR_NO_SPACE;
}

/* ---- mDNS ------------------------------------------------------------------- */

int howdy_mdns_announce(howdy_platform_t *p, const howdy_mdns_service_t *svc) {
  if (!p->mdns.start) {
    return HOWDY_ERR_UNSUPPORTED;
  }
  if (p->mdns_handle) {
    howdy_mdns_stop(p);
  }
  return p->mdns.start(&p->mdns_handle, svc);
}

void howdy_mdns_stop(howdy_platform_t *p) {
  if (p->mdns_handle && p->mdns.stop) {
    p->mdns.stop(p->mdns_handle);
  }
  p->mdns_handle = NULL;
}

/* ---- measurements ----------------------------------------------------------- */

int howdy_mem_stats(howdy_platform_t *p, howdy_mem_stats_t *out) {
  /* mallinfo2().fordblks: bytes in free chunks that malloc holds and can
   * hand out without asking the kernel -- the host counterpart of the
   * device's free heap. glibc keeps no low-water mark, so heap_min_free is
   * the lowest value this function has seen. The host has no PSRAM. */
  struct mallinfo2 mi = mallinfo2();
  memset(out, 0, sizeof *out);
  if (mi.arena == 0 && mi.hblkhd == 0) {
    /* Another allocator has replaced glibc's (AddressSanitizer does): its
     * numbers are not malloc's, so report "unknown" rather than 0. */
    return HOWDY_OK;
  }
  uint64_t free_now = (uint64_t)mi.fordblks;
  pthread_mutex_lock(&p->task_lock);
  if (free_now < p->heap_min_free) p->heap_min_free = free_now;
  uint64_t min_free = p->heap_min_free;
  pthread_mutex_unlock(&p->task_lock);
  out->has_heap = true;
  out->heap_free = free_now;
  out->heap_min_free = min_free;
  out->has_psram = false;
  return HOWDY_OK;
}

int howdy_cpu_load(howdy_platform_t *p, float *pct, size_t max) {
  /* The simulator mirrors the device's two cores by task pinning: each
   * task's thread CPU time counts for the core it was pinned to; the main
   * thread (API loop) and every thread the platform did not start (e.g. the
   * mDNS responder) count for core 0. Busy% = CPU time / wall time of the
   * interval, so a core that is busy all the time shows 100. */
  pthread_mutex_lock(&p->task_lock);
  uint64_t wall = clock_ns(CLOCK_MONOTONIC);
  uint64_t proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  uint64_t core_ns[HOWDY_MAX_CORES] = {0};
  uint64_t tasks_ns = 0;
  for (size_t i = 0; i < HOWDY_MAX_TASKS; i++) {
    struct howdy_task *t = &p->tasks[i];
    if (!t->used || !t->has_clock) continue;
    /* A thread that ended but is not joined yet has no clock any more (0):
     * skipped, and the process total carries its time to core 0. */
    uint64_t now = clock_ns((clockid_t)t->cpu_clock);
    if (now == 0) continue;
    uint64_t d = now >= t->cpu_ns_last ? now - t->cpu_ns_last : 0;
    t->cpu_ns_last = now;
    core_ns[t->core] += d;
    tasks_ns += d;
  }
  uint64_t proc_d = proc >= p->process_cpu_ns_last ? proc - p->process_cpu_ns_last : 0;
  /* Everything not accounted to a pinned task (main thread, helper threads,
   * tasks that already ended) goes to core 0. */
  core_ns[0] += proc_d > tasks_ns ? proc_d - tasks_ns : 0;
  uint64_t wall_d = wall - p->wall_ns_last;
  p->wall_ns_last = wall;
  p->process_cpu_ns_last = proc;
  pthread_mutex_unlock(&p->task_lock);
  for (size_t c = 0; c < HOWDY_MAX_CORES && c < max; c++) {
    float v = wall_d ? (float)((double)core_ns[c] * 100.0 / (double)wall_d) : 0.0f;
    pct[c] = v > 100.0f ? 100.0f : v;
  }
  return HOWDY_MAX_CORES;
}

int howdy_task_cpu_load(howdy_platform_t *p, howdy_task_t *task, float *pct) {
  /* The thread's own CPU-time clock (CLOCK_THREAD_CPUTIME_ID of that thread,
   * what the scheduler charged it in user and kernel mode) over the
   * monotonic time between two calls. task_lock: join frees the slot under
   * it, and howdy_task_start may reuse it. */
  struct timespec ts;
  pthread_mutex_lock(&p->task_lock);
  if (task == NULL || !task->used || !task->has_clock ||
      clock_gettime((clockid_t)task->cpu_clock, &ts) != 0) {
    pthread_mutex_unlock(&p->task_lock);
    return HOWDY_ERR_INVALID;
  }
  uint64_t cpu = ts_ns(&ts);
  uint64_t wall = clock_ns(CLOCK_MONOTONIC);
  uint64_t cpu_d = cpu >= task->load_cpu_ns_last ? cpu - task->load_cpu_ns_last : 0;
  uint64_t wall_d = wall - task->load_wall_ns_last;
  task->load_cpu_ns_last = cpu;
  task->load_wall_ns_last = wall;
  pthread_mutex_unlock(&p->task_lock);
  float v = wall_d ? (float)((double)cpu_d * 100.0 / (double)wall_d) : 0.0f;
  /* Clock granularity can put a fully busy thread a hair above its window. */
  *pct = v > 100.0f ? 100.0f : v;
  return HOWDY_OK;
}

/* ---- init ----------------------------------------------------------------------- */

int howdy_posix_platform_init(howdy_platform_t *p, const howdy_posix_config_t *cfg) {
  memset(p, 0, sizeof *p);
  if (cfg->state_file) {
    if (strlen(cfg->state_file) >= sizeof p->state_file) {
      return HOWDY_ERR_INVALID;
    }
    snprintf(p->state_file, sizeof p->state_file, "%s", cfg->state_file);
  }
  if (cfg->device_name) {
    snprintf(p->device_name, sizeof p->device_name, "%s", cfg->device_name);
  }
  p->mdns = cfg->mdns;
  p->mic.fd = -1;
  if (cfg->mic_wav) {
    if (strlen(cfg->mic_wav) >= sizeof p->mic.path) return HOWDY_ERR_INVALID;
    snprintf(p->mic.path, sizeof p->mic.path, "%s", cfg->mic_wav);
  }
  p->mic.loop = cfg->mic_loop;
  p->mic.trace_fd = -1;
  if (cfg->mic_trace) {
    p->mic.trace_fd = open(cfg->mic_trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (p->mic.trace_fd < 0) {
      howdy_log(HOWDY_LOG_ERROR, TAG, "cannot create %s: %s", cfg->mic_trace, strerror(errno));
      return HOWDY_ERR;
    }
    howdy_log(HOWDY_LOG_INFO, TAG, "microphone trace: %s", cfg->mic_trace);
  }
  pthread_mutex_init(&p->task_lock, NULL);
  p->main_thread = pthread_self();
  p->wall_ns_last = clock_ns(CLOCK_MONOTONIC);
  p->process_cpu_ns_last = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  p->heap_min_free = UINT64_MAX;
  return HOWDY_OK;
}

void howdy_posix_platform_deinit(howdy_platform_t *p) {
  howdy_mdns_stop(p);
  if (p->mic.trace_fd >= 0) close(p->mic.trace_fd);
  p->mic.trace_fd = -1;
  pthread_mutex_destroy(&p->task_lock);
}
