//! Reading a policy's result as an OPA-Envoy decision (`palisade_rego::result::to_decision`)
//! and carrying the decision out (the SDK's `Decision::apply`: header changes, query rewriting, local
//! replies, dynamic metadata). Results are built from the fuzz input either as JSON text or as
//! regorus values directly (sets, undefined members, huge numbers: what a policy can return
//! but JSON cannot say), biased towards OPA-Envoy's field names.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade_rego::result::{to_decision, ResultError};
use palisade::__private::parse_query;
use palisade::{Allow, Decision};
use regorus::Value;

mod common;
use common::{json_eq, MemoryHost};

const FIELDS: [&str; 10] = [
    "allowed",
    "http_status",
    "headers",
    "response_headers_to_add",
    "request_headers_to_remove",
    "query_parameters_to_set",
    "query_parameters_to_remove",
    "body",
    "dynamic_metadata",
    "x-user",
];

fn string(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(if u.ratio(1, 3)? {
        Value::from(*u.choose(&FIELDS)?)
    } else {
        Value::from(<&str>::arbitrary(u)?)
    })
}

fn number(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Value::from(u.int_in_range(0u64..=700)?),
        1 => Value::from(i64::arbitrary(u)?),
        2 => Value::from(f64::arbitrary(u)?),
        // Big and exotic numbers (`1e400`, 40 digits): what Rego arithmetic can produce.
        _ => match Value::from_json_str(<&str>::arbitrary(u)?) {
            Ok(n @ Value::Number(_)) => n,
            _ => Value::from(u128::arbitrary(u)?),
        },
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let max = if depth == 0 { 4 } else { 9 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => number(u)?,
        3 | 4 => string(u)?,
        5 => Value::Undefined,
        6 => {
            let mut items = Vec::new();
            u.arbitrary_loop(None, Some(8), |u| {
                items.push(value(u, depth - 1)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            Value::from(items)
        }
        7 => {
            let mut items = BTreeSet::new();
            u.arbitrary_loop(None, Some(8), |u| {
                items.insert(value(u, depth - 1)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            Value::from(items)
        }
        _ => {
            let mut members = BTreeMap::new();
            u.arbitrary_loop(None, Some(8), |u| {
                let key = if u.ratio(1, 8)? {
                    value(u, 0)?
                } else {
                    string(u)?
                };
                members.insert(key, value(u, depth - 1)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            Value::from(members)
        }
    })
}

/// A result object: the OPA-Envoy fields, each present or not, with values of any shape.
fn result_object(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut members = BTreeMap::new();
    for field in FIELDS {
        if u.ratio(1, 2)? {
            let member = match field {
                "allowed" if u.ratio(3, 4)? => Value::Bool(bool::arbitrary(u)?),
                "http_status" if u.ratio(3, 4)? => number(u)?,
                _ => value(u, 3)?,
            };
            members.insert(Value::from(field), member);
        }
    }
    Ok(Value::from(members))
}

fn check_applied(decision: &Decision, path: &str) {
    let mut host = MemoryHost::default();
    palisade::__private::apply(decision, &mut host, path).unwrap();
    for (name, value) in &host.set_properties {
        assert_eq!(name, "palisade.dynamic_metadata");
        let written: serde_json::Value = serde_json::from_slice(value).unwrap();
        assert!(json_eq(
            &written,
            decision.report().dynamic_metadata.as_ref().unwrap()
        ));
    }
    let decision: &Allow = match decision {
        Decision::Allow(allow) => allow,
        Decision::Deny(_) => {
            let status = host.reply.expect("a denial replies");
            assert!((200..=599).contains(&status));
            assert!(host.headers.is_empty() && host.removed.is_empty());
            return;
        }
    };
    assert_eq!(host.reply, None);
    if decision.set_query.is_empty() && decision.remove_query.is_empty() {
        return;
    }
    // The query after rewriting, which applies to the decision's own `:path` if it sets one:
    // removed names are gone (unless set again), set values are there, decoded as written;
    // everything else is kept.
    let path = decision
        .headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(":path"))
        .map_or(path, |(_, v)| v.as_str());
    let rewritten = host
        .headers
        .iter()
        .find(|(k, _)| k == ":path")
        .map_or(path, |(_, v)| v.as_str());
    let (base, _) = path.split_once('?').unwrap_or((path, ""));
    assert!(rewritten.starts_with(base));
    let query = rewritten.split_once('?').map_or("", |(_, q)| q);
    let params = parse_query(query);
    for (name, value) in &decision.set_query {
        assert!(
            params.iter().any(|(k, v)| k == name && v == value),
            "{name}={value} missing from {rewritten:?}"
        );
    }
    for name in &decision.remove_query {
        if decision.set_query.iter().all(|(k, _)| k != name) {
            assert!(
                params.iter().all(|(k, _)| k != name),
                "{name} still in {rewritten:?}"
            );
        }
    }
}

fn run(data: &[u8]) -> Result<()> {
    // `J<json>\n<path>`: a result as JSON text and the request path (hand-written seeds use
    // this form); anything else drives the value builders above.
    if let Some(text) = data.strip_prefix(b"J") {
        let text = String::from_utf8_lossy(text);
        let (json, path) = text.split_once('\n').unwrap_or((&text, "/"));
        if let Ok(result) = Value::from_json_str(json) {
            decide(&result, path);
        }
        return Ok(());
    }
    let mut u = Unstructured::new(data);
    let result = match u.int_in_range(0u8..=3)? {
        0 | 1 => value(&mut u, 4)?,
        _ => result_object(&mut u)?,
    };
    let path = <&str>::arbitrary(&mut u)?;
    decide(&result, path);
    Ok(())
}

fn decide(result: &Value, path: &str) {
    match to_decision(result) {
        Ok(decision) => check_applied(&decision, path),
        Err(ResultError::Undefined) => assert_eq!(result, &Value::Undefined),
        Err(ResultError::Invalid(_)) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
