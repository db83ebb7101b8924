//! Plugin configuration parsing, as `on_configure` does it: JSON text or a serialised
//! `google.protobuf.Struct`, the SDK's `events` section split off, then the filter's own
//! config type (rego-authz's and the tenant-header example's) and its `from_config` checks.
//! Any input must give a value or a `ConfigError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade::events::EventsConfig;
use palisade_rego::{RegoAuthz, RegoConfig};
use palisade::__private::{parse_config, parse_plugin_config};
use palisade::Policy;

mod common;

// The example is a cdylib (no rlib to link against): compile its source into this target, so
// the fuzzed config type is the real one.
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/tenant-header/src/lib.rs"]
mod tenant_header;

fuzz_target!(|data: &[u8]| {
    // The generic document: what every filter's parse starts from.
    let document = parse_config::<serde_json::Value>(data);
    if let Some(json) = palisade::__private::struct_to_json(data) {
        // A decoded Struct is always an object, and serialises to JSON that parses back.
        assert!(json.is_object());
        let text = json.to_string();
        let again: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(common::json_eq(&again, &json), "{again} != {json}");
    }

    // The events section alone, from whatever the document holds.
    if let Ok(serde_json::Value::Object(members)) = &document {
        if let Some(section) = members.get("events") {
            if let Ok(events) = EventsConfig::from_value(section.clone()) {
                // A valid section makes valid events.
                let source = events.source_for(Some("fuzz"), "fuzz");
                palisade::__private::cloudevents::CloudEvent::builder()
                    .id("1")
                    .source(source)
                    .event_type(format!("{}.authz.decision", events.type_prefix))
                    .build()
                    .unwrap();
            }
        }
    }

    // tenant-header: parse, then the policy's own checks.
    if let Ok((config, _events)) = parse_plugin_config::<tenant_header::Config>(data) {
        let _ = tenant_header::TenantHeader::from_config(config);
    }

    // rego-authz: parse, then compile (regorus parses and compiles the policy). Compiling
    // large generated policies is slow and is regorus's own business; keep to small ones.
    // regorus 0.14.1's parser takes time exponential in the nesting of brackets (16 levels of
    // `[`: 4 s, 20: 100 s; see fuzz/README.md): a known finding, kept out of the way.
    if let Ok((config, _events)) = parse_plugin_config::<RegoConfig>(data) {
        let sources = || config.policies.values().chain(config.policy.iter());
        let total: usize = sources().map(String::len).sum();
        if total <= 512 && sources().all(|s| bracket_depth(s) <= MAX_BRACKET_DEPTH) {
            let _ = RegoAuthz::from_config(config);
        }
    }
});

const MAX_BRACKET_DEPTH: usize = 6;

/// How deeply brackets (`[`, `{`, `(`, any mix) nest in a source; unclosed ones count too.
fn bracket_depth(source: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in source.bytes() {
        match b {
            b'[' | b'{' | b'(' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
