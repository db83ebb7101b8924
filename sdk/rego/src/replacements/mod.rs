//! Where regorus' builtins would take the filter down, or answer otherwise than OPA: Palisade's
//! replacements of some builtins, and checks of the arguments and results of all of them.
//!
//! The filter is built with `panic = "abort"`: a panic in a builtin traps the VM, and every later
//! request on that worker gets a 503 until the VM is replaced. The cases here were found by the
//! `builtins` fuzz target and a review of regorus 0.14.1 (`docs/RELIABILITY.md` lists them).
//! A check that fails is an error, which the engines treat as OPA's non-strict mode does: the
//! call is undefined. Error messages never print argument values: formatting a number regorus
//! cannot write out is itself one of the panics.
//!
//! The replacements follow OPA's Go code, one family per module, where the OPA suite
//! (`tests/opa`) found regorus answering otherwise: Go's `regexp` (`regex`) and `fmt`
//! (`sprintf`), `encoding/base64` and `encoding/hex` (`encoding`), `json.Valid` (`validity`),
//! OPA's semver (`semver`), `big.Float` (`units`), `big.Int` (`bits`), `time.Time.Format`
//! (`time_format`).

mod bits;
mod checks;
mod duration;
mod encoding;
mod objects;
pub(crate) mod regex;
mod semver;
mod sprintf;
mod strings;
#[cfg(test)]
mod testing;
mod time_format;
mod units;
mod validity;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

/// A regorus builtin: `(span, argument expressions, argument values, strict) -> value`.
pub(crate) type Builtin = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

/// Palisade's own implementation of `name`, where regorus' panics on some arguments or answers
/// otherwise than OPA.
pub(crate) fn replacement(name: &str) -> Option<Builtin> {
    match name {
        "strings.count" => Some(strings::strings_count),
        "strings.replace_n" => Some(strings::strings_replace_n),
        "object.subset" => Some(objects::object_subset),
        "regex.template_match" => Some(regex::regex_template_match),
        "regex.match" => Some(regex::regex_match),
        "regex.is_valid" => Some(regex::regex_is_valid),
        "regex.split" => Some(regex::regex_split),
        "regex.replace" => Some(regex::regex_replace),
        "regex.find_n" => Some(regex::regex_find_n),
        "regex.find_all_string_submatch_n" => Some(regex::regex_find_all_string_submatch_n),
        "time.parse_duration_ns" => Some(duration::parse_duration_ns),
        "trace" => Some(strings::trace),
        "glob.quote_meta" => Some(strings::glob_quote_meta),
        "json.is_valid" => Some(validity::json_is_valid),
        "net.cidr_is_valid" => Some(validity::net_cidr_is_valid),
        "base64.decode" => Some(encoding::base64_decode),
        "base64.is_valid" => Some(encoding::base64_is_valid),
        "base64url.decode" => Some(encoding::base64url_decode),
        "hex.decode" => Some(encoding::hex_decode),
        "semver.is_valid" => Some(semver::semver_is_valid),
        "semver.compare" => Some(semver::semver_compare),
        "units.parse_bytes" => Some(units::parse_bytes),
        "time.format" => Some(time_format::time_format),
        "sprintf" => Some(sprintf::sprintf),
        "bits.and" => Some(bits::bits_and),
        "bits.or" => Some(bits::bits_or),
        "bits.xor" => Some(bits::bits_xor),
        "bits.negate" => Some(bits::bits_negate),
        "bits.lsh" => Some(bits::bits_lsh),
        "bits.rsh" => Some(bits::bits_rsh),
        _ => None,
    }
}

/// Whether Go reads the regular expression `pattern` but this build cannot run it.
pub(crate) fn regex_cannot_run(pattern: &str) -> bool {
    regex::cannot_run(pattern)
}

/// regorus' own `name`, for a replacement that leaves some arguments to it.
fn original(name: &str) -> anyhow::Result<Builtin> {
    match regorus::unstable::BUILTINS.get(name) {
        Some((builtin, _)) => Ok(*builtin),
        None => bail!("{name}: not a regorus builtin"),
    }
}

/// Checks the arguments of a call of `name` before it runs.
pub(crate) fn check_arguments(name: &str, args: &[Value]) -> anyhow::Result<()> {
    if !args.iter().all(writable) {
        bail!("{name}: an argument holds a number beyond ±1e308, which Palisade cannot represent");
    }
    match name {
        "glob.match" => checks::check_glob(arg(args, 0)),
        "numbers.range_step" => checks::check_step(arg(args, 2)),
        "json.filter" | "json.remove" => checks::check_json_paths(name, arg(args, 1)),
        "time.parse_ns" => checks::check_layout(name, arg(args, 0)),
        "time.format" => match arg(args, 0) {
            Value::Array(parts) => {
                checks::check_layout(name, parts.get(2).unwrap_or(&Value::Undefined))
            }
            _ => Ok(()),
        },
        "units.parse" | "units.parse_bytes" => checks::check_units(name, arg(args, 0)),
        "indexof" | "indexof_n" => checks::check_search(name, arg(args, 1)),
        _ => Ok(()),
    }
}

/// Checks what a call of `name` returned: no number the engines cannot write out leaves it.
pub(crate) fn check_result(name: &str, result: &Value) -> anyhow::Result<()> {
    if !writable(result) {
        bail!("{name}: the result holds a number beyond ±1e308, which Palisade cannot represent");
    }
    Ok(())
}

pub(super) fn arg(args: &[Value], at: usize) -> &Value {
    args.get(at).unwrap_or(&Value::Undefined)
}

/// Whether regorus can write `value` out. It writes a number as decimal digits and reads them
/// back as JSON; past about ±1.8e308 that fails, and every message that prints such a value
/// (most builtins' type errors do) panics. Numbers from ±1e308 up are refused to stay clear of
/// that edge, except integers in a build with the `x509` feature: it turns on serde_json's
/// arbitrary_precision, with which regorus writes integers of any size (certificates hold
/// 2048-bit RSA moduli).
pub(crate) fn writable(value: &Value) -> bool {
    numbers_all(value, &|n| {
        below_1e308(n)
            || (cfg!(feature = "x509") && matches!(n, Value::Number(n) if n.as_big().is_some()))
    })
}

/// Whether every number of an input or data document is within ±1e308: the numbers Palisade
/// takes from outside, whatever the build.
pub(crate) fn within_1e308(value: &Value) -> bool {
    numbers_all(value, &below_1e308)
}

/// Whether a number (`Value::Number`) is within ±1e308.
fn below_1e308(number: &Value) -> bool {
    let Value::Number(n) = number else {
        return true;
    };
    n.as_i64().is_some()
        || n.as_u64().is_some()
        || n.as_f64().is_some_and(|f| f.is_finite() && f.abs() < 1e308)
        // An integer beyond 64 bits (`sum([2^64 - 1, 1])`), below 2^1023 < 1e308.
        || n.as_big().is_some_and(|big| big.bits() <= 1023)
}

/// Whether `ok` holds for every number in `value`.
fn numbers_all(value: &Value, ok: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Number(_) => ok(value),
        Value::Array(items) => items.iter().all(|v| numbers_all(v, ok)),
        Value::Set(items) => items.iter().all(|v| numbers_all(v, ok)),
        Value::Object(fields) => fields
            .iter()
            .all(|(k, v)| numbers_all(k, ok) && numbers_all(v, ok)),
        _ => true,
    }
}

pub(super) fn string_arg<'v>(name: &str, args: &'v [Value], at: usize) -> anyhow::Result<&'v str> {
    match arg(args, at) {
        Value::String(s) => Ok(s),
        _ => bail!("{name}: operand {} must be a string", at + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(json: serde_json::Value) -> Value {
        Value::from(json)
    }

    #[test]
    fn arguments_that_would_panic_are_refused() {
        let refused = |name: &str, args: &[serde_json::Value]| {
            let args: Vec<Value> = args.iter().cloned().map(v).collect();
            check_arguments(name, &args).is_err()
        };
        assert!(refused("upper", &[json!(1.7976931348623157e308)]));
        assert!(refused("startswith", &[json!({"k": [1e308]}), json!("a")]));
        assert!(!refused("upper", &[json!(1e307)]));
        assert!(refused(
            "glob.match",
            &[json!("{".repeat(300)), json!(null), json!("a")]
        ));
        assert!(refused(
            "glob.match",
            &[json!("?".repeat(200_000)), json!(null), json!("a")]
        ));
        assert!(!refused(
            "glob.match",
            &[json!("{a,{b,c}}"), json!(null), json!("a")]
        ));
        assert!(refused(
            "numbers.range_step",
            &[json!(1), json!(5), json!(0)]
        ));
        assert!(refused(
            "numbers.range_step",
            &[json!(0), json!(-9), json!(-1)]
        ));
        assert!(!refused(
            "numbers.range_step",
            &[json!(0), json!(9), json!(2)]
        ));
        let deep = vec!["a"; 5000].join("/");
        assert!(refused("json.filter", &[json!({"a": 1}), json!([deep])]));
        assert!(refused("time.parse_ns", &[json!("é"), json!("é")]));
        assert!(refused("time.format", &[json!([0, "UTC", "é"])]));
        assert!(refused("units.parse", &[json!("1e100000000")]));
        assert!(!refused("units.parse", &[json!("1.5Ki")]));
        assert!(check_result("units.parse", &v(json!(1e308))).is_err());
        assert!(refused("indexof", &[json!("abc"), json!("")]));
        assert!(refused("indexof_n", &[json!("abc"), json!("")]));
        assert!(!refused("indexof", &[json!("abc"), json!("b")]));
    }

    #[test]
    fn integers_beyond_64_bits_are_arguments_and_results_like_any_number() {
        use crate::test_support::both;
        let policy = "package t\nimport rego.v1\n\
                      x := [sum(input.xs) - input.xs[0], abs(0 - 340282366920938463463374607431768211456) - 340282366920938463463374607431768211455]\n";
        let xs = json!({"xs": [18446744073709551615u64, 1]});
        assert_eq!(both(policy, xs), Ok(json!([1, 1])));
    }
}
