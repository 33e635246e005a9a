/// Why a plugin file could not be loaded. Every case names the file.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Equatable {
        case notFound = "not_found"
        case unsafePermissions = "unsafe_permissions"
        case notASharedLibrary = "not_a_shared_library"
        case dlopenFailed = "dlopen_failed"
        case missingEntrySymbol = "missing_entry_symbol"
        case refusedHost = "refused_host"
        case abiMismatch = "abi_mismatch"
        case invalidDescriptor = "invalid_descriptor"
        case missingFeature = "missing_feature"
        case initFailed = "init_failed"
        case configRejected = "config_rejected"
    }

    public let code: Code
    /// The file (or, for `notFound` by name, the name) the error is about.
    public let path: String
    /// Human-readable detail: `dlerror()` text, the plugin's own message, ...
    public let detail: String

    public init(_ code: Code, path: String, detail: String) {
        self.code = code
        self.path = path
        self.detail = detail
    }

    public var description: String {
        "plugin \(path): \(detail)"
    }
}
