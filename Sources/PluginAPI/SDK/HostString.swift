/// Text the host can be handed as it is: bytes at a fixed address for as long as the
/// value lives. A `String` has to be copied out (or pinned) at every host call that
/// takes it, with a retain and release of its storage; a `HostString` made once (a
/// header name or metadata key from the config, a literal) costs nothing per call.
///
///     static let tenantKey = HostString("tenant")          // a literal: no copy
///     let header = HostString(copying: config.headerName)  // copied once, at config time
///     stream.setMetadata(namespace: Self.namespace, key: Self.tenantKey, value: consumerText)
public struct HostString: @unchecked Sendable, CustomStringConvertible {
    /// Owns the bytes of a copied `String`; nil for a literal, whose bytes are the
    /// binary's.
    @usableFromInline let owner: Storage?
    @usableFromInline let text: gw_str

    /// The literal's own bytes (nothing is copied or allocated).
    @inlinable
    public init(_ literal: StaticString) {
        owner = nil
        text = literal.gwStr
    }

    /// A copy of `string`'s UTF-8 bytes, kept as long as this value.
    public init(copying string: String) {
        let storage = Storage(string)
        owner = storage
        text = gw_str(ptr: UnsafeRawPointer(storage.bytes.baseAddress)?.assumingMemoryBound(to: CChar.self), len: storage.bytes.count)
    }

    /// The length in bytes.
    @inlinable public var count: Int { text.len }

    /// The bytes, borrowed for `body`.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(owner) { try body(UnsafeRawBufferPointer(start: text.ptr, count: text.ptr == nil ? 0 : text.len)) }
    }

    /// The text as a `String`.
    public var description: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// The memory of a copied string.
    @usableFromInline
    final class Storage {
        let bytes: UnsafeMutableRawBufferPointer

        init(_ string: String) {
            let utf8 = Array(string.utf8)
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(utf8.count, 1), alignment: 1)
            utf8.withUnsafeBytes { if let source = $0.baseAddress { memory.copyMemory(from: source, byteCount: $0.count) } }
            bytes = UnsafeMutableRawBufferPointer(start: memory, count: utf8.count)
        }

        deinit { bytes.baseAddress?.deallocate() }
    }
}

extension HostString: Equatable {
    public static func == (a: HostString, b: HostString) -> Bool {
        a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }
}
