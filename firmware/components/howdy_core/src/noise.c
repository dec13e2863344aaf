/*
 * Noise_NNpsk0_25519_ChaChaPoly_SHA256 on libsodium, written from the Noise
 * specification (revision 34): symmetric state, cipher state, HKDF, and the
 * two-message NNpsk0 pattern for either role.
 */
#include "howdy/noise.h"

#include <string.h>

#include <sodium.h>

/* Longer than HASHLEN, so the spec has it hashed into h rather than padded. */
static const char PROTOCOL_NAME[] = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";

/* The last nonce value is reserved by the spec (rekey marker); never use it. */
#define NONCE_LIMIT UINT64_MAX

void howdy_noise_hmac_sha256(const uint8_t key[HOWDY_NOISE_HASH_LEN], const uint8_t *data,
                             size_t len, uint8_t out[HOWDY_NOISE_HASH_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, HOWDY_NOISE_HASH_LEN);
  crypto_auth_hmacsha256_update(&st, data, len);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void howdy_noise_hkdf(const uint8_t ck[HOWDY_NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                      uint8_t out1[HOWDY_NOISE_HASH_LEN], uint8_t out2[HOWDY_NOISE_HASH_LEN],
                      uint8_t out3[HOWDY_NOISE_HASH_LEN]) {
  uint8_t prk[HOWDY_NOISE_HASH_LEN];
  /* previous output followed by the counter byte */
  uint8_t block[HOWDY_NOISE_HASH_LEN + 1];
  /* outputs may alias ck (MixKey overwrites ck), so derive into locals */
  uint8_t t1[HOWDY_NOISE_HASH_LEN], t2[HOWDY_NOISE_HASH_LEN];

  howdy_noise_hmac_sha256(ck, ikm, ikm_len, prk);

  block[0] = 0x01;
  howdy_noise_hmac_sha256(prk, block, 1, t1);

  memcpy(block, t1, HOWDY_NOISE_HASH_LEN);
  block[HOWDY_NOISE_HASH_LEN] = 0x02;
  howdy_noise_hmac_sha256(prk, block, sizeof block, t2);

  if (out3 != NULL) {
    memcpy(block, t2, HOWDY_NOISE_HASH_LEN);
    block[HOWDY_NOISE_HASH_LEN] = 0x03;
    howdy_noise_hmac_sha256(prk, block, sizeof block, out3);
  }
  memcpy(out1, t1, HOWDY_NOISE_HASH_LEN);
  memcpy(out2, t2, HOWDY_NOISE_HASH_LEN);

  sodium_memzero(prk, sizeof prk);
  sodium_memzero(block, sizeof block);
  sodium_memzero(t1, sizeof t1);
  sodium_memzero(t2, sizeof t2);
}

/* ChaChaPoly nonce of the spec: 32 zero bits, then n as 64-bit little endian. */
static void make_nonce(uint64_t n, uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES]) {
  memset(nonce, 0, 4);
  for (unsigned i = 0; i < 8; i++) {
    nonce[4 + i] = (uint8_t)(n >> (8 * i));
  }
}

howdy_noise_result_t howdy_noise_encrypt(howdy_noise_cipher_t *cs, const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t len,
                                         uint8_t *out) {
  if (!cs->has_key) {
    /* an unkeyed cipher state passes data through (only reachable inside a
     * handshake pattern that has no key yet, which NNpsk0 never has) */
    if (out != in && len > 0) {
      memmove(out, in, len);
    }
    return HOWDY_NOISE_OK;
  }
  if (cs->n == NONCE_LIMIT) {
    return HOWDY_NOISE_ERR_NONCE;
  }
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  make_nonce(cs->n, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, ad_len, NULL, nonce, cs->k);
  cs->n++;
  return HOWDY_NOISE_OK;
}

howdy_noise_result_t howdy_noise_decrypt(howdy_noise_cipher_t *cs, const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t len,
                                         uint8_t *out) {
  if (!cs->has_key) {
    if (out != in && len > 0) {
      memmove(out, in, len);
    }
    return HOWDY_NOISE_OK;
  }
  if (len < HOWDY_NOISE_TAG_LEN) {
    return HOWDY_NOISE_ERR_MAC;
  }
  if (cs->n == NONCE_LIMIT) {
    return HOWDY_NOISE_ERR_NONCE;
  }
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  make_nonce(cs->n, nonce);
  unsigned long long mlen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad, ad_len, nonce,
                                                cs->k) != 0) {
    return HOWDY_NOISE_ERR_MAC;
  }
  cs->n++;
  return HOWDY_NOISE_OK;
}

void howdy_noise_cipher_wipe(howdy_noise_cipher_t *cs) { sodium_memzero(cs, sizeof *cs); }

/* --- symmetric state ------------------------------------------------------ */

static void cipher_set_key(howdy_noise_cipher_t *cs, const uint8_t k[HOWDY_NOISE_KEY_LEN]) {
  memcpy(cs->k, k, HOWDY_NOISE_KEY_LEN);
  cs->n = 0;
  cs->has_key = true;
}

static void mix_hash(howdy_noise_symmetric_t *ss, const uint8_t *data, size_t len) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, ss->h, HOWDY_NOISE_HASH_LEN);
  crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, ss->h);
  sodium_memzero(&st, sizeof st);
}

static void mix_key(howdy_noise_symmetric_t *ss, const uint8_t *ikm, size_t len) {
  uint8_t k[HOWDY_NOISE_HASH_LEN];
  howdy_noise_hkdf(ss->ck, ikm, len, ss->ck, k, NULL);
  cipher_set_key(&ss->cipher, k);
  sodium_memzero(k, sizeof k);
}

static void mix_key_and_hash(howdy_noise_symmetric_t *ss, const uint8_t *ikm, size_t len) {
  uint8_t th[HOWDY_NOISE_HASH_LEN], k[HOWDY_NOISE_HASH_LEN];
  howdy_noise_hkdf(ss->ck, ikm, len, ss->ck, th, k);
  mix_hash(ss, th, sizeof th);
  cipher_set_key(&ss->cipher, k);
  sodium_memzero(th, sizeof th);
  sodium_memzero(k, sizeof k);
}

/* out receives len + TAG bytes (the cipher always has a key in NNpsk0). */
static howdy_noise_result_t encrypt_and_hash(howdy_noise_symmetric_t *ss, const uint8_t *in,
                                             size_t len, uint8_t *out, size_t *out_len) {
  howdy_noise_result_t r = howdy_noise_encrypt(&ss->cipher, ss->h, HOWDY_NOISE_HASH_LEN, in, len,
                                               out);
  if (r != HOWDY_NOISE_OK) {
    return r;
  }
  *out_len = len + (ss->cipher.has_key ? HOWDY_NOISE_TAG_LEN : 0);
  mix_hash(ss, out, *out_len);
  return HOWDY_NOISE_OK;
}

static howdy_noise_result_t decrypt_and_hash(howdy_noise_symmetric_t *ss, const uint8_t *in,
                                             size_t len, uint8_t *out, size_t *out_len) {
  /* h must absorb the ciphertext, which decrypting in place would destroy,
   * so hash it into a copy of h first and commit only on success */
  uint8_t h_next[HOWDY_NOISE_HASH_LEN];
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, ss->h, HOWDY_NOISE_HASH_LEN);
  crypto_hash_sha256_update(&st, in, len);
  crypto_hash_sha256_final(&st, h_next);

  howdy_noise_result_t r = howdy_noise_decrypt(&ss->cipher, ss->h, HOWDY_NOISE_HASH_LEN, in, len,
                                               out);
  if (r == HOWDY_NOISE_OK) {
    *out_len = len - (ss->cipher.has_key ? HOWDY_NOISE_TAG_LEN : 0);
    memcpy(ss->h, h_next, HOWDY_NOISE_HASH_LEN);
  }
  sodium_memzero(&st, sizeof st);
  return r;
}

/* --- handshake ------------------------------------------------------------ */

void howdy_noise_handshake_init(howdy_noise_handshake_t *hs, bool initiator,
                                const uint8_t psk[HOWDY_NOISE_KEY_LEN], const uint8_t *prologue,
                                size_t prologue_len) {
  /* idempotent; only selects faster implementations, so a failure here
   * (which the codec reports itself) changes no result */
  int sodium_rc = sodium_init();
  (void)sodium_rc;
  memset(hs, 0, sizeof *hs);
  hs->initiator = initiator;
  memcpy(hs->psk, psk, HOWDY_NOISE_KEY_LEN);
  crypto_hash_sha256(hs->ss.h, (const uint8_t *)PROTOCOL_NAME, sizeof PROTOCOL_NAME - 1);
  memcpy(hs->ss.ck, hs->ss.h, HOWDY_NOISE_HASH_LEN);
  mix_hash(&hs->ss, prologue, prologue_len);
}

/* The "e" token, sender side; in a psk handshake e also feeds MixKey. */
static howdy_noise_result_t token_e_write(howdy_noise_handshake_t *hs,
                                          const uint8_t e_priv[HOWDY_NOISE_DH_LEN], uint8_t *out) {
  memcpy(hs->e_priv, e_priv, HOWDY_NOISE_DH_LEN);
  if (crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv) != 0) {
    return HOWDY_NOISE_ERR_DH;
  }
  memcpy(out, hs->e_pub, HOWDY_NOISE_DH_LEN);
  mix_hash(&hs->ss, hs->e_pub, HOWDY_NOISE_DH_LEN);
  mix_key(&hs->ss, hs->e_pub, HOWDY_NOISE_DH_LEN);
  return HOWDY_NOISE_OK;
}

static void token_e_read(howdy_noise_handshake_t *hs, const uint8_t *in) {
  memcpy(hs->re, in, HOWDY_NOISE_DH_LEN);
  mix_hash(&hs->ss, hs->re, HOWDY_NOISE_DH_LEN);
  mix_key(&hs->ss, hs->re, HOWDY_NOISE_DH_LEN);
}

static howdy_noise_result_t token_ee(howdy_noise_handshake_t *hs) {
  uint8_t shared[HOWDY_NOISE_DH_LEN];
  /* libsodium refuses an all-zero result, i.e. a low-order peer key */
  if (crypto_scalarmult_curve25519(shared, hs->e_priv, hs->re) != 0) {
    sodium_memzero(shared, sizeof shared);
    return HOWDY_NOISE_ERR_DH;
  }
  mix_key(&hs->ss, shared, sizeof shared);
  sodium_memzero(shared, sizeof shared);
  return HOWDY_NOISE_OK;
}

howdy_noise_result_t howdy_noise_write_message(howdy_noise_handshake_t *hs,
                                               const uint8_t e_priv[HOWDY_NOISE_DH_LEN],
                                               const uint8_t *payload, size_t payload_len,
                                               uint8_t *out, size_t out_cap, size_t *out_len) {
  /* the initiator writes message 0, the responder message 1 */
  const uint8_t my_step = hs->initiator ? 0 : 1;
  if (hs->step != my_step || out_cap < HOWDY_NOISE_HANDSHAKE_MSG_LEN + payload_len) {
    return HOWDY_NOISE_ERR_ARG;
  }
  howdy_noise_result_t r;
  if (hs->initiator) {
    mix_key_and_hash(&hs->ss, hs->psk, HOWDY_NOISE_KEY_LEN); /* psk */
    r = token_e_write(hs, e_priv, out);                      /* e */
  } else {
    r = token_e_write(hs, e_priv, out); /* e */
    if (r == HOWDY_NOISE_OK) {
      r = token_ee(hs); /* ee */
    }
  }
  if (r != HOWDY_NOISE_OK) {
    return r;
  }
  size_t ct_len = 0;
  r = encrypt_and_hash(&hs->ss, payload, payload_len, out + HOWDY_NOISE_DH_LEN, &ct_len);
  if (r != HOWDY_NOISE_OK) {
    return r;
  }
  *out_len = HOWDY_NOISE_DH_LEN + ct_len;
  hs->step++;
  return HOWDY_NOISE_OK;
}

howdy_noise_result_t howdy_noise_read_message(howdy_noise_handshake_t *hs, const uint8_t *msg,
                                              size_t len, uint8_t *payload, size_t payload_cap,
                                              size_t *payload_len) {
  const uint8_t peer_step = hs->initiator ? 1 : 0;
  if (hs->step != peer_step || len < HOWDY_NOISE_HANDSHAKE_MSG_LEN ||
      payload_cap < len - HOWDY_NOISE_HANDSHAKE_MSG_LEN) {
    return HOWDY_NOISE_ERR_ARG;
  }
  if (hs->initiator) {
    token_e_read(hs, msg); /* e */
    howdy_noise_result_t r = token_ee(hs); /* ee */
    if (r != HOWDY_NOISE_OK) {
      return r;
    }
  } else {
    mix_key_and_hash(&hs->ss, hs->psk, HOWDY_NOISE_KEY_LEN); /* psk */
    token_e_read(hs, msg);                                   /* e */
  }
  size_t plen = 0;
  howdy_noise_result_t r = decrypt_and_hash(&hs->ss, msg + HOWDY_NOISE_DH_LEN,
                                            len - HOWDY_NOISE_DH_LEN, payload, &plen);
  if (r != HOWDY_NOISE_OK) {
    return r;
  }
  *payload_len = plen;
  hs->step++;
  return HOWDY_NOISE_OK;
}

bool howdy_noise_handshake_done(const howdy_noise_handshake_t *hs) { return hs->step >= 2; }

const uint8_t *howdy_noise_handshake_hash(const howdy_noise_handshake_t *hs) { return hs->ss.h; }

howdy_noise_result_t howdy_noise_split(howdy_noise_handshake_t *hs, howdy_noise_cipher_t *send,
                                       howdy_noise_cipher_t *recv) {
  if (!howdy_noise_handshake_done(hs)) {
    return HOWDY_NOISE_ERR_ARG;
  }
  uint8_t k1[HOWDY_NOISE_HASH_LEN], k2[HOWDY_NOISE_HASH_LEN];
  static const uint8_t empty[1] = {0};
  howdy_noise_hkdf(hs->ss.ck, empty, 0, k1, k2, NULL);
  /* k1 protects initiator -> responder, k2 the other way */
  cipher_set_key(send, hs->initiator ? k1 : k2);
  cipher_set_key(recv, hs->initiator ? k2 : k1);
  sodium_memzero(k1, sizeof k1);
  sodium_memzero(k2, sizeof k2);
  howdy_noise_handshake_wipe(hs);
  hs->step = 2;
  return HOWDY_NOISE_OK;
}

void howdy_noise_handshake_wipe(howdy_noise_handshake_t *hs) { sodium_memzero(hs, sizeof *hs); }
