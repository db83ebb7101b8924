//! The foreign functions Envoy itself registers, which a plugin calls with
//! `proxy_call_foreign_function` (Envoy 1.40, `source/extensions/common/wasm/foreign.cc`):
//!
//! - `clear_route_cache`: the stream's route is chosen again (counted:
//!   [`HttpStream::route_cache_cleared`](crate::HttpStream::route_cache_cleared));
//! - `set_envoy_filter_state`: a `SetEnvoyFilterStateArguments` message (`path`, `value`,
//!   `span`); the value is stored in the stream's filter state under `path`. Envoy builds it with
//!   the object factory registered for `path`, and answers `NOT_FOUND` for a path without one: the
//!   harness knows the paths of [`FILTER_STATE_OBJECTS`] (Envoy's well-known filter state
//!   objects) and answers `NOT_FOUND` for others;
//! - `declare_property`: a `DeclarePropertyArguments` message (`name`, `type`, `span`, `schema`,
//!   `readonly`), recorded;
//! - `compress` / `uncompress`: zlib, as Envoy's (the compressed bytes may differ from zlib's own,
//!   a round trip does not).
//!
//! Not modelled: `expr_create`, `expr_evaluate`, `expr_delete` (CEL expressions) and `sign`,
//! `verify_signature`, which Envoy 1.40 has and the harness answers with `NOT_FOUND`. Functions a
//! test registers with [`HostBuilder::foreign_function`](crate::HostBuilder::foreign_function)
//! take precedence.

use crate::state::HostState;
use crate::types::Status;

/// Filter state paths Envoy 1.40 has an object factory for (`envoy.string` and
/// `envoy.tcp_proxy.cluster` checked against Envoy by `tests/scenarios/abi_callbacks.yaml`; the
/// others from Envoy's list of well-known filter state objects).
pub const FILTER_STATE_OBJECTS: &[&str] = &[
    "envoy.network.application_protocols",
    "envoy.network.transport_socket.original_dst_address",
    "envoy.network.upstream_server_name",
    "envoy.network.upstream_subject_alt_names",
    "envoy.string",
    "envoy.tcp_proxy.cluster",
    "envoy.tcp_proxy.per_connection_idle_timeout_ms",
    "envoy.upstream.dynamic_host",
    "envoy.upstream.dynamic_port",
];

/// Calls Envoy's built-in `name`; `None` when Envoy has no function of that name.
pub(crate) fn call(
    state: &mut HostState,
    name: &str,
    arguments: &[u8],
) -> Option<Result<Vec<u8>, Status>> {
    Some(match name {
        "clear_route_cache" => {
            if let Some(stream) = state.effective_stream() {
                stream.route_cache_cleared += 1;
            }
            Ok(Vec::new())
        }
        "set_envoy_filter_state" => set_filter_state(state, arguments),
        "declare_property" => match string_field(arguments, 1) {
            Some(name) if !name.is_empty() => {
                state.declared_properties.push(name);
                Ok(Vec::new())
            }
            _ => Err(Status::BadArgument),
        },
        "compress" => Ok(miniz_oxide::deflate::compress_to_vec_zlib(arguments, 6)),
        "uncompress" => miniz_oxide::inflate::decompress_to_vec_zlib(arguments)
            .map_err(|_| Status::SerializationFailure),
        _ => return None,
    })
}

fn set_filter_state(state: &mut HostState, arguments: &[u8]) -> Result<Vec<u8>, Status> {
    let path = string_field(arguments, 1).ok_or(Status::BadArgument)?;
    if !FILTER_STATE_OBJECTS.contains(&path.as_str()) {
        return Err(Status::NotFound);
    }
    let value = bytes_field(arguments, 2).unwrap_or_default();
    let stream = state.effective_stream().ok_or(Status::NotFound)?;
    match stream.filter_state.iter_mut().find(|(k, _)| *k == path) {
        Some((_, old)) => *old = value,
        None => stream.filter_state.push((path, value)),
    }
    Ok(Vec::new())
}

fn string_field(message: &[u8], number: u64) -> Option<String> {
    String::from_utf8(bytes_field(message, number)?).ok()
}

/// The last length-delimited field `number` of a protobuf message; `None` when absent or when
/// the message does not parse.
fn bytes_field(message: &[u8], number: u64) -> Option<Vec<u8>> {
    let mut rest = message;
    let mut found = None;
    while !rest.is_empty() {
        let (key, after) = varint(rest)?;
        rest = after;
        match key & 7 {
            0 => rest = varint(rest)?.1,
            1 => rest = rest.get(8..)?,
            2 => {
                let (length, after) = varint(rest)?;
                let length = usize::try_from(length).ok()?;
                let value = after.get(..length)?;
                if key >> 3 == number {
                    found = Some(value.to_vec());
                }
                rest = after.get(length..)?;
            }
            5 => rest = rest.get(4..)?,
            _ => return None,
        }
    }
    found
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(i + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, value.len() as u8];
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn protobuf_fields_are_read_and_others_skipped() {
        let mut message = field(1, b"envoy.string");
        message.extend([3 << 3, 1]); // span: a varint
        message.extend(field(2, b"value"));
        assert_eq!(string_field(&message, 1).as_deref(), Some("envoy.string"));
        assert_eq!(bytes_field(&message, 2), Some(b"value".to_vec()));
        assert_eq!(bytes_field(&message, 4), None);
        assert_eq!(bytes_field(&[0x0a, 0x09, b'x'], 1), None, "truncated");
    }

    #[test]
    fn compress_round_trips() {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(b"hello hello hello", 6);
        assert_eq!(compressed.first(), Some(&0x78), "zlib header");
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).ok(),
            Some(b"hello hello hello".to_vec())
        );
    }
}
