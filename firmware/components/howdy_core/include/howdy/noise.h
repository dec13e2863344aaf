/*
 * Noise_NNpsk0_25519_ChaChaPoly_SHA256, both roles, on libsodium.
 *
 * The device only ever plays the responder; the initiator role exists so the
 * unit tests can run a full handshake against the responder without a second
 * implementation. Pattern:
 *     -> psk, e
 *     <- e, ee
 * Everything is in caller-owned structs; nothing allocates.
 */
#ifndef HOWDY_NOISE_H
#define HOWDY_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOWDY_NOISE_KEY_LEN 32u
#define HOWDY_NOISE_HASH_LEN 32u
#define HOWDY_NOISE_TAG_LEN 16u
#define HOWDY_NOISE_DH_LEN 32u

/* The prologue aioesphomeapi mixes into the handshake hash: "NoiseAPIInit"
 * followed by two zero bytes (14 bytes in all). */
#define HOWDY_NOISE_API_PROLOGUE "NoiseAPIInit\0\0"
#define HOWDY_NOISE_API_PROLOGUE_LEN 14u

/* Size of handshake message 1 (initiator) and 2 (responder) with an empty
 * payload: ephemeral public key + tag of the encrypted empty payload. */
#define HOWDY_NOISE_HANDSHAKE_MSG_LEN (HOWDY_NOISE_DH_LEN + HOWDY_NOISE_TAG_LEN)

typedef enum {
  HOWDY_NOISE_OK = 0,
  HOWDY_NOISE_ERR_ARG = -1,      /* wrong sizes, wrong role or wrong step */
  HOWDY_NOISE_ERR_MAC = -2,      /* authentication failed (wrong psk, tampering) */
  HOWDY_NOISE_ERR_DH = -3,       /* peer sent a low-order public key */
  HOWDY_NOISE_ERR_NONCE = -4,    /* cipher state exhausted its nonces */
} howdy_noise_result_t;

typedef struct {
  uint8_t k[HOWDY_NOISE_KEY_LEN];
  uint64_t n;
  bool has_key;
} howdy_noise_cipher_t;

typedef struct {
  howdy_noise_cipher_t cipher;
  uint8_t ck[HOWDY_NOISE_HASH_LEN];
  uint8_t h[HOWDY_NOISE_HASH_LEN];
} howdy_noise_symmetric_t;

typedef struct {
  howdy_noise_symmetric_t ss;
  uint8_t psk[HOWDY_NOISE_KEY_LEN];
  uint8_t e_priv[HOWDY_NOISE_DH_LEN];
  uint8_t e_pub[HOWDY_NOISE_DH_LEN];
  uint8_t re[HOWDY_NOISE_DH_LEN];
  bool initiator;
  uint8_t step; /* index of the next message of the pattern: 0, 1, 2 = done */
} howdy_noise_handshake_t;

/* --- primitives, exposed for tests ------------------------------------- */

void howdy_noise_hmac_sha256(const uint8_t key[HOWDY_NOISE_HASH_LEN], const uint8_t *data,
                             size_t len, uint8_t out[HOWDY_NOISE_HASH_LEN]);

/* Noise HKDF with two or three outputs (out3 may be NULL). */
void howdy_noise_hkdf(const uint8_t ck[HOWDY_NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                      uint8_t out1[HOWDY_NOISE_HASH_LEN], uint8_t out2[HOWDY_NOISE_HASH_LEN],
                      uint8_t out3[HOWDY_NOISE_HASH_LEN]);

/* --- cipher state (transport) ------------------------------------------ */

/* out receives len + HOWDY_NOISE_TAG_LEN bytes; out may equal in. */
howdy_noise_result_t howdy_noise_encrypt(howdy_noise_cipher_t *cs, const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t len,
                                         uint8_t *out);

/* in holds len bytes including the tag; out receives len - TAG bytes; out may
 * equal in. The nonce only advances on success; on failure out is cleared
 * (so decrypting in place loses the ciphertext). */
howdy_noise_result_t howdy_noise_decrypt(howdy_noise_cipher_t *cs, const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t len,
                                         uint8_t *out);

/* --- handshake ---------------------------------------------------------- */

void howdy_noise_handshake_init(howdy_noise_handshake_t *hs, bool initiator,
                                const uint8_t psk[HOWDY_NOISE_KEY_LEN], const uint8_t *prologue,
                                size_t prologue_len);

/* Writes the next message of this role (message 1 for the initiator, 2 for
 * the responder) using e_priv as the ephemeral private key (the caller draws
 * it from its random source). out_cap must hold
 * HOWDY_NOISE_HANDSHAKE_MSG_LEN + payload_len bytes. */
howdy_noise_result_t howdy_noise_write_message(howdy_noise_handshake_t *hs,
                                               const uint8_t e_priv[HOWDY_NOISE_DH_LEN],
                                               const uint8_t *payload, size_t payload_len,
                                               uint8_t *out, size_t out_cap, size_t *out_len);

/* Reads the peer's next message; the decrypted payload goes to payload
 * (payload_cap >= len - HOWDY_NOISE_HANDSHAKE_MSG_LEN; it may point at the
 * ciphertext inside msg, msg + HOWDY_NOISE_DH_LEN). After an error the
 * handshake state is spoiled and must be discarded. */
howdy_noise_result_t howdy_noise_read_message(howdy_noise_handshake_t *hs, const uint8_t *msg,
                                              size_t len, uint8_t *payload, size_t payload_cap,
                                              size_t *payload_len);

bool howdy_noise_handshake_done(const howdy_noise_handshake_t *hs);

/* After both messages: derives the transport cipher states for this role
 * and wipes the handshake state. */
howdy_noise_result_t howdy_noise_split(howdy_noise_handshake_t *hs, howdy_noise_cipher_t *send,
                                       howdy_noise_cipher_t *recv);

/* The handshake hash (channel binding); valid until split. */
const uint8_t *howdy_noise_handshake_hash(const howdy_noise_handshake_t *hs);

void howdy_noise_handshake_wipe(howdy_noise_handshake_t *hs);
void howdy_noise_cipher_wipe(howdy_noise_cipher_t *cs);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_NOISE_H */
