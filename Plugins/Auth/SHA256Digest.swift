import CLibcrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The SHA-256 implementation, fetched once: OpenSSL 3 would otherwise look the
/// algorithm up on every `EVP_Digest` with `EVP_sha256()`.
private nonisolated(unsafe) let sha256Algorithm: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)

/// A SHA-256 digest held inline (no allocation). Deliberately not `Equatable`: the
/// only comparison is `matches(_:)`, which takes the same time whatever the bytes.
struct SHA256Digest: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// The digest of `bytes` (OpenSSL libcrypto), or nil if libcrypto failed. The
    /// digest context is the calling thread's, reset for each use: `EVP_Digest`
    /// allocated and freed one (two mallocs) on every request.
    static func of(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest? {
        guard let algorithm = sha256Algorithm, let context = threadContext() else { return nil }
        var digest = SHA256Digest()
        var size: UInt32 = 0
        guard EVP_DigestInit_ex2(context, algorithm, nil) == 1, EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1 else {
            return nil
        }
        let ok = withUnsafeMutableBytes(of: &digest.words) { out in
            EVP_DigestFinal_ex(context, out.baseAddress?.assumingMemoryBound(to: UInt8.self), &size)
        }
        return ok == 1 && size == 32 ? digest : nil
    }

    /// This thread's digest context (freed when the thread exits).
    private static func threadContext() -> OpaquePointer? {
        if let existing = pthread_getspecific(contextSlot) { return OpaquePointer(existing) }
        guard let context = EVP_MD_CTX_new() else { return nil }
        pthread_setspecific(contextSlot, UnsafeRawPointer(context))
        return context
    }

    private static let contextSlot: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { EVP_MD_CTX_free(OpaquePointer(pointer)) }
        }
        return key
    }()

    static func of(_ text: String) -> SHA256Digest? {
        var copy = text
        return copy.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }

    /// From 64 hex digits (either case); nil otherwise.
    init?(hex: Substring) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let high = Self.nibble(digits[2 * i]), let low = Self.nibble(digits[2 * i + 1]) else { return nil }
            bytes[i] = high << 4 | low
        }
        bytes.withUnsafeBytes { source in withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: source) } }
    }

    private init() {}

    /// Constant-time equality: all 32 bytes are always combined, no early exit.
    @inline(never)
    func matches(_ other: SHA256Digest) -> Bool {
        let difference = (words.0 ^ other.words.0) | (words.1 ^ other.words.1) | (words.2 ^ other.words.2) | (words.3 ^ other.words.3)
        return difference == 0
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
