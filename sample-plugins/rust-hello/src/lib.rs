//! A complete gw filter plugin in Rust with no crates ("sample_rust").
//!
//! Same behaviour as the C sample (`sample-plugins/c-hello`):
//!   - adds one response header (default `x-sample-rust: hello from Rust`);
//!   - optionally answers 403 to any request that carries a given header.
//!
//! Config keys (a flat JSON object of strings): `response_header`,
//! `response_value`, `reject_header`.
//!
//! The bindings below are written by hand from `gw_plugin.h` (ABI 1.0). The two
//! tables are declared in full and in order because their layout is the ABI;
//! the compile-time assertions after them compare the layout with numbers
//! measured from the C header. Every function the host calls catches panics:
//! a panic must never unwind into the host.

#![warn(unsafe_op_in_unsafe_fn)]

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

// ===========================================================================
// Bindings for gw_plugin.h, ABI 1.0
// ===========================================================================

pub mod abi {
    use std::ffi::{c_char, c_void};

    pub const GW_ABI_MAJOR: u16 = 1;
    pub const GW_ABI_MINOR: u16 = 0;

    /// `gw_str`: a byte string view, not NUL-terminated.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct GwStr {
        pub ptr: *const c_char,
        pub len: usize,
    }

    /// `gw_bytes`: a binary view.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct GwBytes {
        pub ptr: *const u8,
        pub len: usize,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct GwHeader {
        pub name: GwStr,
        pub value: GwStr,
    }

    /// Opaque host handles: never dereferenced by the plugin.
    #[repr(C)]
    pub struct GwPluginHandle {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct GwConfigHandle {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct GwStream {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct GwAsync {
        _private: [u8; 0],
    }

    pub type GwResult = i32;
    pub const GW_OK: GwResult = 0;
    pub const GW_E_NOT_FOUND: GwResult = -1;
    pub const GW_E_BAD_ARGUMENT: GwResult = -2;
    pub const GW_E_WRONG_CONTEXT: GwResult = -3;
    pub const GW_E_STREAM_GONE: GwResult = -4;
    pub const GW_E_BUFFER_TOO_SMALL: GwResult = -5;
    pub const GW_E_CAS_MISMATCH: GwResult = -6;
    pub const GW_E_UNSUPPORTED: GwResult = -7;
    pub const GW_E_LIMIT: GwResult = -8;
    pub const GW_E_INTERNAL: GwResult = -9;

    // The C enums are 32 bits wide and may gain values, so they are plain
    // integers here: a Rust `enum` must never hold a value it does not list.
    pub type GwStatus = u32;
    pub const GW_CONTINUE: GwStatus = 0;
    pub const GW_STOP: GwStatus = 1;
    pub const GW_PAUSE: GwStatus = 2;
    pub const GW_BUFFER: GwStatus = 3;

    pub type GwDirection = u32;
    pub const GW_REQUEST: GwDirection = 0;
    pub const GW_RESPONSE: GwDirection = 1;

    pub type GwAttribute = u32;
    pub const GW_ATTR_METHOD: GwAttribute = 0;
    pub const GW_ATTR_PATH: GwAttribute = 1;
    pub const GW_ATTR_QUERY: GwAttribute = 2;
    pub const GW_ATTR_AUTHORITY: GwAttribute = 3;
    pub const GW_ATTR_SCHEME: GwAttribute = 4;
    pub const GW_ATTR_CLIENT_ADDRESS: GwAttribute = 5;
    pub const GW_ATTR_REQUEST_ID: GwAttribute = 6;
    pub const GW_ATTR_ROUTE_NAME: GwAttribute = 7;
    pub const GW_ATTR_UPSTREAM_NAME: GwAttribute = 8;
    pub const GW_ATTR_RESPONSE_STATUS: GwAttribute = 9;
    pub const GW_ATTR_PROTOCOL: GwAttribute = 10;

    pub type GwLogLevel = u32;
    pub const GW_LOG_TRACE: GwLogLevel = 0;
    pub const GW_LOG_DEBUG: GwLogLevel = 1;
    pub const GW_LOG_INFO: GwLogLevel = 2;
    pub const GW_LOG_WARN: GwLogLevel = 3;
    pub const GW_LOG_ERROR: GwLogLevel = 4;

    pub type GwMetricKind = u32;
    pub type GwCalloutResult = u32;

    pub const GW_FEATURE_REQUEST_BODY: u64 = 1 << 0;
    pub const GW_FEATURE_RESPONSE_BODY: u64 = 1 << 1;
    pub const GW_FEATURE_HTTP_CALLOUT: u64 = 1 << 2;
    pub const GW_FEATURE_SHARED_KV: u64 = 1 << 3;
    pub const GW_FEATURE_SSE_EVENTS: u64 = 1 << 4;
    pub const GW_FEATURE_METRICS: u64 = 1 << 5;

    #[repr(C)]
    pub struct GwSseEvent {
        pub struct_size: u32,
        pub reserved0: u32,
        pub event: GwStr,
        pub id: GwStr,
        pub data: GwBytes,
        pub raw: GwBytes,
    }

    type P = *mut GwPluginHandle;
    type C = *mut GwConfigHandle;
    type S = *mut GwStream;
    type A = *mut GwAsync;

    /// `gw_host_v1`, every slot of ABI 1.0, in header order. The host fills
    /// every 1.0 slot; `Option` costs nothing (NULL is the niche).
    #[repr(C)]
    pub struct GwHostV1 {
        pub struct_size: u32,
        pub abi_major: u16,
        pub abi_minor: u16,
        pub host_version: GwStr,
        pub features: u64,
        pub worker_count: u32,
        pub reserved0: u32,
        // logging and time
        pub log_enabled: Option<unsafe extern "C" fn(P, GwLogLevel) -> bool>,
        pub log: Option<unsafe extern "C" fn(P, GwLogLevel, GwStr)>,
        pub monotonic_ns: Option<unsafe extern "C" fn() -> u64>,
        // configuration errors
        pub config_error: Option<unsafe extern "C" fn(C, GwStr)>,
        // metrics
        pub metric_define: Option<
            unsafe extern "C" fn(C, GwMetricKind, GwStr, *const GwStr, usize, *mut u32) -> GwResult,
        >,
        pub metric_record: Option<unsafe extern "C" fn(C, u32, *const GwStr, usize, f64) -> GwResult>,
        // headers
        pub header_get:
            Option<unsafe extern "C" fn(S, GwDirection, GwStr, usize, *mut GwStr, *mut usize) -> GwResult>,
        pub headers_get:
            Option<unsafe extern "C" fn(S, GwDirection, *mut GwHeader, usize, *mut usize) -> GwResult>,
        pub header_set: Option<unsafe extern "C" fn(S, GwDirection, GwStr, GwStr) -> GwResult>,
        pub header_add: Option<unsafe extern "C" fn(S, GwDirection, GwStr, GwStr) -> GwResult>,
        pub header_remove: Option<unsafe extern "C" fn(S, GwDirection, GwStr) -> GwResult>,
        // attributes
        pub attribute_get: Option<unsafe extern "C" fn(S, GwAttribute, *mut GwStr) -> GwResult>,
        pub attribute_set: Option<unsafe extern "C" fn(S, GwAttribute, GwStr) -> GwResult>,
        // body
        pub body_get: Option<unsafe extern "C" fn(S, GwDirection, *mut GwBytes) -> GwResult>,
        pub body_replace: Option<unsafe extern "C" fn(S, GwDirection, GwBytes) -> GwResult>,
        pub body_append: Option<unsafe extern "C" fn(S, GwDirection, GwBytes) -> GwResult>,
        // flow control
        pub send_local_reply:
            Option<unsafe extern "C" fn(S, u32, *const GwHeader, usize, GwBytes, GwStr) -> GwResult>,
        pub stream_continue: Option<unsafe extern "C" fn(S) -> GwResult>,
        pub stream_reset: Option<unsafe extern "C" fn(S, GwStr) -> GwResult>,
        // async resumption
        pub async_acquire: Option<unsafe extern "C" fn(S) -> A>,
        pub async_post: Option<unsafe extern "C" fn(A, u64, *mut c_void, u64) -> GwResult>,
        pub async_resume: Option<unsafe extern "C" fn(A) -> GwResult>,
        pub async_release: Option<unsafe extern "C" fn(A)>,
        // HTTP call-out
        pub http_callout: Option<
            unsafe extern "C" fn(S, GwStr, GwStr, *const GwHeader, usize, GwBytes, u64, *mut u64) -> GwResult,
        >,
        // per-request metadata
        pub metadata_set: Option<unsafe extern "C" fn(S, GwStr, GwStr, GwBytes) -> GwResult>,
        pub metadata_get: Option<unsafe extern "C" fn(S, GwStr, GwStr, *mut GwBytes) -> GwResult>,
        // shared key-value store
        pub kv_get:
            Option<unsafe extern "C" fn(P, GwStr, *mut c_void, usize, *mut usize, *mut u64) -> GwResult>,
        pub kv_set: Option<unsafe extern "C" fn(P, GwStr, GwBytes, u64, u64, *mut u64) -> GwResult>,
        pub kv_incr: Option<unsafe extern "C" fn(P, GwStr, i64, u64, *mut i64) -> GwResult>,
        pub kv_delete: Option<unsafe extern "C" fn(P, GwStr) -> GwResult>,
    }

    /// `gw_plugin_v1`, every slot of ABI 1.0, in header order.
    #[repr(C)]
    pub struct GwPluginV1 {
        pub struct_size: u32,
        pub abi_major: u16,
        pub abi_minor: u16,
        pub name: GwStr,
        pub version: GwStr,
        pub build_info: GwStr,
        pub required_features: u64,
        pub optional_features: u64,
        pub flags: u32,
        pub reserved0: u32,
        pub plugin_init: Option<unsafe extern "C" fn(P, *mut *mut c_void) -> GwResult>,
        pub config_new: Option<unsafe extern "C" fn(*mut c_void, C, GwStr, GwBytes) -> *mut c_void>,
        pub config_destroy: Option<unsafe extern "C" fn(*mut c_void)>,
        pub filter_new: Option<unsafe extern "C" fn(*mut c_void, S) -> *mut c_void>,
        pub filter_destroy: Option<unsafe extern "C" fn(*mut c_void)>,
        pub on_request_headers: Option<unsafe extern "C" fn(*mut c_void, S, bool) -> GwStatus>,
        pub on_request_body: Option<unsafe extern "C" fn(*mut c_void, S, GwBytes, bool) -> GwStatus>,
        pub on_response_headers: Option<unsafe extern "C" fn(*mut c_void, S, bool) -> GwStatus>,
        pub on_response_body: Option<unsafe extern "C" fn(*mut c_void, S, GwBytes, bool) -> GwStatus>,
        pub on_response_sse_event:
            Option<unsafe extern "C" fn(*mut c_void, S, *const GwSseEvent, bool) -> GwStatus>,
        pub on_stream_complete: Option<unsafe extern "C" fn(*mut c_void, S)>,
        pub on_async_event: Option<unsafe extern "C" fn(*mut c_void, S, u64, *mut c_void)>,
        pub on_callout_done: Option<
            unsafe extern "C" fn(*mut c_void, S, u64, GwCalloutResult, u32, *const GwHeader, usize, GwBytes),
        >,
    }

    // SAFETY: the plugin's descriptor is an immutable static; its pointers
    // refer to static string data. The host only reads it.
    unsafe impl Sync for GwPluginV1 {}

    // Layout self-check. Expected numbers measured on x86_64/aarch64 Linux
    // with a C program (sizeof/offsetof) compiled against gw_plugin.h 1.0:
    //   sizeof(gw_host_v1) = 280, sizeof(gw_plugin_v1) = 184,
    //   sizeof(gw_sse_event) = 72; offsets as listed below.
    use std::mem::{offset_of, size_of};
    const _: () = assert!(size_of::<GwStr>() == 16 && size_of::<GwHeader>() == 32);
    const _: () = assert!(size_of::<GwHostV1>() == 280);
    const _: () = assert!(size_of::<GwPluginV1>() == 184);
    const _: () = assert!(size_of::<GwSseEvent>() == 72);
    const _: () = assert!(offset_of!(GwHostV1, features) == 24);
    const _: () = assert!(offset_of!(GwHostV1, log_enabled) == 40);
    const _: () = assert!(offset_of!(GwHostV1, header_get) == 88);
    const _: () = assert!(offset_of!(GwHostV1, send_local_reply) == 168);
    const _: () = assert!(offset_of!(GwHostV1, async_acquire) == 192);
    const _: () = assert!(offset_of!(GwHostV1, kv_delete) == 272);
    const _: () = assert!(offset_of!(GwPluginV1, required_features) == 56);
    const _: () = assert!(offset_of!(GwPluginV1, plugin_init) == 80);
    const _: () = assert!(offset_of!(GwPluginV1, on_request_headers) == 120);
    const _: () = assert!(offset_of!(GwPluginV1, on_callout_done) == 176);
    const _: () = assert!(offset_of!(GwSseEvent, data) == 40);
}

use abi::*;

/// What a status hook returns if it panicked: not a valid gw_status, so the
/// host treats it as a plugin failure (the filter's failure mode applies).
const STATUS_PANICKED: GwStatus = 0x7fff_fff0;

const fn lit(s: &'static str) -> GwStr {
    GwStr { ptr: s.as_ptr().cast(), len: s.len() }
}

fn view(b: &[u8]) -> GwStr {
    GwStr { ptr: b.as_ptr().cast(), len: b.len() }
}

fn bytes(b: &[u8]) -> GwBytes {
    GwBytes { ptr: b.as_ptr(), len: b.len() }
}

// ===========================================================================
// The host, set once by the entry point
// ===========================================================================

static HOST: AtomicPtr<GwHostV1> = AtomicPtr::new(std::ptr::null_mut());
static PLUGIN: AtomicPtr<GwPluginHandle> = AtomicPtr::new(std::ptr::null_mut());

/// The host table; valid for the whole process once the entry point ran.
fn host() -> &'static GwHostV1 {
    let h = HOST.load(Ordering::Acquire);
    assert!(!h.is_null(), "gw host table not set");
    // SAFETY: the host table lives for the whole process (gw_plugin.h).
    unsafe { &*h }
}

/// Calls a host slot; a missing 1.0 slot is a host bug, reported as a panic
/// (caught at the boundary like any other).
macro_rules! call {
    ($slot:ident ( $($arg:expr),* )) => {{
        let f = host().$slot.expect(concat!("host slot ", stringify!($slot), " is NULL"));
        // SAFETY: arguments follow the header's rules for this slot.
        unsafe { f($($arg),*) }
    }};
}

// ===========================================================================
// Config
// ===========================================================================

/// Immutable once built; shared read-only by every event loop.
struct Config {
    response_header: Vec<u8>,
    response_value: Vec<u8>,
    reject_header: Option<Vec<u8>>,
    reject_message: Vec<u8>, // "request carries header <name>", also the log details
    reject_body: Vec<u8>,    // the 403 JSON body, built once
}

/// RFC 7230 tchar, at least one.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Visible characters, SP, HTAB and bytes >= 0x80; no CR, LF, NUL or other controls.
fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&c| !((c < 0x20 && c != b'\t') || c == 0x7f))
}

/// A printable, bounded rendering of a user-supplied key for messages.
fn printable(key: &[u8]) -> String {
    let mut out: String = key
        .iter()
        .take(60)
        .map(|&c| if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' { c as char } else { '?' })
        .collect();
    if key.len() > 60 {
        out.push_str("...");
    }
    out
}

struct Cursor<'a> {
    p: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.p.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }
    fn peek_is(&self, c: u8) -> bool {
        self.p.get(self.pos) == Some(&c)
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek_is(c);
        if hit {
            self.pos += 1;
        }
        hit
    }
    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.p.get(at..at.checked_add(4)?)?;
        digits.iter().try_fold(0u32, |acc, &d| Some(acc * 16 + (d as char).to_digit(16)?))
    }

    /// A JSON string starting at `pos` (a '"'), decoded.
    fn string(&mut self) -> Result<Vec<u8>, &'static str> {
        if !self.eat(b'"') {
            return Err("expected a string");
        }
        let mut out = Vec::new();
        loop {
            let c = *self.p.get(self.pos).ok_or("unterminated string")?;
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                0x00..=0x1f => return Err("control character in string"),
                b'\\' => {
                    let e = *self.p.get(self.pos).ok_or("unterminated string")?;
                    self.pos += 1;
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err("unsupported escape in string"),
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        continue;
                    }
                    let mut cp = self.hex4(self.pos).ok_or("bad \\u escape")?;
                    self.pos += 4;
                    if (0xDC00..=0xDFFF).contains(&cp) {
                        return Err("lone surrogate in \\u escape");
                    }
                    if (0xD800..=0xDBFF).contains(&cp) {
                        let lo = match (self.p.get(self.pos..self.pos + 2), self.hex4(self.pos + 2)) {
                            (Some(b"\\u"), Some(lo)) if (0xDC00..=0xDFFF).contains(&lo) => lo,
                            _ => return Err("lone surrogate in \\u escape"),
                        };
                        self.pos += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    let ch = char::from_u32(cp).ok_or("bad \\u escape")?;
                    out.extend_from_slice(ch.encode_utf8(&mut [0u8; 4]).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

const KNOWN_KEYS: &str = "response_header, response_value, reject_header";

/// Parse and validate a flat JSON object of string values.
fn parse_config(text: &[u8]) -> Result<Config, String> {
    let text: &[u8] = if text.is_empty() { b"{}" } else { text };
    let mut c = Cursor { p: text, pos: 0 };
    let (mut header, mut value, mut reject) = (None, None, None);

    c.skip_ws();
    if !c.eat(b'{') {
        return Err("config must be a JSON object".into());
    }
    c.skip_ws();
    if !c.eat(b'}') {
        loop {
            c.skip_ws();
            if !c.peek_is(b'"') {
                return Err(format!("config: expected a key string at byte {}", c.pos));
            }
            let key = c.string().map_err(|e| format!("config: {e} at byte {}", c.pos))?;
            let shown = printable(&key);
            c.skip_ws();
            if !c.eat(b':') {
                return Err(format!("config: expected ':' after key \"{shown}\""));
            }
            let slot = match key.as_slice() {
                b"response_header" => &mut header,
                b"response_value" => &mut value,
                b"reject_header" => &mut reject,
                _ => return Err(format!("config: unknown key \"{shown}\" (known keys: {KNOWN_KEYS})")),
            };
            if slot.is_some() {
                return Err(format!("config key \"{shown}\" appears twice"));
            }
            c.skip_ws();
            if !c.peek_is(b'"') {
                return Err(format!("config key \"{shown}\" must be a string"));
            }
            *slot = Some(c.string().map_err(|e| format!("config key \"{shown}\": {e}"))?);
            c.skip_ws();
            if c.eat(b',') {
                continue;
            }
            if c.eat(b'}') {
                break;
            }
            return Err(format!("config: expected ',' or '}}' at byte {}", c.pos));
        }
    }
    c.skip_ws();
    if c.pos != text.len() {
        return Err(format!("config: unexpected data after the object at byte {}", c.pos));
    }

    let response_header = header.unwrap_or_else(|| b"x-sample-rust".to_vec());
    let response_value = value.unwrap_or_else(|| b"hello from Rust".to_vec());
    if !is_token(&response_header) {
        return Err("config key \"response_header\" must be a non-empty HTTP token (RFC 7230 tchar)".into());
    }
    if !is_field_value(&response_value) {
        return Err(
            "config key \"response_value\" must not contain CR, LF, NUL or other control characters".into(),
        );
    }
    if let Some(name) = &reject {
        if !is_token(name) {
            return Err("config key \"reject_header\" must be a non-empty HTTP token (RFC 7230 tchar)".into());
        }
    }
    // The name is a token, so it needs no JSON escaping.
    let reject_message = match &reject {
        Some(name) => [b"request carries header ".as_slice(), name].concat(),
        None => Vec::new(),
    };
    let reject_body = [
        br#"{"error":{"type":"rejected_by_plugin","message":""#.as_slice(),
        &reject_message,
        br#""}}"#.as_slice(),
    ]
    .concat();
    Ok(Config { response_header, response_value, reject_header: reject, reject_message, reject_body })
}

// ===========================================================================
// Hooks: every one catches panics
// ===========================================================================

fn guard_status(f: impl FnOnce() -> GwStatus) -> GwStatus {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(STATUS_PANICKED)
}

fn guard_ptr(f: impl FnOnce() -> *mut c_void) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(std::ptr::null_mut())
}

/// [CONTROL] Parse one filter's config; report errors via config_error.
unsafe extern "C" fn config_new(
    _state: *mut c_void,
    c: *mut GwConfigHandle,
    _filter_name: GwStr,
    config: GwBytes,
) -> *mut c_void {
    guard_ptr(|| {
        let text: &[u8] = if config.ptr.is_null() || config.len == 0 {
            &[]
        } else {
            // SAFETY: borrowed for this call (gw_plugin.h MEMORY).
            unsafe { std::slice::from_raw_parts(config.ptr, config.len) }
        };
        match parse_config(text) {
            Ok(cfg) => Box::into_raw(Box::new(cfg)).cast(),
            Err(message) => {
                call!(config_error(c, view(message.as_bytes())));
                std::ptr::null_mut()
            }
        }
    })
}

/// [ANY] Free a config made by config_new.
unsafe extern "C" fn config_destroy(config: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !config.is_null() {
            // SAFETY: made by Box::into_raw in config_new; the host calls this once.
            drop(unsafe { Box::from_raw(config.cast::<Config>()) });
        }
    }));
}

/// No per-stream state: the filter is the immutable config itself.
unsafe extern "C" fn filter_new(config: *mut c_void, _s: *mut GwStream) -> *mut c_void {
    config
}

unsafe extern "C" fn filter_destroy(_filter: *mut c_void) {}

unsafe extern "C" fn on_request_headers(filter: *mut c_void, s: *mut GwStream, _eos: bool) -> GwStatus {
    guard_status(|| {
        // SAFETY: the filter is the Config from config_new, alive while streams use it.
        let cfg = unsafe { &*filter.cast::<Config>() };
        let Some(name) = &cfg.reject_header else { return GW_CONTINUE };
        let mut value = GwStr { ptr: std::ptr::null(), len: 0 }; // hook-borrowed, unused
        if call!(header_get(s, GW_REQUEST, view(name), 0, &mut value, std::ptr::null_mut())) != GW_OK {
            return GW_CONTINUE;
        }
        let headers = [GwHeader { name: lit("content-type"), value: lit("application/json") }];
        call!(send_local_reply(
            s,
            403,
            headers.as_ptr(),
            headers.len(),
            bytes(&cfg.reject_body),
            view(&cfg.reject_message)
        ));
        // Even if the reply failed, GW_STOP is right: the host then treats it
        // as a plugin failure, and a rejecting filter should fail closed.
        GW_STOP
    })
}

unsafe extern "C" fn on_response_headers(filter: *mut c_void, s: *mut GwStream, _eos: bool) -> GwStatus {
    guard_status(|| {
        // SAFETY: as in on_request_headers.
        let cfg = unsafe { &*filter.cast::<Config>() };
        let r = call!(header_set(s, GW_RESPONSE, view(&cfg.response_header), view(&cfg.response_value)));
        if r != GW_OK {
            let p = PLUGIN.load(Ordering::Acquire);
            if call!(log_enabled(p, GW_LOG_WARN)) {
                call!(log(p, GW_LOG_WARN, lit("could not set the response header")));
            }
        }
        GW_CONTINUE
    })
}

// ===========================================================================
// Descriptor and entry point
// ===========================================================================

static DESCRIPTOR: GwPluginV1 = GwPluginV1 {
    struct_size: size_of::<GwPluginV1>() as u32,
    abi_major: GW_ABI_MAJOR,
    abi_minor: GW_ABI_MINOR,
    name: lit("sample_rust"),
    version: lit("0.1.0"),
    build_info: lit("lang=rust sdk=none"),
    required_features: 0,
    optional_features: 0,
    flags: 0,
    reserved0: 0,
    plugin_init: None,
    config_new: Some(config_new),
    config_destroy: Some(config_destroy),
    filter_new: Some(filter_new),
    filter_destroy: Some(filter_destroy),
    on_request_headers: Some(on_request_headers),
    on_request_body: None,
    on_response_headers: Some(on_response_headers),
    on_response_body: None,
    on_response_sse_event: None,
    on_stream_complete: None,
    on_async_event: None,
    on_callout_done: None,
};

/// The only exported symbol. [CONTROL]; must not block or start threads.
///
/// # Safety
/// `host` must be NULL or point to a host table valid for the whole process.
#[no_mangle]
pub unsafe extern "C" fn gw_plugin_entry_v1(host: *const GwHostV1, p: *mut GwPluginHandle) -> *const GwPluginV1 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes a table valid forever (or NULL).
        match unsafe { host.as_ref() } {
            Some(h) if h.abi_major == GW_ABI_MAJOR => {
                HOST.store(host.cast_mut(), Ordering::Release);
                PLUGIN.store(p, Ordering::Release);
                std::ptr::from_ref(&DESCRIPTOR)
            }
            _ => std::ptr::null(),
        }
    }))
    .unwrap_or(std::ptr::null())
}
