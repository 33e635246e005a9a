/* Fixture "fixture_metadata_echo": copies request metadata into request headers, so
 * a test sees at the upstream what earlier filters recorded.
 *
 *   config   {"ns": "auth", "keys": "consumer,tenant,method"}
 *   effect   metadata <ns>.<key> -> request header "x-<ns>-<key>", for each key
 *            present (absent keys set nothing; a client's own header is replaced
 *            only when the metadata exists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

typedef struct config {
  char ns[32];
  char keys[8][32];
  int count;
} config;

/* The string value of "name" in a flat JSON object (no escapes); 0 if absent. */
static size_t json_string(gw_bytes json, const char *name, char *out, size_t cap) {
  char pattern[48];
  size_t plen = (size_t)snprintf(pattern, sizeof pattern, "\"%s\"", name);
  for (size_t i = 0; json.ptr != NULL && i + plen <= json.len; i++) {
    if (memcmp(json.ptr + i, pattern, plen) != 0) continue;
    size_t j = i + plen;
    while (j < json.len && (json.ptr[j] == ' ' || json.ptr[j] == ':')) j++;
    if (j >= json.len || json.ptr[j] != '"') return 0;
    size_t n = 0;
    for (j++; j < json.len && json.ptr[j] != '"' && n + 1 < cap; j++) out[n++] = (char)json.ptr[j];
    out[n] = 0;
    return n;
  }
  return 0;
}

static void *config_new(void *state, gw_config_handle *c, gw_str name, gw_bytes json) {
  (void)state; (void)name;
  config *conf = calloc(1, sizeof *conf);
  char keys[256];
  if (conf == NULL || json_string(json, "ns", conf->ns, sizeof conf->ns) == 0 ||
      json_string(json, "keys", keys, sizeof keys) == 0) {
    g_host->config_error(c, (gw_str)GW_STR("needs {\"ns\": ..., \"keys\": \"a,b\"}"));
    free(conf);
    return NULL;
  }
  for (char *k = strtok(keys, ","); k != NULL && conf->count < 8; k = strtok(NULL, ",")) {
    strncpy(conf->keys[conf->count++], k, sizeof conf->keys[0] - 1);
  }
  return conf;
}
static void config_destroy(void *c) { free(c); }
static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
static void filter_destroy(void *f) { (void)f; }

static gw_status on_request_headers(void *f, gw_stream *s, bool eos) {
  (void)eos;
  const config *conf = f;
  gw_str ns = {conf->ns, strlen(conf->ns)};
  for (int i = 0; i < conf->count; i++) {
    gw_bytes v;
    gw_str key = {conf->keys[i], strlen(conf->keys[i])};
    if (g_host->metadata_get(s, ns, key, &v) != GW_OK) continue;
    char header[80];
    size_t n = (size_t)snprintf(header, sizeof header, "x-%s-%s", conf->ns, conf->keys[i]);
    g_host->header_set(s, GW_REQUEST, (gw_str){header, n}, (gw_str){(const char *)v.ptr, v.len});
  }
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_metadata_echo"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
