/* SPDX-License-Identifier: MIT */
/* Fleet keys on disk. A key directory holds:
 *   fleet.key    crypto_secretbox key shared by the aggregator and every agent (0600)
 *   signing.key  the aggregator's Ed25519 secret key; the aggregator only (0600)
 *   signing.pub  its public key; agents verify adjustments with it (0644)
 * Each file is one line of standard base64 (with padding). Secret key files that group or
 * others may access in any way are refused when loaded. Library code: no logging above
 * debug; errors come back as a negative errno plus a sentence for the operator in @err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_FLEET_KEY_BYTES 32 /* crypto_secretbox_KEYBYTES */
#define PSC_SIGN_PK_BYTES 32   /* crypto_sign_PUBLICKEYBYTES */
#define PSC_SIGN_SK_BYTES 64   /* crypto_sign_SECRETKEYBYTES */
#define PSC_SIGNATURE_BYTES 64 /* crypto_sign_BYTES */

#define PSC_KEYS_FLEET_FILE "fleet.key"
#define PSC_KEYS_SIGNING_FILE "signing.key"
#define PSC_KEYS_PUBLIC_FILE "signing.pub"

struct psc_keys {
	uint8_t fleet[PSC_FLEET_KEY_BYTES];
	uint8_t sign_pk[PSC_SIGN_PK_BYTES];
	uint8_t sign_sk[PSC_SIGN_SK_BYTES];
	bool has_sign_sk; /* signing.key was loaded */
};

enum psc_keys_flags {
	PSC_KEYS_NEED_SIGNING = 1 << 0, /* also load signing.key (the aggregator) */
};

/* Creates @dir (0700) if missing and writes fresh fleet.key (0600), signing.key (0600) and
 * signing.pub (0644) in it. Refuses with -EEXIST, writing nothing, if any of the three
 * already exists. Other errors: -errno of the failing call; a file written before a
 * failure is removed. @err (may be NULL) receives a message naming the file. */
int psc_keys_generate(const char *dir, char *err, size_t errlen);

/* Loads fleet.key and signing.pub from @dir into @k (and signing.key with
 * PSC_KEYS_NEED_SIGNING, checked against signing.pub). Errors: -ENOENT (missing file),
 * -EPERM (secret key accessible by group/others, or not a regular file), -EBADMSG (bad
 * content or a signing.key that does not match signing.pub), other -errno of I/O. @k is
 * wiped on failure. */
int psc_keys_load(struct psc_keys *k, const char *dir, unsigned flags, char *err, size_t errlen);

/* Zeroes every key in @k. */
void psc_keys_wipe(struct psc_keys *k);
