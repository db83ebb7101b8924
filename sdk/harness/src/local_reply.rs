//! A local reply as Envoy's `sendLocalReply` shapes it for the request it answers: the status,
//! headers and body the client gets (and the plugin's own response callbacks see).
//!
//! - A gRPC request (`content-type: application/grpc...`) gets a trailers-only response: `:status`
//!   200, `content-type: application/grpc`, `grpc-status` (the plugin's, else mapped from the HTTP
//!   status), `grpc-message` (the body, percent-encoded, a trailing newline too), no
//!   `content-length`, no body.
//! - A HEAD request gets the headers of the reply, `content-length` included, and no body.
//! - Otherwise a body comes with `content-length` and (unless the plugin set one)
//!   `content-type: text/plain`; a reply without a body has neither.
//!
//! In each case the headers end the stream when there is no body, so the plugin's
//! `proxy_on_response_headers` gets end of stream and no `proxy_on_response_body` follows.

use crate::headers::HeaderMap;
use crate::stream::{LocalReply, RequestKind};

/// The reply the client gets when the plugin (or the host) sends `status`, `body`, `headers` and
/// `grpc_status` in answer to a request of `kind`.
pub(crate) fn shape(
    kind: RequestKind,
    status: u32,
    details: String,
    body: Vec<u8>,
    mut headers: HeaderMap,
    grpc_status: Option<u32>,
) -> LocalReply {
    if kind.grpc {
        headers.replace("content-type", "application/grpc");
        let grpc_status = match headers.get("grpc-status").and_then(|s| s.parse().ok()) {
            Some(given) => given,
            None => {
                let mapped = grpc_status.unwrap_or_else(|| grpc_status_of_http(status));
                headers.add("grpc-status", &mapped.to_string());
                mapped
            }
        };
        if !body.is_empty() && !kind.head {
            let text = String::from_utf8_lossy(&body);
            headers.replace("grpc-message", &percent_encode(&text));
        }
        headers.remove("content-length");
        return LocalReply {
            status: 200,
            details,
            body: Vec::new(),
            headers,
            grpc_status: Some(grpc_status),
        };
    }
    if body.is_empty() {
        headers.remove("content-length");
        headers.remove("content-type");
    } else {
        headers.replace("content-length", &body.len().to_string());
        if headers.get("content-type").is_none() {
            headers.add("content-type", "text/plain");
        }
    }
    LocalReply {
        status,
        details,
        body: if kind.head { Vec::new() } else { body },
        headers,
        grpc_status,
    }
}

/// Envoy's mapping of an HTTP status to a gRPC status (`Grpc::Utility::httpToGrpcStatus`).
fn grpc_status_of_http(status: u32) -> u32 {
    match status {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => 2,                      // UNKNOWN
    }
}

/// `grpc-message`'s percent-encoding: bytes outside printable ASCII, and `%`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b' '..=b'~' if byte != b'%' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs)
    }

    #[test]
    fn a_grpc_request_gets_a_trailers_only_reply() {
        let kind = RequestKind::of(&headers(&[("content-type", "application/grpc+proto")]));
        let reply = shape(
            kind,
            403,
            "d".into(),
            b"no 100%\n".to_vec(),
            headers(&[("x-a", "1")]),
            None,
        );
        assert_eq!(reply.status, 200);
        assert!(reply.body.is_empty());
        assert_eq!(reply.grpc_status, Some(7));
        assert_eq!(reply.headers.get("grpc-status"), Some("7"));
        // As Envoy 1.40 writes it: the trailing newline percent-encoded too.
        assert_eq!(reply.headers.get("grpc-message"), Some("no 100%25%0A"));
        assert_eq!(reply.headers.get("content-type"), Some("application/grpc"));
        assert_eq!(reply.headers.get("content-length"), None);
        assert_eq!(reply.headers.get("x-a"), Some("1"));
        let given = shape(kind, 503, "d".into(), Vec::new(), HeaderMap::new(), Some(3));
        assert_eq!(given.headers.get("grpc-status"), Some("3"));
        assert_eq!(given.headers.get("grpc-message"), None);
    }

    #[test]
    fn a_head_request_gets_the_length_but_no_body() {
        let kind = RequestKind::of(&headers(&[(":method", "HEAD")]));
        let reply = shape(
            kind,
            403,
            "d".into(),
            b"denied".to_vec(),
            HeaderMap::new(),
            None,
        );
        assert_eq!(reply.status, 403);
        assert!(reply.body.is_empty());
        assert_eq!(reply.headers.get("content-length"), Some("6"));
        assert_eq!(reply.headers.get("content-type"), Some("text/plain"));
    }

    #[test]
    fn other_requests_get_the_body_with_its_length_and_type() {
        let kind = RequestKind::of(&headers(&[(":method", "GET")]));
        let reply = shape(
            kind,
            403,
            "d".into(),
            b"denied".to_vec(),
            HeaderMap::new(),
            None,
        );
        assert_eq!(reply.body, b"denied");
        assert_eq!(reply.headers.get("content-length"), Some("6"));
        let empty = shape(
            kind,
            204,
            "d".into(),
            Vec::new(),
            headers(&[("content-length", "9")]),
            None,
        );
        assert_eq!(empty.headers.get("content-length"), None);
    }
}
