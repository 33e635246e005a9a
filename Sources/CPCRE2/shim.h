#ifndef GW_CPCRE2_SHIM_H
#define GW_CPCRE2_SHIM_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* PCRE2's API names are function-like macros over *_8 symbols; Swift cannot
 * import those, so the few constants we need are re-exported as values. */
static const uint32_t gw_pcre2_utf = PCRE2_UTF;
static const uint32_t gw_pcre2_no_utf_check = PCRE2_NO_UTF_CHECK;
static const int gw_pcre2_error_nomatch = PCRE2_ERROR_NOMATCH;
static const uint32_t gw_pcre2_jit_complete = PCRE2_JIT_COMPLETE;
static const size_t gw_pcre2_zero_terminated = PCRE2_ZERO_TERMINATED;

#endif
