#ifndef GW_CLIBCRYPTO_SHIM_H
#define GW_CLIBCRYPTO_SHIM_H
/* OpenSSL 3 libcrypto (libssl-dev), for plugins that need digests (auth) and,
 * later, signatures (JWT). Only non-deprecated EVP interfaces are used. */
#include <openssl/evp.h>
#include <openssl/crypto.h>
#endif
