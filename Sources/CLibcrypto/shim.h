#ifndef GW_CLIBCRYPTO_SHIM_H
#define GW_CLIBCRYPTO_SHIM_H
/* OpenSSL 3 libcrypto (libssl-dev), for plugins that need digests (auth's API
 * keys) and signatures (auth's JWTs). Only non-deprecated interfaces are used. */
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/core_names.h>

/* Macros Swift cannot import, re-exported as values. The parameter names are
 * string literals with static storage, which OSSL_PARAM_BLD requires (it keeps the
 * pointer until OSSL_PARAM_BLD_to_param). */
static const int gw_evp_pkey_public_key = EVP_PKEY_PUBLIC_KEY;
static const char *const gw_ossl_pkey_param_rsa_n = OSSL_PKEY_PARAM_RSA_N;
static const char *const gw_ossl_pkey_param_rsa_e = OSSL_PKEY_PARAM_RSA_E;
static const char *const gw_ossl_pkey_param_group_name = OSSL_PKEY_PARAM_GROUP_NAME;
static const char *const gw_ossl_pkey_param_pub_key = OSSL_PKEY_PARAM_PUB_KEY;

#endif
