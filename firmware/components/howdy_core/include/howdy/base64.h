/*
 * Standard base64 (RFC 4648, with padding), the form in which the device shows
 * its encryption key and Home Assistant's config flow accepts it.
 */
#ifndef HOWDY_BASE64_H
#define HOWDY_BASE64_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters needed to encode n bytes, without the NUL. */
#define HOWDY_BASE64_LEN(n) ((((n) + 2u) / 3u) * 4u)

/* Writes the encoding of in plus a NUL; returns its length, or 0 if out_len
 * is too small. */
size_t howdy_base64_encode(const uint8_t *in, size_t in_len, char *out, size_t out_len);

/* Decodes a padded base64 string of exactly in_len characters. Returns the
 * decoded length, or -1 on any malformed input (bad character, bad padding,
 * length not a multiple of 4) or if out_len is too small. */
int howdy_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_BASE64_H */
