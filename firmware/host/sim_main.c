/*
 * howdyscreen-sim: the HowdyScreen firmware core on Linux. It runs the same
 * API server, codec and entity code as the device; only the platform seam
 * (platform_posix.c) differs. Tests, benchmarks and development all talk to
 * it over a real socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "howdy/api_server.h"
#include "howdy/base64.h"
#include "howdy/device_entities.h"
#include "howdy/entities.h"
#include "howdy/version.h"
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
  enum { OPT_PLAINTEXT = 1000, OPT_NO_MDNS, OPT_ESPHOME, OPT_KEEPALIVE, OPT_PERIOD };
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
  howdy_log(HOWDY_LOG_INFO, TAG, "%s (%s) ready, mac %s, %s", o.name, friendly,
            sim->server.mac_colon, o.esphome_mode ? "ESPHome mode" : "HowdyScreen mode");
  if (o.mdns) announce(&sim->platform, &o, &sim->server, friendly);

  while (!sim->stop) {
    if (howdy_api_server_poll(&sim->server, 1000) < 0) {
      howdy_log(HOWDY_LOG_ERROR, TAG, "poll failed, exiting");
      break;
    }
  }

  howdy_log(HOWDY_LOG_INFO, TAG, "shutting down");
  howdy_mdns_stop(&sim->platform);
  howdy_api_server_stop(&sim->server, 500);
  howdy_posix_platform_deinit(&sim->platform);
  return 0;
}
