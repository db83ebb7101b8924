//! A read-only view of the request a policy decides on.
//!
//! Headers come from one host call when the view is made; the query string is parsed and
//! properties (addresses) are fetched only when a policy first asks, and at most once.

use std::cell::OnceCell;

use crate::host::{Host, HostError};

/// An address and port, as Envoy reports `source.address` / `destination.address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAddress {
    /// The IP address (IPv6 without brackets), or the whole address if it has no port.
    pub address: String,
    /// The port; 0 when the proxy gave none.
    pub port: u16,
}

/// The part of the request body a policy asked for ([`crate::Policy::body_limit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestBody {
    /// The body's first bytes, at most the policy's limit.
    pub bytes: Vec<u8>,
    /// True when the request's body is longer than `bytes`.
    pub truncated: bool,
}

/// The request a policy decides on.
pub struct Request<'h> {
    host: &'h dyn Host,
    headers: Vec<(String, String)>,
    body: Option<RequestBody>,
    query: OnceCell<Vec<(String, String)>>,
    source: OnceCell<Option<SocketAddress>>,
    destination: OnceCell<Option<SocketAddress>>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<'h> Request<'h> {
    /// Reads the request headers from the host. Not part of the API (the SDK builds requests;
    /// tests use [`crate::testing`]).
    #[doc(hidden)]
    pub fn from_host(host: &'h dyn Host) -> Result<Self, HostError> {
        let headers = host.request_headers()?;
        Ok(Self {
            host,
            headers,
            body: None,
            query: OnceCell::new(),
            source: OnceCell::new(),
            destination: OnceCell::new(),
        })
    }

    /// Attaches the buffered body (done by the SDK for policies that ask for one).
    #[doc(hidden)]
    pub fn with_body(mut self, body: Option<RequestBody>) -> Self {
        self.body = body;
        self
    }

    /// The request body, when the policy asked for it with [`crate::Policy::body_limit`].
    pub fn body(&self) -> Option<&RequestBody> {
        self.body.as_ref()
    }

    /// The proxy's clock; the Unix epoch if the proxy cannot tell (logged at debug).
    pub fn now(&self) -> std::time::SystemTime {
        self.host.now().unwrap_or_else(|err| {
            log::debug!("reading the clock: {err}");
            std::time::SystemTime::UNIX_EPOCH
        })
    }

    /// The HTTP method (`:method`).
    pub fn method(&self) -> &str {
        self.header(":method").unwrap_or_default()
    }

    /// The path as the client sent it, query string included (`:path`).
    pub fn path(&self) -> &str {
        self.header(":path").unwrap_or_default()
    }

    /// The path without its query string (not percent-decoded).
    pub fn url_path(&self) -> &str {
        let path = self.path();
        path.split_once('?').map_or(path, |(p, _)| p)
    }

    /// The raw query string, without `?`; empty when there is none.
    pub fn query_string(&self) -> &str {
        self.path().split_once('?').map_or("", |(_, q)| q)
    }

    /// Query parameters in order, percent-decoded (`+` is a space), repeated names kept.
    pub fn query_params(&self) -> &[(String, String)] {
        self.query.get_or_init(|| parse_query(self.query_string()))
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query_params()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The host the request is for (`:authority`).
    pub fn host(&self) -> &str {
        self.header(":authority").unwrap_or_default()
    }

    /// `http` or `https` (`:scheme`).
    pub fn scheme(&self) -> &str {
        self.header(":scheme").unwrap_or_default()
    }

    /// The first value of a header; the name is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers, pseudo-headers included, as the proxy gave them.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The downstream peer's address (Envoy's `source.address` / `source.port`).
    pub fn source(&self) -> Option<&SocketAddress> {
        self.source
            .get_or_init(|| self.socket_address("source"))
            .as_ref()
    }

    /// The address the request was received on (`destination.address` / `destination.port`).
    pub fn destination(&self) -> Option<&SocketAddress> {
        self.destination
            .get_or_init(|| self.socket_address("destination"))
            .as_ref()
    }

    fn socket_address(&self, side: &str) -> Option<SocketAddress> {
        let raw = self.property_text(&[side, "address"])?;
        let mut address = split_host_port(&raw);
        if address.port == 0 {
            address.port = self
                .property_int(&[side, "port"])
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0);
        }
        Some(address)
    }

    /// A string property; `None` if absent or if the host failed (logged at debug).
    pub fn property_text(&self, path: &[&str]) -> Option<String> {
        self.property(path).map(crate::wire::lossy)
    }

    /// An integer property (Envoy encodes them as 8 bytes little-endian).
    pub fn property_int(&self, path: &[&str]) -> Option<i64> {
        let raw: [u8; 8] = self.property(path)?.try_into().ok()?;
        Some(i64::from_le_bytes(raw))
    }

    /// A property's raw bytes as the proxy encodes them.
    pub fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        match self.host.property(path) {
            Ok(value) => value,
            Err(err) => {
                log::debug!("property {}: {err}", path.join("."));
                None
            }
        }
    }
}

/// Splits `1.2.3.4:80` and `[::1]:80`; an address without a port gets port 0.
fn split_host_port(raw: &str) -> SocketAddress {
    let parsed = if let Some(rest) = raw.strip_prefix('[') {
        rest.split_once("]:")
            .and_then(|(ip, port)| Some((ip, port.parse().ok()?)))
    } else if raw.matches(':').count() == 1 {
        raw.split_once(':')
            .and_then(|(ip, port)| Some((ip, port.parse().ok()?)))
    } else {
        None
    };
    match parsed {
        Some((address, port)) => SocketAddress {
            address: address.to_string(),
            port,
        },
        None => SocketAddress {
            address: raw
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: 0,
        },
    }
}

/// Parses a query string as browsers and Go's `url.ParseQuery` do: `&`-separated, `+` is a
/// space, percent-escapes decoded (invalid ones kept as written).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

/// Percent-encodes every byte but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept literally and invalid UTF-8 replaced.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)? << 4) | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    crate::wire::lossy(out)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    fn host() -> FakeHost {
        let mut host = FakeHost::with_headers(&[
            (":method", "POST"),
            (":path", "/api/items?id=7&tag=a+b&tag=c%2Fd&flag&bad=%zz"),
            (":authority", "shop.example"),
            (":scheme", "https"),
            ("x-tenant", "acme"),
            ("accept", "a"),
            ("accept", "b"),
        ]);
        host.properties
            .insert("source.address".into(), b"10.1.2.3:5555".to_vec());
        host.properties
            .insert("destination.address".into(), b"[::1]:8080".to_vec());
        host
    }

    #[test]
    fn reads_pseudo_headers_and_headers() {
        let host = host();
        let req = Request::from_host(&host).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.url_path(), "/api/items");
        assert_eq!(req.host(), "shop.example");
        assert_eq!(req.scheme(), "https");
        assert_eq!(req.header("X-Tenant"), Some("acme"));
        assert_eq!(req.header_values("accept").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(req.header("missing"), None);
    }

    #[test]
    fn parses_query_parameters() {
        let host = host();
        let req = Request::from_host(&host).unwrap();
        assert_eq!(req.query_param("id"), Some("7"));
        let tags: Vec<_> = req
            .query_params()
            .iter()
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tags, ["a b", "c/d"]);
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("bad"), Some("%zz"));
    }

    #[test]
    fn addresses_come_from_properties_once() {
        let host = host();
        let req = Request::from_host(&host).unwrap();
        let src = req.source().unwrap();
        assert_eq!((src.address.as_str(), src.port), ("10.1.2.3", 5555));
        let dst = req.destination().unwrap();
        assert_eq!((dst.address.as_str(), dst.port), ("::1", 8080));
        let _ = req.source();
        assert_eq!(host.property_reads.get(), 2, "each address is fetched once");
    }

    #[test]
    fn port_falls_back_to_port_property() {
        let mut host = host();
        host.properties
            .insert("source.address".into(), b"10.0.0.9".to_vec());
        host.properties
            .insert("source.port".into(), 4242i64.to_le_bytes().to_vec());
        let req = Request::from_host(&host).unwrap();
        assert_eq!(req.source().unwrap().port, 4242);
    }

    #[test]
    fn missing_property_is_none() {
        let mut host = host();
        host.properties.clear();
        let req = Request::from_host(&host).unwrap();
        assert_eq!(req.source(), None);
    }

    #[test]
    fn percent_decoding_handles_edge_cases() {
        assert_eq!(percent_decode("%41%2f%"), "A/%");
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
