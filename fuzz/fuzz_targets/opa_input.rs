//! The request view and OPA-Envoy input building on arbitrary requests: headers with invalid
//! UTF-8, huge values and many headers, arbitrary paths and query strings, JSON, urlencoded and
//! garbage bodies, odd addresses. Then the whole rego-authz data path (input, evaluation,
//! decision, carrying it out) with a fixed policy that reads every part of the input.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use palisade_rego::input::{InputBuilder, InputContext, InputError, InputNeeds};
use palisade_rego::RegoAuthz;
use palisade::__private::{parse_query, percent_decode, percent_encode};
use palisade::RequestBody;
use palisade::__private::wire::{decode_text_map, encode_map};
use palisade::{Policy, Request};
use regorus::Value;

mod common;
use common::MemoryHost;

/// The parts of the input a policy can ask for, as the words `InputNeeds::of_sources` looks for.
const NEED_WORDS: [&str; 9] = [
    "headers",
    "body",
    "parsed_body",
    "parsed_path",
    "parsed_query",
    "protocol",
    "source",
    "destination",
    "time",
];

#[derive(Arbitrary, Debug)]
enum ContentType {
    Json,
    JsonCharset,
    Form,
    Text,
    Other(Vec<u8>),
    Absent,
}

/// A header repeated to make huge values or many headers without huge fuzz inputs.
#[derive(Arbitrary, Debug)]
struct Repeat {
    name: Vec<u8>,
    value: Vec<u8>,
    value_repeat: u16,
    copies: u16,
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: Vec<u8>,
    path: Vec<u8>,
    authority: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    content_type: ContentType,
    content_length: Option<Vec<u8>>,
    request_id: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    repeat: Option<Repeat>,
    body: Option<(Vec<u8>, bool)>,
    properties: Vec<(u8, Vec<u8>)>,
    needs: u16,
    now: (bool, u64, u32),
    skip_body_parse: bool,
}

const PROPERTIES: [&str; 7] = [
    "source.address",
    "source.port",
    "destination.address",
    "destination.port",
    "request.protocol",
    "connection.uri_san_peer_certificate",
    "connection.uri_san_local_certificate",
];

/// A policy that makes rego-authz build every part of the input and read most of them. It
/// mentions headers body parsed_body parsed_path parsed_query protocol source destination time.
const POLICY: &str = r#"
package envoy.authz
import rego.v1

default allow := {"allowed": false, "http_status": 401}

http := input.attributes.request.http

allow := {
    "allowed": true,
    "headers": {"x-user": user, "x-path": concat("/", input.parsed_path)},
    "request_headers_to_remove": ["authorization"],
    "query_parameters_to_set": {"seen": sprintf("%v", [count(input.parsed_query)])},
    "query_parameters_to_remove": object.keys(input.parsed_query),
    "dynamic_metadata": {"body": input.parsed_body, "truncated": input.truncated_body},
} if {
    user := http.headers["x-user"]
    startswith(http.path, "/api")
    http.method != "BREW"
    not input.attributes.source.address.socketAddress.address == "10.0.0.1"
    input.attributes.request.time != ""
}

allow := {"allowed": false, "http_status": 418, "body": http.body} if {
    http.method == "BREW"
}
"#;

thread_local! {
    static AUTHZ: RegoAuthz = {
        let config = serde_json::json!({
            "policy": POLICY,
            "with_body": true,
            "max_body_bytes": 4096,
        });
        let (config, _) = palisade::__private::parse_plugin_config(config.to_string().as_bytes()).unwrap();
        RegoAuthz::from_config(config).unwrap()
    };
}

fn content_type(ct: &ContentType) -> Option<Vec<u8>> {
    match ct {
        ContentType::Json => Some(b"application/json".to_vec()),
        ContentType::JsonCharset => Some(b"Application/JSON; charset=utf-8".to_vec()),
        ContentType::Form => Some(b"application/x-www-form-urlencoded".to_vec()),
        ContentType::Text => Some(b"text/plain".to_vec()),
        ContentType::Other(raw) => Some(raw.clone()),
        ContentType::Absent => None,
    }
}

/// Most bytes a repeated header may add, and most copies of it: beyond Envoy's defaults (60 KiB
/// of headers, 100 headers), small enough that a run stays in milliseconds.
const MAX_REPEAT_BYTES: usize = 128 * 1024;
const MAX_COPIES: usize = 1000;

fn host_for(input: &Input) -> MemoryHost {
    // Raw pairs, then through the wire format as the proxy delivers them (invalid UTF-8 is
    // replaced, not rejected).
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b":method".to_vec(), input.method.clone()),
        (b":path".to_vec(), input.path.clone()),
    ];
    for (name, value) in [
        (":authority", &input.authority),
        (":scheme", &input.scheme),
        ("content-type", &content_type(&input.content_type)),
        ("content-length", &input.content_length),
        ("x-request-id", &input.request_id),
    ] {
        if let Some(value) = value {
            pairs.push((name.as_bytes().to_vec(), value.clone()));
        }
    }
    pairs.extend(input.headers.iter().cloned());
    if let Some(repeat) = &input.repeat {
        let unit = repeat.value.len().max(1);
        let times = usize::from(repeat.value_repeat).min(MAX_REPEAT_BYTES / unit);
        let value = repeat.value.repeat(times);
        let copies = usize::from(repeat.copies)
            .min(MAX_COPIES)
            .min(MAX_REPEAT_BYTES / (value.len() + 16));
        for n in 0..copies.max(1) {
            let mut name = repeat.name.clone();
            if n % 2 == 1 {
                name.extend_from_slice(n.to_string().as_bytes());
            }
            pairs.push((name, value.clone()));
        }
    }
    let headers = decode_text_map(&encode_map(&pairs)).expect("an encoded map decodes");
    let properties = input
        .properties
        .iter()
        .map(|(which, value)| {
            let key = PROPERTIES[usize::from(*which) % PROPERTIES.len()];
            (key.to_string(), value.clone())
        })
        .collect();
    let (before, secs, nanos) = input.now;
    let offset = Duration::new(secs, 0).checked_add(Duration::from_nanos(u64::from(nanos)));
    let now = offset.and_then(|d| match before {
        true => UNIX_EPOCH.checked_sub(d),
        false => UNIX_EPOCH.checked_add(d),
    });
    MemoryHost {
        headers,
        properties,
        body: input
            .body
            .as_ref()
            .map(|(b, _)| b.clone())
            .unwrap_or_default(),
        now,
        ..MemoryHost::default()
    }
}

fn check_request_view(request: &Request<'_>) {
    let path = request.path();
    assert_eq!(
        format!(
            "{}{}{}",
            request.url_path(),
            if path.contains('?') { "?" } else { "" },
            request.query_string()
        ),
        path
    );
    let query = request.query_params();
    assert_eq!(query, parse_query(request.query_string()).as_slice());
    for (name, value) in query {
        assert!(request.query_param(name).is_some(), "{name:?} = {value:?}");
    }
    // Encoding then decoding gives the text back; the encoding is unreserved characters and
    // escapes only.
    let encoded = percent_encode(path);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
    assert_eq!(percent_decode(&encoded), path);
    let _ = percent_decode(path);
    let _ = (request.source(), request.destination(), request.now());
    for (name, value) in request.headers() {
        assert!(request.header_values(name).any(|v| v == value));
    }
}

fn check_input(request: &Request<'_>, needs: &InputNeeds, input: &Value) {
    let http = &input["attributes"]["request"]["http"];
    assert_eq!(http["method"], Value::from(request.method()));
    assert_eq!(http["path"], Value::from(request.path()));
    assert_eq!(http["host"], Value::from(request.host()));
    if needs == &InputNeeds::all() {
        // Headers as ext_authz gives them: one entry per name, repeated values joined.
        let mut joined: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in request.headers() {
            joined.entry(name).or_default().push(value);
        }
        let map = http["headers"].as_object().expect("headers is an object");
        assert_eq!(map.len(), joined.len());
        for (name, values) in joined {
            assert_eq!(
                map.get(&Value::from(name)),
                Some(&Value::from(values.join(",")))
            );
        }
        let names: std::collections::BTreeSet<&str> = request
            .query_params()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        let parsed_query = input["parsed_query"]
            .as_object()
            .expect("parsed_query is an object");
        assert_eq!(parsed_query.len(), names.len());
    }
    // Whatever was built can be handed to a JSON consumer (the CLI, logs).
    input.to_json_str().expect("the input serialises as JSON");
}

fuzz_target!(|input: Input| {
    let mut host = host_for(&input);
    let body = input.body.as_ref().map(|(bytes, truncated)| RequestBody {
        bytes: bytes.clone(),
        truncated: *truncated,
    });
    let words: Vec<&str> = NEED_WORDS
        .iter()
        .enumerate()
        .filter(|(n, _)| input.needs & (1 << n) != 0)
        .map(|(_, w)| *w)
        .collect();
    let needs = if input.needs & (1 << 15) != 0 {
        InputNeeds::all()
    } else {
        InputNeeds::of_sources([words.join(" ").as_str()])
    };
    let context = InputContext {
        now: host.now.unwrap_or(UNIX_EPOCH),
        skip_body_parse: input.skip_body_parse,
    };

    {
        let request = Request::from_host(&host).unwrap().with_body(body.clone());
        check_request_view(&request);
        match InputBuilder::new(needs.clone()).build(&request, &context) {
            Ok(value) => check_input(&request, &needs, &value),
            Err(InputError::BadJsonBody(_)) => {
                // Only a JSON body the policy asked to have parsed can fail.
                let ct = request.header("content-type").unwrap_or_default();
                assert!(ct.to_ascii_lowercase().contains("application/json"));
                let body = request.body().unwrap();
                assert!(!body.truncated && !body.bytes.is_empty() && !context.skip_body_parse);
            }
        }
    }

    // rego-authz end to end: input, evaluation, result, carrying the decision out.
    AUTHZ.with(|authz| {
        let decided = {
            let request = Request::from_host(&host).unwrap().with_body(body);
            authz.decide(&request)
        };
        if let Ok(decision) = decided {
            let path = host
                .headers
                .iter()
                .find(|(k, _)| k == ":path")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            palisade::__private::apply(&decision, &mut host, &path).unwrap();
            if !decision.is_allowed() {
                assert!(host.reply.is_some());
            }
        }
    });
});
