/*
 * The voice session: one state machine that turns a wake into a pipeline run
 * in Home Assistant, streams the microphone to it, plays the reply and
 * reports the end of playback. It also keeps the timer table, plays
 * announcements and holds the wake word configuration.
 *
 * It runs in the API server task: the server hands it every voice message
 * (howdy_voice_on_message, through howdy_api_voice_hooks_t) and every
 * disconnect, and the application calls howdy_voice_poll after each
 * howdy_api_server_poll round. The microphone and output tasks never call it;
 * they only raise the server's wakeup, so the poll runs when a packet is
 * ready or a stream finished. Other tasks (a touch handler, a wake word
 * engine, the simulator's stdin reader) ask for a wake with
 * howdy_voice_request_wake, which only stores an atomic.
 *
 * States (docs/protocol.md, "Voice session"):
 *
 *   IDLE       nothing runs; the microphone fills its pre-roll
 *   STARTING   VoiceAssistantRequest(start) sent, waiting for
 *              VoiceAssistantResponse
 *   STREAMING  microphone audio goes out as VoiceAssistantAudio (the
 *              pre-roll first); HA's wake word or STT stage listens
 *   THINKING   the microphone stopped (VAD/STT end); waiting for the reply
 *   REPLYING   a speaker stream is open (TTS_STREAM_START or an
 *              announcement): audio chunks go into the pool; ends with
 *              AnnounceFinished once the last sample has been played
 *
 * Only the connection that subscribed to the voice assistant drives the
 * session; a newer subscription takes over (the old run is reset). Its
 * disconnect (or unsubscribe) resets everything that belongs to it: the run,
 * the speaker stream, the microphone stream, its timers, the conversation id.
 *
 * Nothing here allocates: the timer table and all strings are fixed arrays.
 */
#ifndef HOWDY_VOICE_SESSION_H
#define HOWDY_VOICE_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "howdy/api_server.h"
#include "howdy/audio_path.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HOWDY_VOICE_MAX_TIMERS
#define HOWDY_VOICE_MAX_TIMERS 8
#endif
#ifndef HOWDY_VOICE_MAX_WAKE_WORDS
#define HOWDY_VOICE_MAX_WAKE_WORDS 4
#endif
#define HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS 2
#define HOWDY_VOICE_ID_LEN 48 /* timer ids, wake word ids, conversation ids */
#define HOWDY_VOICE_NAME_LEN 48

/* Timeouts (ms). Each guards a step that depends on the peer, so a lost
 * message never leaves the device stuck outside IDLE. */
#ifndef HOWDY_VOICE_START_TIMEOUT_MS
#define HOWDY_VOICE_START_TIMEOUT_MS 5000u /* Request -> Response */
#endif
#ifndef HOWDY_VOICE_LISTEN_TIMEOUT_MS
#define HOWDY_VOICE_LISTEN_TIMEOUT_MS 30000u /* streaming without STT end (not continuous) */
#endif
#ifndef HOWDY_VOICE_THINK_TIMEOUT_MS
#define HOWDY_VOICE_THINK_TIMEOUT_MS 30000u /* mic stopped, no reply and no RUN_END */
#endif
#ifndef HOWDY_VOICE_REPLY_GRACE_MS
#define HOWDY_VOICE_REPLY_GRACE_MS 3000u /* RUN_END after TTS_END: wait for the stream */
#endif
#ifndef HOWDY_VOICE_STREAM_IDLE_MS
/* An open reply stream with no chunk and no end marker for this long is ended.
 * Long, because a quiet stream is normal: Home Assistant's esphome integration
 * opens it and then waits for the whole reply to be synthesized (seconds for a
 * long reply), and a streaming agent may pause between sentences. At 3 s the
 * device dropped every esphome-integration reply longer than ~11 s
 * (bench/replies.py). A lost end marker still frees the device. */
#define HOWDY_VOICE_STREAM_IDLE_MS 15000u
#endif
#ifndef HOWDY_VOICE_CONTINUOUS_RESTART_MS
#define HOWDY_VOICE_CONTINUOUS_RESTART_MS 300u /* pause between continuous runs */
#endif
#ifndef HOWDY_VOICE_ERROR_BACKOFF_MS
#define HOWDY_VOICE_ERROR_BACKOFF_MS 2000u /* ... after a failed run */
#endif
#ifndef HOWDY_VOICE_CONVERSATION_KEEP_MS
#define HOWDY_VOICE_CONVERSATION_KEEP_MS 300000u /* conversation id reuse window */
#endif
/* The ring of a finished timer: beeps of RING_BEEP_MS with equal pauses. */
#define HOWDY_VOICE_RING_BEEPS 3u
#define HOWDY_VOICE_RING_BEEP_MS 200u
#define HOWDY_VOICE_RING_HZ 1000u

/* VoiceAssistantRequest.flags (the API's VoiceAssistantRequestFlag). */
#define HOWDY_VOICE_REQ_USE_VAD 0x1u
#define HOWDY_VOICE_REQ_USE_WAKE_WORD 0x2u

typedef enum {
  HOWDY_VOICE_IDLE = 0,
  HOWDY_VOICE_STARTING,
  HOWDY_VOICE_STREAMING,
  HOWDY_VOICE_THINKING,
  HOWDY_VOICE_REPLYING,
} howdy_voice_state_t;

typedef enum {
  HOWDY_WAKE_NONE = 0,
  HOWDY_WAKE_WORD,       /* the on-device wake word engine fired */
  HOWDY_WAKE_BUTTON,     /* touch / button */
  HOWDY_WAKE_CONTINUOUS, /* stream for HA's own wake word stage */
  HOWDY_WAKE_FOLLOW_UP,  /* start_conversation / continue_conversation */
} howdy_wake_source_t;

typedef enum {
  HOWDY_REPLY_NONE = 0,
  HOWDY_REPLY_PIPELINE, /* TTS of a pipeline run */
  HOWDY_REPLY_ANNOUNCE, /* VoiceAssistantAnnounceRequest */
} howdy_reply_kind_t;

typedef enum {
  HOWDY_TIMER_EV_STARTED = 0, /* same numbers as VoiceAssistantTimerEvent */
  HOWDY_TIMER_EV_UPDATED = 1,
  HOWDY_TIMER_EV_CANCELLED = 2,
  HOWDY_TIMER_EV_FINISHED = 3,
  HOWDY_TIMER_EV_TICK = 100, /* one second passed on an active timer */
  HOWDY_TIMER_EV_CLEARED = 101, /* dropped with its connection */
} howdy_timer_event_t;

typedef struct {
  bool used;
  char id[HOWDY_VOICE_ID_LEN];
  char name[HOWDY_VOICE_NAME_LEN];
  uint32_t total_seconds;
  uint32_t seconds_left; /* as of updated_us */
  bool active;           /* counting down (false: paused) */
  uint64_t updated_us;
  uint32_t last_shown;   /* seconds left last given to the UI */
} howdy_voice_timer_t;

typedef struct {
  const char *id;        /* e.g. "okay_howdy" */
  const char *wake_word; /* the phrase, e.g. "Okay Howdy" */
  const char *const *languages;
  uint32_t n_languages;
} howdy_wake_word_t;

/* What the sim's metrics JSON and a UI want to know about a finished reply. */
typedef struct {
  howdy_reply_kind_t kind;
  howdy_speaker_report_t speaker;
  uint64_t stream_open_us;   /* TTS_STREAM_START / AnnounceRequest */
  uint64_t end_marker_us;    /* 0: never came (idle timeout or abort) */
  uint64_t finished_sent_us; /* AnnounceFinished handed to the socket */
  uint32_t chunks_received;
  uint64_t bytes_received;
  uint64_t bytes_dropped;    /* refused by a full pool (overruns) */
  uint32_t overruns;         /* pool failures during this reply */
  bool success;
} howdy_voice_reply_info_t;

typedef int (*howdy_voice_send_fn)(void *ctx, howdy_api_conn_t *conn, uint16_t type,
                                   const ProtobufCMessage *msg);

typedef struct {
  howdy_audio_path_t *audio;
  howdy_clock_fn clock; /* monotonic µs; howdy_time_us through a wrapper */
  void *clock_ctx;
  /* How messages leave (howdy_api_conn_send when NULL; tests record). */
  howdy_voice_send_fn send;
  void *send_ctx;
  /* On-device wake words (static tables of the application). */
  const howdy_wake_word_t *wake_words;
  uint32_t n_wake_words;
  uint32_t max_active_wake_words; /* 1..HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS */
  /* UI hooks (all optional, called from the API task). */
  void (*on_state)(void *ctx, howdy_voice_state_t state);
  void (*on_timer)(void *ctx, const howdy_voice_timer_t *t, howdy_timer_event_t ev,
                   uint32_t seconds_left);
  void (*on_reply_done)(void *ctx, const howdy_voice_reply_info_t *info);
  void *hook_ctx;
} howdy_voice_config_t;

typedef struct {
  howdy_voice_config_t cfg;

  /* Any task -> API task. */
  atomic_int wake_request; /* howdy_wake_source_t, NONE when none pending */

  /* API task only. */
  howdy_voice_state_t state;
  howdy_api_conn_t *conn; /* the subscribed client; NULL: nobody drives */
  bool muted;
  bool continuous;
  howdy_wake_source_t source;
  uint64_t state_since_us;
  uint64_t deadline_us; /* timeout of the current state; 0 = none */
  uint64_t resume_at_us; /* continuous mode: next run not before */

  /* The pipeline run. */
  uint16_t mic_session;
  bool mic_streaming; /* asked the mic to stream and not yet stopped */
  bool mic_end_pending; /* send VoiceAssistantAudio(end) after the LAST packet */
  bool run_ended;      /* RUN_END seen */
  bool tts_expected;   /* TTS_END seen: a stream may still start */
  bool continue_conversation;
  char conversation_id[HOWDY_VOICE_ID_LEN];
  uint64_t conversation_us;

  /* The speaker stream of a reply or announcement. */
  howdy_reply_kind_t reply_kind;
  uint16_t reply_stream;
  bool reply_end;           /* end marker received */
  bool reply_start_conversation;
  uint64_t reply_last_chunk_us;
  uint32_t reply_failures_at_start;
  howdy_voice_reply_info_t reply;
  bool reply_report_ready;
  howdy_speaker_report_t reply_report;

  /* Ring of finished timers (not a reply: no AnnounceFinished). */
  uint32_t ring_pending;   /* timers that finished and have not rung yet */
  uint16_t ring_stream;
  uint32_t ring_samples_fed;
  uint32_t ring_phase;

  /* Timers and wake word configuration. */
  howdy_voice_timer_t timers[HOWDY_VOICE_MAX_TIMERS];
  uint32_t n_active_wake_words;
  uint32_t active_wake_words[HOWDY_VOICE_MAX_ACTIVE_WAKE_WORDS]; /* indexes into cfg */

  /* Counters (tests, logs). */
  uint32_t runs_started;
  uint32_t replies_finished;
  uint32_t rings;
  uint32_t mic_packets_sent;
  uint64_t mic_bytes_sent;
} howdy_voice_t;

void howdy_voice_init(howdy_voice_t *v, const howdy_voice_config_t *cfg);
/* Installs the hooks on the server (on_message, on_disconnect). */
void howdy_voice_attach(howdy_voice_t *v, howdy_api_server_t *server);

/* API task: the hook bodies. */
bool howdy_voice_on_message(howdy_voice_t *v, howdy_api_conn_t *conn, uint16_t type,
                            const ProtobufCMessage *msg);
void howdy_voice_on_disconnect(howdy_voice_t *v, howdy_api_conn_t *conn);

/* Any task: ask for a wake (picked up by the next howdy_voice_poll). */
void howdy_voice_request_wake(howdy_voice_t *v, howdy_wake_source_t source);

/* API task. Continuous mode keeps a run open for HA's wake word stage. */
void howdy_voice_set_continuous(howdy_voice_t *v, bool on);
/* API task. Mute blocks waking and ends a run that is listening (the
 * microphone path itself zeroes the audio: howdy_mic_set_muted). */
void howdy_voice_set_muted(howdy_voice_t *v, bool muted);

/* API task: moves the session on (mic packets out, reports in, timeouts,
 * timer countdown, ring audio). Returns µs until it wants to run again
 * (UINT64_MAX: only on an event). */
uint64_t howdy_voice_poll(howdy_voice_t *v);

howdy_voice_state_t howdy_voice_state(const howdy_voice_t *v);
const char *howdy_voice_state_name(howdy_voice_state_t s);
/* Seconds left of a timer now (its countdown as the UI shows it). */
uint32_t howdy_voice_timer_left(const howdy_voice_t *v, const howdy_voice_timer_t *t,
                                uint64_t now_us);
size_t howdy_voice_timer_count(const howdy_voice_t *v);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_VOICE_SESSION_H */
