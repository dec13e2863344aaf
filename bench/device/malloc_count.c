/*
 * LD_PRELOAD shim that counts heap calls of a process (the simulator), for
 * bench/device_cost.py.
 *
 * malloc, calloc, realloc, free (non-NULL), posix_memalign, aligned_alloc and
 * memalign are counted and forwarded to glibc's own __libc_* entry points (no
 * dlsym, which itself allocates). On SIGUSR1 the shim appends one line
 *
 *   heap_calls=N malloc=N calloc=N realloc=N free=N memalign=N
 *
 * to the file named by $HOWDY_MALLOC_COUNT_FILE, with async-signal-safe calls
 * only (open/write/close), so the benchmark can take a snapshot after start-up
 * and another after the voice turns and subtract.
 *
 * Benchmark only: never linked into the firmware or the simulator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static atomic_ulong n_malloc, n_calloc, n_realloc, n_free, n_memalign;

void *malloc(size_t n) {
  atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed);
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t m) {
  atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
  return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n) {
  atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed);
  return __libc_realloc(p, n);
}

void free(void *p) {
  if (p) atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
  __libc_free(p);
}

void *memalign(size_t align, size_t n) {
  atomic_fetch_add_explicit(&n_memalign, 1, memory_order_relaxed);
  return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n) {
  atomic_fetch_add_explicit(&n_memalign, 1, memory_order_relaxed);
  return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
  atomic_fetch_add_explicit(&n_memalign, 1, memory_order_relaxed);
  void *p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

/* Decimal into buf (no stdio: async-signal-safe); returns the length. */
static size_t put_ulong(char *buf, unsigned long v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

static size_t put_field(char *buf, const char *name, unsigned long v) {
  size_t len = strlen(name);
  memcpy(buf, name, len);
  return len + put_ulong(buf + len, v);
}

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  const char *path = getenv("HOWDY_MALLOC_COUNT_FILE");
  if (path) {
    unsigned long m = atomic_load(&n_malloc), c = atomic_load(&n_calloc),
                  r = atomic_load(&n_realloc), f = atomic_load(&n_free),
                  a = atomic_load(&n_memalign);
    char line[256];
    size_t n = 0;
    n += put_field(line + n, "heap_calls=", m + c + r + f + a);
    n += put_field(line + n, " malloc=", m);
    n += put_field(line + n, " calloc=", c);
    n += put_field(line + n, " realloc=", r);
    n += put_field(line + n, " free=", f);
    n += put_field(line + n, " memalign=", a);
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ssize_t w = write(fd, line, n);
      (void)w;
      close(fd);
    }
  }
  errno = saved;
}

__attribute__((constructor)) static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
}
