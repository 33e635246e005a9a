import CGatewayPlugin
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Finds, checks and loads plugin files. Loaded plugins are cached by real path and
/// never unloaded (`RTLD_NODELETE`, no `dlclose`): Swift code cannot be unloaded
/// safely, and a reload only creates new config objects.
public final class PluginLoader: Sendable {
    /// Directories searched for a plugin given by name, in order.
    public let searchPath: [String]
    public let services: HostServices
    /// Process-wide, like the dlopen handles: a plugin's entry runs once per process
    /// per file, as the ABI promises. A file's plugin keeps the services of the loader
    /// that first loaded it (one gateway per process in production).
    private static let loaded = Mutex<[String: LoadedPlugin]>([:])
    /// The plugins this loader has used (for the admin view).
    private let used = Mutex<[String: LoadedPlugin]>([:])

    public init(searchPath: [String], services: HostServices) {
        self.searchPath = searchPath
        self.services = services
    }

    /// Resolve a plugin reference: a path (contains `/` or ends in `.so`) or a name
    /// looked up as `libgw_<name>.so`, `lib<name>.so` or `<name>.so` on the search path.
    public func resolve(_ reference: String, relativeTo base: String? = nil) throws(PluginLoadError) -> String {
        if reference.contains("/") || reference.hasSuffix(".so") {
            var path = reference
            if !path.hasPrefix("/"), let base { path = base + "/" + path }
            guard access(path, F_OK) == 0 else {
                throw PluginLoadError(.notFound, path: path, detail: "file not found")
            }
            return canonical(path)
        }
        for dir in searchPath {
            for candidate in ["libgw_\(reference).so", "lib\(reference).so", "\(reference).so"] {
                let path = dir + "/" + candidate
                if access(path, F_OK) == 0 { return canonical(path) }
            }
        }
        throw PluginLoadError(
            .notFound, path: reference,
            detail: "no libgw_\(reference).so on the plugin path [\(searchPath.joined(separator: ", "))]")
    }

    /// Load (once) and validate the plugin at `reference`.
    public func load(_ reference: String, relativeTo base: String? = nil) throws(PluginLoadError) -> LoadedPlugin {
        let path = try resolve(reference, relativeTo: base)
        // Loading (and the plugin's entry and plugin_init) happens under the
        // process-wide lock: control-thread work, never on the request path.
        let plugin: LoadedPlugin = try Self.loaded.withLock { (table) throws(PluginLoadError) -> LoadedPlugin in
            if let existing = table[path] { return existing }
            let opened = try open(path)
            table[path] = opened
            return opened
        }
        used.withLock { $0[path] = plugin }
        return plugin
    }

    /// Every plugin loaded so far.
    public var plugins: [LoadedPlugin] {
        used.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    private func canonical(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    private func open(_ path: String) throws(PluginLoadError) -> LoadedPlugin {
        try checkFile(path)
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(.dlopenFailed, path: path, detail: "dlopen failed: \(message)")
        }
        // Never dlclose: see docs/plugin-abi.md.
        guard let symbol = dlsym(handle, GW_PLUGIN_ENTRY_V1_SYMBOL) else {
            throw PluginLoadError(
                .missingEntrySymbol, path: path,
                detail: "missing entry symbol \(GW_PLUGIN_ENTRY_V1_SYMBOL) (not a gw ABI v1 plugin)")
        }
        let entry = unsafeBitCast(symbol, to: gw_plugin_entry_v1_fn.self)
        let plugin = LoadedPlugin(path: path, services: services)
        guard let descriptor = entry(HostTable.shared.pointer, plugin.handle) else {
            throw PluginLoadError(.refusedHost, path: path, detail: "the plugin refused this host (its entry returned NULL)")
        }
        try validate(descriptor, path: path)
        plugin.complete(descriptor: descriptor)
        // Keep the object alive forever: its address is the plugin's handle.
        _ = Unmanaged.passRetained(plugin)
        if let initialize = plugin.table.plugin_init {
            var state: UnsafeMutableRawPointer?
            let result = initialize(plugin.handle, &state)
            guard result == GW_OK else {
                throw PluginLoadError(.initFailed, path: path, detail: "plugin_init failed with code \(result)")
            }
            plugin.state = state
        }
        services.logger.info(
            "loaded plugin",
            metadata: [
                "gw.plugin": "\(plugin.name)", "gw.plugin.version": "\(plugin.version)",
                "gw.plugin.abi": "1.\(plugin.abiMinor)", "gw.plugin.path": "\(path)",
            ])
        return plugin
    }

    private func checkFile(_ path: String) throws(PluginLoadError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw PluginLoadError(.notFound, path: path, detail: "file not found")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw PluginLoadError(.notASharedLibrary, path: path, detail: "not a regular file")
        }
        if info.st_mode & S_IWOTH != 0 {
            throw PluginLoadError(
                .unsafePermissions, path: path,
                detail: "refusing a world-writable plugin file (chmod o-w \(path))")
        }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            throw PluginLoadError(
                .unsafePermissions, path: path,
                detail: "refusing a plugin file owned by another user (uid \(info.st_uid))")
        }
        // A clear message for the common mistake of pointing at a non-ELF file.
        guard let file = fopen(path, "rb") else {
            throw PluginLoadError(.notFound, path: path, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var magic = [UInt8](repeating: 0, count: 4)
        let read = fread(&magic, 1, 4, file)
        guard read == 4, magic == [0x7f, 0x45, 0x4c, 0x46] else {
            throw PluginLoadError(.notASharedLibrary, path: path, detail: "not a shared library (no ELF header)")
        }
    }

    private func validate(_ d: UnsafePointer<gw_plugin_v1>, path: String) throws(PluginLoadError) {
        let major = d.pointee.abi_major
        guard major == UInt16(GW_ABI_MAJOR) else {
            throw PluginLoadError(
                .abiMismatch, path: path,
                detail: "plugin ABI major version \(major), this host supports \(GW_ABI_MAJOR)")
        }
        // Every 1.x plugin table holds at least the 1.0 slots.
        let minimum = MemoryLayout<gw_plugin_v1>.offset(of: \gw_plugin_v1.on_callout_done).map { $0 + 8 } ?? MemoryLayout<gw_plugin_v1>.size
        guard Int(d.pointee.struct_size) >= minimum else {
            throw PluginLoadError(
                .invalidDescriptor, path: path,
                detail: "descriptor struct_size \(d.pointee.struct_size) is smaller than ABI 1.0's \(minimum)")
        }
        var missing: [String] = []
        if d.pointee.config_new == nil { missing.append("config_new") }
        if d.pointee.config_destroy == nil { missing.append("config_destroy") }
        if d.pointee.filter_new == nil { missing.append("filter_new") }
        if d.pointee.filter_destroy == nil { missing.append("filter_destroy") }
        guard missing.isEmpty else {
            throw PluginLoadError(
                .invalidDescriptor, path: path,
                detail: "required hooks missing: \(missing.joined(separator: ", "))")
        }
        let lacking = d.pointee.required_features & ~HostFeatures.offered
        guard lacking == 0 else {
            throw PluginLoadError(
                .missingFeature, path: path,
                detail: "requires features this host lacks: \(HostFeatures.describe(lacking).joined(separator: ", "))")
        }
    }
}
