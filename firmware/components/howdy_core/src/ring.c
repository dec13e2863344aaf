/* SPSC byte ring (see howdy/ring.h). */
#include "howdy/ring.h"

#include <string.h>

#include "howdy/platform.h"

int howdy_ring_init(howdy_ring_t *r, void *storage, size_t capacity) {
  if (!r || !storage || capacity == 0 || (capacity & (capacity - 1)) != 0) {
    return HOWDY_ERR_INVALID;
  }
  r->buf = storage;
  r->capacity = capacity;
  r->mask = capacity - 1;
  atomic_init(&r->write_pos, 0);
  atomic_init(&r->read_pos, 0);
  return HOWDY_OK;
}

size_t howdy_ring_capacity(const howdy_ring_t *r) { return r->capacity; }

size_t howdy_ring_available(const howdy_ring_t *r) {
  /* Our own position needs no ordering; the other side's needs acquire so
   * the bytes it covers are visible before we touch them. */
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_acquire);
  size_t rd = atomic_load_explicit(&r->read_pos, memory_order_relaxed);
  return w - rd;
}

size_t howdy_ring_free(const howdy_ring_t *r) {
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_relaxed);
  size_t rd = atomic_load_explicit(&r->read_pos, memory_order_acquire);
  return r->capacity - (w - rd);
}

/* Copies n bytes between the ring at logical position pos and a flat
 * buffer, in at most two pieces (before and after the physical end). */
static void copy_out(const howdy_ring_t *r, size_t pos, uint8_t *dst, size_t n) {
  size_t at = pos & r->mask;
  size_t first = r->capacity - at;
  if (first > n) first = n;
  memcpy(dst, r->buf + at, first);
  if (n > first) memcpy(dst + first, r->buf, n - first);
}

size_t howdy_ring_write(howdy_ring_t *r, const void *src, size_t len) {
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_relaxed);
  size_t rd = atomic_load_explicit(&r->read_pos, memory_order_acquire);
  size_t room = r->capacity - (w - rd);
  size_t n = len < room ? len : room;
  if (n == 0) return 0;
  size_t at = w & r->mask;
  size_t first = r->capacity - at;
  if (first > n) first = n;
  const uint8_t *s = src;
  memcpy(r->buf + at, s, first);
  if (n > first) memcpy(r->buf, s + first, n - first);
  atomic_store_explicit(&r->write_pos, w + n, memory_order_release);
  return n;
}

size_t howdy_ring_peek(const howdy_ring_t *r, void *dst, size_t len) {
  size_t rd = atomic_load_explicit(&r->read_pos, memory_order_relaxed);
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_acquire);
  size_t n = w - rd;
  if (n > len) n = len;
  if (n) copy_out(r, rd, dst, n);
  return n;
}

size_t howdy_ring_read(howdy_ring_t *r, void *dst, size_t len) {
  size_t n = howdy_ring_peek(r, dst, len);
  if (n) howdy_ring_skip(r, n);
  return n;
}

size_t howdy_ring_skip(howdy_ring_t *r, size_t len) {
  size_t rd = atomic_load_explicit(&r->read_pos, memory_order_relaxed);
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_acquire);
  size_t n = w - rd;
  if (n > len) n = len;
  /* Release: our reads of the freed bytes happen before the producer may
   * overwrite them. */
  atomic_store_explicit(&r->read_pos, rd + n, memory_order_release);
  return n;
}

void howdy_ring_clear(howdy_ring_t *r) {
  size_t w = atomic_load_explicit(&r->write_pos, memory_order_acquire);
  atomic_store_explicit(&r->read_pos, w, memory_order_release);
}
