import NIOHTTP1

/// What the proxy needs from a request's headers, found in ONE pass: the limits
/// check, body detection, the expectation, the request id, routing and the
/// forwarding headers each used to search the header list again (about ten
/// case-insensitive scans per request).
struct RequestHeadScan {
    var headerBytes = 0
    var contentLength: String?
    var hasTransferEncoding = false
    var expect: String?
    var requestID: String?
    var host: String?
    var forwardedFor: String?
    var hasForwardedProto = false
    var hasForwardedHost = false

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            headerBytes += name.utf8.count + value.utf8.count
            switch name.utf8.count {
            case 4:
                if host == nil && asciiEqualsIgnoringCase(name, "host") { host = value }
            case 6:
                if expect == nil && asciiEqualsIgnoringCase(name, "expect") { expect = value }
            case 12:
                if requestID == nil && asciiEqualsIgnoringCase(name, "x-request-id") { requestID = value }
            case 14:
                if contentLength == nil && asciiEqualsIgnoringCase(name, "content-length") { contentLength = value }
            case 15:
                if forwardedFor == nil && asciiEqualsIgnoringCase(name, "x-forwarded-for") { forwardedFor = value }
            case 16:
                if asciiEqualsIgnoringCase(name, "x-forwarded-host") { hasForwardedHost = true }
            case 17:
                if asciiEqualsIgnoringCase(name, "x-forwarded-proto") {
                    hasForwardedProto = true
                } else if asciiEqualsIgnoringCase(name, "transfer-encoding") {
                    hasTransferEncoding = true
                }
            default:
                break
            }
        }
    }

    /// The request announced a body (Content-Length other than 0, or Transfer-Encoding).
    var hasBody: Bool {
        if let contentLength { return contentLength != "0" }
        return hasTransferEncoding
    }
}
