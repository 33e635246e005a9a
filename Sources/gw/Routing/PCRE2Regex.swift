import CPCRE2

/// A compiled PCRE2 pattern (JIT when available). Immutable and shareable; each
/// match allocates its own match data, so it is safe on every event loop.
final class PCRE2Regex: @unchecked Sendable {
    // @unchecked: a compiled pcre2_code is read-only and documented thread-safe for matching.
    let pattern: String
    private let code: OpaquePointer

    struct CompileError: Error, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "invalid regex at offset \(offset): \(message)" }
    }

    init(_ pattern: String) throws(CompileError) {
        self.pattern = pattern
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled = pattern.withCString { cString in
            cString.withMemoryRebound(to: UInt8.self, capacity: pattern.utf8.count) { bytes in
                pcre2_compile_8(bytes, pattern.utf8.count, gw_pcre2_utf, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            let length = pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            throw CompileError(message: String(decoding: buffer.prefix(max(0, Int(length))), as: UTF8.self), offset: errorOffset)
        }
        code = compiled
        _ = pcre2_jit_compile_8(code, gw_pcre2_jit_complete)
    }

    deinit {
        pcre2_code_free_8(code)
    }

    /// Match `subject`; returns the captures (index 0 = whole match) or nil.
    func match(_ subject: String) -> [Substring?]? {
        var subject = subject
        return subject.withUTF8 { utf8 -> [Substring?]? in
            guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else { return nil }
            defer { pcre2_match_data_free_8(data) }
            let rc = pcre2_match_8(code, utf8.baseAddress, utf8.count, 0, 0, data, nil)
            guard rc > 0 else { return nil }
            let ovector = pcre2_get_ovector_pointer_8(data)
            var captures: [Substring?] = []
            for i in 0..<Int(rc) {
                guard let ovector else { break }
                let start = ovector[2 * i]
                let end = ovector[2 * i + 1]
                if start < 0 || end < start || end > utf8.count {
                    captures.append(nil)
                } else {
                    captures.append(Substring(String(decoding: UnsafeBufferPointer(rebasing: utf8[start..<end]), as: UTF8.self)))
                }
            }
            return captures
        }
    }

    /// True if `subject` matches anywhere.
    func matches(_ subject: String) -> Bool {
        match(subject) != nil
    }
}
