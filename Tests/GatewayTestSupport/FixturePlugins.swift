import Foundation
import Synchronization

/// Builds the C fixture plugins and the sample plugins into a private temporary
/// directory, once per process, and hands out their paths.
///
/// Every plugin is compiled with plain `cc` against the ABI header only, exactly as a
/// third-party author would: `cc -std=c11 -Wall -Wextra -Werror -shared -fPIC`.
public enum FixturePlugins {
    public struct BuildError: Error, CustomStringConvertible {
        public var command: String
        public var output: String
        public var description: String { "build failed: \(command)\n\(output)" }
    }

    /// The repository root, found from this file's location.
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/GatewayTestSupport/FixturePlugins.swift
        return url.path
    }()

    /// A fresh directory that lives as long as the test process.
    public static let directory: String = makeTemporaryDirectory(prefix: "gw-plugins")

    private static let built = Mutex<[String: String]>([:])

    /// `Tests/Fixtures/plugins/<stem>.c` compiled to `libgw_<stem>.so`.
    public static func fixture(_ stem: String) throws -> String {
        let source = "\(repoRoot)/Tests/Fixtures/plugins/\(stem).c"
        return try buildC(stem: stem, source: source)
    }

    /// A plugin from C source text (for one-off ABI cases), built like the fixtures.
    /// `stem` must be unique per source.
    public static func inline(_ stem: String, source: String) throws -> String {
        let file = "\(directory)/\(stem).c"
        if !FileManager.default.fileExists(atPath: file) {
            try source.write(toFile: file, atomically: true, encoding: .utf8)
        }
        return try buildC(stem: stem, source: file)
    }

    /// An ELF file that is not a shared library (a relocatable object named `.so`).
    public static func elfObjectFile() throws -> String {
        try built.withLock { cache throws(BuildError) -> String in
            if let path = cache["elf_object"] { return path }
            let output = "\(directory)/libgw_elf_object.so"
            try run("/usr/bin/env", [
                "cc", "-std=c11", "-c", "-fPIC", "-I\(repoRoot)/Sources/PluginAPI/include",
                "-o", output, "\(repoRoot)/Tests/Fixtures/plugins/abi_v1_0.c", "-I\(repoRoot)/Tests/Fixtures/ABI",
            ])
            cache["elf_object"] = output
            return output
        }
    }

    /// The C sample (`sample-plugins/c-hello/hello.c`), built with plain `cc`.
    public static func cSample() throws -> String {
        try buildC(stem: "sample_c", source: "\(repoRoot)/sample-plugins/c-hello/hello.c")
    }

    /// The Rust sample built by its own `build.sh` (rustc alone, no crates); nil when
    /// `rustc` is not on the PATH.
    public static func rustSample() throws -> String? {
        guard which("rustc") != nil else { return nil }
        return try built.withLock { cache throws(BuildError) -> String in
            if let path = cache["sample_rust"] { return path }
            try run("/usr/bin/env", ["bash", "\(repoRoot)/sample-plugins/rust-hello/build.sh", directory])
            let output = "\(directory)/libgw_sample_rust.so"
            cache["sample_rust"] = output
            return output
        }
    }

    /// The Swift sample `libgw_sample_swift.so`, built by SwiftPM beside the test bundle.
    public static func swiftSample() -> String? {
        let candidates = [buildProductsDirectory, "\(repoRoot)/.build/debug"].compactMap { $0 }
        for dir in candidates {
            let path = "\(dir)/libgw_sample_swift.so"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// The folder of the running test executable (SwiftPM's build products folder).
    public static var buildProductsDirectory: String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return (exe as NSString).deletingLastPathComponent
    }

    /// A file named `x.so` holding text, not an ELF image.
    public static func nonELFFile() throws -> String {
        let dir = makeTemporaryDirectory(prefix: "gw-nonelf")
        let path = "\(dir)/x.so"
        try "this is not a shared library\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A copy of a good plugin with mode 0666 (world-writable).
    public static func worldWritableCopy(of plugin: String) throws -> String {
        let dir = makeTemporaryDirectory(prefix: "gw-writable")
        let path = "\(dir)/\((plugin as NSString).lastPathComponent)"
        try FileManager.default.copyItem(atPath: plugin, toPath: path)
        guard chmod(path, 0o666) == 0 else { throw BuildError(command: "chmod 0666 \(path)", output: String(cString: strerror(errno))) }
        return path
    }

    public static func makeTemporaryDirectory(prefix: String) -> String {
        var base = NSTemporaryDirectory()
        while base.hasSuffix("/") { base.removeLast() }
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        // The canonical path, so that it compares equal to what the plugin loader reports.
        guard let real = realpath(made, nil) else { return String(cString: made) }
        defer { free(real) }
        return String(cString: real)
    }

    // MARK: - Building

    private static func buildC(stem: String, source: String) throws -> String {
        try built.withLock { cache throws(BuildError) -> String in
            if let path = cache[stem] { return path }
            let output = "\(directory)/libgw_\(stem).so"
            try run("/usr/bin/env", [
                "cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                "-I\(repoRoot)/Sources/PluginAPI/include", "-I\(repoRoot)/Tests/Fixtures/ABI",
                "-o", output, source, "-lpthread",
            ])
            cache[stem] = output
            return output
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws(BuildError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let command = ([executable] + arguments).joined(separator: " ")
        do {
            try process.run()
        } catch {
            throw BuildError(command: command, output: "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BuildError(command: command, output: String(decoding: data, as: UTF8.self))
        }
    }

    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension FixturePlugins {
    /// True when the Rust sample can be built here.
    public static var hasRustCompiler: Bool { which("rustc") != nil }
}
