/* Fixture "fixture_failing": misbehaves on purpose, to test failure modes.
 * Config {"mode": "<mode>"} (found by a simple substring scan):
 *   null_filter          filter_new returns NULL
 *   bad_status           on_request_headers returns (gw_status)77
 *   stop_without_reply   on_request_headers returns GW_STOP without a reply
 *   pause_forever        on_request_headers returns GW_PAUSE, never resumes
 *   response_bad_status  on_response_headers returns (gw_status)99
 * No mode: every hook continues. When it does not fail, on_response_headers
 * sets "x-failing-plugin-ran: 1". An unknown mode is a config error. */
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

typedef enum mode {
  MODE_NONE,
  MODE_NULL_FILTER,
  MODE_BAD_STATUS,
  MODE_STOP_WITHOUT_REPLY,
  MODE_PAUSE_FOREVER,
  MODE_RESPONSE_BAD_STATUS,
} mode;

static const struct {
  const char *name;
  mode mode;
} modes[] = {
    {"null_filter", MODE_NULL_FILTER},
    {"bad_status", MODE_BAD_STATUS},
    {"stop_without_reply", MODE_STOP_WITHOUT_REPLY},
    {"pause_forever", MODE_PAUSE_FOREVER},
    {"response_bad_status", MODE_RESPONSE_BAD_STATUS},
};

/* Find "mode", skip spaces and ':', and read the quoted value that follows.
 * Returns false if the key is absent; *value is then empty. */
static bool find_mode(gw_bytes cfg, gw_bytes *value) {
  static const char key[] = "\"mode\"";
  const size_t klen = sizeof key - 1;
  *value = (gw_bytes){NULL, 0};
  for (size_t i = 0; cfg.ptr != NULL && i + klen <= cfg.len; i++) {
    if (memcmp(cfg.ptr + i, key, klen) != 0) continue;
    size_t j = i + klen;
    while (j < cfg.len && (cfg.ptr[j] == ' ' || cfg.ptr[j] == ':')) j++;
    if (j >= cfg.len || cfg.ptr[j] != '"') return true; /* present but not a string */
    size_t start = ++j;
    while (j < cfg.len && cfg.ptr[j] != '"') j++;
    *value = (gw_bytes){cfg.ptr + start, j - start};
    return true;
  }
  return false;
}

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes cfg) {
  (void)state;
  (void)filter_name;
  mode m = MODE_NONE;
  gw_bytes v;
  if (find_mode(cfg, &v)) {
    bool known = false;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
      if (strlen(modes[i].name) == v.len && memcmp(modes[i].name, v.ptr, v.len) == 0) {
        m = modes[i].mode;
        known = true;
      }
    }
    if (!known) {
      g_host->config_error(c, (gw_str)GW_STR("unknown mode"));
      return NULL;
    }
  }
  mode *conf = malloc(sizeof *conf);
  if (conf == NULL) {
    g_host->config_error(c, (gw_str)GW_STR("out of memory"));
    return NULL;
  }
  *conf = m;
  return conf;
}
static void config_destroy(void *cfg) { free(cfg); }

/* The filter is the config: no per-stream state. */
static void *filter_new(void *cfg, gw_stream *s) {
  (void)s;
  return *(const mode *)cfg == MODE_NULL_FILTER ? NULL : cfg;
}
static void filter_destroy(void *f) { (void)f; }

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)s;
  (void)end_of_stream;
  switch (*(const mode *)f) {
  case MODE_BAD_STATUS: return (gw_status)77;
  case MODE_STOP_WITHOUT_REPLY: return GW_STOP;
  case MODE_PAUSE_FOREVER: return GW_PAUSE;
  default: return GW_CONTINUE;
  }
}

static gw_status on_response_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)end_of_stream;
  if (*(const mode *)f == MODE_RESPONSE_BAD_STATUS) return (gw_status)99;
  g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-failing-plugin-ran"), (gw_str)GW_STR("1"));
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_failing"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_response_headers = on_response_headers,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
