/// One Server-Sent Event of a `text/event-stream` response, framed by the host
/// (`StreamFilter.onResponseSSEEvent`, feature `.sseEvents`). The byte views are
/// hook-borrowed: valid only inside the hook; copy what you keep.
public struct SSEEvent {
    /// The `event:` field ("" if absent).
    public let event: String
    /// The `id:` field ("" if absent).
    public let id: String
    /// The `data:` lines joined with "\n" (empty for a comment or the end-of-stream call).
    public let data: UnsafeRawBufferPointer
    /// The exact bytes of the event, the blank line included.
    public let raw: UnsafeRawBufferPointer

    init(_ ev: gw_sse_event) {
        event = String(gwStr: ev.event)
        id = String(gwStr: ev.id)
        data = UnsafeRawBufferPointer(start: ev.data.ptr, count: ev.data.ptr == nil ? 0 : ev.data.len)
        raw = UnsafeRawBufferPointer(start: ev.raw.ptr, count: ev.raw.ptr == nil ? 0 : ev.raw.len)
    }

    /// `data` as text (invalid UTF-8 repaired).
    public var dataText: String { String(decoding: data, as: UTF8.self) }
}
