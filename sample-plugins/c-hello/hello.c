/*
 * hello.c -- a complete gw filter plugin in plain C11 ("sample_c").
 *
 * It depends on gw_plugin.h and libc only. What it does:
 *   - adds one response header (default "x-sample-c: hello from C");
 *   - optionally answers 403 to any request that carries a given header.
 *
 * Config (the filter's `config:` block, handed over as JSON text):
 *   {"response_header": "x-sample-c",      optional, an HTTP token
 *    "response_value":  "hello from C",    optional, no control characters
 *    "reject_header":   "x-forbidden"}     optional, an HTTP token; absent = never reject
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
 *          -I../../Sources/PluginAPI/include -o libgw_sample_c.so hello.c
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define SAMPLE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SAMPLE_PRINTF(fmt, args)
#endif

/* Set once by gw_plugin_entry_v1 on the control thread, before any other call;
 * both stay valid for the life of the process. */
static const gw_host_v1 *g_host;
static gw_plugin_handle *g_plugin;

/* ------------------------------------------------------------------------ */
/* Owned strings                                                             */
/* ------------------------------------------------------------------------ */

/* A malloc'd byte string (always NUL-terminated for convenience). ptr == NULL
 * means "not set". */
typedef struct owned {
  char *ptr;
  size_t len;
} owned;

static gw_str owned_str(owned o) { return (gw_str){o.ptr, o.len}; }
static gw_bytes owned_bytes(owned o) { return (gw_bytes){(const uint8_t *)o.ptr, o.len}; }

/* Concatenate up to three pieces into a new owned string. */
static bool owned_concat(owned *out, const char *a, size_t alen, const char *b, size_t blen,
                         const char *c, size_t clen) {
  char *p = malloc(alen + blen + clen + 1);
  if (p == NULL) return false;
  if (alen) memcpy(p, a, alen);
  if (blen) memcpy(p + alen, b, blen);
  if (clen) memcpy(p + alen + blen, c, clen);
  p[alen + blen + clen] = '\0';
  out->ptr = p;
  out->len = alen + blen + clen;
  return true;
}

/* ------------------------------------------------------------------------ */
/* Config                                                                    */
/* ------------------------------------------------------------------------ */

/* Immutable after config_new: shared read-only by every event loop. */
typedef struct sample_config {
  owned response_header;
  owned response_value;
  owned reject_header;  /* ptr == NULL: never reject */
  owned reject_message; /* "request carries header <name>" (also the log details) */
  owned reject_body;    /* the 403 JSON body, built once here */
} sample_config;

static void config_free(sample_config *cfg) {
  if (cfg == NULL) return;
  free(cfg->response_header.ptr);
  free(cfg->response_value.ptr);
  free(cfg->reject_header.ptr);
  free(cfg->reject_message.ptr);
  free(cfg->reject_body.ptr);
  free(cfg);
}

/* Report a config error through the host (the message is copied by it). */
static void report(gw_config_handle *c, const char *fmt, ...) SAMPLE_PRINTF(2, 3);
static void report(gw_config_handle *c, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
  g_host->config_error(c, (gw_str){buf, len});
}

/* A printable, bounded copy of a user-supplied key for error messages. */
static void printable(char *dst, size_t cap, const char *src, size_t len) {
  size_t i = 0, j = 0;
  for (; i < len && j + 4 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[j++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
  }
  if (i < len) {
    memcpy(dst + j, "...", 3);
    j += 3;
  }
  dst[j] = '\0';
}

/* RFC 7230 tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA. */
static bool is_token(const char *p, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)p[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
    if (!ok) return false;
  }
  return true;
}

/* A header value may hold visible characters, SP, HTAB and bytes >= 0x80;
 * never CR, LF, NUL or another control character. */
static bool is_field_value(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)p[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
  }
  return true;
}

/* A cursor over the config bytes. Every read checks pos < len. */
typedef struct json_cursor {
  const uint8_t *p;
  size_t len;
  size_t pos;
} json_cursor;

static void skip_ws(json_cursor *c) {
  while (c->pos < c->len &&
         (c->p[c->pos] == ' ' || c->p[c->pos] == '\t' || c->p[c->pos] == '\n' || c->p[c->pos] == '\r'))
    c->pos++;
}

static bool peek_is(const json_cursor *c, uint8_t ch) { return c->pos < c->len && c->p[c->pos] == ch; }

static bool eat(json_cursor *c, uint8_t ch) {
  if (!peek_is(c, ch)) return false;
  c->pos++;
  return true;
}

/* Four hex digits at p[0..3] (caller checked the bounds). */
static bool hex4(const uint8_t *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t ch = p[i];
    v <<= 4;
    if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
    else return false;
  }
  *out = v;
  return true;
}

/* Parse the JSON string starting at c->pos (which is '"') into a new owned
 * string. Returns NULL on success, or a static description of the error. */
static const char *parse_string(json_cursor *c, owned *out) {
  if (!eat(c, '"')) return "expected a string";
  /* Pass 1: find the closing quote; the decoded text is never longer. */
  size_t start = c->pos, end = start;
  for (;;) {
    if (end >= c->len) return "unterminated string";
    uint8_t ch = c->p[end];
    if (ch == '"') break;
    if (ch < 0x20) return "control character in string";
    end += (ch == '\\') ? 2 : 1;
  }
  char *dst = malloc(end - start + 1);
  if (dst == NULL) return "out of memory";
  /* Pass 2: decode. `end` is the closing quote, so i + k < end bounds every read. */
  size_t n = 0;
  for (size_t i = start; i < end;) {
    uint8_t ch = c->p[i++];
    if (ch != '\\') {
      dst[n++] = (char)ch;
      continue;
    }
    uint8_t e = c->p[i++];
    switch (e) {
    case '"': dst[n++] = '"'; continue;
    case '\\': dst[n++] = '\\'; continue;
    case '/': dst[n++] = '/'; continue;
    case 'b': dst[n++] = '\b'; continue;
    case 'f': dst[n++] = '\f'; continue;
    case 'n': dst[n++] = '\n'; continue;
    case 'r': dst[n++] = '\r'; continue;
    case 't': dst[n++] = '\t'; continue;
    case 'u': break;
    default: free(dst); return "unsupported escape in string";
    }
    uint32_t cp;
    if (end - i < 4 || !hex4(c->p + i, &cp)) { free(dst); return "bad \\u escape"; }
    i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) { free(dst); return "lone surrogate in \\u escape"; }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo;
      if (end - i < 6 || c->p[i] != '\\' || c->p[i + 1] != 'u' || !hex4(c->p + i + 2, &lo) ||
          lo < 0xDC00 || lo > 0xDFFF) {
        free(dst);
        return "lone surrogate in \\u escape";
      }
      i += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    /* UTF-8: at most 3 bytes for 6 input bytes, 4 for 12, so n stays <= i - start. */
    if (cp < 0x80) {
      dst[n++] = (char)cp;
    } else if (cp < 0x800) {
      dst[n++] = (char)(0xC0 | (cp >> 6));
      dst[n++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      dst[n++] = (char)(0xE0 | (cp >> 12));
      dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      dst[n++] = (char)(0x80 | (cp & 0x3F));
    } else {
      dst[n++] = (char)(0xF0 | (cp >> 18));
      dst[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
      dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      dst[n++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  dst[n] = '\0';
  c->pos = end + 1;
  out->ptr = dst;
  out->len = n;
  return NULL;
}

static const char *const known_keys = "response_header, response_value, reject_header";

/* Parse a flat JSON object of string values. Reports every problem it stops at
 * through config_error and returns NULL. */
static sample_config *parse_config(gw_config_handle *h, gw_bytes config) {
  sample_config *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL) {
    report(h, "out of memory");
    return NULL;
  }
  json_cursor c = {config.ptr, config.len, 0};
  char shown[64];
  owned key = {NULL, 0};

  skip_ws(&c);
  if (!eat(&c, '{')) {
    report(h, "config must be a JSON object");
    goto fail;
  }
  skip_ws(&c);
  if (!eat(&c, '}')) {
    for (;;) {
      skip_ws(&c);
      if (!peek_is(&c, '"')) {
        report(h, "config: expected a key string at byte %zu", c.pos);
        goto fail;
      }
      const char *err = parse_string(&c, &key);
      if (err != NULL) {
        report(h, "config: %s at byte %zu", err, c.pos);
        goto fail;
      }
      printable(shown, sizeof shown, key.ptr, key.len);
      skip_ws(&c);
      if (!eat(&c, ':')) {
        report(h, "config: expected ':' after key \"%s\"", shown);
        goto fail;
      }
      owned *slot = NULL;
      if (key.len == 15 && memcmp(key.ptr, "response_header", 15) == 0) slot = &cfg->response_header;
      else if (key.len == 14 && memcmp(key.ptr, "response_value", 14) == 0) slot = &cfg->response_value;
      else if (key.len == 13 && memcmp(key.ptr, "reject_header", 13) == 0) slot = &cfg->reject_header;
      if (slot == NULL) {
        report(h, "config: unknown key \"%s\" (known keys: %s)", shown, known_keys);
        goto fail;
      }
      if (slot->ptr != NULL) {
        report(h, "config key \"%s\" appears twice", shown);
        goto fail;
      }
      skip_ws(&c);
      if (!peek_is(&c, '"')) {
        report(h, "config key \"%s\" must be a string", shown);
        goto fail;
      }
      err = parse_string(&c, slot);
      if (err != NULL) {
        report(h, "config key \"%s\": %s", shown, err);
        goto fail;
      }
      free(key.ptr);
      key.ptr = NULL;
      skip_ws(&c);
      if (eat(&c, ',')) continue;
      if (eat(&c, '}')) break;
      report(h, "config: expected ',' or '}' at byte %zu", c.pos);
      goto fail;
    }
  }
  skip_ws(&c);
  if (c.pos != c.len) {
    report(h, "config: unexpected data after the object at byte %zu", c.pos);
    goto fail;
  }
  return cfg;

fail:
  free(key.ptr);
  config_free(cfg);
  return NULL;
}

/* Fill defaults, validate, and build the reject reply once. */
static bool finish_config(gw_config_handle *h, sample_config *cfg) {
  static const char dflt_header[] = "x-sample-c", dflt_value[] = "hello from C";
  bool ok = true;
  if (cfg->response_header.ptr == NULL &&
      !owned_concat(&cfg->response_header, dflt_header, sizeof dflt_header - 1, "", 0, "", 0))
    goto oom;
  if (cfg->response_value.ptr == NULL &&
      !owned_concat(&cfg->response_value, dflt_value, sizeof dflt_value - 1, "", 0, "", 0))
    goto oom;

  if (!is_token(cfg->response_header.ptr, cfg->response_header.len)) {
    report(h, "config key \"response_header\" must be a non-empty HTTP token (RFC 7230 tchar)");
    ok = false;
  }
  if (!is_field_value(cfg->response_value.ptr, cfg->response_value.len)) {
    report(h, "config key \"response_value\" must not contain CR, LF, NUL or other control characters");
    ok = false;
  }
  if (cfg->reject_header.ptr != NULL && !is_token(cfg->reject_header.ptr, cfg->reject_header.len)) {
    report(h, "config key \"reject_header\" must be a non-empty HTTP token (RFC 7230 tchar)");
    ok = false;
  }
  if (!ok) return false;

  if (cfg->reject_header.ptr != NULL) {
    /* The name is a token, so it needs no JSON escaping. */
    static const char msg[] = "request carries header ";
    static const char head[] = "{\"error\":{\"type\":\"rejected_by_plugin\",\"message\":\"";
    static const char tail[] = "\"}}";
    if (!owned_concat(&cfg->reject_message, msg, sizeof msg - 1, cfg->reject_header.ptr,
                      cfg->reject_header.len, "", 0))
      goto oom;
    if (!owned_concat(&cfg->reject_body, head, sizeof head - 1, cfg->reject_message.ptr,
                      cfg->reject_message.len, tail, sizeof tail - 1))
      goto oom;
  }
  return true;

oom:
  report(h, "out of memory");
  return false;
}

/* [CONTROL] One call per configured filter. */
static void *sample_config_new(void *state, gw_config_handle *h, gw_str filter_name, gw_bytes config) {
  (void)state;
  (void)filter_name;
  /* The host passes "{}" when there is no config block; accept empty input too. */
  static const uint8_t empty[] = "{}";
  if (config.len == 0) config = (gw_bytes){empty, 2};
  sample_config *cfg = parse_config(h, config);
  if (cfg == NULL) return NULL;
  if (!finish_config(h, cfg)) {
    config_free(cfg);
    return NULL;
  }
  return cfg;
}

/* [ANY] */
static void sample_config_destroy(void *config) { config_free(config); }

/* ------------------------------------------------------------------------ */
/* Per-stream hooks [LOOP]                                                   */
/* ------------------------------------------------------------------------ */

/* No per-stream state: the filter is the (immutable) config itself. */
static void *sample_filter_new(void *config, gw_stream *s) {
  (void)s;
  return config;
}

static void sample_filter_destroy(void *filter) { (void)filter; }

static gw_status sample_on_request_headers(void *filter, gw_stream *s, bool end_of_stream) {
  (void)end_of_stream;
  const sample_config *cfg = filter;
  if (cfg->reject_header.ptr == NULL) return GW_CONTINUE;

  gw_str value; /* hook-borrowed; we only need to know that it exists */
  if (g_host->header_get(s, GW_REQUEST, owned_str(cfg->reject_header), 0, &value, NULL) != GW_OK)
    return GW_CONTINUE;

  static const gw_header headers[] = {{GW_STR("content-type"), GW_STR("application/json")}};
  g_host->send_local_reply(s, 403, headers, 1, owned_bytes(cfg->reject_body),
                           owned_str(cfg->reject_message));
  /* Even if the reply failed, GW_STOP is right: without a reply the host
   * treats it as a plugin failure, and a rejecting filter should fail closed. */
  return GW_STOP;
}

static gw_status sample_on_response_headers(void *filter, gw_stream *s, bool end_of_stream) {
  (void)end_of_stream;
  const sample_config *cfg = filter;
  gw_result r = g_host->header_set(s, GW_RESPONSE, owned_str(cfg->response_header),
                                   owned_str(cfg->response_value));
  if (r != GW_OK && g_host->log_enabled(g_plugin, GW_LOG_WARN)) {
    static const char msg[] = "could not set the response header";
    g_host->log(g_plugin, GW_LOG_WARN, (gw_str){msg, sizeof msg - 1});
  }
  return GW_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Descriptor and entry point                                                */
/* ------------------------------------------------------------------------ */

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("sample_c"),
    .version = GW_STR("0.1.0"),
    .build_info = GW_STR("lang=c"),
    .required_features = 0,
    .optional_features = 0,
    .config_new = sample_config_new,
    .config_destroy = sample_config_destroy,
    .filter_new = sample_filter_new,
    .filter_destroy = sample_filter_destroy,
    .on_request_headers = sample_on_request_headers,
    .on_response_headers = sample_on_response_headers,
};

/* [CONTROL] The only exported symbol. Must not block or start threads. */
GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  if (host == NULL || host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  g_plugin = p;
  return &descriptor;
}
