// swift-tools-version: 6.1
import PackageDescription

let packageDir = Context.packageDirectory

/// Every plugin `.so` exports exactly one symbol, `gw_plugin_entry_v1`.
let pluginLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--version-script=\(packageDir)/Plugins/exports.map"])
]

/// Release builds of the data plane skip dynamic exclusivity checks (as SwiftNIO's
/// benchmarks do); debug builds and tests keep them. They also copy and destroy
/// multi-field structs inline rather than through the type's value witnesses
/// (`-disable-type-layout`): with type layouts, the optimizer's default, an outlined
/// copy of an optional head struct calls Optional's generic witness, which calls the
/// struct's, about 100 instructions a copy in cold runtime code (docs/performance.md,
/// item 71).
let dataPlaneSettings: [SwiftSetting] = [
    .unsafeFlags(
        ["-enforce-exclusivity=unchecked", "-Xfrontend", "-disable-type-layout"], .when(configuration: .release))
]

/// The test suites and their helpers are not what ships or what the benchmarks measure. In the
/// release configuration (the test command's second stage, which runs the suite on code built
/// like the production binary) they compile without optimization: the code under test keeps the
/// production flags, and CI saves the minutes an optimized whole-module build of the suites takes.
let testCodeSettings: [SwiftSetting] = [
    .unsafeFlags(["-Onone"], .when(configuration: .release))
]

let package = Package(
    name: "gw",
    products: [
        .executable(name: "gw", targets: ["gw"]),
        .library(name: "GatewayPluginSDK", targets: ["GatewayPluginSDK"]),
        // The minimal Swift sample plugin: libgw_sample_swift.so
        .library(name: "gw_sample_swift", type: .dynamic, targets: ["SwiftHelloPlugin"]),
        // Built-in filters, loaded by name like any third-party plugin: libgw_<name>.so
        .library(name: "gw_auth", type: .dynamic, targets: ["AuthPlugin"]),
        .library(name: "gw_rate_limit", type: .dynamic, targets: ["RateLimitPlugin"]),
        .library(name: "gw_transform", type: .dynamic, targets: ["TransformPlugin"]),
        .library(name: "gw_prompt_template", type: .dynamic, targets: ["PromptTemplatePlugin"]),
        .library(name: "gw_cache", type: .dynamic, targets: ["CachePlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // The plugin ABI: gw_plugin.h and nothing else. Plain C11.
        .target(
            name: "CGatewayPlugin",
            path: "Sources/PluginAPI",
            exclude: ["SDK"],
            publicHeadersPath: "include"
        ),
        // Thin Swift SDK for plugin authors. Depends on the header only.
        .target(
            name: "GatewayPluginSDK",
            dependencies: ["CGatewayPlugin"],
            path: "Sources/PluginAPI/SDK",
            swiftSettings: dataPlaneSettings
        ),
        // PCRE2 (libpcre2-dev) for regex routes and rewrites.
        .systemLibrary(
            name: "CPCRE2",
            path: "Sources/CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]
        ),
        // OpenSSL libcrypto (libssl-dev) for plugins: SHA-256 in auth (JWT later).
        .systemLibrary(
            name: "CLibcrypto",
            path: "Sources/CLibcrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Loads plugins and runs filter chains. No sockets.
        .target(
            name: "PluginHost",
            dependencies: [
                "CGatewayPlugin",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: dataPlaneSettings
        ),
        // The AI formats: OpenAI/Anthropic/Gemini translation, usage, prices. Pure Swift, no I/O.
        .target(name: "AIGateway", swiftSettings: dataPlaneSettings),
        // The gateway executable: server, routing, upstreams, admin, config, CLI.
        .executableTarget(
            name: "gw",
            dependencies: [
                "PluginHost",
                "AIGateway",
                "CPCRE2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: dataPlaneSettings
        ),
        // The plugin-boundary micro-benchmark (bench/plugin-boundary.sh).
        .executableTarget(
            name: "gw-plugin-bench",
            dependencies: [
                "PluginHost", "CGatewayPlugin",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PluginBoundary",
            swiftSettings: dataPlaneSettings
        ),
        // The floor of a proxy on NIO channels (bytes forwarded 1:1, no HTTP): a reference row in `make bench`.
        .executableTarget(
            name: "gw-nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/NIOFloor",
            swiftSettings: dataPlaneSettings
        ),
        // Sample Swift plugin (what a third-party Swift author copies).
        .target(
            name: "SwiftHelloPlugin",
            dependencies: ["GatewayPluginSDK"],
            path: "sample-plugins/swift-hello/Sources",
            linkerSettings: pluginLinkerSettings
        ),
        // Built-in filter plugins: the SDK (and libcrypto) only, never the host, NIO or Foundation.
        .target(
            name: "AuthPlugin",
            dependencies: ["GatewayPluginSDK", "CLibcrypto"],
            path: "Plugins/Auth",
            swiftSettings: dataPlaneSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "RateLimitPlugin",
            dependencies: ["GatewayPluginSDK"],
            path: "Plugins/RateLimit",
            swiftSettings: dataPlaneSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "TransformPlugin",
            dependencies: ["GatewayPluginSDK", "CPCRE2"],
            path: "Plugins/Transform",
            swiftSettings: dataPlaneSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "PromptTemplatePlugin",
            dependencies: ["GatewayPluginSDK"],
            path: "Plugins/PromptTemplate",
            swiftSettings: dataPlaneSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "CachePlugin",
            dependencies: ["GatewayPluginSDK", "CLibcrypto"],
            path: "Plugins/Cache",
            swiftSettings: dataPlaneSettings,
            linkerSettings: pluginLinkerSettings
        ),
        // Helpers shared by the test suites: test upstreams, a client, a running gateway.
        .target(
            name: "GatewayTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/GatewayTestSupport",
            swiftSettings: testCodeSettings
        ),
        .testTarget(
            name: "AIGatewayTests",
            dependencies: ["AIGateway"],
            swiftSettings: testCodeSettings
        ),
        .testTarget(
            name: "GatewayPluginSDKTests",
            // The rate-limit plugin's bucket table is tested directly here (no host calls).
            dependencies: ["GatewayPluginSDK", "RateLimitPlugin"],
            swiftSettings: testCodeSettings
        ),
        .testTarget(
            name: "PluginHostTests",
            dependencies: ["PluginHost", "GatewayTestSupport"],
            swiftSettings: testCodeSettings
        ),
        .testTarget(
            name: "gwTests",
            dependencies: [
                "gw", "PluginHost", "GatewayTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: testCodeSettings
        ),
    ]
)
