import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// Stream calls count only from the stream's loop: a plugin thread that calls
    /// while a hook of the stream is running (so the run is in a hook) is refused.
    @Suite struct HostCallThread {
        @Test func callsFromAnotherThreadAreRefusedAndChangeNothing() async throws {
            let plugin = try FixturePlugins.fixture("other_thread")
            try await withProxy(.fixed(200, body: "ok"), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(plugin)}]"))
            }) { upstream, gw in
                for _ in 0..<3 {
                    let response = try await gw.send(.GET, "/a/b")
                    #expect(response.status == .ok)
                    let seen = try #require(upstream.lastRequest)
                    #expect(seen.header("x-other-thread") == "wwww")
                    #expect(seen.header("x-loop-thread") == "oooo")
                    #expect(seen.header("x-set-by-thread") == nil)
                }
            }
        }
    }
}

extension EndToEnd {
    /// The shared KV's keys belong to their plugin: two plugins using the same key
    /// names on one loop (whose thread keeps the last key made) count separately,
    /// and keys taking turns are each their own.
    @Suite struct KVKeysPerPlugin {
        static func source(name: String) -> String {
            """
            #include <stdio.h>
            #include "gw_plugin.h"
            static const gw_host_v1 *g_host;
            static gw_plugin_handle *g_plugin;
            static void *config_new(void *st, gw_config_handle *c, gw_str n, gw_bytes cfg) {
              (void)st; (void)c; (void)n; (void)cfg; static int token; return &token;
            }
            static void config_destroy(void *c) { (void)c; }
            static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
            static void filter_destroy(void *f) { (void)f; }
            static gw_status on_request_headers(void *f, gw_stream *s, bool eos) {
              (void)f; (void)eos;
              int64_t a = 0, b = 0, c = 0, d = 0;
              g_host->kv_incr(g_plugin, (gw_str)GW_STR("hits"), 1, 0, &a);
              g_host->kv_incr(g_plugin, (gw_str)GW_STR("hits-by-two"), 2, 0, &b);
              g_host->kv_incr(g_plugin, (gw_str)GW_STR("hitz"), 10, 0, &d);
              /* Last, so the next plugin's first key is this one's last. */
              g_host->kv_incr(g_plugin, (gw_str)GW_STR("hits"), 1, 0, &c);
              char text[96];
              int n = snprintf(text, sizeof text, "%lld,%lld,%lld,%lld", (long long)a, (long long)b, (long long)c, (long long)d);
              g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-\(name)"), (gw_str){text, (size_t)n});
              return GW_CONTINUE;
            }
            static const gw_plugin_v1 descriptor = {
              .struct_size = sizeof(gw_plugin_v1), .abi_major = GW_ABI_MAJOR, .abi_minor = GW_ABI_MINOR,
              .name = GW_STR("\(name)"), .version = GW_STR("0.0.1"), .build_info = GW_STR("lang=c test"),
              .config_new = config_new, .config_destroy = config_destroy, .filter_new = filter_new,
              .filter_destroy = filter_destroy, .on_request_headers = on_request_headers,
            };
            GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
              g_host = host; g_plugin = p; return &descriptor;
            }
            """
        }

        @Test func twoPluginsWithTheSameKeysCountApart() async throws {
            let first = try FixturePlugins.inline("kv_owner_1", source: Self.source(name: "kv_owner_one"))
            let second = try FixturePlugins.inline("kv_owner_2", source: Self.source(name: "kv_owner_two"))
            try await withProxy(.fixed(200, body: "ok"), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(first)}, {plugin: \(second)}]"))
            }) { upstream, gw in
                for i in 1...3 {
                    #expect(try await gw.send(.GET, "/").status == .ok)
                    let seen = try #require(upstream.lastRequest)
                    let expected = "\(2 * i - 1),\(2 * i),\(2 * i),\(10 * i)"
                    #expect(seen.header("x-kv_owner_one") == expected)
                    #expect(seen.header("x-kv_owner_two") == expected)
                }
            }
        }
    }
}
