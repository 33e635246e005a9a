/* Benchmark plugin "bench_ops": does one kind of work per hook, chosen by config.
 *   {"op": "noop"}    on_request_headers / on_response_headers return GW_CONTINUE
 *   {"op": "get"}     read request header "x-bench" (header_get)
 *   {"op": "set"}     set response header "x-bench-out: 1" (header_set)
 *   {"op": "getset"}  both
 * Built with plain cc by bench/plugin-boundary.sh. */
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

enum { OP_NOOP, OP_GET, OP_SET, OP_GETSET };
static int ops[4] = {OP_NOOP, OP_GET, OP_SET, OP_GETSET};

static void *config_new(void *state, gw_config_handle *c, gw_str name, gw_bytes config) {
  (void)state;
  (void)c;
  (void)name;
  const char *text = (const char *)config.ptr;
  if (config.len >= 8 && memmem(text, config.len, "\"getset\"", 8)) return &ops[OP_GETSET];
  if (config.len >= 5 && memmem(text, config.len, "\"get\"", 5)) return &ops[OP_GET];
  if (config.len >= 5 && memmem(text, config.len, "\"set\"", 5)) return &ops[OP_SET];
  return &ops[OP_NOOP];
}
static void config_destroy(void *c) { (void)c; }
static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
static void filter_destroy(void *f) { (void)f; }

static gw_status on_request_headers(void *f, gw_stream *s, bool eos) {
  (void)eos;
  int op = *(int *)f;
  if (op == OP_GET || op == OP_GETSET) {
    gw_str v;
    (void)g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("x-bench"), 0, &v, NULL);
  }
  return GW_CONTINUE;
}

static gw_status on_response_headers(void *f, gw_stream *s, bool eos) {
  (void)eos;
  int op = *(int *)f;
  if (op == OP_SET || op == OP_GETSET) {
    (void)g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-bench-out"), (gw_str)GW_STR("1"));
  }
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("bench_ops"),
    .version = GW_STR("1.0.0"),
    .build_info = GW_STR("lang=c"),
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
