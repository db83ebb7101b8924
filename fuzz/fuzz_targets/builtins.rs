//! Every builtin rego-authz provides (regorus' builtins compiled into the filter, and Palisade's
//! extensions) and the language's operators, called on adversarial arguments in the engine
//! configuration the filter uses: its bytecode VM and its interpreter, with the filter's caps and
//! guards, non-strict builtin errors and budget. A panic here is a trap in the filter (it is built
//! with `panic = "abort"`), which takes the VM down for every later request.
//!
//! The arguments come from the request in a real policy (`input`), so each call reads them from
//! the input document: `allow := f(input[0], input[1], ...)`.
#![no_main]

use std::cell::RefCell;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::__private::parse_config;
use palisade_rego::eval::Evaluator;
use palisade_rego::{compile_for, Engine, RegoConfig};
use regorus::Value;

/// What one target calls: a builtin (by name and arity) or an expression or rule body over
/// `input[0]` and `input[1]`.
enum Call {
    Builtin(String, u8),
    Expression(&'static str),
    Body(&'static str),
}

/// The operators and constructs a policy applies to request data.
const EXPRESSIONS: &[&str] = &[
    "input[0] + input[1]",
    "input[0] - input[1]",
    "input[0] * input[1]",
    "input[0] / input[1]",
    "input[0] % input[1]",
    "-input[0]",
    "input[0] < input[1]",
    "input[0] <= input[1]",
    "input[0] == input[1]",
    "input[0] != input[1]",
    "input[0] | input[1]",
    "input[0] & input[1]",
    "input[0][input[1]]",
    "input[0][input[1]][input[1]]",
    "input[1] in input[0]",
    "[x | some x in input[0]]",
    "{x | some x in input[0]}",
    "{k: v | some k, v in input[0]}",
    "[x | some x in input[0]; x > input[1]]",
    "count([x | some x, _ in input[0]])",
    "{input[0]: input[1]}",
    "{input[0], input[1]}",
    "[input[0], input[1]][_]",
];

const BODIES: &[&str] = &[
    "[a, b] := input[0]; a == input[1]",
    // (An object pattern, `{"k": v} := input[0]`, is refused at configure: compare instead.)
    "input[0] == {\"k\": input[1]}",
    "every x in input[0] { x != input[1] }",
    "some k, v in input[0]; k == input[1]",
    "input[0][_][_] == input[1]",
    "x := input[0]; y := x[input[1]]; y",
    "not input[0] == input[1]",
    "input[0] = input[1]",
];

/// Strings that builtins treat specially: patterns, formats, encodings, addresses, times,
/// numbers as text, and the empty string.
const STRINGS: &[&str] = &[
    "", " ", "a", "abc", "\u{0}", "\u{7f}", "é", "🙂", "\u{feff}", "\r\n", "%", "%%", "%d", "%v",
    "%s%s%s", "%0999999d", "%.999999f", "%!", "%[2]d", "%*d", "*", "**", "?", "[", "[a-", "[]",
    "{a,}", "{,}", "{", "}", "(", ")", "(((", "\\", "\\p{", "a{99999}", "(a*)*", ".", "..",
    "a.b.c", "/", "//", "/a/b", "1", "-1", "0", "1e9", "1e400", "-0", "0x10", "1.2.3", "v1.2.3",
    "1.2.3-", "1.2.3+", "10.0.0.0/8", "10.0.0.1", "::/0", "::1", "0.0.0.0/0", "2001:db8::/129",
    "1.2.3.4/33", "256.0.0.1", "fe80::1%eth0", "2006-01-02T15:04:05Z", "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z", "2006-01-02", "15:04", "Mon", "T", "UTC", "Local", "America/Nowhere",
    "YQ==", "YQ", "====", "=", "eyJ", "a.b", "a.b.c.d", "{\"a\":1}", "[1,", "null", "true",
    "1KiB", "1e3M", "1.5Gi", "9999999999999999999999E", "-1KB", "ms", "1h2m", "-", "+", "_", ",",
];

/// Numbers as JSON text: zero, signs, extremes of every integer width, huge and tiny floats.
const NUMBERS: &[&str] = &[
    "0", "-0", "1", "-1", "2", "63", "64", "65", "127", "128", "255", "256", "1024", "65535",
    "4294967295", "4294967296", "9007199254740993", "9223372036854775807",
    "-9223372036854775808", "18446744073709551615", "18446744073709551616", "1e308", "-1e308",
    "1e-308", "5e-324", "1e400", "0.1", "0.5", "1.5", "-1.5", "1e19", "1e20",
    "123456789012345678901234567890", "1000000000", "-1000000000",
];

fn value(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    let nested = depth < 3;
    Ok(match u.int_in_range(0..=12)? {
        0 => Value::Null,
        1 => Value::from(u.arbitrary::<bool>()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from_json_str(u.choose(NUMBERS)?).unwrap_or(Value::Null),
        4 => {
            let f = u.arbitrary::<f64>()?;
            if f.is_finite() {
                Value::from(f)
            } else {
                Value::from(0)
            }
        }
        5 => Value::from(*u.choose(STRINGS)?),
        6 => {
            let s: String = u.arbitrary()?;
            Value::from(s.chars().take(256).collect::<String>())
        }
        7 => {
            // A long run of one string: big inputs from a small fuzz input.
            let unit = *u.choose(STRINGS)?;
            let times = u.int_in_range(0..=20_000usize)?;
            Value::from(unit.repeat(times.min(100_000 / unit.len().max(1))))
        }
        8 if nested => Value::from(list(u, depth)?),
        9 if nested => Value::from(list(u, depth)?.into_iter().collect::<std::collections::BTreeSet<_>>()),
        10 if nested => {
            let mut map = std::collections::BTreeMap::new();
            for (k, v) in list(u, depth)?.into_iter().zip(list(u, depth)?) {
                map.insert(k, v);
            }
            Value::from(map)
        }
        11 => {
            // Deep nesting, as a JSON body can carry (serde_json stops at 128).
            let mut v = Value::from(*u.choose(STRINGS)?);
            for _ in 0..u.int_in_range(0..=120u8)? {
                v = Value::from(vec![v]);
            }
            v
        }
        _ => {
            let numbers: Vec<Value> = (0..u.int_in_range(0..=5u8)?)
                .map(|_| Value::from_json_str(u.choose(NUMBERS).unwrap_or(&"0")).unwrap_or(Value::Null))
                .collect();
            Value::from(numbers)
        }
    })
}

fn list(u: &mut Unstructured<'_>, depth: u8) -> Result<Vec<Value>> {
    let n = u.int_in_range(0..=4u8)?;
    (0..n).map(|_| value(u, depth + 1)).collect()
}

/// Every call, in a fixed order (builtins sorted by name).
fn calls() -> Vec<Call> {
    let mut builtins: Vec<(String, u8)> = regorus::unstable::BUILTINS
        .iter()
        .map(|(name, (_, arity))| (name.to_string(), *arity))
        .collect();
    builtins.extend(
        palisade_rego::extensions::all()
            .into_iter()
            .map(|e| (e.name.to_string(), e.arity)),
    );
    builtins.sort();
    let mut calls: Vec<Call> = builtins
        .into_iter()
        // Builtins rego-authz refuses at configure (they reach the host or the network).
        .filter(|(name, _)| palisade_rego::builtins::unsupported_calls(&[&format!("x := {name}(1)")], &[]).is_empty() || name.starts_with("io.jwt."))
        .map(|(name, arity)| Call::Builtin(name, arity))
        .collect();
    calls.extend(EXPRESSIONS.iter().map(|e| Call::Expression(e)));
    calls.extend(BODIES.iter().map(|b| Call::Body(b)));
    calls
}

fn policy(call: &Call) -> String {
    let rule = match call {
        Call::Builtin(name, arity) => {
            let args: Vec<String> = (0..*arity).map(|i| format!("input[{i}]")).collect();
            format!("allow := {name}({})", args.join(", "))
        }
        Call::Expression(expression) => format!("allow := {expression}"),
        Call::Body(body) => format!("allow if {{ {body} }}"),
    };
    format!("package p\nimport rego.v1\n{rule}\n")
}

/// The call compiled for each engine the filter may run it on, exactly as the filter compiles
/// it (its checks, source rewrites, guards, extensions and default budget): the VM where the
/// filter would run the policy there, and the interpreter.
struct Compiled {
    engines: Vec<Evaluator>,
}

fn compile(call: &Call) -> Compiled {
    let source = policy(call);
    let config = serde_json::json!({ "policy": source, "path": "p/allow" }).to_string();
    let config: RegoConfig = match parse_config(config.as_bytes()) {
        Ok(config) => config,
        Err(err) => panic!("{source}: {err}"),
    };
    let engines = [Engine::Vm, Engine::Interpreter]
        .into_iter()
        .filter_map(|engine| match compile_for(&config, engine) {
            Ok(evaluator) => evaluator,
            Err(err) => panic!("{source}: {err}"),
        })
        .collect();
    Compiled { engines }
}

thread_local! {
    static CALLS: Vec<Call> = calls();
    static COMPILED: RefCell<Vec<Option<Compiled>>> = const { RefCell::new(Vec::new()) };
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let index = CALLS.with(|calls| u.choose_index(calls.len()))?;
    let args = Value::from(vec![value(u, 0)?, value(u, 0)?, value(u, 0)?, value(u, 0)?]);
    let show = std::env::var_os("BUILTINS_FUZZ_SHOW").is_some();
    if show {
        let source = CALLS.with(|calls| policy(&calls[index]));
        let input = args.to_json_str().unwrap_or_default();
        eprintln!("{source}input: {}", input.chars().take(300).collect::<String>());
    }
    COMPILED.with(|compiled| {
        let mut compiled = compiled.borrow_mut();
        if compiled.len() <= index {
            compiled.resize_with(index + 1, || None);
        }
        let slot = compiled.get_mut(index).and_then(|slot| {
            if slot.is_none() {
                *slot = Some(CALLS.with(|calls| compile(&calls[index])));
            }
            slot.as_mut()
        });
        for evaluator in slot.into_iter().flat_map(|c| c.engines.iter_mut()) {
            // Any result is fine (a value, undefined, an error): only a panic is not.
            let _ = evaluator.evaluate("data.p.allow", args.clone());
        }
    });
    if show {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        eprintln!("rss: {} MB", pages * 4096 >> 20);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
