import CPCRE2
import GatewayPluginSDK

/// `request.path: {regex, replace}`: a path that matches the PCRE2 `regex` becomes
/// `replace`, with `$1`..`$9`, `${12}` and `${name}` standing for captures (`$0` the
/// whole match) and `$$` for a dollar sign. A path that does not match is unchanged.
/// The pattern is compiled (and JIT-compiled) once, at config time.
final class PathRewrite: @unchecked Sendable {
    // @unchecked: the compiled code and the match context are read-only after init,
    // which PCRE2 documents as safe to share between threads; match data is per call.

    enum Part: Equatable {
        case literal(String)
        case group(Int)
    }

    let pattern: String
    let parts: [Part]
    private let code: OpaquePointer
    private let context: OpaquePointer?

    /// Backtracking bounds for one match: a pathological pattern fails the match
    /// (the path stays unchanged) instead of spinning on the event loop.
    static let matchLimit: UInt32 = 100_000
    static let depthLimit: UInt32 = 10_000

    struct Failure: Error {
        /// The config key at fault ("regex" or "replace") and why.
        let key: String
        let message: String
    }

    init(regex: String, replace: String) throws(Failure) {
        pattern = regex
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled = regex.withCString { cString in
            cString.withMemoryRebound(to: UInt8.self, capacity: regex.utf8.count) { bytes in
                pcre2_compile_8(bytes, regex.utf8.count, gw_pcre2_utf, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            let length = pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            throw Failure(
                key: "regex", message: "invalid regex at offset \(errorOffset): \(String(decoding: buffer.prefix(max(0, Int(length))), as: UTF8.self))")
        }
        code = compiled
        _ = pcre2_jit_compile_8(code, gw_pcre2_jit_complete)
        context = pcre2_match_context_create_8(nil)
        if let context {
            pcre2_set_match_limit_8(context, Self.matchLimit)
            pcre2_set_depth_limit_8(context, Self.depthLimit)
        }
        var captureCount: UInt32 = 0
        _ = pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_CAPTURECOUNT), &captureCount)
        do {
            parts = try Self.parseTemplate(replace, captures: Int(captureCount)) { name in
                let number = name.withCString { cString in
                    cString.withMemoryRebound(to: UInt8.self, capacity: name.utf8.count + 1) { pcre2_substring_number_from_name_8(compiled, $0) }
                }
                return number > 0 ? Int(number) : nil
            }
        } catch {
            pcre2_match_context_free_8(context)
            pcre2_code_free_8(compiled)
            throw error
        }
    }

    deinit {
        pcre2_match_context_free_8(context)
        pcre2_code_free_8(code)
    }

    /// Split `template` into literals and capture references, checking each reference
    /// against the pattern and the literals against what a path may hold.
    static func parseTemplate(_ template: String, captures: Int, named: (String) -> Int?) throws(Failure) -> [Part] {
        guard template.hasPrefix("/") else { throw Failure(key: "replace", message: "must start with \"/\"") }
        if let bad = template.unicodeScalars.first(where: { $0 == "?" || $0 == "#" || $0.value <= 0x20 || $0.value == 0x7f }) {
            let shown = bad.value <= 0x20 || bad.value == 0x7f ? "a space or control character" : "\"\(bad)\""
            throw Failure(key: "replace", message: "must not contain \(shown) (it rewrites the path only, query.add changes the query)")
        }
        var parts: [Part] = []
        var literal = ""
        var chars = Array(template)
        chars.append("\0")  // sentinel
        var i = 0
        func reference(_ number: Int) throws(Failure) {
            guard number <= captures else {
                throw Failure(key: "replace", message: "$\(number) refers to a group the regex does not have (it has \(captures))")
            }
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
            parts.append(.group(number))
        }
        while i < chars.count - 1 {
            let c = chars[i]
            guard c == "$" else {
                literal.append(c)
                i += 1
                continue
            }
            let next = chars[i + 1]
            if next == "$" {
                literal.append("$")
                i += 2
            } else if let digit = next.wholeNumberValue, next.isASCII {
                try reference(digit)
                i += 2
            } else if next == "{" {
                guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                    throw Failure(key: "replace", message: "\"${\" without a closing \"}\"")
                }
                let name = String(chars[(i + 2)..<close])
                if let number = Int(name), name.allSatisfy(\.isASCII) {
                    try reference(number)
                } else if let number = named(name) {
                    try reference(number)
                } else {
                    throw Failure(key: "replace", message: "${\(name)} names no group of the regex")
                }
                i = close + 1
            } else {
                throw Failure(key: "replace", message: "\"$\" must be followed by a group number, {name} or another \"$\"")
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    /// The rewritten path, or nil when `path` does not match.
    func rewrite(_ path: String) -> String? {
        var subject = path
        return subject.withUTF8 { utf8 -> String? in
            guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else { return nil }
            defer { pcre2_match_data_free_8(data) }
            let rc = pcre2_match_8(code, utf8.baseAddress, utf8.count, 0, 0, data, context)
            guard rc > 0, let ovector = pcre2_get_ovector_pointer_8(data) else {
                if rc != gw_pcre2_error_nomatch {
                    PluginLog.warning("transform: path regex \(pattern) failed on a path (PCRE2 error \(rc)); the path is unchanged")
                }
                return nil
            }
            let groups = Int(pcre2_get_ovector_count_8(data))
            var out: [UInt8] = []
            out.reserveCapacity(utf8.count + 16)
            for part in parts {
                switch part {
                case .literal(let text):
                    out.append(contentsOf: text.utf8)
                case .group(let n):
                    // A group that did not take part in the match is empty.
                    guard n < groups, n < Int(rc) else { continue }
                    let start = ovector[2 * n]
                    let end = ovector[2 * n + 1]
                    // PCRE2_UNSET (SIZE_MAX) reads as -1.
                    guard start >= 0, start <= end, end <= utf8.count else { continue }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<end]))
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
