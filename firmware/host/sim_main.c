/*
 * howdyscreen-sim: the HowdyScreen firmware core on Linux. It runs the same
 * API server, codec and entity code as the device; only the platform seam
 * (platform_posix.c) differs. Tests, benchmarks and development all talk to
 * it over a real socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "howdy/api_server.h"
#include "howdy/audio_path.h"
#include "howdy/base64.h"
#include "howdy/device_entities.h"
#include "howdy/entities.h"
#include "howdy/version.h"
#include "howdy/voice_session.h"
#include "mdns_responder.h"
#include "platform_posix.h"

static const char *TAG = "sim";

#define SIM_MODEL "HowdyScreen Simulator"
#define SIM_BOARD "howdyscreen-sim"

typedef struct {
  uint16_t port;
  const char *bind_addr;
  const char *name;
  const char *friendly_name;
  const char *mac_text;
  const char *key_b64;
  const char *state_file;
  bool plaintext;
  bool mdns;
  bool esphome_mode;
  uint32_t keepalive_s;
  uint32_t state_period_s;
  howdy_log_level_t log_level;
  /* audio */
  const char *mic_wav;
  bool mic_loop;
  const char *mic_trace;
  uint32_t wake_after_ms; /* 0 = off */
  bool wake_on_stdin;
  bool continuous;
  const char *speaker_wav;
  const char *metrics_json;
} sim_options_t;

/* The top-level state of the program. Static because the server struct
 * holds every connection's buffers (too big for a stack), and because the
 * signal handler must reach the server's wakeup. */
typedef struct {
  howdy_platform_t platform;
  howdy_entities_t entities;
  howdy_device_entities_t device;
  howdy_api_server_t server;
  volatile sig_atomic_t stop;

  /* The audio path and the voice session: allocated here, once, before the
   * audio tasks start; nothing on the path allocates afterwards. */
  howdy_audio_path_t audio;
  howdy_voice_t voice;
  atomic_bool audio_stop;
  howdy_task_t *mic_task;
  howdy_task_t *out_task;
  howdy_task_t *stdin_task;
  /* This thread (the API loop) in the platform's task table, measured for
   * cpu_task_api like the audio tasks. */
  howdy_task_t *api_task;
  /* --speaker-wav: written by the output task only. */
  int spk_fd;
  uint64_t spk_bytes;
  bool spk_recording;
  /* --metrics-json: written by the API task after every reply. */
  const char *metrics_path;
  uint32_t replies;
  /* --wake-after */
  uint64_t wake_at_us;
  bool wake_fired;
} sim_t;

static sim_t g_sim;

static void on_signal(int sig) {
  (void)sig;
  g_sim.stop = 1;
  /* write(2) on the wakeup pipe is async-signal-safe. */
  howdy_api_server_wakeup(&g_sim.server);
}

static void usage(FILE *out, const char *argv0) {
  fprintf(out,
          "Usage: %s [options]\n"
          "HowdyScreen device simulator: the firmware core speaking the ESPHome native API.\n"
          "\n"
          "  -p, --port N            TCP port of the API (default 6053; 0 = any free port)\n"
          "  -b, --bind ADDR         address to listen on (default 0.0.0.0)\n"
          "  -n, --name NAME         node name, [a-z0-9-] (default howdyscreen-sim)\n"
          "  -f, --friendly-name S   name shown in Home Assistant (default: the node name)\n"
          "  -m, --mac MAC           MAC address aa:bb:cc:dd:ee:ff (default: derived from the name)\n"
          "  -k, --key BASE64        Noise pre-shared key, 32 bytes in base64 (default: the key\n"
          "                          of the state file, generated and saved on first run)\n"
          "  -s, --state-file PATH   where the generated key is kept (default\n"
          "                          $XDG_STATE_HOME/howdyscreen-sim/NAME.json or\n"
          "                          ~/.local/state/howdyscreen-sim/NAME.json)\n"
          "      --plaintext         no encryption (explicit opt-in; the device default is Noise)\n"
          "      --no-mdns           do not announce the service over mDNS\n"
          "      --esphome-mode      announce _esphomelib._tcp with ESPHome's TXT records instead\n"
          "                          of _howdyscreen._tcp, so Home Assistant's esphome\n"
          "                          integration drives the simulator\n"
          "      --keepalive SEC     ping a client after SEC seconds of silence, drop it SEC/2\n"
          "                          seconds later (default 60)\n"
          "      --state-period SEC  push every entity state at least every SEC seconds\n"
          "                          (default 15)\n"
          "  -l, --log-level LEVEL   error, warn, info (default) or debug\n"
          "\n"
          "Audio (16 kHz, signed 16-bit little-endian, mono):\n"
          "      --mic-wav PATH      microphone input: this WAV, played in real time from the\n"
          "                          start (silence without it, and after its end)\n"
          "      --mic-loop          start the microphone WAV over at its end\n"
          "      --mic-trace PATH    for latency benchmarks: one line per microphone frame,\n"
          "                          '<wav_pos> <capture_us> <read_us>' (the frame's first\n"
          "                          sample in the WAV, -1 for silence; its capture time; when\n"
          "                          the read returned; monotonic microseconds)\n"
          "      --wake-after SEC    wake (as the on-device wake word) SEC seconds after a\n"
          "                          client subscribed to the voice assistant (once; may be\n"
          "                          fractional, e.g. 1.5)\n"
          "      --wake-on-stdin     every line on stdin wakes (a line starting with 'b' as a\n"
          "                          button press, any other as the wake word)\n"
          "      --continuous        stream the microphone whenever idle, for Home\n"
          "                          Assistant's own wake word stage\n"
          "      --speaker-wav PATH  record the speaker: every frame the output tick produces\n"
          "                          while a reply, announcement or ring plays, at its real-time\n"
          "                          pace, appended to one WAV per run (the header is brought up\n"
          "                          to date after every stream)\n"
          "      --metrics-json PATH after every reply or announcement, write its measurements\n"
          "                          (first sample time, underruns, overruns, pool high-water,\n"
          "                          hit rate, samples played, playback latency) to PATH\n"
          "  -h, --help              this text\n"
          "\n"
          "Logs go to stderr; the key block goes to stdout. SIGINT/SIGTERM exit cleanly.\n",
          argv0);
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || !end || *end || end == s || v > max) return false;
  *out = (uint32_t)v;
  return true;
}

static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > HOWDY_CODEC_MAX_NODE_NAME) return false;
  for (const char *p = s; *p; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return false;
  }
  return true;
}

static int parse_args(int argc, char **argv, sim_options_t *o) {
  enum {
    OPT_PLAINTEXT = 1000,
    OPT_NO_MDNS,
    OPT_ESPHOME,
    OPT_KEEPALIVE,
    OPT_PERIOD,
    OPT_MIC_WAV,
    OPT_MIC_LOOP,
    OPT_MIC_TRACE,
    OPT_WAKE_AFTER,
    OPT_WAKE_STDIN,
    OPT_CONTINUOUS,
    OPT_SPEAKER_WAV,
    OPT_METRICS_JSON,
  };
  static const struct option longopts[] = {
      {"port", required_argument, NULL, 'p'},
      {"bind", required_argument, NULL, 'b'},
      {"name", required_argument, NULL, 'n'},
      {"friendly-name", required_argument, NULL, 'f'},
      {"mac", required_argument, NULL, 'm'},
      {"key", required_argument, NULL, 'k'},
      {"state-file", required_argument, NULL, 's'},
      {"plaintext", no_argument, NULL, OPT_PLAINTEXT},
      {"no-mdns", no_argument, NULL, OPT_NO_MDNS},
      {"esphome-mode", no_argument, NULL, OPT_ESPHOME},
      {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
      {"state-period", required_argument, NULL, OPT_PERIOD},
      {"log-level", required_argument, NULL, 'l'},
      {"mic-wav", required_argument, NULL, OPT_MIC_WAV},
      {"mic-loop", no_argument, NULL, OPT_MIC_LOOP},
      {"mic-trace", required_argument, NULL, OPT_MIC_TRACE},
      {"wake-after", required_argument, NULL, OPT_WAKE_AFTER},
      {"wake-on-stdin", no_argument, NULL, OPT_WAKE_STDIN},
      {"continuous", no_argument, NULL, OPT_CONTINUOUS},
      {"speaker-wav", required_argument, NULL, OPT_SPEAKER_WAV},
      {"metrics-json", required_argument, NULL, OPT_METRICS_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  uint32_t v = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "p:b:n:f:m:k:s:l:h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'p':
        if (!parse_u32(optarg, 65535, &v)) {
          fprintf(stderr, "invalid --port '%s'\n", optarg);
          return 2;
        }
        o->port = (uint16_t)v;
        break;
      case 'b': o->bind_addr = optarg; break;
      case 'n': o->name = optarg; break;
      case 'f': o->friendly_name = optarg; break;
      case 'm': o->mac_text = optarg; break;
      case 'k': o->key_b64 = optarg; break;
      case 's': o->state_file = optarg; break;
      case OPT_PLAINTEXT: o->plaintext = true; break;
      case OPT_NO_MDNS: o->mdns = false; break;
      case OPT_ESPHOME: o->esphome_mode = true; break;
      case OPT_KEEPALIVE:
        if (!parse_u32(optarg, 86400, &v) || v == 0) {
          fprintf(stderr, "invalid --keepalive '%s'\n", optarg);
          return 2;
        }
        o->keepalive_s = v;
        break;
      case OPT_PERIOD:
        if (!parse_u32(optarg, 86400, &v) || v == 0) {
          fprintf(stderr, "invalid --state-period '%s'\n", optarg);
          return 2;
        }
        o->state_period_s = v;
        break;
      case 'l':
        if (!strcmp(optarg, "error")) o->log_level = HOWDY_LOG_ERROR;
        else if (!strcmp(optarg, "warn")) o->log_level = HOWDY_LOG_WARN;
        else if (!strcmp(optarg, "info")) o->log_level = HOWDY_LOG_INFO;
        else if (!strcmp(optarg, "debug")) o->log_level = HOWDY_LOG_DEBUG;
        else {
          fprintf(stderr, "invalid --log-level '%s'\n", optarg);
          return 2;
        }
        break;
      case OPT_MIC_WAV: o->mic_wav = optarg; break;
      case OPT_MIC_LOOP: o->mic_loop = true; break;
      case OPT_MIC_TRACE: o->mic_trace = optarg; break;
      case OPT_WAKE_AFTER: {
        char *end = NULL;
        errno = 0;
        double sec = strtod(optarg, &end);
        if (errno || !end || *end || end == optarg || !(sec > 0.0) || sec > 86400.0) {
          fprintf(stderr, "invalid --wake-after '%s'\n", optarg);
          return 2;
        }
        o->wake_after_ms = (uint32_t)(sec * 1000.0 + 0.5);
        if (o->wake_after_ms == 0) o->wake_after_ms = 1;
        break;
      }
      case OPT_WAKE_STDIN: o->wake_on_stdin = true; break;
      case OPT_CONTINUOUS: o->continuous = true; break;
      case OPT_SPEAKER_WAV: o->speaker_wav = optarg; break;
      case OPT_METRICS_JSON: o->metrics_json = optarg; break;
      case 'h': usage(stdout, argv[0]); return 1;
      default: usage(stderr, argv[0]); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!valid_name(o->name)) {
    fprintf(stderr, "invalid --name '%s': use 1-%u characters of a-z, 0-9 and '-'\n", o->name,
            HOWDY_CODEC_MAX_NODE_NAME);
    return 2;
  }
  if (o->plaintext && o->key_b64) {
    fprintf(stderr, "--plaintext and --key exclude each other\n");
    return 2;
  }
  return 0;
}

/* Locally administered unicast MAC from the name, so that several simulators
 * differ and one simulator keeps its identity across runs. */
static void mac_from_name(const char *name, uint8_t mac[6]) {
  uint32_t h = howdy_entity_key(name);
  mac[0] = 0x02;
  mac[1] = 0x48; /* 'H' */
  mac[2] = (uint8_t)(h >> 24);
  mac[3] = (uint8_t)(h >> 16);
  mac[4] = (uint8_t)(h >> 8);
  mac[5] = (uint8_t)h;
}

/* The key as the device shows it on its screen and console: a framed block
 * with the device name and the base64 key to type into Home Assistant. */
static void print_key_block(const char *name, const char *friendly, const char *key_b64) {
  const int w = 52;
  char line[128];
  printf("+%.*s+\n", w, "----------------------------------------------------------------");
  snprintf(line, sizeof line, "HowdyScreen  %s", friendly);
  printf("| %-*.*s |\n", w - 2, w - 2, line);
  snprintf(line, sizeof line, "device name: %s", name);
  printf("| %-*.*s |\n", w - 2, w - 2, line);
  printf("| %-*s |\n", w - 2, "");
  printf("| %-*s |\n", w - 2, "Encryption key:");
  printf("| %-*s |\n", w - 2, key_b64);
  printf("+%.*s+\n", w, "----------------------------------------------------------------");
  fflush(stdout);
}

static int mdns_start(void **handle, const howdy_mdns_service_t *svc) {
  howdy_mdns_responder_t *r = NULL;
  int rc = howdy_mdns_responder_start(&r, svc);
  *handle = r;
  return rc;
}

static void mdns_stop(void *handle) { howdy_mdns_responder_stop(handle); }

static int load_or_create_key(howdy_platform_t *p, const sim_options_t *o,
                              uint8_t key[HOWDY_KEY_LEN]) {
  if (o->key_b64) {
    int n = howdy_base64_decode(o->key_b64, strlen(o->key_b64), key, HOWDY_KEY_LEN);
    if (n != (int)HOWDY_KEY_LEN) {
      howdy_log(HOWDY_LOG_ERROR, TAG, "--key must be 32 bytes in base64 (44 characters)");
      return HOWDY_ERR_INVALID;
    }
    return HOWDY_OK;
  }
  int rc = howdy_key_load(p, key);
  if (rc == HOWDY_OK) {
    howdy_log(HOWDY_LOG_INFO, TAG, "key loaded from %s", p->state_file);
    return HOWDY_OK;
  }
  if (rc != HOWDY_ERR_NOT_FOUND) {
    return rc; /* a broken state file is not silently replaced */
  }
  /* First boot: make a key and keep it, as the device does in NVS. */
  howdy_random_bytes(key, HOWDY_KEY_LEN);
  rc = howdy_key_save(p, key);
  if (rc != HOWDY_OK) return rc;
  howdy_log(HOWDY_LOG_INFO, TAG, "new key generated and saved to %s", p->state_file);
  return HOWDY_OK;
}

static void announce(howdy_platform_t *p, const sim_options_t *o, const howdy_api_server_t *s,
                     const char *friendly) {
  howdy_txt_record_t txt[12];
  size_t n = 0;
  howdy_mdns_service_t svc = {.instance_name = o->name, .port = howdy_api_server_port(s)};
  if (o->esphome_mode) {
    /* The TXT set Home Assistant's esphome zeroconf discovery reads. */
    svc.service_type = "_esphomelib._tcp";
    txt[n++] = (howdy_txt_record_t){"friendly_name", friendly};
    txt[n++] = (howdy_txt_record_t){"version", HOWDY_ESPHOME_COMPAT_VERSION};
    txt[n++] = (howdy_txt_record_t){"mac", s->mac_plain};
    txt[n++] = (howdy_txt_record_t){"platform", "ESP32"};
    txt[n++] = (howdy_txt_record_t){"board", SIM_BOARD};
    txt[n++] = (howdy_txt_record_t){"network", "wifi"};
    txt[n++] = (howdy_txt_record_t){"project_name", "HowdyScreen." SIM_MODEL};
    txt[n++] = (howdy_txt_record_t){"project_version", HOWDY_FIRMWARE_VERSION};
  } else {
    svc.service_type = "_howdyscreen._tcp";
    txt[n++] = (howdy_txt_record_t){"mac", s->mac_plain};
    txt[n++] = (howdy_txt_record_t){"version", HOWDY_FIRMWARE_VERSION};
    txt[n++] = (howdy_txt_record_t){"board", SIM_BOARD};
    txt[n++] = (howdy_txt_record_t){"friendly_name", friendly};
  }
  if (!o->plaintext) {
    txt[n++] = (howdy_txt_record_t){"api_encryption", HOWDY_NOISE_PROTOCOL_NAME};
  }
  svc.txt = txt;
  svc.txt_count = n;
  if (o->bind_addr && strcmp(o->bind_addr, "0.0.0.0") != 0) svc.interface_address = o->bind_addr;
  int rc = howdy_mdns_announce(p, &svc);
  if (rc != HOWDY_OK) {
    howdy_log(HOWDY_LOG_WARN, TAG, "mDNS announcement failed (%d); discovery will not work", rc);
  } else {
    howdy_log(HOWDY_LOG_INFO, TAG, "announcing %s.%s.local on port %u", o->name,
              svc.service_type, (unsigned)svc.port);
  }
}

/* ---- audio ---------------------------------------------------------------------- */

static uint64_t sim_clock(void *ctx) {
  (void)ctx;
  return howdy_time_us();
}

static const char *const k_langs_en[] = {"en"};
/* The wake words the simulator pretends to detect on the device. */
static const howdy_wake_word_t k_wake_words[] = {
    {.id = "okay_howdy", .wake_word = "Okay Howdy", .languages = k_langs_en, .n_languages = 1},
    {.id = "hey_howdy", .wake_word = "Hey Howdy", .languages = k_langs_en, .n_languages = 1},
};

static void put_le32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

/* A canonical 44-byte header for `bytes` of 16 kHz s16le mono PCM. */
static void wav_header(uint8_t h[44], uint64_t bytes) {
  uint32_t n = bytes > 0xFFFFFFFFu - 36u ? 0xFFFFFFFFu - 36u : (uint32_t)bytes;
  memcpy(h, "RIFF", 4);
  put_le32(h + 4, 36u + n);
  memcpy(h + 8, "WAVEfmt ", 8);
  put_le32(h + 16, 16);
  h[20] = 1; h[21] = 0; /* PCM */
  h[22] = 1; h[23] = 0; /* mono */
  put_le32(h + 24, HOWDY_AUDIO_RATE_HZ);
  put_le32(h + 28, HOWDY_AUDIO_RATE_HZ * 2u);
  h[32] = 2; h[33] = 0; /* block align */
  h[34] = 16; h[35] = 0; /* bits */
  memcpy(h + 36, "data", 4);
  put_le32(h + 40, n);
}

static void spk_record(sim_t *sim, const int16_t *frame, uint32_t evt) {
  if (sim->spk_fd < 0) return;
  /* Only frames of a playing stream are kept, from the one holding its
   * first sample to the one holding its last (or the abort). */
  if (evt & HOWDY_SPK_EVT_STARTED) sim->spk_recording = true;
  if (!sim->spk_recording) return;
  uint8_t buf[HOWDY_AUDIO_FRAME_BYTES];
  for (uint32_t i = 0; i < HOWDY_AUDIO_FRAME_SAMPLES; i++) {
    buf[2 * i] = (uint8_t)((uint16_t)frame[i] & 0xffu);
    buf[2 * i + 1] = (uint8_t)((uint16_t)frame[i] >> 8);
  }
  if (write(sim->spk_fd, buf, sizeof buf) == (ssize_t)sizeof buf) sim->spk_bytes += sizeof buf;
  if (evt & (HOWDY_SPK_EVT_DONE | HOWDY_SPK_EVT_ABORTED)) {
    /* A frame can end one stream and start the next. */
    sim->spk_recording = howdy_speaker_playing(&sim->audio.speaker);
    /* Keep the file a valid WAV after every stream. */
    uint8_t h[44];
    wav_header(h, sim->spk_bytes);
    if (pwrite(sim->spk_fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
      howdy_log(HOWDY_LOG_WARN, TAG, "speaker WAV header update failed");
    }
  }
}

/* Output task: one 10 ms frame per tick on absolute deadlines. The frame
 * computed for deadline t starts playing at t, which is the time the
 * speaker path dates its samples with. */
static void output_task(void *arg) {
  sim_t *sim = arg;
  int16_t frame[HOWDY_AUDIO_FRAME_SAMPLES];
  uint64_t next = howdy_time_us() + HOWDY_AUDIO_FRAME_MS * 1000u;
  while (!atomic_load(&sim->audio_stop)) {
    howdy_sleep_until_us(next);
    uint32_t evt = howdy_speaker_tick(&sim->audio.speaker, next, frame);
    howdy_audio_out_write(&sim->platform, frame, HOWDY_AUDIO_FRAME_SAMPLES);
    spk_record(sim, frame, evt);
    /* The API loop must hear of these at once: an underrun is pushed as it
     * happens, a finished stream releases AnnounceFinished. */
    if (evt & (HOWDY_SPK_EVT_UNDERRUN | HOWDY_SPK_EVT_STARTED | HOWDY_SPK_EVT_DONE |
               HOWDY_SPK_EVT_ABORTED)) {
      howdy_api_server_wakeup(&sim->server);
    }
    next += HOWDY_AUDIO_FRAME_MS * 1000u;
    uint64_t now = howdy_time_us();
    if (now > next + 200000u) next = now; /* held up (debugger): no burst */
  }
}

/* Microphone task: capture (blocking at the real-time pace), process. */
static void mic_task(void *arg) {
  sim_t *sim = arg;
  int16_t frame[HOWDY_AUDIO_FRAME_SAMPLES];
  while (!atomic_load(&sim->audio_stop)) {
    uint64_t cap = 0;
    if (howdy_audio_in_read(&sim->platform, frame, HOWDY_AUDIO_FRAME_SAMPLES, &cap) <= 0) {
      howdy_sleep_us(HOWDY_AUDIO_FRAME_MS * 1000u);
      continue;
    }
    uint32_t evt = howdy_mic_process(&sim->audio.mic, frame, cap);
    if (evt & (HOWDY_MIC_EVT_PACKET | HOWDY_MIC_EVT_STOPPED | HOWDY_MIC_EVT_DROPPED)) {
      howdy_api_server_wakeup(&sim->server);
    }
  }
}

/* --wake-on-stdin: a line wakes the device. */
static void stdin_task(void *arg) {
  sim_t *sim = arg;
  char buf[256];
  bool line_start = true;
  while (!atomic_load(&sim->audio_stop)) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int rc = poll(&pfd, 1, 200);
    if (rc <= 0) continue;
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      howdy_log(HOWDY_LOG_INFO, TAG, "stdin closed: no more wakes from it");
      return;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (line_start && buf[i] != '\n') {
        howdy_voice_request_wake(&sim->voice, buf[i] == 'b' ? HOWDY_WAKE_BUTTON : HOWDY_WAKE_WORD);
        howdy_api_server_wakeup(&sim->server);
      } else if (line_start) {
        howdy_voice_request_wake(&sim->voice, HOWDY_WAKE_WORD);
        howdy_api_server_wakeup(&sim->server);
      }
      line_start = buf[i] == '\n';
    }
  }
}

static void on_mute(void *ctx, bool muted) {
  sim_t *sim = ctx;
  howdy_voice_set_muted(&sim->voice, muted);
}

static void on_volume(void *ctx, float percent) {
  sim_t *sim = ctx;
  howdy_speaker_set_volume(&sim->audio.speaker, percent);
}

static void on_timer(void *ctx, const howdy_voice_timer_t *t, howdy_timer_event_t ev,
                     uint32_t left) {
  (void)ctx;
  /* The simulator's "display": the countdown in the log. */
  if (ev == HOWDY_TIMER_EV_TICK) {
    howdy_log(HOWDY_LOG_DEBUG, TAG, "timer '%s' %u:%02u", t->name[0] ? t->name : t->id,
              (unsigned)(left / 60u), (unsigned)(left % 60u));
  }
}

static double ms_of(uint64_t us) { return (double)us / 1000.0; }

/* --metrics-json: one object describing the last reply, written after every
 * reply (tmp file + rename, so a reader never sees half a file). Formatted
 * on the stack: the API task must not allocate either. */
static void on_reply_done(void *ctx, const howdy_voice_reply_info_t *r) {
  sim_t *sim = ctx;
  sim->replies++;
  if (!sim->metrics_path) return;
  howdy_audio_path_t *a = &sim->audio;
  howdy_pool_stats_t ps;
  howdy_pool_stats(&a->pool, &ps);
  float hit = 0.0f;
  bool has_hit = howdy_pool_hit_rate(&a->pool, &hit);
  howdy_stat_snapshot_t lat;
  bool has_lat = howdy_stat_read(&a->metrics.playback_latency, &lat);
  const howdy_speaker_report_t *sp = &r->speaker;
  char hit_text[16] = "null"; /* no allocation attempt yet: no rate */
  if (has_hit) snprintf(hit_text, sizeof hit_text, "%.2f", (double)hit);
  char json[2048];
  int n = snprintf(
      json, sizeof json,
      "{\n"
      "  \"reply\": %u,\n"
      "  \"kind\": \"%s\",\n"
      "  \"success\": %s,\n"
      "  \"aborted\": %s,\n"
      "  \"stream_open_us\": %llu,\n"
      "  \"first_sample_us\": %llu,\n"
      "  \"first_sample_after_open_ms\": %.3f,\n"
      "  \"last_sample_us\": %llu,\n"
      "  \"end_marker_us\": %llu,\n"
      "  \"finished_sent_us\": %llu,\n"
      "  \"finished_after_last_sample_ms\": %.3f,\n"
      "  \"samples_played\": %llu,\n"
      "  \"chunks_received\": %u,\n"
      "  \"chunks_played\": %u,\n"
      "  \"bytes_received\": %llu,\n"
      "  \"bytes_dropped\": %llu,\n"
      "  \"underruns\": %u,\n"
      "  \"overruns\": %u,\n"
      "  \"underruns_total\": %u,\n"
      "  \"overruns_total\": %u,\n"
      "  \"pool_slots\": %u,\n"
      "  \"pool_slot_bytes\": %u,\n"
      "  \"pool_high_water\": %u,\n"
      "  \"pool_hit_rate\": %s,\n"
      "  \"playback_latency_first_chunk_ms\": %.3f,\n"
      "  \"playback_latency_avg_ms\": %.3f,\n"
      "  \"playback_latency_max_ms\": %.3f\n"
      "}\n",
      (unsigned)sim->replies, r->kind == HOWDY_REPLY_ANNOUNCE ? "announcement" : "reply",
      r->success ? "true" : "false", sp->aborted ? "true" : "false",
      (unsigned long long)r->stream_open_us, (unsigned long long)sp->first_sample_us,
      sp->played_any ? ms_of(sp->first_sample_us - r->stream_open_us) : -1.0,
      (unsigned long long)sp->last_sample_us, (unsigned long long)r->end_marker_us,
      (unsigned long long)r->finished_sent_us,
      sp->played_any && r->finished_sent_us >= sp->last_sample_us
          ? ms_of(r->finished_sent_us - sp->last_sample_us) : -1.0,
      (unsigned long long)sp->samples, (unsigned)r->chunks_received, (unsigned)sp->chunks,
      (unsigned long long)r->bytes_received, (unsigned long long)r->bytes_dropped,
      (unsigned)sp->underruns, (unsigned)r->overruns,
      (unsigned)howdy_audio_metrics_underruns(&a->metrics),
      (unsigned)howdy_audio_metrics_overruns(&a->metrics), (unsigned)ps.slots,
      (unsigned)ps.slot_bytes, (unsigned)ps.high_water, hit_text,
      ms_of(sp->first_chunk_latency_us), has_lat ? ms_of(lat.avg) : 0.0,
      has_lat ? ms_of(lat.max) : 0.0);
  if (n < 0 || (size_t)n >= sizeof json) return;
  char tmp[HOWDY_POSIX_STATE_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", sim->metrics_path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    howdy_log(HOWDY_LOG_WARN, TAG, "cannot write %s: %s", tmp, strerror(errno));
    return;
  }
  bool ok = write(fd, json, (size_t)n) == n;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, sim->metrics_path) != 0) {
    howdy_log(HOWDY_LOG_WARN, TAG, "cannot write %s", sim->metrics_path);
  }
}

static int audio_start(sim_t *sim, const sim_options_t *o) {
  howdy_audio_path_init(&sim->audio, sim_clock, NULL);
  if (howdy_audio_metrics_register(&sim->audio.metrics, &sim->entities) != HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "entity table full (audio metrics)");
    return HOWDY_ERR_NO_SPACE;
  }
  howdy_voice_config_t vc = {
      .audio = &sim->audio,
      .clock = sim_clock,
      .wake_words = k_wake_words,
      .n_wake_words = sizeof k_wake_words / sizeof k_wake_words[0],
      .max_active_wake_words = 1,
      .on_timer = on_timer,
      .on_reply_done = on_reply_done,
      .hook_ctx = sim,
  };
  howdy_voice_init(&sim->voice, &vc);
  howdy_voice_attach(&sim->voice, &sim->server);
  howdy_voice_set_continuous(&sim->voice, o->continuous);
  sim->metrics_path = o->metrics_json;

  /* Mute and volume: the entities own the values, the audio path follows. */
  sim->device.on_mute = on_mute;
  sim->device.on_volume = on_volume;
  sim->device.hook_ctx = sim;
  howdy_speaker_set_volume(&sim->audio.speaker,
                           howdy_entities_number_value(&sim->entities, sim->device.key_volume));
  howdy_voice_set_muted(&sim->voice,
                        howdy_entities_switch_state(&sim->entities, sim->device.key_mute));

  sim->spk_fd = -1;
  if (o->speaker_wav) {
    sim->spk_fd = open(o->speaker_wav, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint8_t h[44];
    wav_header(h, 0);
    if (sim->spk_fd < 0 || write(sim->spk_fd, h, sizeof h) != (ssize_t)sizeof h) {
      howdy_log(HOWDY_LOG_ERROR, TAG, "cannot write %s: %s", o->speaker_wav, strerror(errno));
      return HOWDY_ERR;
    }
    howdy_log(HOWDY_LOG_INFO, TAG, "recording the speaker to %s", o->speaker_wav);
  }

  howdy_audio_format_t fmt = {.sample_rate = HOWDY_AUDIO_RATE_HZ, .channels = 1,
                              .frame_samples = HOWDY_AUDIO_FRAME_SAMPLES};
  if (howdy_audio_in_open(&sim->platform, &fmt) != HOWDY_OK ||
      howdy_audio_out_open(&sim->platform, &fmt) != HOWDY_OK) {
    return HOWDY_ERR;
  }
  atomic_store(&sim->audio_stop, false);
  howdy_task_config_t mic = {.name = "mic", .fn = mic_task, .arg = sim,
                             .stack_bytes = 16384, .priority = 20, .core = 1};
  howdy_task_config_t out = {.name = "speaker", .fn = output_task, .arg = sim,
                             .stack_bytes = 16384, .priority = 21, .core = 1};
  if (howdy_task_start(&sim->platform, &mic, &sim->mic_task) != HOWDY_OK ||
      howdy_task_start(&sim->platform, &out, &sim->out_task) != HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot start the audio tasks");
    return HOWDY_ERR;
  }
  howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_MIC, sim->mic_task);
  howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_SPEAKER, sim->out_task);
  if (o->wake_on_stdin) {
    howdy_task_config_t in = {.name = "stdin", .fn = stdin_task, .arg = sim,
                              .stack_bytes = 16384, .priority = 1, .core = 0};
    if (howdy_task_start(&sim->platform, &in, &sim->stdin_task) != HOWDY_OK) return HOWDY_ERR;
  }
  return HOWDY_OK;
}

static void audio_stop(sim_t *sim) {
  /* The sensors must not measure a slot the joins below free. */
  howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_MIC, NULL);
  howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_SPEAKER, NULL);
  atomic_store(&sim->audio_stop, true);
  if (sim->mic_task) howdy_task_join(&sim->platform, sim->mic_task);
  if (sim->out_task) howdy_task_join(&sim->platform, sim->out_task);
  if (sim->stdin_task) howdy_task_join(&sim->platform, sim->stdin_task);
  sim->mic_task = sim->out_task = sim->stdin_task = NULL;
  howdy_audio_in_close(&sim->platform);
  howdy_audio_out_close(&sim->platform);
  if (sim->spk_fd >= 0) {
    uint8_t h[44];
    wav_header(h, sim->spk_bytes);
    if (pwrite(sim->spk_fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
      howdy_log(HOWDY_LOG_WARN, TAG, "speaker WAV header update failed");
    }
    close(sim->spk_fd);
    sim->spk_fd = -1;
  }
}

int main(int argc, char **argv) {
  sim_options_t o = {
      .port = HOWDY_API_DEFAULT_PORT,
      .bind_addr = "0.0.0.0",
      .name = "howdyscreen-sim",
      .mdns = true,
      .keepalive_s = 60,
      .state_period_s = 15,
      .log_level = HOWDY_LOG_INFO,
  };
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;
  howdy_log_set_level(o.log_level);
  const char *friendly = o.friendly_name ? o.friendly_name : o.name;

  uint8_t mac[6];
  if (o.mac_text) {
    if (!howdy_mac_parse(o.mac_text, mac)) {
      fprintf(stderr, "invalid --mac '%s'\n", o.mac_text);
      return 2;
    }
  } else {
    mac_from_name(o.name, mac);
  }

  char state_path[HOWDY_POSIX_STATE_PATH_MAX];
  if (o.state_file) {
    snprintf(state_path, sizeof state_path, "%s", o.state_file);
  } else if (howdy_posix_default_state_file(o.name, state_path, sizeof state_path) != HOWDY_OK) {
    fprintf(stderr, "state file path too long\n");
    return 2;
  }

  sim_t *sim = &g_sim;
  howdy_posix_config_t pcfg = {
      .state_file = state_path,
      .device_name = o.name,
      .mdns = {.start = mdns_start, .stop = mdns_stop},
      .mic_wav = o.mic_wav,
      .mic_loop = o.mic_loop,
      .mic_trace = o.mic_trace,
  };
  if (howdy_posix_platform_init(&sim->platform, &pcfg) != HOWDY_OK) {
    fprintf(stderr, "platform init failed\n");
    return 1;
  }

  uint8_t key[HOWDY_KEY_LEN];
  if (!o.plaintext) {
    if (load_or_create_key(&sim->platform, &o, key) != HOWDY_OK) {
      howdy_posix_platform_deinit(&sim->platform);
      return 1;
    }
    char b64[HOWDY_BASE64_LEN(HOWDY_KEY_LEN) + 1];
    howdy_base64_encode(key, HOWDY_KEY_LEN, b64, sizeof b64);
    print_key_block(o.name, friendly, b64);
  } else {
    howdy_log(HOWDY_LOG_WARN, TAG, "PLAINTEXT mode: the API is not encrypted");
  }

  howdy_entities_init(&sim->entities, 2000, o.state_period_s * 1000u);
  if (howdy_device_entities_register(&sim->device, &sim->entities, &sim->platform, -1.0f) !=
      HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "entity table full");
    return 1;
  }
  /* Without a slot the sensor only reports no value; not worth failing. */
  if (howdy_task_adopt_self(&sim->platform, "api", &sim->api_task) == HOWDY_OK) {
    howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_API, sim->api_task);
  }

  howdy_api_config_t cfg = {
      .bind_addr = o.bind_addr,
      .port = o.port,
      .encrypted = !o.plaintext,
      .psk = o.plaintext ? NULL : key,
      .name = o.name,
      .friendly_name = friendly,
      .model = SIM_MODEL,
      .manufacturer = HOWDY_MANUFACTURER,
      .project_name = "HowdyScreen." SIM_MODEL,
      .project_version = HOWDY_FIRMWARE_VERSION,
      .esphome_version = HOWDY_ESPHOME_COMPAT_VERSION,
      .compilation_time = __DATE__ ", " __TIME__,
      .voice_feature_flags = HOWDY_VA_FEATURES_HOWDYSCREEN,
      .keepalive_ms = o.keepalive_s * 1000u,
      .keepalive_timeout_ms = o.keepalive_s * 500u,
  };
  memcpy(cfg.mac, mac, sizeof mac);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  rc = howdy_api_server_start(&sim->server, &cfg, &sim->platform, &sim->entities);
  memset(key, 0, sizeof key); /* the server keeps its own copy */
  if (rc != HOWDY_OK) {
    howdy_log(HOWDY_LOG_ERROR, TAG, "cannot start the API server (%d)", rc);
    howdy_posix_platform_deinit(&sim->platform);
    return 1;
  }
  if (audio_start(sim, &o) != HOWDY_OK) {
    audio_stop(sim);
    howdy_api_server_stop(&sim->server, 0);
    howdy_posix_platform_deinit(&sim->platform);
    return 1;
  }
  howdy_log(HOWDY_LOG_INFO, TAG, "%s (%s) ready, mac %s, %s", o.name, friendly,
            sim->server.mac_colon, o.esphome_mode ? "ESPHome mode" : "HowdyScreen mode");
  if (o.mdns) announce(&sim->platform, &o, &sim->server, friendly);

  int timeout_ms = 0;
  while (!sim->stop) {
    if (howdy_api_server_poll(&sim->server, timeout_ms) < 0) {
      howdy_log(HOWDY_LOG_ERROR, TAG, "poll failed, exiting");
      break;
    }
    howdy_audio_metrics_push_events(&sim->audio.metrics, &sim->entities);
    uint64_t now = howdy_time_us();
    if (o.wake_after_ms && !sim->wake_fired) {
      /* Counted from the first voice subscription, so a test or Home
       * Assistant is there to take the run. */
      if (sim->wake_at_us == 0 && sim->voice.conn) {
        sim->wake_at_us = now + (uint64_t)o.wake_after_ms * 1000u;
      }
      if (sim->wake_at_us && now >= sim->wake_at_us) {
        sim->wake_fired = true;
        howdy_voice_request_wake(&sim->voice, HOWDY_WAKE_WORD);
      }
    }
    uint64_t due_us = howdy_voice_poll(&sim->voice);
    if (o.wake_after_ms && !sim->wake_fired && sim->wake_at_us) {
      uint64_t w = sim->wake_at_us > now ? sim->wake_at_us - now : 0;
      if (w < due_us) due_us = w;
    }
    timeout_ms = due_us >= 1000000u ? 1000 : (int)((due_us + 999u) / 1000u);
  }

  howdy_log(HOWDY_LOG_INFO, TAG, "shutting down");
  audio_stop(sim);
  if (sim->api_task) {
    howdy_device_entities_set_task(&sim->device, HOWDY_LOAD_TASK_API, NULL);
    howdy_task_join(&sim->platform, sim->api_task); /* adopted: frees the slot */
    sim->api_task = NULL;
  }
  howdy_mdns_stop(&sim->platform);
  howdy_api_server_stop(&sim->server, 500);
  howdy_posix_platform_deinit(&sim->platform);
  return 0;
}
