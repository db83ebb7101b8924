//! A Rego rule compiled once per VM and evaluated per request, inside a budget.
//!
//! Policies that only call regorus builtins run on regorus' bytecode VM (the compiled form,
//! several times faster than the tree-walking interpreter); policies that call one of
//! Palisade's extensions (`io.jwt.*`) run on the interpreter, which is the only regorus
//! engine that can call host functions synchronously, and so do policies the bytecode compiler
//! does not cover yet (`with`, some partial object rules) and policies with a construct the VM
//! evaluates otherwise than OPA ([`super::interpreter_only`]).

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::Value;

/// A host function callable from Rego, e.g. `io.jwt.decode`.
#[derive(Debug)]
pub struct Extension {
    /// Its Rego name.
    pub name: &'static str,
    /// How many arguments it takes.
    pub arity: u8,
    /// The function.
    pub call: fn(Vec<Value>) -> anyhow::Result<Value>,
}

/// Limits on one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Wall-clock limit (the proxy's monotonic clock).
    pub time: Duration,
    /// Bytecode instructions, on the VM path.
    pub instructions: usize,
    /// Bytes the capped builtins ([`super::limits`]) may produce, on either path.
    pub bytes: usize,
}

/// Why an evaluation produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The budget ran out.
    #[error("evaluation budget exceeded: {0}")]
    Budget(String),
    /// Any other failure (a builtin error, a conflict between rules, ...).
    #[error("evaluation failed: {0}")]
    Failed(String),
}

/// Compiled regexes and glob matchers kept across evaluations.
const PATTERN_CACHE_REGEXES: usize = 32;
const PATTERN_CACHE_GLOBS: usize = 16;

/// Which regorus engine runs the policy.
pub enum Evaluator {
    /// regorus' bytecode VM, and the evaluation's byte budget.
    Vm(Box<regorus::rvm::RegoVM>, usize),
    /// regorus' interpreter, with extensions, and the evaluation's byte budget.
    Interpreter(Box<Interpreter>, usize),
    /// The bytecode VM, whose undefined answers the interpreter evaluates again: the VM answers
    /// undefined where the rule has two values, and OPA (and the interpreter) fails with a
    /// conflict error ([`super::interpreter_only::decision_may_conflict`]).
    Confirmed(Box<Evaluator>, Box<Evaluator>),
}

/// regorus' interpreter as the filter runs it: the engine requests are evaluated on, and a copy
/// of it as compiled, which replaces it after an evaluation that failed.
///
/// An evaluation that fails part-way through a loop (a conflict between two values of a rule,
/// a budget that ran out) leaves the interpreter's values for the loop's variables behind, and
/// the next evaluation reads them: after `x := walk(input)` fails on an object of two members,
/// `walk({})` fails too (`item cannot be indexed`), or answers a value of the earlier input.
/// One request must never decide the next one's answer.
pub struct Interpreter {
    current: regorus::Engine,
    as_compiled: regorus::Engine,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interpreter")
    }
}

impl Interpreter {
    fn new(engine: regorus::Engine) -> Box<Self> {
        Box::new(Self {
            current: engine.clone(),
            as_compiled: engine,
        })
    }
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Vm(..) => "Evaluator::Vm",
            Self::Interpreter(..) => "Evaluator::Interpreter",
            Self::Confirmed(..) => "Evaluator::Confirmed",
        })
    }
}

/// Why a policy could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The rule to evaluate is not defined.
    #[error("{0}")]
    Rule(String),
    /// The policy itself is wrong (or regorus refused it).
    #[error("{0}")]
    Policy(String),
    /// The bytecode compiler does not cover the policy (the interpreter does, more slowly).
    #[error("{0}")]
    NotForVm(String),
}

impl Evaluator {
    /// Compiles `rule` (e.g. `data.envoy.authz.allow`) from an engine that already holds the
    /// policies and data, for the interpreter when `on_interpreter` (policies that call an
    /// extension need it), else for the bytecode VM where its compiler covers the policy.
    pub fn compile(
        mut engine: regorus::Engine,
        rule: &str,
        extensions: &[Extension],
        on_interpreter: bool,
        budget: Budget,
    ) -> Result<Self, CompileError> {
        let timer = ExecutionTimerConfig {
            limit: budget.time,
            // Reading the clock is a host call inside the proxy: check it every few hundred
            // units of work, not every one.
            check_interval: NonZeroU32::new(256).unwrap_or(NonZeroU32::MIN),
        };
        engine.set_execution_timer_config(timer);
        // regorus keeps compiled regexes and globs in process-wide caches (256 and 128 by
        // default). A pattern from request data adds an entry each time, up to a few MB apiece,
        // and wasm memory never shrinks: keep the caches small.
        regorus::cache::configure(regorus::cache::Config {
            regex: PATTERN_CACHE_REGEXES,
            glob: PATTERN_CACHE_GLOBS,
        });
        // OPA's default (non-strict) semantics: a builtin that fails on its arguments makes its
        // expression undefined and evaluation goes on; only limits stay errors.
        engine.set_strict_builtin_errors(false);
        if on_interpreter {
            super::overrides::install_in_interpreter(&mut engine)
                .map_err(|e| CompileError::Policy(one_line(&e)))?;
            for extension in extensions {
                let (name, call) = (extension.name, extension.call);
                engine
                    .add_extension(
                        name.to_string(),
                        extension.arity,
                        Box::new(move |args: Vec<Value>| Ok(undefined_on_error(name, call(args)))),
                    )
                    .map_err(|e| CompileError::Policy(one_line(&e)))?;
            }
        }
        // An unknown rule path is a configuration error, not a per-request one. Other errors of
        // this trial evaluation (with no input) say nothing about real requests. (Extensions are
        // registered first: the rule may call one before reading the input.)
        // The trial runs with the builtins capped too, on a copy (the bytecode VM's compiler
        // must see the plain builtins, and an evaluation that fails leaves state behind in the
        // interpreter, see [`Interpreter`]): a bomb that does not read the input goes off here.
        let mut trial = engine.clone();
        if !on_interpreter {
            super::overrides::install_in_interpreter(&mut trial)
                .map_err(|e| CompileError::Policy(one_line(&e)))?;
        }
        super::limits::begin(budget.bytes);
        let trial_result = trial.eval_rule(rule.to_string());
        if let Err(err) = &trial_result {
            let message = one_line(err);
            // A document of rules whose heads are paths (`a.b := 1`, `h["k"] := v`) is a
            // rule on the interpreter only (`super::ref_head_prefixes`).
            if message.contains("not a valid rule path") && !on_interpreter {
                return Err(CompileError::NotForVm(
                    "the rule path may name a document of rules whose heads are paths".into(),
                ));
            }
            if message.contains("not a valid rule path") {
                return Err(CompileError::Rule(format!(
                    "rule {rule}: {message} (the path must name a rule of the policy)"
                )));
            }
            // The interpreter's own finding, through references no static check follows.
            if message.contains("recursion detected") {
                return Err(CompileError::Policy(message));
            }
        }
        // Should the policy run on the interpreter, the trial's engine is the one to keep when
        // the trial went through: regorus analyses a policy on its first evaluation, and an
        // evaluation without error leaves nothing behind.
        let prepared = trial_result.is_ok().then_some(trial);
        if on_interpreter {
            return Ok(Self::Interpreter(
                Interpreter::new(prepared.unwrap_or(engine)),
                budget.bytes,
            ));
        }
        let data = engine.get_data();
        let compiled = engine
            .compile_with_entrypoint(&rule.into())
            .map_err(|e| CompileError::Policy(one_line(&e)))?;
        let mut program = match regorus::languages::rego::compiler::Compiler::compile_from_policy(
            &compiled,
            &[rule],
        ) {
            Ok(program) => program,
            // Recursion, which the bytecode compiler finds across packages and import aliases
            // (the lexical check in `recursion.rs` does not), is the policy's error.
            Err(err) if one_line(&err).contains("recursion detected") => {
                return Err(CompileError::Policy(one_line(&err)));
            }
            // Otherwise the bytecode compiler does not cover all of Rego yet (`with`, some
            // partial object rules); the interpreter does, more slowly.
            Err(err) => return Err(CompileError::NotForVm(one_line(&err))),
        };
        super::overrides::install_in_program(std::sync::Arc::make_mut(&mut program));
        let mut vm = regorus::rvm::RegoVM::new();
        vm.load_program(program);
        vm.set_data(data)
            .map_err(|e| CompileError::Policy(one_line(&e)))?;
        vm.set_max_instructions(budget.instructions);
        vm.set_strict_builtin_errors(false);
        vm.set_execution_timer_config(Some(timer));
        Ok(Self::Vm(Box::new(vm), budget.bytes))
    }

    /// Evaluates the rule for one input.
    pub fn evaluate(&mut self, rule: &str, input: Value) -> Result<Value, EvalError> {
        match self {
            Self::Confirmed(vm, interpreter) => match vm.evaluate(rule, input.clone()) {
                Ok(Value::Undefined) => interpreter.evaluate(rule, input),
                answer => answer,
            },
            Self::Vm(vm, bytes) => {
                super::limits::begin(*bytes);
                vm.set_input(input);
                vm.execute_entry_point_by_name(rule).map_err(|err| {
                    use regorus::rvm::vm::VmError;
                    let message = one_line(&err);
                    match err {
                        VmError::InstructionLimitExceeded { .. }
                        | VmError::TimeLimitExceeded { .. }
                        | VmError::MemoryLimitExceeded { .. }
                        | VmError::MemoryBudgetExceeded { .. } => EvalError::Budget(message),
                        _ => EvalError::Failed(message),
                    }
                })
            }
            Self::Interpreter(interpreter, bytes) => {
                super::limits::begin(*bytes);
                let engine = &mut interpreter.current;
                engine.set_input(input);
                let result = engine.eval_rule(rule.to_string());
                if result.is_err() {
                    interpreter.current = interpreter.as_compiled.clone();
                }
                result.map_err(|err| {
                    let message = one_line(&err);
                    if err.downcast_ref::<regorus::LimitError>().is_some()
                        || message.contains("exceeded time limit")
                        || message.contains("exceeded memory limit")
                    {
                        EvalError::Budget(message)
                    } else {
                        EvalError::Failed(message)
                    }
                })
            }
        }
    }
}

/// An extension's result as OPA gives a builtin's in non-strict mode: an error on its
/// arguments makes the call undefined (so `default allow := false` applies), never a failed
/// evaluation, which a fail-open deployment would let through.
fn undefined_on_error(name: &str, result: anyhow::Result<Value>) -> Value {
    result.unwrap_or_else(|err| {
        log::debug!("{name}: {err:#}; the call is undefined");
        Value::Undefined
    })
}

/// regorus errors span several lines (source excerpt and caret); logs want one.
pub fn one_line(err: &dyn std::fmt::Display) -> String {
    let text = format!("{err:#}");
    let location = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(str::trim);
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.trim());
    match location {
        Some(location) => format!("{location}: {message}"),
        None => message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `data.envoy.authz.allow` from `envoy.authz`, whose `allow` calls `other.flag`
    /// after `condition`, and `other`, whose `flag` calls `allow` back through `reference`.
    fn compile(condition: &str, reference: &str) -> Result<Evaluator, CompileError> {
        let mut engine = regorus::Engine::new();
        let authz = format!(
            "package envoy.authz\nimport rego.v1\nimport data.other as o\n\
             default allow := false\nallow if {{ {condition}; o.flag }}\n"
        );
        let other = format!(
            "package other\nimport rego.v1\nimport data.envoy.authz as a\nflag if {reference}\n"
        );
        engine.add_policy("authz.rego".into(), authz).unwrap();
        engine.add_policy("other.rego".into(), other).unwrap();
        let budget = Budget {
            time: Duration::from_secs(1),
            instructions: 1_000_000,
            bytes: 1 << 20,
        };
        Evaluator::compile(engine, "data.envoy.authz.allow", &[], false, budget)
    }

    /// `data.p.allow` of `policy` (package `p`, with the extensions), on one engine.
    fn evaluator(policy: &str, on_interpreter: bool) -> Evaluator {
        let mut engine = regorus::Engine::new();
        engine.add_policy("p.rego".into(), policy.into()).unwrap();
        let budget = Budget {
            time: Duration::from_secs(1),
            instructions: 1_000_000,
            bytes: 1 << 20,
        };
        let extensions = super::super::extensions::all();
        Evaluator::compile(engine, "data.p.allow", &extensions, on_interpreter, budget).unwrap()
    }

    #[test]
    fn a_builtin_error_is_undefined_on_both_engines() {
        // OPA's non-strict mode: the failing expression is undefined, the rule does not match,
        // the default applies; evaluation never fails. The second rule shows evaluation goes on.
        let calls = [
            "regex.match(input.s, \"a\")",
            "json.unmarshal(input.s)",
            "base64.decode(input.s)",
            "time.parse_rfc3339_ns(input.s)",
            "net.cidr_contains(input.s, \"10.0.0.1\")",
            "to_number(input.s)",
            "io.jwt.decode(input.s)",
            "io.jwt.decode_verify(input.s, {\"secret\": \"k\"})",
            "io.jwt.verify_hs256(input.s, \"k\")",
        ];
        for call in calls {
            let policy = format!(
                "package p\nimport rego.v1\ndefault allow := \"default\"\n\
                 allow := \"matched\" if {{ {call} != \"never\" }}\n\
                 allow := \"went on\" if input.s == \"(((\"\n"
            );
            let input = Value::from(serde_json::json!({ "s": "(((" }));
            // A policy that calls an extension always runs on the interpreter.
            let engines: &[bool] = match call.starts_with("io.jwt.") {
                true => &[true],
                false => &[false, true],
            };
            for &on_interpreter in engines {
                let mut evaluator = evaluator(&policy, on_interpreter);
                let value = evaluator.evaluate("data.p.allow", input.clone());
                assert_eq!(
                    value,
                    Ok(Value::from("went on")),
                    "{call} on the {evaluator:?}"
                );
            }
        }
    }

    #[test]
    fn an_evaluation_that_fails_leaves_nothing_behind_for_the_next() {
        // `x := walk(v)` conflicts for an object of two members (two [path, value] pairs), part
        // way through the loop; regorus' interpreter kept the loop's value, and the next
        // evaluations failed (or answered the earlier input's pair).
        let policy = "package p\nimport rego.v1\nallow := walk(input.v)\n";
        let mut evaluator = evaluator(policy, true);
        let mut answer = |v: serde_json::Value| {
            evaluator.evaluate("data.p.allow", Value::from(serde_json::json!({ "v": v })))
        };
        let empty = Ok(Value::from(serde_json::json!([[], {}])));
        assert_eq!(answer(serde_json::json!({})), empty);
        assert!(answer(serde_json::json!({"a": 1, "b": 2})).is_err());
        assert_eq!(answer(serde_json::json!({})), empty);
        assert!(answer(serde_json::json!(1)).is_ok());
        assert_eq!(answer(serde_json::json!({})), empty);
    }

    #[test]
    fn a_builtin_error_under_not_is_undefined_too() {
        // As in OPA: `not` of an undefined expression is true.
        let policy = "package p\nimport rego.v1\ndefault allow := false\n\
                      allow if not regex.match(input.s, \"a\")\n";
        let input = Value::from(serde_json::json!({ "s": "(" }));
        for on_interpreter in [false, true] {
            let value = evaluator(policy, on_interpreter).evaluate("data.p.allow", input.clone());
            assert_eq!(
                value,
                Ok(Value::from(true)),
                "interpreter: {on_interpreter}"
            );
        }
    }

    fn policy_error(compiled: Result<Evaluator, CompileError>) -> String {
        match compiled {
            Err(CompileError::Policy(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recursion_the_bytecode_compiler_finds_is_a_policy_error() {
        // The trial evaluation (no input) does not reach the cycle; the bytecode compiler's
        // finding must not send the policy to the interpreter.
        let message = policy_error(compile("input.x", "a.allow"));
        assert!(
            message.contains("Compile-time recursion detected"),
            "{message}"
        );
    }

    #[test]
    fn recursion_the_trial_evaluation_meets_is_a_policy_error() {
        // Through a bracketed reference, which neither the lexical check nor the bytecode
        // compiler follows (evaluating it on the VM overflows the stack); the trial reaches it
        // when the cycle does not depend on the input.
        let message = policy_error(compile("true", "a[\"allow\"]"));
        assert!(
            message.contains("recursion detected when evaluating"),
            "{message}"
        );
    }

    #[test]
    fn a_rule_path_that_is_a_document_of_path_heads_evaluates_and_one_of_nothing_is_refused() {
        let mut config = crate::test_support::config("package t\nimport rego.v1\na.b.c := 1\n");
        config.path = "t/a".into();
        let mut evaluator = crate::compile_for(&config, crate::Engine::Interpreter)
            .unwrap()
            .unwrap();
        let value = evaluator
            .evaluate("data.t.a", regorus::Value::new_object())
            .unwrap();
        assert_eq!(
            value.to_json_str().unwrap().replace([' ', '\n'], ""),
            r#"{"b":{"c":1}}"#
        );
        config.path = "t/nothing".into();
        let err = crate::compile_for(&config, crate::Engine::Interpreter).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("path"));
        assert!(err.message.contains("must name a rule"), "{err}");
    }
}
