/* Entity registry (see howdy/entities.h). */
#include "howdy/entities.h"

#include <math.h>
#include <string.h>

uint32_t howdy_entity_key(const char *object_id) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)object_id; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  /* 0 is the registry's "no entity" answer; never hand it out as a key. */
  return h ? h : 1u;
}

void howdy_entities_init(howdy_entities_t *r, uint32_t sample_ms, uint32_t periodic_ms) {
  memset(r, 0, sizeof *r);
  r->sample_ms = sample_ms ? sample_ms : 1000u;
  r->periodic_ms = periodic_ms ? periodic_ms : 15000u;
}

static howdy_entity_t *add(howdy_entities_t *r, howdy_entity_kind_t kind,
                           const howdy_entity_common_t *c, void *ctx) {
  if (r->count >= HOWDY_MAX_ENTITIES || !c->object_id || !c->object_id[0]) {
    return NULL;
  }
  uint32_t key = howdy_entity_key(c->object_id);
  if (howdy_entities_find(r, key)) {
    return NULL;
  }
  howdy_entity_t *e = &r->items[r->count++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->key = key;
  e->d.common = c;
  e->ctx = ctx;
  return e;
}

uint32_t howdy_entities_add_sensor(howdy_entities_t *r, const howdy_sensor_desc_t *desc,
                                   void *ctx) {
  howdy_entity_t *e = add(r, HOWDY_ENTITY_SENSOR, &desc->c, ctx);
  return e ? e->key : 0;
}

uint32_t howdy_entities_add_switch(howdy_entities_t *r, const howdy_switch_desc_t *desc,
                                   void *ctx) {
  howdy_entity_t *e = add(r, HOWDY_ENTITY_SWITCH, &desc->c, ctx);
  if (!e) return 0;
  e->has_value = true;
  e->value = desc->initial ? 1.0f : 0.0f;
  return e->key;
}

uint32_t howdy_entities_add_number(howdy_entities_t *r, const howdy_number_desc_t *desc,
                                   void *ctx) {
  howdy_entity_t *e = add(r, HOWDY_ENTITY_NUMBER, &desc->c, ctx);
  if (!e) return 0;
  e->has_value = true;
  e->value = desc->initial;
  return e->key;
}

howdy_entity_t *howdy_entities_find(howdy_entities_t *r, uint32_t key) {
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].key == key) return &r->items[i];
  }
  return NULL;
}

howdy_entity_t *howdy_entities_find_id(howdy_entities_t *r, const char *object_id) {
  return howdy_entities_find(r, howdy_entity_key(object_id));
}

/* Reads one sensor and decides whether subscribers must hear about it. */
static void sample_sensor(howdy_entity_t *e) {
  const howdy_sensor_desc_t *d = e->d.sensor;
  if (!d->read) {
    return; /* push-only sensor */
  }
  float v = 0.0f;
  bool ok = d->read(e->ctx, &v) && isfinite(v);
  e->has_value = ok;
  if (ok) e->value = v;
  if (!e->has_published || e->published_has_value != ok) {
    e->dirty = true;
    return;
  }
  if (ok && d->deadband >= 0.0f) {
    float moved = fabsf(v - e->published);
    if ((d->deadband == 0.0f && moved > 0.0f) || (d->deadband > 0.0f && moved >= d->deadband)) {
      e->dirty = true;
    }
  }
}

void howdy_entities_sample_all(howdy_entities_t *r) {
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].kind == HOWDY_ENTITY_SENSOR) sample_sensor(&r->items[i]);
  }
}

bool howdy_entities_tick(howdy_entities_t *r, uint64_t now_us) {
  if (now_us >= r->next_sample_us) {
    howdy_entities_sample_all(r);
    r->next_sample_us = now_us + (uint64_t)r->sample_ms * 1000u;
  }
  if (now_us >= r->next_periodic_us) {
    /* The first call only arms the timer: a fresh subscriber gets its
     * snapshot from SubscribeStates, not from here. */
    if (r->next_periodic_us != 0) {
      for (size_t i = 0; i < r->count; i++) r->items[i].dirty = true;
    }
    r->next_periodic_us = now_us + (uint64_t)r->periodic_ms * 1000u;
  }
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].dirty) return true;
  }
  return false;
}

uint64_t howdy_entities_next_due_us(const howdy_entities_t *r, uint64_t now_us) {
  uint64_t next = r->next_sample_us < r->next_periodic_us ? r->next_sample_us : r->next_periodic_us;
  return next > now_us ? next - now_us : 0;
}

int howdy_entities_sensor_push(howdy_entities_t *r, uint32_t key, float value) {
  howdy_entity_t *e = howdy_entities_find(r, key);
  if (!e || e->kind != HOWDY_ENTITY_SENSOR) return HOWDY_CMD_NOT_FOUND;
  e->has_value = isfinite(value);
  e->value = value;
  e->dirty = true;
  return HOWDY_CMD_OK;
}

howdy_cmd_status_t howdy_entities_switch_command(howdy_entities_t *r, uint32_t key, bool state) {
  howdy_entity_t *e = howdy_entities_find(r, key);
  if (!e) return HOWDY_CMD_NOT_FOUND;
  if (e->kind != HOWDY_ENTITY_SWITCH) return HOWDY_CMD_WRONG_KIND;
  e->value = state ? 1.0f : 0.0f;
  e->has_value = true;
  /* Always echo the state, changed or not: the client shows a pending toggle
   * until it hears back. */
  e->dirty = true;
  if (e->d.sw->on_change) e->d.sw->on_change(e->ctx, state);
  return HOWDY_CMD_OK;
}

howdy_cmd_status_t howdy_entities_number_command(howdy_entities_t *r, uint32_t key, float value) {
  howdy_entity_t *e = howdy_entities_find(r, key);
  if (!e) return HOWDY_CMD_NOT_FOUND;
  if (e->kind != HOWDY_ENTITY_NUMBER) return HOWDY_CMD_WRONG_KIND;
  if (!isfinite(value)) return HOWDY_CMD_INVALID;
  const howdy_number_desc_t *d = e->d.number;
  if (value < d->min_value) value = d->min_value;
  if (value > d->max_value) value = d->max_value;
  if (d->step > 0.0f) {
    /* Steps from min are >= 0 after clamping; round half up without libm. */
    float steps = (value - d->min_value) / d->step;
    if (steps < 4.0e9f) {
      value = d->min_value + (float)(uint32_t)(steps + 0.5f) * d->step;
    }
    if (value > d->max_value) value = d->max_value;
  }
  e->value = value;
  e->has_value = true;
  e->dirty = true;
  if (d->on_change) d->on_change(e->ctx, value);
  return HOWDY_CMD_OK;
}

bool howdy_entities_switch_state(const howdy_entities_t *r, uint32_t key) {
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].key == key) return r->items[i].value != 0.0f;
  }
  return false;
}

float howdy_entities_number_value(const howdy_entities_t *r, uint32_t key) {
  for (size_t i = 0; i < r->count; i++) {
    if (r->items[i].key == key) return r->items[i].value;
  }
  return NAN;
}

void howdy_entities_clear_dirty(howdy_entities_t *r) {
  for (size_t i = 0; i < r->count; i++) {
    howdy_entity_t *e = &r->items[i];
    if (e->dirty) {
      e->dirty = false;
      e->has_published = true;
      e->published_has_value = e->has_value;
      e->published = e->value;
    }
  }
}
