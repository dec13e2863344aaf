/*
 * Single-producer / single-consumer byte ring over caller storage.
 *
 * One task (or ISR) writes, one other task reads; no lock is taken. The two
 * positions are free-running counters (they are never reduced modulo the
 * capacity), so "full" (write - read == capacity) and "empty" (write == read)
 * are told apart without wasting a byte, and the whole capacity is usable.
 * The capacity must be a power of two so that the counters may wrap around
 * the size_t range without breaking the difference.
 *
 * Ordering: the producer publishes its position with release after copying
 * the bytes, the consumer loads it with acquire before copying them out (and
 * the other way round for the free space), so a reader never sees a position
 * that runs ahead of the data.
 *
 * Who may call what:
 *   producer only: howdy_ring_write, howdy_ring_free
 *   consumer only: howdy_ring_read, howdy_ring_peek, howdy_ring_skip,
 *                  howdy_ring_available, howdy_ring_clear
 *   either, when both sides are known to be idle: howdy_ring_init
 * The free/available values seen by the other side are a lower bound: they
 * can only grow until that side acts.
 */
#ifndef HOWDY_RING_H
#define HOWDY_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t *buf;
  size_t capacity; /* power of two */
  size_t mask;     /* capacity - 1 */
  atomic_size_t write_pos; /* advanced by the producer only */
  atomic_size_t read_pos;  /* advanced by the consumer only */
} howdy_ring_t;

/* HOWDY_OK, or HOWDY_ERR_INVALID when capacity is 0 or not a power of two or
 * storage is NULL. The ring starts empty. */
int howdy_ring_init(howdy_ring_t *r, void *storage, size_t capacity);

size_t howdy_ring_capacity(const howdy_ring_t *r);
/* Bytes the consumer can read now. */
size_t howdy_ring_available(const howdy_ring_t *r);
/* Bytes the producer can write now. */
size_t howdy_ring_free(const howdy_ring_t *r);

/* Copies min(len, free) bytes in; returns how many. */
size_t howdy_ring_write(howdy_ring_t *r, const void *src, size_t len);
/* Copies min(len, available) bytes out and consumes them; returns how many. */
size_t howdy_ring_read(howdy_ring_t *r, void *dst, size_t len);
/* Like read, without consuming. */
size_t howdy_ring_peek(const howdy_ring_t *r, void *dst, size_t len);
/* Consumes min(len, available) bytes without copying; returns how many. */
size_t howdy_ring_skip(howdy_ring_t *r, size_t len);
/* Consumes everything that is there now (consumer side, so it is safe while
 * the producer keeps writing). */
void howdy_ring_clear(howdy_ring_t *r);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_RING_H */
