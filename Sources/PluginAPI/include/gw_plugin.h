/*
 * gw_plugin.h -- the filter-plugin ABI of the gw gateway, major version 1.
 *
 * This header is the whole contract between gw (the host) and a filter plugin
 * (a shared library loaded with dlopen). It is plain C11 with no dependency
 * beyond <stdbool.h>, <stddef.h> and <stdint.h>; it also compiles as C++17.
 *
 * THE PROMISE
 *   A plugin built against ABI 1.N loads and runs in every host of major 1
 *   whose minor is >= N, and in older 1.x hosts as long as it does not
 *   require a slot or feature they lack. See docs/plugin-abi.md.
 *
 * SHAPE
 *   The plugin exports exactly one symbol, gw_plugin_entry_v1. It receives the
 *   host's table of callbacks (gw_host_v1) and returns its own table of hooks
 *   (gw_plugin_v1). A plugin never links against host symbols.
 *
 * EVOLUTION
 *   - Every table starts with struct_size and only ever grows at the end.
 *     Before using a slot added after 1.0, check GW_HAS_FIELD and NULL.
 *   - GW_ABI_MINOR is bumped for each addition; additions are grouped below
 *     under "Added in ABI 1.N".
 *   - Optional capabilities are 64-bit feature bits (GW_FEATURE_*).
 *   - Enums are 32 bits wide and only gain values. A host never passes a
 *     value newer than the plugin's abi_minor; a plugin must not return one
 *     newer than the host's abi_minor.
 *   - A breaking change means gw_plugin_entry_v2 and gw_host_v2.
 *
 * THREADS (the tag on each declaration says which applies)
 *   [CONTROL] the control thread (start-up, reload). May block.
 *   [LOOP]    the event-loop thread that owns the stream. Must not block.
 *   [HOOK]    [LOOP], and only while a hook of that same stream is running
 *             (a request/response hook, on_async_event or on_callout_done).
 *   [ANY]     any thread, including threads the plugin created.
 *   A stream call made in the wrong context returns GW_E_WRONG_CONTEXT.
 *
 * MEMORY
 *   - Views passed INTO the host (gw_str/gw_bytes arguments) are borrowed for
 *     the duration of the call; the host copies what it keeps.
 *   - Views handed OUT by the host are "hook-borrowed": valid until the
 *     current hook returns, or until the plugin mutates the same object
 *     (headers map, body), whichever comes first.
 *   - A host view may be passed back into any host call (the host copies
 *     inputs before it mutates anything).
 *   - Memory is always freed by the side that allocated it.
 *
 * TRUST
 *   In-process plugins are trusted code: they share the gateway's address
 *   space. The host contains plugin *errors* (NULL returns, unknown status
 *   codes, failed calls) with a per-filter failure mode; it cannot contain a
 *   plugin that corrupts memory or aborts the process.
 */
#ifndef GW_PLUGIN_H
#define GW_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Versions and macros                                                       */
/* ======================================================================== */

/* Major version: part of the entry symbol's name; never changes within v1. */
#define GW_ABI_MAJOR 1
/* Minor version: bumped for every append to a v1 table or enum. */
#define GW_ABI_MINOR 2
/* The one symbol a plugin exports. */
#define GW_PLUGIN_ENTRY_V1_SYMBOL "gw_plugin_entry_v1"

#if defined(__GNUC__) || defined(__clang__)
#define GW_EXPORT __attribute__((visibility("default")))
#else
#define GW_EXPORT
#endif

/* Nullability annotations for Swift and clang; empty elsewhere. */
#if defined(__clang__)
#define GW_NONNULL _Nonnull
#define GW_NULLABLE _Nullable
#else
#define GW_NONNULL
#define GW_NULLABLE
#endif

/* True if a table received from the other side is large enough to hold `field`.
 * Use it before touching any slot added after ABI 1.0. */
#define GW_HAS_FIELD(ptr, type, field) \
  ((ptr) != NULL && (size_t)(ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* A string literal as a gw_str initializer: gw_str n = GW_STR("x-api-key"); */
#define GW_STR(lit) { (lit), sizeof(lit) - 1 }

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#pragma clang assume_nonnull begin
#endif

/* ======================================================================== */
/* Basic types                                                               */
/* ======================================================================== */

/* A byte string view: NOT NUL-terminated, not necessarily UTF-8.
 * ptr may be NULL only when len is 0. */
typedef struct gw_str {
  const char *GW_NULLABLE ptr;
  size_t len;
} gw_str;

/* A binary view; same rules as gw_str. */
typedef struct gw_bytes {
  const uint8_t *GW_NULLABLE ptr;
  size_t len;
} gw_bytes;

/* One header field. Names are compared case-insensitively by the host. */
typedef struct gw_header {
  gw_str name;
  gw_str value;
} gw_header;

/* Host-owned opaque handles. The plugin never dereferences them. */
typedef struct gw_plugin_handle gw_plugin_handle; /* one per loaded plugin file; valid forever          */
typedef struct gw_config_handle gw_config_handle; /* one per configured filter; valid until config_destroy */
typedef struct gw_stream gw_stream;               /* one per HTTP exchange; valid until filter_destroy  */
typedef struct gw_async gw_async;                 /* ref-counted, thread-safe resume handle              */

/* Result of a host call: GW_OK (0) or a negative error. */
typedef int32_t gw_result;
#define GW_OK 0
#define GW_E_NOT_FOUND (-1)        /* no such header, key, metadata or attribute       */
#define GW_E_BAD_ARGUMENT (-2)     /* invalid name/value (e.g. CR or LF in a header)   */
#define GW_E_WRONG_CONTEXT (-3)    /* wrong thread, wrong hook, or stream not paused   */
#define GW_E_STREAM_GONE (-4)      /* the stream has finished; the call was a no-op    */
#define GW_E_BUFFER_TOO_SMALL (-5) /* the needed size is in the *_out parameter        */
#define GW_E_CAS_MISMATCH (-6)     /* compare-and-swap lost                            */
#define GW_E_UNSUPPORTED (-7)      /* feature not offered by this host                 */
#define GW_E_LIMIT (-8)            /* a size, count or buffer limit was exceeded       */
#define GW_E_INTERNAL (-9)
/* Added in ABI 1.1 */
#define GW_E_UNAVAILABLE (-10)    /* the shared store did not answer in time          */

/* ======================================================================== */
/* Enums (all 32-bit; values only ever added)                               */
/* ======================================================================== */

/* What a request/response hook returns.
 *
 * GW_CONTINUE  pass on to the next filter (and then upstream/downstream).
 * GW_STOP      the filter has answered: it called send_local_reply (or
 *              stream_reset) in this hook. The chain stops here. Returning
 *              GW_STOP without a reply is a plugin failure.
 * GW_PAUSE     hold the stream here; the plugin resumes it later with
 *              stream_continue (inside on_async_event / on_callout_done) or
 *              async_resume (from any thread). Data that arrives meanwhile
 *              is held by the host. A pause that outlives the filter's
 *              pause timeout is a plugin failure.
 * GW_BUFFER    headers hook: buffer the whole body (up to the route's body
 *              limit, else 413 / 502) and call this filter's body hook
 *              once, with end_of_stream = true and the whole body.
 *              (When the headers hook itself saw end_of_stream = true there
 *              is no body: GW_BUFFER then means GW_CONTINUE.)
 *              body hook: keep this chunk; the next call sees everything
 *              kept so far plus the new chunk (body_get). With
 *              end_of_stream = true, GW_BUFFER means GW_CONTINUE.
 *
 * Any other value is a plugin failure, handled by the filter's failure mode:
 * "closed" answers 500 with a JSON error, "open" skips the filter. */
typedef enum gw_status {
  GW_CONTINUE = 0,
  GW_STOP = 1,
  GW_PAUSE = 2,
  GW_BUFFER = 3,
  GW_STATUS_MAX_ = 0x7fffffff
} gw_status;

/* Which way data flows. */
typedef enum gw_direction {
  GW_REQUEST = 0,  /* downstream -> upstream */
  GW_RESPONSE = 1, /* upstream -> downstream */
  GW_DIRECTION_MAX_ = 0x7fffffff
} gw_direction;

/* Read-only (and some writable) facts about a stream; see attribute_get/_set. */
typedef enum gw_attribute {
  GW_ATTR_METHOD = 0,          /* "GET"; settable before the request leaves      */
  GW_ATTR_PATH = 1,            /* path without query, e.g. "/v1/chat"; settable  */
  GW_ATTR_QUERY = 2,           /* query without '?', may be empty; settable      */
  GW_ATTR_AUTHORITY = 3,       /* Host header value; settable                    */
  GW_ATTR_SCHEME = 4,          /* "http" or "https" (downstream)                  */
  GW_ATTR_CLIENT_ADDRESS = 5,  /* peer IP of the downstream connection            */
  GW_ATTR_REQUEST_ID = 6,      /* x-request-id, propagated or generated           */
  GW_ATTR_ROUTE_NAME = 7,      /* name of the matched route                       */
  GW_ATTR_UPSTREAM_NAME = 8,   /* name of the route's upstream, may be empty      */
  GW_ATTR_RESPONSE_STATUS = 9, /* decimal, e.g. "200"; settable in response hooks */
  GW_ATTR_PROTOCOL = 10,       /* "HTTP/1.1"                                      */
  GW_ATTRIBUTE_MAX_ = 0x7fffffff
} gw_attribute;

typedef enum gw_log_level {
  GW_LOG_TRACE = 0,
  GW_LOG_DEBUG = 1,
  GW_LOG_INFO = 2,
  GW_LOG_WARN = 3,
  GW_LOG_ERROR = 4,
  GW_LOG_LEVEL_MAX_ = 0x7fffffff
} gw_log_level;

typedef enum gw_metric_kind {
  GW_METRIC_COUNTER = 0,   /* record(value) adds value                         */
  GW_METRIC_GAUGE = 1,     /* record(value) sets value                         */
  GW_METRIC_HISTOGRAM = 2, /* record(value) observes value (seconds by custom) */
  GW_METRIC_KIND_MAX_ = 0x7fffffff
} gw_metric_kind;

typedef enum gw_callout_result {
  GW_CALLOUT_OK = 0,             /* a response arrived (any status)     */
  GW_CALLOUT_TIMEOUT = 1,
  GW_CALLOUT_CONNECT_FAILED = 2,
  GW_CALLOUT_RESET = 3,          /* connection lost or invalid response */
  GW_CALLOUT_TOO_LARGE = 4,      /* response body over the host's limit */
  GW_CALLOUT_CANCELLED = 5,      /* the stream finished first           */
  GW_CALLOUT_RESULT_MAX_ = 0x7fffffff
} gw_callout_result;

/* Optional capabilities. A plugin lists the bits it requires (the host refuses
 * to load it if one is missing) and the bits it can use; the host advertises
 * what it offers in gw_host_v1.features. (Plain literals, not shifts, so that
 * every binding generator can import them.) */
#define GW_FEATURE_REQUEST_BODY 0x1ULL  /* on_request_body is called            */
#define GW_FEATURE_RESPONSE_BODY 0x2ULL /* on_response_body is called           */
#define GW_FEATURE_HTTP_CALLOUT 0x4ULL  /* http_callout / on_callout_done       */
#define GW_FEATURE_SHARED_KV 0x8ULL     /* kv_* calls                           */
#define GW_FEATURE_SSE_EVENTS 0x10ULL    /* on_response_sse_event                */
#define GW_FEATURE_METRICS 0x20ULL       /* metric_define / metric_record        */
/* Added in ABI 1.1 */
#define GW_FEATURE_SHARED_STORE 0x40ULL  /* shared_gcra/_incr/_get/_set (ABI 1.1) */

/* Added in ABI 1.2: hooks one filter does without (config_skip_hooks). */
#define GW_HOOK_REQUEST_HEADERS 0x1ULL
#define GW_HOOK_REQUEST_BODY 0x2ULL
#define GW_HOOK_RESPONSE_HEADERS 0x4ULL
#define GW_HOOK_RESPONSE_BODY 0x8ULL
#define GW_HOOK_RESPONSE_SSE_EVENT 0x10ULL
#define GW_HOOK_STREAM_COMPLETE 0x20ULL

/* ---- Added in ABI 1.1: the shared store (GW_FEATURE_SHARED_STORE) -------- */

/* Most limits one shared_gcra call decides together. */
#define GW_GCRA_MAX_LIMITS 8

/* One GCRA limit: the emission interval T (period / requests) and the burst
 * tolerance (burst * T), in nanoseconds. A request is admitted by the limit if
 * max(TAT, now) + T * cost - now <= tolerance. */
typedef struct gw_gcra_limit {
  uint64_t interval_ns;
  uint64_t tolerance_ns;
} gw_gcra_limit;

/* The outcome of shared_gcra or shared_incr, passed as on_async_event's
 * `data`. LIFETIME: valid only during that on_async_event call. */
typedef struct gw_shared_result {
  uint32_t struct_size;
  gw_result status;      /* GW_OK, or GW_E_UNAVAILABLE: the store did not answer
                            in time (down, slow): nothing was changed or counted */
  int64_t value;         /* shared_incr: the new value; shared_gcra: 1 admitted, 0 refused */
  uint64_t wait_ns;      /* shared_gcra refused: time until a retry can be admitted */
  uint32_t refused_by;   /* shared_gcra refused: index of the (longest-waiting) refusing limit */
  uint32_t count;        /* shared_gcra: entries in ahead_ns (the call's count) */
  const uint64_t *GW_NULLABLE ahead_ns; /* shared_gcra: per limit, max(TAT, now) - now after
                            the decision (for RateLimit-Remaining / -Reset) */
  gw_bytes data;         /* shared_get: the value (len 0 and value 0 when absent; value 1
                            when present). LIFETIME: this call only. */
} gw_shared_result;

/* One Server-Sent Event, framed by the host (GW_FEATURE_SSE_EVENTS).
 * OWNERSHIP: host. LIFETIME: hook-borrowed. */
typedef struct gw_sse_event {
  uint32_t struct_size;
  uint32_t reserved0;
  gw_str event;  /* "event:" field; empty if absent                        */
  gw_str id;     /* "id:" field; empty if absent                           */
  gw_bytes data; /* the "data:" lines joined with '\n'                     */
  gw_bytes raw;  /* the exact bytes of the event, including the blank line */
} gw_sse_event;

/* ======================================================================== */
/* Host table: implemented by gw, called by the plugin.                     */
/* OWNERSHIP: host. LIFETIME: the whole process. Every slot of ABI 1.0 is   */
/* non-NULL; a slot whose feature bit the host lacks returns                */
/* GW_E_UNSUPPORTED.                                                         */
/* ======================================================================== */
typedef struct gw_host_v1 {
  uint32_t struct_size;  /* sizeof(gw_host_v1) as the host knows it          */
  uint16_t abi_major;    /* 1                                                 */
  uint16_t abi_minor;    /* the host's GW_ABI_MINOR                           */
  gw_str host_version;   /* e.g. "gw/0.1.0"; static                           */
  uint64_t features;     /* GW_FEATURE_* this host offers                     */
  uint32_t worker_count; /* number of event loops                             */
  uint32_t reserved0;

  /* ---- logging and time ------------------------------------------------ */

  /* True if `level` would be logged for this plugin. [ANY] */
  bool (*log_enabled)(gw_plugin_handle *p, gw_log_level level);
  /* Log one message, tagged with the plugin's name. [ANY]
   * OWNERSHIP: message borrowed for the call. */
  void (*log)(gw_plugin_handle *p, gw_log_level level, gw_str message);
  /* Monotonic clock in nanoseconds. [ANY] */
  uint64_t (*monotonic_ns)(void);

  /* ---- configuration errors -------------------------------------------- */

  /* Report why config_new rejects its config; call it before returning NULL.
   * May be called several times (each message is reported). [CONTROL],
   * inside config_new only. OWNERSHIP: message copied. */
  void (*config_error)(gw_config_handle *c, gw_str message);

  /* ---- metrics (GW_FEATURE_METRICS) ------------------------------------ */

  /* Define a metric; the host prefixes the name with "gw_plugin_". Names use
   * [a-z0-9_]. Defining the same name and kind twice returns the same id.
   * [CONTROL], inside config_new only. OWNERSHIP: names copied. */
  gw_result (*metric_define)(gw_config_handle *c, gw_metric_kind kind, gw_str name,
                             const gw_str *GW_NULLABLE label_names, size_t label_count,
                             uint32_t *id_out);
  /* Record a value (see gw_metric_kind). label_count must match the
   * definition. [ANY] OWNERSHIP: label values copied. */
  gw_result (*metric_record)(gw_config_handle *c, uint32_t id,
                             const gw_str *GW_NULLABLE label_values, size_t label_count,
                             double value);

  /* ---- headers [HOOK] --------------------------------------------------- */
  /* dir selects the request headers (GW_REQUEST) or the response headers
   * (GW_RESPONSE; only in response hooks). Returned values are hook-borrowed
   * and invalidated by any header mutation in the same direction. Names are
   * case-insensitive. Setters refuse values containing CR, LF or NUL and names
   * that are not tokens (RFC 9110 5.6.2: no space, colon or byte outside ASCII)
   * with GW_E_BAD_ARGUMENT. */

  /* Value number `index` (0-based) of header `name`. *count_out (if not NULL)
   * receives how many values the header has. GW_E_NOT_FOUND if none/out of range. */
  gw_result (*header_get)(gw_stream *s, gw_direction dir, gw_str name, size_t index,
                          gw_str *value_out, size_t *GW_NULLABLE count_out);
  /* All headers in order. Fills up to `capacity` entries of `out` (may be NULL
   * with capacity 0) and sets *count_out to the total; GW_E_BUFFER_TOO_SMALL
   * if capacity < total. */
  gw_result (*headers_get)(gw_stream *s, gw_direction dir, gw_header *GW_NULLABLE out,
                           size_t capacity, size_t *count_out);
  /* Replace every value of `name` with `value`. OWNERSHIP: inputs copied. */
  gw_result (*header_set)(gw_stream *s, gw_direction dir, gw_str name, gw_str value);
  /* Append one more value of `name`. OWNERSHIP: inputs copied. */
  gw_result (*header_add)(gw_stream *s, gw_direction dir, gw_str name, gw_str value);
  /* Remove every value of `name`. GW_OK even if absent. */
  gw_result (*header_remove)(gw_stream *s, gw_direction dir, gw_str name);

  /* ---- attributes [HOOK] ------------------------------------------------ */

  /* Read an attribute (gw_attribute). *value_out is hook-borrowed.
   * GW_E_NOT_FOUND if not known yet (e.g. RESPONSE_STATUS in a request hook). */
  gw_result (*attribute_get)(gw_stream *s, gw_attribute attr, gw_str *value_out);
  /* Change METHOD, PATH, QUERY or AUTHORITY (request hooks, before the request
   * is sent upstream) or RESPONSE_STATUS (response header hooks). Others, and a
   * path, query or authority that is not visible ASCII or holds a '#' (an
   * authority: also '/', '?', '@'), GW_E_BAD_ARGUMENT. OWNERSHIP: value copied. */
  gw_result (*attribute_set)(gw_stream *s, gw_attribute attr, gw_str value);

  /* ---- body [HOOK] -------------------------------------------------------- */
  /* Inside a body hook of direction `dir`, "the body" is what the filter
   * sees now: every chunk it kept with GW_BUFFER plus the current chunk.
   * Elsewhere it is GW_E_WRONG_CONTEXT. A filter that changes the body size
   * while streaming must remove Content-Length in its headers hook; for a
   * body buffered whole (GW_BUFFER from the headers hook) the host fixes
   * Content-Length itself. */

  /* A contiguous view of the body. *data_out is hook-borrowed. */
  gw_result (*body_get)(gw_stream *s, gw_direction dir, gw_bytes *data_out);
  /* Replace the body with `data` (empty drops it). OWNERSHIP: data copied. */
  gw_result (*body_replace)(gw_stream *s, gw_direction dir, gw_bytes data);
  /* Append `data` to the body. OWNERSHIP: data copied. */
  gw_result (*body_append)(gw_stream *s, gw_direction dir, gw_bytes data);

  /* ---- flow control [LOOP] ---------------------------------------------- */

  /* Answer the client directly. Valid in request hooks, response header hooks,
   * on_async_event and on_callout_done. Return GW_STOP from the current hook
   * (if inside one). A "content-type: application/json" header is added when
   * `headers` has none and the body starts with '{'. `details` (may be empty)
   * goes to the log. OWNERSHIP: all inputs copied. */
  gw_result (*send_local_reply)(gw_stream *s, uint32_t status,
                                const gw_header *GW_NULLABLE headers, size_t header_count,
                                gw_bytes body, gw_str details);
  /* Resume a stream this filter paused (GW_PAUSE). [LOOP]: inside
   * on_async_event or on_callout_done. GW_E_WRONG_CONTEXT if not paused. */
  gw_result (*stream_continue)(gw_stream *s);
  /* Abort the stream: the client connection is closed (used when response
   * headers are already on the wire). OWNERSHIP: reason copied (for the log). */
  gw_result (*stream_reset)(gw_stream *s, gw_str reason);

  /* ---- async resumption ------------------------------------------------- */

  /* Take a +1 reference to a resume handle for this stream and filter.
   * [HOOK]. Returns NULL outside a hook or when the stream is finishing.
   * Release it with async_release exactly once. */
  gw_async *GW_NULLABLE (*GW_NONNULL async_acquire)(gw_stream *s);
  /* Schedule on_async_event(event_id, data) on the stream's own event loop,
   * after delay_ms (0 = as soon as possible). [ANY]. Returns
   * GW_E_STREAM_GONE (and the hook never runs) once the stream finished.
   * A post accepted while the stream lives may still never be delivered if
   * the stream finishes first: do not pass `data` that only on_async_event
   * can free (use event_id, or memory the filter frees in filter_destroy).
   * OWNERSHIP: the host never touches `data`. */
  gw_result (*async_post)(gw_async *a, uint64_t event_id, void *GW_NULLABLE data,
                          uint64_t delay_ms);
  /* Resume the stream this handle's filter paused, as stream_continue would,
   * on the stream's own event loop. [ANY]. GW_E_STREAM_GONE if finished;
   * a no-op if the filter has not paused the stream. */
  gw_result (*async_resume)(gw_async *a);
  /* Drop the reference taken by async_acquire. [ANY] */
  void (*async_release)(gw_async *a);

  /* ---- HTTP call-out (GW_FEATURE_HTTP_CALLOUT) [HOOK] ------------------- */

  /* Send an HTTP/1.1 request from the stream's event loop. `url` is
   * "http://host:port/path?query" or "https://...". The result arrives in
   * on_callout_done on the same loop; typically the hook returns GW_PAUSE.
   * *callout_id_out identifies the call. OWNERSHIP: inputs copied. */
  gw_result (*http_callout)(gw_stream *s, gw_str method, gw_str url,
                            const gw_header *GW_NULLABLE headers, size_t header_count,
                            gw_bytes body, uint64_t timeout_ms, uint64_t *callout_id_out);

  /* ---- per-request metadata [HOOK] -------------------------------------- */
  /* A map shared by every filter of one stream (and the call log): auth
   * records namespace "auth", key "consumer"; rate-limit reads it. */

  /* OWNERSHIP: ns, key and value copied. */
  gw_result (*metadata_set)(gw_stream *s, gw_str ns, gw_str key, gw_bytes value);
  /* *value_out is hook-borrowed. GW_E_NOT_FOUND if absent. */
  gw_result (*metadata_get)(gw_stream *s, gw_str ns, gw_str key, gw_bytes *value_out);

  /* ---- shared key-value store (GW_FEATURE_SHARED_KV) [ANY] -------------- */
  /* Process-wide, namespaced per plugin, values copied in and out. Every
   * entry carries a cas token (non-zero, changes on each write) and an
   * optional TTL (0 = none). */

  /* Copy the value into dst (capacity bytes). *len_out receives the value's
   * length; GW_E_BUFFER_TOO_SMALL if capacity < length (nothing copied).
   * *cas_out (if not NULL) receives the entry's cas token. */
  gw_result (*kv_get)(gw_plugin_handle *p, gw_str key, void *GW_NULLABLE dst, size_t capacity,
                      size_t *len_out, uint64_t *GW_NULLABLE cas_out);
  /* Store `value`. cas = 0: unconditional. cas = UINT64_MAX: only if the key
   * is absent. Otherwise: only if the entry's cas token equals `cas`
   * (GW_E_CAS_MISMATCH if not). *cas_out (if not NULL) gets the new token. */
  gw_result (*kv_set)(gw_plugin_handle *p, gw_str key, gw_bytes value, uint64_t cas,
                      uint64_t ttl_ms, uint64_t *GW_NULLABLE cas_out);
  /* Atomically add delta to a 64-bit integer value (absent = 0, created with
   * ttl_ms; an existing entry keeps its expiry). *value_out gets the result.
   * GW_E_BAD_ARGUMENT if the stored value is not an integer. */
  gw_result (*kv_incr)(gw_plugin_handle *p, gw_str key, int64_t delta, uint64_t ttl_ms,
                       int64_t *GW_NULLABLE value_out);
  /* Remove a key. GW_OK even if absent. */
  gw_result (*kv_delete)(gw_plugin_handle *p, gw_str key);

  /* ---- Added in ABI 1.1 and later go below; check with GW_HAS_FIELD ----- */

  /* ---- shared store (ABI 1.1, GW_FEATURE_SHARED_STORE) [HOOK] ----------- */
  /* Atomic operations on the gateway's shared store: the Redis server named by
   * the config's `shared_store` (several gw instances then share the state),
   * or this process's own store when none is configured. They never block:
   * the result arrives as on_async_event(event_id, data) on the stream's loop,
   * `data` pointing to a gw_shared_result. The hook typically returns GW_PAUSE
   * and the event handler calls stream_continue or send_local_reply. Keys are
   * namespaced per plugin. When the store does not answer within its timeout
   * the result's status is GW_E_UNAVAILABLE and the filter decides (a local
   * decision, allow or deny). GW_E_BAD_ARGUMENT for count 0 or more than
   * GW_GCRA_MAX_LIMITS, or a zero interval. OWNERSHIP: inputs copied. */

  /* GCRA over `count` limits sharing one key, decided and stored atomically
   * (on Redis: one Lua script on the server's clock). Admitted only if every
   * limit admits `cost` cells; only then does the state advance. */
  gw_result (*shared_gcra)(gw_stream *s, gw_str key, const gw_gcra_limit *limits, size_t count,
                           uint32_t cost, uint64_t event_id);
  /* Add delta to a shared integer (absent = 0, created with ttl_ms; 0 = no
   * expiry); the result's value is the new value. */
  gw_result (*shared_incr)(gw_stream *s, gw_str key, int64_t delta, uint64_t ttl_ms,
                           uint64_t event_id);
  /* Read a value (at most 64 MiB); the result's data holds it, value = 1 when found. */
  gw_result (*shared_get)(gw_stream *s, gw_str key, uint64_t event_id);
  /* Store a value with ttl_ms (0 = no expiry). event_id 0: no answer is delivered
   * (fire and forget: the stream need not pause); otherwise value = 1 on success. */
  gw_result (*shared_set)(gw_stream *s, gw_str key, gw_bytes value, uint64_t ttl_ms,
                          uint64_t event_id);

  /* ---- per-filter hooks (ABI 1.2) [CONTROL], inside config_new only ----- */
  /* The hook table is per plugin; this makes it per filter. Declare the hooks
   * (GW_HOOK_* bits) that the filter config_new is about to return never
   * needs: for its streams the host treats those slots as NULL. A filter whose
   * config only edits headers then lets bodies stream past it with no call per
   * chunk. A second call replaces the mask; unknown bits are ignored.
   * GW_E_WRONG_CONTEXT outside config_new. */
  gw_result (*config_skip_hooks)(gw_config_handle *c, uint64_t hooks);
} gw_host_v1;

/* ======================================================================== */
/* Plugin table: implemented by the plugin, called by gw.                   */
/* OWNERSHIP: plugin. LIFETIME: until process exit (plugins are never        */
/* unloaded). A NULL hook means "not interested" and costs nothing. Every    */
/* slot is nullable so that a zero-initialised table is valid to start from; */
/* the host refuses a plugin whose REQUIRED slots are NULL.                  */
/* ======================================================================== */
typedef struct gw_plugin_v1 {
  uint32_t struct_size;       /* sizeof(gw_plugin_v1) as the plugin knows it      */
  uint16_t abi_major;         /* must be 1                                         */
  uint16_t abi_minor;         /* GW_ABI_MINOR the plugin was built against         */
  gw_str name;                /* plugin id, e.g. "acme_ratelimit"; static          */
  gw_str version;             /* the plugin's own version; static                  */
  gw_str build_info;          /* e.g. "lang=c sdk=none"; static, may be empty      */
  uint64_t required_features; /* host refuses the plugin if one bit is missing     */
  uint64_t optional_features; /* used only if the host offers them                 */
  uint32_t flags;             /* reserved, 0                                       */
  uint32_t reserved0;

  /* ---- plugin lifetime [CONTROL] ------------------------------------------ */

  /* Called once, after the host accepted the descriptor and before any
   * config_new. *state_out is passed to config_new. Return GW_OK or an error
   * (the load fails). */
  gw_result (*GW_NULLABLE plugin_init)(gw_plugin_handle *p, void *GW_NULLABLE *GW_NONNULL state_out);

  /* ---- filter configuration ---------------------------------------------- */

  /* REQUIRED. Parse and validate one filter's config. [CONTROL]
   * `config` is the filter's `config:` block from the gateway config, as JSON
   * text (an empty object "{}" when absent). Return the plugin's config
   * object, or NULL after calling host->config_error (the load or reload
   * fails and the error names the plugin's message). The returned object is
   * shared by every event loop concurrently: it must be immutable or
   * thread-safe. OWNERSHIP: inputs borrowed for the call; result owned by the
   * plugin until config_destroy. */
  void *GW_NULLABLE (*GW_NULLABLE config_new)(void *GW_NULLABLE plugin_state,
                                              gw_config_handle *c, gw_str filter_name,
                                              gw_bytes config);
  /* REQUIRED. Free a config object once no stream uses it any more (after a
   * reload, or at shutdown). [ANY] */
  void (*GW_NULLABLE config_destroy)(void *config);

  /* ---- per stream [LOOP]; never called concurrently for one stream -------- */

  /* REQUIRED. Create the filter for one stream. NULL is a plugin failure.
   * `s` is valid until filter_destroy returns. */
  void *GW_NULLABLE (*GW_NULLABLE filter_new)(void *config, gw_stream *s);
  /* REQUIRED. Free the filter. After it returns, `s` is invalid and every
   * outstanding gw_async of the stream turns into a no-op. */
  void (*GW_NULLABLE filter_destroy)(void *filter);

  /* Request headers arrived (in chain order). end_of_stream: no body follows. */
  gw_status (*GW_NULLABLE on_request_headers)(void *filter, gw_stream *s, bool end_of_stream);
  /* A request body chunk (hook-borrowed), in chain order. Called only if the
   * host offers GW_FEATURE_REQUEST_BODY. */
  gw_status (*GW_NULLABLE on_request_body)(void *filter, gw_stream *s, gw_bytes chunk,
                                           bool end_of_stream);
  /* Response headers arrived (in reverse chain order). */
  gw_status (*GW_NULLABLE on_response_headers)(void *filter, gw_stream *s, bool end_of_stream);
  /* A response body chunk, in reverse chain order. (GW_FEATURE_RESPONSE_BODY) */
  gw_status (*GW_NULLABLE on_response_body)(void *filter, gw_stream *s, gw_bytes chunk,
                                            bool end_of_stream);
  /* One whole Server-Sent Event of a text/event-stream response, instead of
   * on_response_body for that response (GW_FEATURE_SSE_EVENTS). body_get /
   * body_replace act on the event's raw bytes (replace with empty drops it).
   * end_of_stream is true for the call that ends the stream (ev may then be
   * an empty event). Returns GW_CONTINUE (anything else: plugin failure). */
  gw_status (*GW_NULLABLE on_response_sse_event)(void *filter, gw_stream *s,
                                                 const gw_sse_event *ev, bool end_of_stream);
  /* The stream finished (response sent, or aborted). The last point where
   * attributes and metadata can be read: usage, accounting, logging. */
  void (*GW_NULLABLE on_stream_complete)(void *filter, gw_stream *s);
  /* Delivery of async_post, on the stream's loop. `s` is usable as in a hook. */
  void (*GW_NULLABLE on_async_event)(void *filter, gw_stream *s, uint64_t event_id,
                                     void *GW_NULLABLE data);
  /* Completion of http_callout, on the stream's loop. headers and body are
   * hook-borrowed. status is 0 unless result is GW_CALLOUT_OK. */
  void (*GW_NULLABLE on_callout_done)(void *filter, gw_stream *s, uint64_t callout_id,
                                      gw_callout_result result, uint32_t status,
                                      const gw_header *GW_NULLABLE headers, size_t header_count,
                                      gw_bytes body);

  /* ---- Added in ABI 1.1 and later go below -------------------------------- */
} gw_plugin_v1;

/* The one exported symbol. [CONTROL], once per process per plugin file.
 * Must not block or start threads: it checks host->abi_major (and
 * GW_HAS_FIELD for newer slots it wants), keeps `host` and `p` (both valid
 * forever) and returns its static descriptor, or NULL to refuse the host. */
typedef const gw_plugin_v1 *GW_NULLABLE (*gw_plugin_entry_v1_fn)(const gw_host_v1 *host,
                                                                 gw_plugin_handle *p);
GW_EXPORT const gw_plugin_v1 *GW_NULLABLE gw_plugin_entry_v1(const gw_host_v1 *host,
                                                             gw_plugin_handle *p);

#if defined(__clang__)
#pragma clang assume_nonnull end
#pragma clang diagnostic pop
#endif

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__cplusplus)
_Static_assert(sizeof(gw_status) == 4, "gw enums must be 32-bit");
_Static_assert(sizeof(gw_attribute) == 4, "gw enums must be 32-bit");
_Static_assert(sizeof(void *) == 8, "gw ABI v1 targets 64-bit platforms");
#elif defined(__cplusplus)
static_assert(sizeof(gw_status) == 4, "gw enums must be 32-bit");
static_assert(sizeof(gw_attribute) == 4, "gw enums must be 32-bit");
static_assert(sizeof(void *) == 8, "gw ABI v1 targets 64-bit platforms");
#endif

#ifdef __cplusplus
}
#endif
#endif /* GW_PLUGIN_H */
