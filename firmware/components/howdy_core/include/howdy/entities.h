/*
 * Table-driven entity registry: what the device lists in ListEntities and
 * whose states it pushes.
 *
 * Descriptions (howdy_sensor_desc_t & co.) are static const tables owned by
 * whoever registers them; the registry stores a pointer plus the runtime
 * state. Sensors are pulled through a reader hook (function + ctx), so the
 * metrics of the audio path plug in by registering a row, nothing else.
 *
 * Publishing: howdy_entities_tick() reads every sensor each sample period and
 * marks it dirty when it moved by at least its deadband, and marks every
 * entity dirty once per periodic interval. The API server sends the states
 * of dirty entities to every subscribed client and clears the flags.
 * Commands and howdy_entities_sensor_push() mark dirty at once.
 *
 * All calls run in the API server task; a metric written by another task
 * must be read through its own atomic (the reader hook's business).
 */
#ifndef HOWDY_ENTITIES_H
#define HOWDY_ENTITIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HOWDY_MAX_ENTITIES
#define HOWDY_MAX_ENTITIES 32
#endif

/* Same numbering as the API enums (EntityCategory, SensorStateClass,
 * NumberMode), so values go on the wire unchanged. */
typedef enum {
  HOWDY_CATEGORY_NONE = 0,
  HOWDY_CATEGORY_CONFIG = 1,
  HOWDY_CATEGORY_DIAGNOSTIC = 2,
} howdy_entity_category_t;

typedef enum {
  HOWDY_STATE_CLASS_NONE = 0,
  HOWDY_STATE_CLASS_MEASUREMENT = 1,
  HOWDY_STATE_CLASS_TOTAL_INCREASING = 2,
  HOWDY_STATE_CLASS_TOTAL = 3,
} howdy_state_class_t;

typedef enum {
  HOWDY_NUMBER_MODE_AUTO = 0,
  HOWDY_NUMBER_MODE_BOX = 1,
  HOWDY_NUMBER_MODE_SLIDER = 2,
} howdy_number_mode_t;

typedef enum {
  HOWDY_ENTITY_SENSOR,
  HOWDY_ENTITY_SWITCH,
  HOWDY_ENTITY_NUMBER,
} howdy_entity_kind_t;

/* Fields every entity shares. object_id is the stable identifier; the key on
 * the wire is derived from it (howdy_entity_key). */
typedef struct {
  const char *object_id;
  const char *name;
  const char *icon;         /* "mdi:..." or NULL */
  const char *device_class; /* Home Assistant device class or NULL */
  howdy_entity_category_t category;
  bool disabled_by_default;
} howdy_entity_common_t;

/* Returns false when there is no value right now (sent as missing_state). */
typedef bool (*howdy_sensor_read_fn)(void *ctx, float *value);

typedef struct {
  howdy_entity_common_t c;
  const char *unit; /* unit_of_measurement or NULL */
  howdy_state_class_t state_class;
  int8_t accuracy_decimals;
  /* Push at once when the value moved by at least this much since the last
   * push. 0 = on every change; < 0 = never on change, only periodically
   * (uptime, which changes all the time). */
  float deadband;
  howdy_sensor_read_fn read; /* NULL: value only via howdy_entities_sensor_push */
} howdy_sensor_desc_t;

typedef struct {
  howdy_entity_common_t c;
  bool initial;
  /* Called after a command changed the state (e.g. the audio path mutes). */
  void (*on_change)(void *ctx, bool state);
} howdy_switch_desc_t;

typedef struct {
  howdy_entity_common_t c;
  const char *unit;
  float min_value, max_value, step;
  howdy_number_mode_t mode;
  float initial;
  void (*on_change)(void *ctx, float value);
} howdy_number_desc_t;

typedef struct {
  howdy_entity_kind_t kind;
  uint32_t key;
  union {
    const howdy_entity_common_t *common; /* first member of every desc */
    const howdy_sensor_desc_t *sensor;
    const howdy_switch_desc_t *sw;
    const howdy_number_desc_t *number;
  } d;
  void *ctx; /* reader / on_change context */

  /* runtime state */
  bool has_value;      /* false: missing_state */
  float value;         /* sensor or number value; switch: 0/1 */
  bool has_published;
  bool published_has_value;
  float published;     /* what subscribers saw last (for the deadband) */
  bool dirty;
} howdy_entity_t;

typedef struct {
  howdy_entity_t items[HOWDY_MAX_ENTITIES];
  size_t count;
  uint32_t sample_ms;
  uint32_t periodic_ms;
  uint64_t next_sample_us;
  uint64_t next_periodic_us;
} howdy_entities_t;

/* FNV-1a (32 bit) of object_id: stable across builds, firmware versions and
 * registration order, which is what Home Assistant keys its entities on. */
uint32_t howdy_entity_key(const char *object_id);

void howdy_entities_init(howdy_entities_t *r, uint32_t sample_ms, uint32_t periodic_ms);

/* Each returns the entity's key, or 0 if the table is full or the object_id
 * (hence the key) is already taken. desc must outlive the registry. */
uint32_t howdy_entities_add_sensor(howdy_entities_t *r, const howdy_sensor_desc_t *desc,
                                   void *ctx);
uint32_t howdy_entities_add_switch(howdy_entities_t *r, const howdy_switch_desc_t *desc,
                                   void *ctx);
uint32_t howdy_entities_add_number(howdy_entities_t *r, const howdy_number_desc_t *desc,
                                   void *ctx);

howdy_entity_t *howdy_entities_find(howdy_entities_t *r, uint32_t key);
howdy_entity_t *howdy_entities_find_id(howdy_entities_t *r, const char *object_id);

/* Samples sensors and runs the periodic timer. Returns true if something is
 * dirty. Cheap when nothing is due. */
bool howdy_entities_tick(howdy_entities_t *r, uint64_t now_us);
/* Microseconds until tick has work (0 = now), for the poll timeout. */
uint64_t howdy_entities_next_due_us(const howdy_entities_t *r, uint64_t now_us);

/* Reads every sensor now (for a fresh snapshot on SubscribeStates). */
void howdy_entities_sample_all(howdy_entities_t *r);

/* An event-driven metric (e.g. an underrun) publishes at once. */
int howdy_entities_sensor_push(howdy_entities_t *r, uint32_t key, float value);

typedef enum {
  HOWDY_CMD_OK = 0,
  HOWDY_CMD_NOT_FOUND = -1, /* no entity with that key */
  HOWDY_CMD_WRONG_KIND = -2,
  HOWDY_CMD_INVALID = -3,   /* NaN / infinite number */
} howdy_cmd_status_t;

howdy_cmd_status_t howdy_entities_switch_command(howdy_entities_t *r, uint32_t key, bool state);
/* Clamps to [min, max] and rounds to the step before applying. */
howdy_cmd_status_t howdy_entities_number_command(howdy_entities_t *r, uint32_t key, float value);

bool howdy_entities_switch_state(const howdy_entities_t *r, uint32_t key);
float howdy_entities_number_value(const howdy_entities_t *r, uint32_t key);

void howdy_entities_clear_dirty(howdy_entities_t *r);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_ENTITIES_H */
