/* Base64 encode/decode for the key display and the simulator's state file. */
#include "howdy/base64.h"

static const char k_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t howdy_base64_encode(const uint8_t *in, size_t in_len, char *out, size_t out_len) {
  size_t need = HOWDY_BASE64_LEN(in_len);
  if (out_len < need + 1u) {
    return 0;
  }
  size_t o = 0;
  for (size_t i = 0; i < in_len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    size_t rest = in_len - i;
    if (rest > 1) v |= (uint32_t)in[i + 1] << 8;
    if (rest > 2) v |= in[i + 2];
    out[o++] = k_alphabet[(v >> 18) & 63u];
    out[o++] = k_alphabet[(v >> 12) & 63u];
    out[o++] = rest > 1 ? k_alphabet[(v >> 6) & 63u] : '=';
    out[o++] = rest > 2 ? k_alphabet[v & 63u] : '=';
  }
  out[o] = '\0';
  return o;
}

static int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int howdy_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len) {
  if (in_len == 0 || in_len % 4u != 0) {
    return -1;
  }
  size_t o = 0;
  for (size_t i = 0; i < in_len; i += 4) {
    int pad = 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
      char c = in[i + j];
      int d;
      if (c == '=') {
        /* Padding only in the last quantum, only in its last two places, and
         * nothing but padding after it. */
        if (i + 4 != in_len || j < 2) return -1;
        pad++;
        d = 0;
      } else {
        if (pad) return -1;
        d = decode_char(c);
        if (d < 0) return -1;
      }
      v = (v << 6) | (uint32_t)d;
    }
    size_t n = 3u - (size_t)pad;
    if (o + n > out_len) return -1;
    out[o++] = (uint8_t)(v >> 16);
    if (n > 1) out[o++] = (uint8_t)(v >> 8);
    if (n > 2) out[o++] = (uint8_t)v;
  }
  return (int)o;
}
