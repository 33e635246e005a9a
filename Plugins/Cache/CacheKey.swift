import CLibcrypto

/// The SHA-256 implementation, fetched once (OpenSSL 3 looks it up per call otherwise).
private nonisolated(unsafe) let sha256Algorithm: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)

/// A cache key: the SHA-256 of the request's identifying parts. Fixed size whatever
/// the URI's length, so a huge URI costs a hash, not memory, and a remote store can use
/// it as is (`hex`). Collisions are not a practical concern at 256 bits.
struct CacheKey: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    static func == (a: CacheKey, b: CacheKey) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }

    /// The SHA-256 of `bytes`, or nil if libcrypto failed.
    static func digest(_ bytes: UnsafeRawBufferPointer) -> CacheKey? {
        guard let algorithm = sha256Algorithm else { return nil }
        var key = CacheKey()
        var size: UInt32 = 0
        let ok = withUnsafeMutableBytes(of: &key.words) { out in
            EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress?.assumingMemoryBound(to: UInt8.self), &size, algorithm, nil)
        }
        return ok == 1 && size == 32 ? key : nil
    }

    /// The 32 digest bytes, appended to `bytes` (to chain a key into another).
    func append(to bytes: inout [UInt8]) {
        withUnsafeBytes(of: words) { bytes.append(contentsOf: $0) }
    }

    /// 64 lowercase hex digits.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: words) { raw in
            String(unsafeUninitializedCapacity: 64) { out in
                for (i, byte) in raw.enumerated() {
                    out[2 * i] = digits[Int(byte >> 4)]
                    out[2 * i + 1] = digits[Int(byte & 0x0f)]
                }
                return 64
            }
        }
    }
}

/// Builds the bytes a key is the digest of: each part length-prefixed, so no choice of
/// values can make two different requests produce the same byte string.
struct KeyMaterial {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    mutating func add(_ part: String) {
        var copy = part
        copy.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    mutating func add(_ part: UnsafeRawBufferPointer) {
        var length = UInt32(truncatingIfNeeded: part.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: part)
    }

    mutating func add(_ key: CacheKey) {
        key.append(to: &bytes)
    }

    func digest() -> CacheKey? {
        bytes.withUnsafeBytes { CacheKey.digest($0) }
    }
}
