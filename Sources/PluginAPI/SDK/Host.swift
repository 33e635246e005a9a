/// Host services that need no stream: the clock, the feature bits and the log.
/// Usable from any thread once the entry point ran.
public enum GatewayHost {
    /// The host's monotonic clock (`monotonic_ns`), in nanoseconds. The shared KV's
    /// TTLs use the same clock.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        PluginRuntime.host.pointee.monotonic_ns()
    }

    /// True if the host offers every feature in `features`.
    public static func offers(_ features: PluginFeatures) -> Bool {
        PluginRuntime.host.pointee.features & features.rawValue == features.rawValue
    }
}

/// The host's log (`log` / `log_enabled`), tagged with the plugin's name. The message
/// is built only when its level is enabled, so data-path code can log at debug or
/// trace for free: `PluginLog.debug("refused \(consumer)")`.
public enum PluginLog {
    public enum Level: Sendable {
        case trace, debug, info, warning, error

        var raw: gw_log_level {
            switch self {
            case .trace: return GW_LOG_TRACE
            case .debug: return GW_LOG_DEBUG
            case .info: return GW_LOG_INFO
            case .warning: return GW_LOG_WARN
            case .error: return GW_LOG_ERROR
            }
        }
    }

    public static func isEnabled(_ level: Level) -> Bool {
        guard let host = PluginRuntime.host else { return false }
        return host.pointee.log_enabled(PluginRuntime.handle, level.raw)
    }

    public static func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        message().withGWStr { PluginRuntime.host.pointee.log(PluginRuntime.handle, level.raw, $0) }
    }

    public static func trace(_ message: @autoclosure () -> String) { log(.trace, message()) }
    public static func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public static func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public static func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public static func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}
