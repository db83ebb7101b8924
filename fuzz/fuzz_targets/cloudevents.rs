//! The CloudEvents builder and HTTP encoders (the SDK's `events::{event, encode}`) on arbitrary
//! attributes, extensions, times and data: `build()` either names a bad attribute or makes an
//! event whose binary, structured and batched encodings are valid and carry exactly the
//! event's attributes (binary header values are printable ASCII and percent-decode back).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::{Arbitrary, Result, Unstructured};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use palisade::__private::cloudevents::{
    percent_encode_header_value, to_json, CloudEvent, Data, ExtensionValue, HttpMessage,
    BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE,
};
use serde_json::Value;

mod common;
use common::json_eq;

/// Values that pass (or nearly pass) validation, so runs get past `build()`.
const SOURCES: [&str; 5] = [
    "/palisade/rego_authz",
    "https://example.com/a?b=c#d",
    "urn:palisade:edge",
    "a%2Fb",
    "//authority/only",
];
const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "text/plain; charset=utf-8",
    "application/cloudevents+json",
    "text/xml",
    "application/octet-stream",
    "Text/JSON ; x=\"y\"",
];
const TIMES: [&str; 4] = [
    "2018-04-05T17:31:00Z",
    "2018-04-05T19:31:00.123456789+02:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
];
const EXTENSIONS: [&str; 4] = ["traceparent", "comexampleextension1", "a", "data"];

fn pick<'a>(u: &mut Unstructured<'a>, pool: &[&'static str]) -> Result<&'a str> {
    Ok(if u.ratio(1, 2)? {
        u.choose(pool)?
    } else {
        <&str>::arbitrary(u)?
    })
}

fn json(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let max = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::from(i64::arbitrary(u)?),
        3 => serde_json::Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        4 => Value::from(String::arbitrary(u)?),
        5 => {
            let mut items = Vec::new();
            u.arbitrary_loop(None, Some(8), |u| {
                items.push(json(u, depth - 1)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            Value::Array(items)
        }
        _ => {
            let mut members = serde_json::Map::new();
            u.arbitrary_loop(None, Some(8), |u| {
                members.insert(String::arbitrary(u)?, json(u, depth - 1)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            Value::Object(members)
        }
    })
}

fn percent_decode_strict(encoded: &str) -> Vec<u8> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn check_header_value(original: &str) {
    let encoded = percent_encode_header_value(original);
    assert!(
        encoded
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'"'),
        "{encoded:?}"
    );
    assert_eq!(percent_decode_strict(&encoded), original.as_bytes());
}

/// The attributes an event has, as (name, canonical string) pairs, `datacontenttype` aside.
fn attributes(event: &CloudEvent) -> Vec<(String, String)> {
    let mut out = vec![
        ("specversion".to_string(), event.specversion().to_string()),
        ("id".to_string(), event.id().to_string()),
        ("source".to_string(), event.source().to_string()),
        ("type".to_string(), event.event_type().to_string()),
    ];
    for (name, value) in [
        ("dataschema", event.dataschema()),
        ("subject", event.subject()),
        ("time", event.time_rfc3339()),
    ] {
        if let Some(value) = value {
            out.push((name.to_string(), value.to_string()));
        }
    }
    for (name, value) in event.extensions() {
        out.push((name.to_string(), value.to_string()));
    }
    out.sort();
    out
}

fn check_binary(event: &CloudEvent) {
    let message = HttpMessage::binary(event);
    let mut seen = Vec::new();
    for (name, value) in &message.headers {
        if name == "content-type" {
            assert_eq!(Some(value.as_str()), event.effective_content_type());
            assert!(value
                .bytes()
                .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()));
            continue;
        }
        let attribute = name.strip_prefix("ce-").expect("a ce- header");
        assert!(value
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'"'));
        let decoded = String::from_utf8(percent_decode_strict(value)).unwrap();
        seen.push((attribute.to_string(), decoded));
    }
    seen.sort();
    assert_eq!(seen, attributes(event));
    match event.data() {
        None => assert!(message.body.is_empty()),
        Some(data @ (Data::Json(_) | Data::JsonText(_))) => {
            let value = data.json_value().unwrap();
            let body: Value = serde_json::from_slice(&message.body).unwrap();
            assert!(json_eq(&body, &value), "{body} != {value}");
        }
        Some(Data::Text(text)) => assert_eq!(message.body, text.as_bytes()),
        Some(Data::Binary(bytes)) => assert_eq!(&message.body, bytes),
    }
}

fn check_structured_json(event: &CloudEvent, object: &Value) {
    let object = object.as_object().expect("an event is a JSON object");
    let mut seen = Vec::new();
    for (name, value) in object {
        match (name.as_str(), value) {
            ("data", data) => match event.data() {
                Some(json @ (Data::Json(_) | Data::JsonText(_))) => {
                    assert!(json_eq(data, &json.json_value().unwrap()));
                }
                Some(Data::Text(text)) => assert_eq!(data.as_str(), Some(text.as_str())),
                other => panic!("`data` for {other:?}"),
            },
            ("data_base64", Value::String(encoded)) => {
                let Some(Data::Binary(bytes)) = event.data() else {
                    panic!("`data_base64` without binary data");
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap();
                assert_eq!(&decoded, bytes);
            }
            ("datacontenttype", Value::String(ct)) => {
                assert_eq!(Some(ct.as_str()), event.datacontenttype());
            }
            (name, Value::String(s)) => seen.push((name.to_string(), s.clone())),
            (name, Value::Bool(b)) => {
                assert_eq!(event.extension(name), Some(&ExtensionValue::Boolean(*b)));
                seen.push((name.to_string(), b.to_string()));
            }
            (name, Value::Number(n)) => {
                let n = i32::try_from(n.as_i64().unwrap()).unwrap();
                assert_eq!(event.extension(name), Some(&ExtensionValue::Integer(n)));
                seen.push((name.to_string(), n.to_string()));
            }
            (name, other) => panic!("attribute {name} = {other}"),
        }
    }
    seen.sort();
    assert_eq!(seen, attributes(event));
    assert_eq!(
        object.contains_key("datacontenttype"),
        event.datacontenttype().is_some()
    );
}

fn check_structured(event: &CloudEvent) {
    let message = HttpMessage::structured(event);
    assert_eq!(
        message.header("content-type"),
        Some(STRUCTURED_CONTENT_TYPE)
    );
    let parsed: Value = serde_json::from_slice(&message.body).unwrap();
    check_structured_json(event, &parsed);

    let batch = HttpMessage::batched([event, event]);
    assert_eq!(batch.header("content-type"), Some(BATCH_CONTENT_TYPE));
    let parsed: Value = serde_json::from_slice(&batch.body).unwrap();
    let items = parsed.as_array().expect("a batch is an array");
    assert_eq!(items.len(), 2);
    for item in items {
        check_structured_json(event, item);
        assert!(json_eq(item, &to_json(event)));
    }
}

fn check_time(event: &CloudEvent) {
    let (Some(instant), Some(text)) = (event.time(), event.time_rfc3339()) else {
        return;
    };
    // The canonical form reads back as the same instant, and the instant writes the same form.
    let again = CloudEvent::builder()
        .id("1")
        .source("/")
        .event_type("t")
        .time_rfc3339(text)
        .build()
        .unwrap();
    assert_eq!(again.time(), Some(instant), "{text}");
    let again = CloudEvent::builder()
        .id("1")
        .source("/")
        .event_type("t")
        .time(instant)
        .build()
        .unwrap();
    assert_eq!(again.time_rfc3339(), Some(text));
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let mut builder = CloudEvent::builder();
    if u.ratio(15, 16)? {
        builder = builder.id(pick(&mut u, &["A234-1234-1234", "\u{20ac}"])?);
    }
    if u.ratio(15, 16)? {
        builder = builder.source(pick(&mut u, &SOURCES)?);
    }
    if u.ratio(15, 16)? {
        builder = builder.event_type(pick(&mut u, &["io.palisade.authz.decision"])?);
    }
    if u.ratio(1, 3)? {
        builder = builder.datacontenttype(pick(&mut u, &CONTENT_TYPES)?);
    }
    if u.ratio(1, 4)? {
        builder = builder.dataschema(pick(&mut u, &["https://x/s.json", "urn:a"])?);
    }
    if u.ratio(1, 3)? {
        builder = builder.subject(<&str>::arbitrary(&mut u)?);
    }
    match u.int_in_range(0u8..=2)? {
        0 => {}
        1 => {
            let before = bool::arbitrary(&mut u)?;
            let offset = Duration::new(u64::arbitrary(&mut u)?, 0)
                .checked_add(Duration::from_nanos(u64::from(u32::arbitrary(&mut u)?)));
            let instant = offset.and_then(|d| match before {
                true => UNIX_EPOCH.checked_sub(d),
                false => UNIX_EPOCH.checked_add(d),
            });
            if let Some(instant) = instant {
                builder = builder.time(instant);
            }
        }
        _ => builder = builder.time_rfc3339(pick(&mut u, &TIMES)?),
    }
    u.arbitrary_loop(None, Some(6), |u| {
        let name = pick(u, &EXTENSIONS)?;
        let value = match u.int_in_range(0u8..=2)? {
            0 => ExtensionValue::from(<&str>::arbitrary(u)?),
            1 => ExtensionValue::from(bool::arbitrary(u)?),
            _ => ExtensionValue::from(i32::arbitrary(u)?),
        };
        builder = std::mem::take(&mut builder).extension(name, value);
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    builder = match u.int_in_range(0u8..=3)? {
        0 => builder,
        1 => builder.json_data(json(&mut u, 3)?),
        2 => builder.text_data(<&str>::arbitrary(&mut u)?),
        _ => builder.binary_data(<&[u8]>::arbitrary(&mut u)?),
    };

    if let Ok(event) = builder.build() {
        check_binary(&event);
        check_structured(&event);
        check_time(&event);
    }
    check_header_value(<&str>::arbitrary(&mut u)?);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
