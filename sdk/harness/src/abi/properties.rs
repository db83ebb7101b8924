//! `proxy_get_property` and `proxy_set_property`, with Envoy's attribute names and encodings.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{read_bytes, return_bytes, status_code, HostResult};
use crate::properties::{filter_state_key, parse_guest_path, PropertyValue};
use crate::state::HostState;
use crate::stream::HttpStream;
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_get_property",
        |mut caller: Caller<'_, HostState>, pp: i32, pl: i32, ptr_ptr: i32, size_ptr: i32| {
            status_code(get_property(&mut caller, pp, pl, ptr_ptr, size_ptr))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_property",
        |mut caller: Caller<'_, HostState>, pp: i32, pl: i32, vp: i32, vl: i32| {
            status_code(set_property(&mut caller, pp, pl, vp, vl))
        },
    )?;
    Ok(())
}

fn get_property(
    caller: &mut Caller<'_, HostState>,
    path_ptr: i32,
    path_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    let path = parse_guest_path(&read_bytes(caller, path_ptr, path_len)?);
    let value = lookup(caller.data(), &path).ok_or(Status::NotFound)?;
    return_bytes(caller, &value, ptr_ptr, size_ptr)
}

/// Envoy keeps values a filter sets in the stream's filter state, under `wasm.` + path; there is none
/// outside a stream (root context), so the answer there is `NOT_FOUND`.
fn set_property(
    caller: &mut Caller<'_, HostState>,
    path_ptr: i32,
    path_len: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    let path = parse_guest_path(&read_bytes(caller, path_ptr, path_len)?);
    let value = read_bytes(caller, ptr, len)?;
    let key = filter_state_key(&path);
    let stream = caller
        .data_mut()
        .effective_stream()
        .ok_or(Status::NotFound)?;
    match stream.filter_state.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => stream.filter_state.push((key, value)),
    }
    Ok(())
}

/// Finds `path` in a list of properties; a path one segment longer than a map property indexes into it.
pub(crate) fn find(
    list: &[(Vec<String>, PropertyValue)],
    path: &[String],
) -> Option<PropertyValue> {
    for (key, value) in list.iter().rev() {
        if key.as_slice() == path {
            return Some(value.clone());
        }
        if let Some((last, prefix)) = path.split_last() {
            if key.as_slice() == prefix {
                if let Some(v) = value.index(last) {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// The encoded value of `path` as seen from the effective context.
pub(crate) fn lookup(state: &HostState, path: &[String]) -> Option<Vec<u8>> {
    let ctx = state.effective_context;
    let stream = state.streams.get(&ctx);
    if let Some(stream) = stream {
        if let Some(v) = find(&stream.properties, path) {
            return Some(v.encode());
        }
        if let Some(v) = derived(stream, state, path) {
            return Some(v.encode());
        }
    }
    if let Some(v) = plugin_property(state, path) {
        return Some(v.encode());
    }
    if let Some(v) = find(&state.config.properties, path) {
        return Some(v.encode());
    }
    let key = filter_state_key(path);
    stream
        .and_then(|s| s.filter_state(&key))
        .map(<[u8]>::to_vec)
}

fn plugin_property(state: &HostState, path: &[String]) -> Option<PropertyValue> {
    let [name] = path else { return None };
    let plugin = state.plugin_of(state.effective_context)?;
    match name.as_str() {
        "plugin_name" => Some(PropertyValue::from(plugin.name.as_str())),
        "plugin_root_id" => Some(PropertyValue::from(plugin.root_id.as_str())),
        "plugin_vm_id" => Some(PropertyValue::from(state.config.vm_id.as_str())),
        _ => None,
    }
}

fn header(stream: &HttpStream, name: &str) -> Option<PropertyValue> {
    stream.request_headers.get(name).map(PropertyValue::from)
}

/// The request/response attributes Envoy derives from the stream.
fn derived(stream: &HttpStream, state: &HostState, path: &[String]) -> Option<PropertyValue> {
    let (first, rest) = path.split_first()?;
    let pairs = |m: &crate::headers::HeaderMap| PropertyValue::Map(m.pairs().to_vec());
    let value = match (first.as_str(), rest.first().map(String::as_str)) {
        ("request", Some("path")) => header(stream, ":path")?,
        ("request", Some("url_path")) => {
            let path = stream.request_headers.get(":path")?;
            PropertyValue::from(path.split('?').next().unwrap_or(path))
        }
        ("request", Some("query")) => {
            let path = stream.request_headers.get(":path")?;
            PropertyValue::from(path.split_once('?').map_or("", |(_, q)| q))
        }
        ("request", Some("host")) => header(stream, ":authority")?,
        ("request", Some("scheme")) => header(stream, ":scheme")?,
        ("request", Some("method")) => header(stream, ":method")?,
        ("request", Some("referer")) => header(stream, "referer")?,
        ("request", Some("useragent")) => header(stream, "user-agent")?,
        ("request", Some("id")) => header(stream, "x-request-id")?,
        ("request", Some("protocol")) => PropertyValue::from("HTTP/1.1"),
        ("request", Some("time")) => PropertyValue::Timestamp(stream.created_at),
        ("request", Some("duration")) => {
            PropertyValue::Duration(state.clock.now().duration_since(stream.created_at).ok()?)
        }
        // Envoy: the content-length header when there is one, else the body bytes seen so far.
        ("request", Some("size")) => PropertyValue::Int(
            match stream
                .request_headers
                .get("content-length")
                .and_then(|v| v.trim().parse::<i64>().ok())
            {
                Some(length) => length,
                None => (stream.request_body.len() + stream.request_body_buffered.len()) as i64,
            },
        ),
        ("request", Some("headers")) => pairs(&stream.request_headers),
        ("request", Some("trailers")) => pairs(&stream.request_trailers),
        ("response", Some("code")) => match &stream.local_reply {
            Some(reply) => PropertyValue::Int(i64::from(reply.status)),
            None => PropertyValue::Int(stream.response_headers.get(":status")?.parse().ok()?),
        },
        ("response", Some("code_details")) => {
            PropertyValue::from(stream.local_reply.as_ref()?.details.as_str())
        }
        ("response", Some("size")) => PropertyValue::Int(
            (stream.response_body.len() + stream.response_body_buffered.len()) as i64,
        ),
        ("response", Some("headers")) => pairs(&stream.response_headers),
        ("response", Some("trailers")) => pairs(&stream.response_trailers),
        ("connection", Some("id")) => PropertyValue::UInt(u64::from(stream.context_id)),
        _ => return None,
    };
    match rest {
        [_] => Some(value),
        [_, key] => value.index(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn find_exact_and_in_maps() {
        let list = vec![
            (p("node.id"), PropertyValue::from("n1")),
            (
                p("node.metadata"),
                PropertyValue::Map(vec![("region".into(), "eu".into())]),
            ),
        ];
        assert_eq!(find(&list, &p("node.id")), Some(PropertyValue::from("n1")));
        assert_eq!(
            find(&list, &p("node.metadata.region")),
            Some(PropertyValue::from("eu"))
        );
        assert_eq!(find(&list, &p("node.metadata.zone")), None);
        assert_eq!(find(&list, &p("node")), None);
    }
}
