#if canImport(Glibc)
import Glibc
#endif
import GatewayTestSupport
import Logging
import Testing

@testable import PluginHost

/// Loading real plugin files built with plain `cc` (and the Swift and Rust samples).
@Suite struct PluginLoaderTests {
    static func makeLoader(searchPath: [String] = []) -> PluginLoader {
        var logger = Logger(label: "gw.test")
        logger.logLevel = .error
        return PluginLoader(searchPath: searchPath, services: HostServices(logger: logger))
    }

    /// Load `path` and return the typed error it must fail with.
    static func loadError(_ path: String, loader: PluginLoader = makeLoader()) -> PluginLoadError? {
        do {
            let plugin = try loader.load(path)
            Issue.record("expected \(path) to be refused, but plugin \(plugin.name) loaded")
            return nil
        } catch {
            return error
        }
    }

    @Test func aMissingFileIsRefusedNamingThePath() throws {
        let path = FixturePlugins.directory + "/libgw_does_not_exist.so"
        let error = try #require(Self.loadError(path))
        #expect(error.code == .notFound)
        #expect(error.path == path)
        #expect(error.description.contains(path))
    }

    @Test func aPluginNameNotOnTheSearchPathIsRefusedListingThePath() throws {
        let loader = Self.makeLoader(searchPath: [FixturePlugins.directory])
        let error = try #require(Self.loadError("nothing_by_this_name", loader: loader))
        #expect(error.code == .notFound)
        #expect(error.description.contains("libgw_nothing_by_this_name.so"))
        #expect(error.description.contains(FixturePlugins.directory))
    }

    @Test func aPluginNameIsFoundOnTheSearchPath() throws {
        let path = try FixturePlugins.fixture("abi_v1_0")
        let loader = Self.makeLoader(searchPath: ["/nonexistent", FixturePlugins.directory])
        let plugin = try loader.load("abi_v1_0")
        #expect(plugin.path == path)
        #expect(plugin.name == "fixture_abi_v1_0")
    }

    @Test func aFileThatIsNotASharedLibraryIsRefused() throws {
        let path = try FixturePlugins.nonELFFile()
        let error = try #require(Self.loadError(path))
        #expect(error.code == .notASharedLibrary)
        #expect(error.path == path)
        #expect(error.description.contains(path))
        #expect(error.detail.contains("ELF"))
    }

    @Test func aWorldWritablePluginFileIsRefused() throws {
        let good = try FixturePlugins.fixture("abi_v1_0")
        let path = try FixturePlugins.worldWritableCopy(of: good)
        let error = try #require(Self.loadError(path))
        #expect(error.code == .unsafePermissions)
        #expect(error.description.contains(path))
        #expect(error.detail.contains("world-writable"))
    }

    /// Root can give a file away; other users cannot make this case.
    @Test(.enabled(if: geteuid() == 0, "needs root to chown a file to another user"))
    func aPluginFileOwnedByAnotherNonRootUserIsRefused() throws {
        let good = try FixturePlugins.fixture("abi_v1_0")
        let path = try FixturePlugins.worldWritableCopy(of: good)
        #expect(chmod(path, 0o755) == 0)
        #expect(chown(path, 65534, 65534) == 0)
        let error = try #require(Self.loadError(path))
        #expect(error.code == .unsafePermissions)
        #expect(error.description.contains(path))
        #expect(error.detail.contains("owned by another user (uid 65534)"))
        // Owned by root again: it loads.
        #expect(chown(path, 0, 0) == 0)
        #expect(throws: Never.self) { _ = try Self.makeLoader().load(path) }
    }

    struct RefusedFixture: Sendable, CustomTestStringConvertible {
        var stem: String
        var code: PluginLoadError.Code
        var detail: String
        var testDescription: String { stem }
    }

    @Test(arguments: [
        RefusedFixture(stem: "no_entry", code: .missingEntrySymbol, detail: "gw_plugin_entry_v1"),
        RefusedFixture(stem: "wrong_abi", code: .abiMismatch, detail: "major version 2"),
        RefusedFixture(stem: "needs_feature", code: .missingFeature, detail: "bit40"),
        RefusedFixture(stem: "init_fails", code: .initFailed, detail: "plugin_init failed with code -9"),
    ])
    func aFixtureThatBreaksAnABIRuleIsRefusedWithTheRightCode(_ fixture: RefusedFixture) throws {
        let path = try FixturePlugins.fixture(fixture.stem)
        let error = try #require(Self.loadError(path))
        #expect(error.code == fixture.code)
        #expect(error.path == path)
        #expect(error.description.contains(path))
        #expect(error.detail.contains(fixture.detail), "detail: \(error.detail)")
    }

    @Test func anELFFileThatIsNotASharedLibraryFailsInDlopenWithItsMessage() throws {
        let path = try FixturePlugins.elfObjectFile()
        let error = try #require(Self.loadError(path))
        #expect(error.code == .dlopenFailed)
        #expect(error.description.contains(path))
        #expect(error.detail.hasPrefix("dlopen failed: "))
    }

    /// A descriptor with everything right except what `body` (C statements on `d`) changes.
    static func descriptorVariant(_ stem: String, _ body: String, entryReturnsNull: Bool = false) throws -> String {
        try FixturePlugins.inline(stem, source: """
            #include "gw_plugin.h"
            static void *config_new(void *st, gw_config_handle *c, gw_str n, gw_bytes b) {
              (void)st; (void)c; (void)n; (void)b;
              static int token;
              return &token;
            }
            static void config_destroy(void *c) { (void)c; }
            static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
            static void filter_destroy(void *f) { (void)f; }
            static gw_plugin_v1 d = {
              .struct_size = sizeof(gw_plugin_v1), .abi_major = GW_ABI_MAJOR, .abi_minor = GW_ABI_MINOR,
              .name = GW_STR("\(stem)"), .version = GW_STR("0"), .build_info = GW_STR(""),
              .config_new = config_new, .config_destroy = config_destroy,
              .filter_new = filter_new, .filter_destroy = filter_destroy,
            };
            GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
              (void)host; (void)p;
              \(body)
              return \(entryReturnsNull ? "NULL" : "&d");
            }
            """)
    }

    @Test func aPluginWhoseEntryReturnsNullHasRefusedTheHost() throws {
        let path = try Self.descriptorVariant("entry_null", "(void)d;", entryReturnsNull: true)
        let error = try #require(Self.loadError(path))
        #expect(error.code == .refusedHost)
        #expect(error.description.contains(path))
    }

    @Test func aDescriptorMissingARequiredHookIsRefusedNamingTheHooks() throws {
        let path = try Self.descriptorVariant("no_filter_hooks", "d.filter_new = NULL; d.config_destroy = NULL;")
        let error = try #require(Self.loadError(path))
        #expect(error.code == .invalidDescriptor)
        #expect(error.detail == "required hooks missing: config_destroy, filter_new")
    }

    @Test func aDescriptorSmallerThanABI10IsRefused() throws {
        let path = try Self.descriptorVariant("short_descriptor", "d.struct_size = 64;")
        let error = try #require(Self.loadError(path))
        #expect(error.code == .invalidDescriptor)
        #expect(error.detail.contains("struct_size 64"))
    }

    @Test func aDescriptorLargerThanTheHostKnowsLoads() throws {
        // A plugin built for a newer 1.x minor: its table is longer; the host reads the 1.0 part.
        let path = try Self.descriptorVariant("long_descriptor", "d.struct_size = sizeof(gw_plugin_v1) + 64; d.abi_minor = 7;")
        let plugin = try Self.makeLoader().load(path)
        #expect(plugin.name == "long_descriptor")
        #expect(plugin.abiMinor == 7)
    }

    @Test func aConfigRejectedByThePluginCarriesThePluginsOwnMessage() throws {
        let path = try FixturePlugins.fixture("reject_config")
        let plugin = try Self.makeLoader().load(path)
        #expect(plugin.name == "fixture_reject_config")
        #expect(throws: Never.self) {
            _ = try ConfiguredFilter(plugin: plugin, name: nil, configJSON: "{\"limit\":5}", failureMode: .closed, pauseTimeout: .seconds(1))
        }
        let error = #expect(throws: PluginLoadError.self) {
            _ = try ConfiguredFilter(plugin: plugin, name: "rl", configJSON: "{\"limit\":0}", failureMode: .closed, pauseTimeout: .seconds(1))
        }
        #expect(error?.code == .configRejected)
        #expect(error?.path == path)
        #expect(error?.detail.contains("limit must be a positive integer") == true, "detail: \(error?.detail ?? "")")
        #expect(error?.description.contains(path) == true)
    }

    @Test func aPluginBuiltAgainstTheFrozenABI10HeaderLoads() throws {
        let path = try FixturePlugins.fixture("abi_v1_0")
        let plugin = try Self.makeLoader().load(path)
        #expect(plugin.name == "fixture_abi_v1_0")
        #expect(plugin.version == "1.0.0")
        #expect(plugin.abiMinor == 0)
        #expect(plugin.buildInfo == "lang=c abi=1.0-frozen")
        #expect(plugin.hookNames.contains("on_response_headers"))
        #expect(!plugin.hookNames.contains("on_request_headers"))
        _ = try ConfiguredFilter(plugin: plugin, name: nil, configJSON: "{}", failureMode: .closed, pauseTimeout: .seconds(1))
    }

    @Test func loadingTheSameFileTwiceReturnsTheSamePlugin() throws {
        let path = try FixturePlugins.fixture("body_upper")
        let loader = Self.makeLoader()
        let first = try loader.load(path)
        let second = try loader.load(path)
        #expect(first === second)
        #expect(loader.plugins.count == 1)
        #expect(first.requiredFeatures == 0x3, "request and response body")
    }

    @Test func theCSampleBuiltWithPlainCCLoads() throws {
        let plugin = try Self.makeLoader().load(try FixturePlugins.cSample())
        #expect(plugin.name == "sample_c")
        #expect(plugin.hookNames.contains("on_request_headers"))
        #expect(plugin.hookNames.contains("on_response_headers"))
    }

    @Test func theSwiftSampleLoads() throws {
        let path = try #require(FixturePlugins.swiftSample(), "libgw_sample_swift.so not built (run swift build first)")
        let plugin = try Self.makeLoader().load(path)
        #expect(plugin.name == "sample_swift")
        #expect(plugin.version == "1.0.0")
        #expect(plugin.hookNames.contains("on_response_headers"))
    }

    @Test(.enabled(if: FixturePlugins.hasRustCompiler, "rustc is not on the PATH"))
    func theRustSampleLoads() throws {
        let path = try #require(try FixturePlugins.rustSample())
        let plugin = try Self.makeLoader().load(path)
        #expect(plugin.name == "sample_rust")
        #expect(plugin.hookNames.contains("on_request_headers"))
    }

    @Test func theSamplesRejectAnUnknownConfigKeyNamingIt() throws {
        var paths = [try FixturePlugins.cSample()]
        if let swift = FixturePlugins.swiftSample() { paths.append(swift) }
        if let rust = try FixturePlugins.rustSample() { paths.append(rust) }
        let loader = Self.makeLoader()
        for path in paths {
            let plugin = try loader.load(path)
            let error = #expect(throws: PluginLoadError.self, "\(plugin.name)") {
                _ = try ConfiguredFilter(
                    plugin: plugin, name: nil, configJSON: "{\"bogus_key\":\"x\"}", failureMode: .closed, pauseTimeout: .seconds(1))
            }
            #expect(error?.code == .configRejected)
            #expect(error?.detail.contains("bogus_key") == true, "\(plugin.name): \(error?.detail ?? "")")
        }
    }
}
