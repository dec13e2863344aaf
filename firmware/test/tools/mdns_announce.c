/*
 * Test-only driver for the host mDNS responder: announces one service until
 * SIGINT/SIGTERM, then says goodbye. Lets the discovery tests exercise the
 * responder on its own, without the rest of the simulator.
 *
 *   mdns_announce <instance> <service_type> <port> [key=value ...]
 *
 * Built by tests/sim/test_discovery.py with the host C compiler from
 * firmware/host/mdns_packet.c and mdns_responder.c alone; not part of the
 * CMake build, because firmware/host/ is a library and firmware/test/ holds
 * cmocka tests only. The responder logs through the platform seam, so this
 * file carries a two-function stand-in for the simulator's logger.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mdns_responder.h"

static volatile sig_atomic_t g_stop; /* set by the signal handler only */

void howdy_vlog(howdy_log_level_t level, const char *tag, const char *fmt, va_list ap) {
  if (level > HOWDY_LOG_INFO) return;
  fprintf(stderr, "[%s] ", tag);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void howdy_log(howdy_log_level_t level, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  howdy_vlog(level, tag, fmt, ap);
  va_end(ap);
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <instance> <service_type> <port> [key=value ...]\n", argv[0]);
    return 2;
  }
  howdy_txt_record_t txt[32];
  size_t n = 0;
  for (int i = 4; i < argc && n < 32; i++, n++) {
    char *eq = strchr(argv[i], '=');
    txt[n].key = argv[i];
    txt[n].value = NULL;
    if (eq) {
      *eq = '\0';
      txt[n].value = eq + 1;
    }
  }
  howdy_mdns_service_t svc = {
      .instance_name = argv[1],
      .service_type = argv[2],
      .port = (uint16_t)atoi(argv[3]),
      .txt = txt,
      .txt_count = n,
  };
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  howdy_mdns_responder_t *r = NULL;
  int rc = howdy_mdns_responder_start(&r, &svc);
  if (rc != 0) {
    fprintf(stderr, "mdns_announce: start failed (%d)\n", rc);
    return 1;
  }
  printf("announcing %s.%s.local on port %u\n", svc.instance_name, svc.service_type, svc.port);
  fflush(stdout);
  while (!g_stop) pause();
  howdy_mdns_responder_stop(r);
  return 0;
}
