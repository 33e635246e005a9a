/* Fixture "fixture_other_thread": stream calls made from a thread other than the
 * stream's loop, while a hook of that stream runs (the hook waits for the thread),
 * must be refused with GW_E_WRONG_CONTEXT and change nothing. on_request_headers
 * starts a thread that tries header_set, header_get, metadata_set and
 * attribute_get on the stream, joins it, and then, on the loop, sets request
 * header "x-other-thread" to one letter per call: 'w' for GW_E_WRONG_CONTEXT,
 * 'a' for anything else. The same calls made on the loop must work: it sets
 * "x-loop-thread" the same way ('o' for GW_OK). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

struct attempt {
  gw_stream *s;
  char result[5];
};

static void try_calls(gw_stream *s, char *out, char ok) {
  gw_str value = {0};
  gw_result rc[4];
  rc[0] = g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-set-by-thread"), (gw_str)GW_STR("1"));
  rc[1] = g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("host"), 0, &value, NULL);
  rc[2] = g_host->metadata_set(s, (gw_str)GW_STR("thread"), (gw_str)GW_STR("key"), (gw_bytes){(const uint8_t *)"v", 1});
  rc[3] = g_host->attribute_get(s, GW_ATTR_PATH, &value);
  for (int i = 0; i < 4; i++) out[i] = rc[i] == GW_E_WRONG_CONTEXT ? 'w' : rc[i] == GW_OK ? ok : 'a';
  out[4] = 0;
}

static void *worker(void *arg) {
  struct attempt *a = arg;
  try_calls(a->s, a->result, 'a');
  return NULL;
}

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes config) {
  (void)state;
  (void)c;
  (void)filter_name;
  (void)config;
  static int token;
  return &token;
}
static void config_destroy(void *config) { (void)config; }
static void *filter_new(void *config, gw_stream *s) { (void)s; return config; }
static void filter_destroy(void *filter) { (void)filter; }

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  struct attempt a = {.s = s, .result = "none"};
  pthread_t tid;
  if (pthread_create(&tid, NULL, worker, &a) == 0) pthread_join(tid, NULL);
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-other-thread"), (gw_str){a.result, strlen(a.result)});
  char on_loop[5];
  try_calls(s, on_loop, 'o');
  g_host->header_remove(s, GW_REQUEST, (gw_str)GW_STR("x-set-by-thread"));
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-loop-thread"), (gw_str){on_loop, 4});
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_other_thread"),
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
