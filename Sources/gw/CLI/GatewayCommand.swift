import ArgumentParser
import Logging
import PluginHost
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gw",
        abstract: "A plugin-based AI & API gateway.",
        subcommands: [Run.self, Check.self, Plugins.self],
        defaultSubcommand: Run.self)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the embedded default when no --config is given).")

    @Option(name: .shortAndLong, help: "YAML configuration file.")
    var config: String?

    @Option(name: .long, help: "Extra directory to search for plugins (repeatable).")
    var pluginPath: [String] = []

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Number of event loops (default: one per core).")
    var eventLoops: Int?

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var options = GatewayOptions(
            configFile: config, extraPluginPath: pluginPath, logLevel: Logger.Level(rawValue: logLevel) ?? .info)
        if let eventLoops { options.eventLoops = max(1, eventLoops) }
        let gateway: Gateway
        do {
            gateway = try Gateway.build(options)
        } catch let error as ConfigError {
            FileHandleStderr.write("gw: invalid configuration\n\(error)\n")
            throw ExitCode(2)
        }
        try await gateway.start()
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint)
        for await signal in signals {
            if signal == .sighup {
                do {
                    _ = try await gateway.control.runIfActive { try gateway.reload() }
                } catch {
                    gateway.logger.error("reload refused; the previous configuration keeps serving\n\(error)")
                }
            } else {
                gateway.logger.info("shutting down", metadata: ["gw.signal": "\(signal)"])
                await gateway.shutdown()
                return
            }
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration, including each plugin's own config; print every error with file, line and key.")

    @Option(name: .shortAndLong, help: "YAML configuration file.")
    var config: String

    @Option(name: .long, help: "Extra directory to search for plugins (repeatable).")
    var pluginPath: [String] = []

    func run() async throws {
        var logger = Logger(label: "gw")
        logger.logLevel = .warning
        let options = GatewayOptions(configFile: config, extraPluginPath: pluginPath, logLevel: .warning, eventLoops: 1)
        do {
            let gateway = try Gateway.build(options)
            let state = gateway.currentState()
            print("\(config): OK (\(state.routes.routes.count) routes, \(state.upstreams.count) upstreams, \(gateway.loader.plugins.count) plugins)")
            try await gateway.group.shutdownGracefully()
        } catch let error as ConfigError {
            FileHandleStderr.write("\(error)\n")
            FileHandleStderr.write("\(error.issues.count) error(s)\n")
            throw ExitCode(1)
        }
    }
}

struct Plugins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect plugin files.", subcommands: [Inspect.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a plugin file and print its name, version, ABI, features and hooks.")

        @Argument(help: "Path to a plugin .so (or a plugin name on the plugin path).")
        var file: String

        func run() async throws {
            var logger = Logger(label: "gw")
            logger.logLevel = .warning
            let loader = PluginLoader(searchPath: Gateway.executableDirectory().map { [$0] } ?? [], services: HostServices(logger: logger))
            do {
                let plugin = try loader.load(file)
                print("name:      \(plugin.name)")
                print("version:   \(plugin.version)")
                print("abi:       1.\(plugin.abiMinor)")
                print("path:      \(plugin.path)")
                print("build:     \(plugin.buildInfo)")
                print("requires:  \(HostFeatures.describe(plugin.requiredFeatures).joined(separator: ", "))")
                print("optional:  \(HostFeatures.describe(plugin.optionalFeatures).joined(separator: ", "))")
                print("hooks:     \(plugin.hookNames.joined(separator: ", "))")
            } catch {
                FileHandleStderr.write("gw: \(error)\n")
                throw ExitCode(1)
            }
        }
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}
