//! ABI codes of proxy-wasm v0.2.1 (statuses, log levels, buffer, map, stream, peer and metric types).

/// A `proxy_status_t` returned by host functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK` (0).
    Ok,
    /// `NOT_FOUND` (1).
    NotFound,
    /// `BAD_ARGUMENT` (2).
    BadArgument,
    /// `SERIALIZATION_FAILURE` (3).
    SerializationFailure,
    /// `PARSE_FAILURE` (4).
    ParseFailure,
    /// `INVALID_MEMORY_ACCESS` (6).
    InvalidMemoryAccess,
    /// `EMPTY` (7).
    Empty,
    /// `CAS_MISMATCH` (8).
    CasMismatch,
    /// `INTERNAL_FAILURE` (10).
    InternalFailure,
    /// `UNIMPLEMENTED` (12).
    Unimplemented,
}

impl Status {
    /// The numeric code the guest sees.
    pub fn code(self) -> u32 {
        match self {
            Status::Ok => 0,
            Status::NotFound => 1,
            Status::BadArgument => 2,
            Status::SerializationFailure => 3,
            Status::ParseFailure => 4,
            Status::InvalidMemoryAccess => 6,
            Status::Empty => 7,
            Status::CasMismatch => 8,
            Status::InternalFailure => 10,
            Status::Unimplemented => 12,
        }
    }
}

/// A `proxy_log_level_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `TRACE` (0).
    Trace,
    /// `DEBUG` (1).
    Debug,
    /// `INFO` (2).
    Info,
    /// `WARN` (3).
    Warn,
    /// `ERROR` (4).
    Error,
    /// `CRITICAL` (5).
    Critical,
}

impl LogLevel {
    /// Decodes a guest level; `None` for codes the ABI does not define.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }

    /// The numeric code the guest sees.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// A `proxy_buffer_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferType {
    HttpRequestBody,
    HttpResponseBody,
    DownstreamData,
    UpstreamData,
    HttpCallResponseBody,
    GrpcCallMessage,
    VmConfiguration,
    PluginConfiguration,
    ForeignFunctionArguments,
}

impl BufferType {
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => BufferType::HttpRequestBody,
            1 => BufferType::HttpResponseBody,
            2 => BufferType::DownstreamData,
            3 => BufferType::UpstreamData,
            4 => BufferType::HttpCallResponseBody,
            5 => BufferType::GrpcCallMessage,
            6 => BufferType::VmConfiguration,
            7 => BufferType::PluginConfiguration,
            8 => BufferType::ForeignFunctionArguments,
            _ => return None,
        })
    }
}

/// A `proxy_map_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapType {
    HttpRequestHeaders,
    HttpRequestTrailers,
    HttpResponseHeaders,
    HttpResponseTrailers,
    GrpcCallInitialMetadata,
    GrpcCallTrailingMetadata,
    HttpCallResponseHeaders,
    HttpCallResponseTrailers,
}

impl MapType {
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => MapType::HttpRequestHeaders,
            1 => MapType::HttpRequestTrailers,
            2 => MapType::HttpResponseHeaders,
            3 => MapType::HttpResponseTrailers,
            4 => MapType::GrpcCallInitialMetadata,
            5 => MapType::GrpcCallTrailingMetadata,
            6 => MapType::HttpCallResponseHeaders,
            7 => MapType::HttpCallResponseTrailers,
            _ => return None,
        })
    }
}

/// A `proxy_stream_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamType {
    HttpRequest,
    HttpResponse,
    Downstream,
    Upstream,
}

impl StreamType {
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => StreamType::HttpRequest,
            1 => StreamType::HttpResponse,
            2 => StreamType::Downstream,
            3 => StreamType::Upstream,
            _ => return None,
        })
    }
}

/// A `proxy_peer_type_t`: who closed a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    /// `UNKNOWN` (0).
    Unknown,
    /// `LOCAL` (1).
    Local,
    /// `REMOTE` (2).
    Remote,
}

impl PeerType {
    pub(crate) fn code(self) -> i32 {
        match self {
            PeerType::Unknown => 0,
            PeerType::Local => 1,
            PeerType::Remote => 2,
        }
    }
}

/// A `proxy_metric_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `COUNTER` (0): only grows.
    Counter,
    /// `GAUGE` (1): set, raised or lowered.
    Gauge,
    /// `HISTOGRAM` (2): records values.
    Histogram,
}

impl MetricType {
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => MetricType::Counter,
            1 => MetricType::Gauge,
            2 => MetricType::Histogram,
            _ => return None,
        })
    }
}

/// `wasi_errno_t` values the host returns.
pub(crate) mod errno {
    pub(crate) const SUCCESS: i32 = 0;
    pub(crate) const BADF: i32 = 8;
    pub(crate) const FAULT: i32 = 21;
    pub(crate) const INVAL: i32 = 28;
    pub(crate) const IO: i32 = 29;
    pub(crate) const NOENT: i32 = 44;
    pub(crate) const NOSYS: i32 = 52;
    pub(crate) const NOTSUP: i32 = 58;
    pub(crate) const SPIPE: i32 = 70;
}
