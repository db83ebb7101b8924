//! Operators as OPA evaluates them, on regorus' interpreter.
//!
//! In OPA (non-strict), an operator that meets a value of the wrong type makes its expression
//! undefined, as a builtin's error does: `input.n + 1` with a string `n`, `a | b` with an array,
//! `i % 2` with an object key, `some x in 5`. regorus' bytecode VM does the same; its interpreter
//! fails the whole evaluation, which the filter turns into its failure mode: a fail-open
//! deployment would let the request through where OPA's `default allow := false` denies it.
//!
//! So, for a policy the interpreter runs, [`rewrite`] turns each operator into a call of one of
//! Palisade's functions ([`extensions`]), which the interpreter, like OPA, makes undefined when
//! it fails: `a + b` becomes `__palisade.plus(a, b)`, `x in xs` `__palisade.member(x, xs)`, and
//! the collection of `some x in c` `__palisade.collection(c)`. A call of a function with an
//! undefined argument is undefined, as `x in xs` with an undefined `x` is in OPA (regorus' own
//! membership answers false). The rewrite reads regorus' syntax tree, so it is exact: it edits
//! the text at the spans of the operators' operands.

use anyhow::{bail, Result};
use regorus::unstable::{ArithOp, BinOp, Expr, Literal, Query, Ref, Rule, RuleHead};
use regorus::Value;

use super::arithmetic::{self, Operator};
use super::eval::Extension;
use super::syntax::{bounds, is_word, parse, TextEdits};

/// `a <operator> b` for two numbers, as OPA computes it ([`arithmetic`]); an error (an
/// undefined call) for anything else.
fn arithmetic(args: &[Value], operator: Operator) -> Result<Value> {
    match args {
        [Value::Number(a), Value::Number(b)] => {
            let text = arithmetic::apply(operator, &a.format_decimal(), &b.format_decimal())?;
            Value::from_numeric_string(&text)
        }
        _ => bail!("an arithmetic operator takes two numbers"),
    }
}

/// The functions operators become. Each fails (an undefined call) on operands OPA refuses.
pub(crate) fn extensions() -> Vec<Extension> {
    vec![
        function("__palisade.plus", 2, |args| {
            arithmetic(&args, Operator::Plus)
        }),
        function("__palisade.minus", 2, |args| match args.as_slice() {
            [Value::Set(a), Value::Set(b)] => Ok(a.difference(b).into_value()),
            _ => arithmetic(&args, Operator::Minus),
        }),
        function("__palisade.mul", 2, |args| {
            arithmetic(&args, Operator::Times)
        }),
        function("__palisade.div", 2, |args| {
            arithmetic(&args, Operator::Divide)
        }),
        function("__palisade.rem", 2, |args| {
            arithmetic(&args, Operator::Remainder)
        }),
        function("__palisade.union", 2, |args| match args.as_slice() {
            [Value::Set(a), Value::Set(b)] => Ok(a.union(b).into_value()),
            _ => bail!("| takes two sets"),
        }),
        function("__palisade.intersection", 2, |args| match args.as_slice() {
            [Value::Set(a), Value::Set(b)] => Ok(a.intersection(b).into_value()),
            _ => bail!("& takes two sets"),
        }),
        function("__palisade.member", 2, |args| match args.as_slice() {
            [value, collection] => Ok(Value::Bool(contains(collection, value))),
            _ => bail!("member takes two arguments"),
        }),
        function("__palisade.member_key", 3, |args| match args.as_slice() {
            [key, value, collection] => Ok(Value::Bool(has_at(collection, key, value))),
            _ => bail!("member_key takes three arguments"),
        }),
        function("__palisade.collection", 1, |args| match args.as_slice() {
            [c @ (Value::Array(_) | Value::Set(_) | Value::Object(_))] => Ok(c.clone()),
            _ => bail!("some ... in iterates over an array, a set or an object only"),
        }),
    ]
}

/// Every function an operator becomes is named `__palisade.<name>`: no OPA builtin or policy
/// package is.
fn function(name: &'static str, arity: u8, call: fn(Vec<Value>) -> Result<Value>) -> Extension {
    Extension { name, arity, call }
}

/// `value in collection`: an element of an array or a set, a value of an object.
fn contains(collection: &Value, value: &Value) -> bool {
    match collection {
        Value::Array(items) => items.contains(value),
        Value::Set(items) => items.contains(value),
        Value::Object(fields) => fields.values().any(|v| v == value),
        _ => false,
    }
}

/// `key, value in collection`: `collection[key]` is `value` (for a set: `key` is an element
/// and `value` is `key`).
fn has_at(collection: &Value, key: &Value, value: &Value) -> bool {
    match collection {
        Value::Array(_) | Value::Object(_) => &collection[key] == value,
        Value::Set(items) => items.contains(key) && key == value,
        _ => false,
    }
}

/// `source` with its operators turned into calls of [`extensions`]; `source` as it is when it
/// does not parse (compiling it reports the error).
pub(crate) fn rewrite(name: &str, source: &str, rego_v0: bool) -> String {
    match walk(name, source, rego_v0) {
        Some(edits) => edits.text.apply_checked(name, rego_v0),
        None => source.to_string(),
    }
}

/// The first `x in xs` of `source` used as a value (`r := x in xs`, not a condition), which
/// regorus' bytecode VM answers `false` for an undefined `x` where OPA's is undefined.
pub(crate) fn membership_as_value(name: &str, source: &str, rego_v0: bool) -> Option<String> {
    let edits = walk(name, source, rego_v0)?;
    let (start, end) = *edits.memberships_as_values.first()?;
    source.get(start..end).map(str::to_string)
}

/// The first arithmetic (`a + b`, `a / b`, ...) of `source`, which regorus' bytecode VM computes
/// on 64-bit floats once a fraction is involved, where OPA keeps more ([`arithmetic`]).
pub(crate) fn arithmetic_in(name: &str, source: &str, rego_v0: bool) -> Option<String> {
    let edits = walk(name, source, rego_v0)?;
    let (start, end) = *edits.arithmetic.first()?;
    source.get(start..end).map(str::to_string)
}

fn walk<'a>(name: &str, source: &'a str, rego_v0: bool) -> Option<Edits<'a>> {
    let module = parse(name, source, rego_v0).ok()?;
    let mut edits = Edits {
        text: TextEdits::new(source),
        memberships_as_values: Vec::new(),
        arithmetic: Vec::new(),
    };
    module.policy.iter().for_each(|rule| edits.rule(rule));
    Some(edits)
}

/// The edits that make a module's operators calls.
struct Edits<'a> {
    text: TextEdits<'a>,
    /// The bounds of each `x in xs` that is not a condition of its own.
    memberships_as_values: Vec<(usize, usize)>,
    /// The bounds of each arithmetic expression.
    arithmetic: Vec<(usize, usize)>,
}

// The order of edits at one offset: closing parentheses (of inner expressions first), then an
// operator's comma, then opening parentheses (of outer expressions first). An expression is
// visited after the expressions inside it, so of two with one span the later is the outer.
const CLOSING: u8 = 0;
const COMMA: u8 = 1;
const OPENING: u8 = 2;

impl Edits<'_> {
    /// `__palisade.<function>(` before the expression at `span`, `)` after it: at one offset,
    /// the closing parentheses of inner expressions first, then the opening ones of outer
    /// expressions first.
    fn call_around(&mut self, expr: &Ref<Expr>, function: &str) {
        let (start, end) = bounds(expr);
        let length = end.saturating_sub(start) as i64;
        let visited = self.text.len() as i64;
        let opening = format!("__palisade.{function}(");
        self.text
            .replace(start, (OPENING, -length, -visited), 0, opening);
        self.text
            .replace(end, (CLOSING, length, visited), 0, ")".into());
    }

    /// The operator between two operands (`token`, outside comments), made a comma.
    fn comma_for(&mut self, lhs: &Ref<Expr>, token: &str, rhs: &Ref<Expr>) {
        let (from, to) = (bounds(lhs).1, bounds(rhs).0);
        let Some(gap) = self.text.source.get(from..to) else {
            return;
        };
        let mut offset = 0;
        for line in gap.split_inclusive('\n') {
            let code = line.split('#').next().unwrap_or_default();
            let found = match token {
                "in" => code
                    .match_indices("in")
                    .map(|(i, _)| i)
                    .find(|&i| is_word(code, i, 2)),
                _ => code.find(token),
            };
            if let Some(at) = found {
                let at = from + offset + at;
                self.text
                    .replace(at, (COMMA, 0, 0), token.len(), ",".into());
                return;
            }
            offset += line.len();
        }
    }

    fn rule(&mut self, rule: &Ref<Rule>) {
        match rule.as_ref() {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    RuleHead::Compr { refr, assign, .. } => {
                        self.expr(refr);
                        if let Some(assign) = assign {
                            self.expr(&assign.value);
                        }
                    }
                    RuleHead::Set { refr, key, .. } => {
                        self.expr(refr);
                        if let Some(key) = key {
                            self.expr(key);
                        }
                    }
                    RuleHead::Func {
                        refr, args, assign, ..
                    } => {
                        self.expr(refr);
                        args.iter().for_each(|arg| self.expr(arg));
                        if let Some(assign) = assign {
                            self.expr(&assign.value);
                        }
                    }
                }
                for body in bodies {
                    if let Some(assign) = &body.assign {
                        self.expr(&assign.value);
                    }
                    self.query(&body.query);
                }
            }
            Rule::Default {
                refr, args, value, ..
            } => {
                self.expr(refr);
                args.iter().for_each(|arg| self.expr(arg));
                self.expr(value);
            }
        }
    }

    fn query(&mut self, query: &Ref<Query>) {
        for stmt in &query.stmts {
            match &stmt.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if let Some(key) = key {
                        self.expr(key);
                    }
                    self.expr(value);
                    self.expr(collection);
                    self.call_around(collection, "collection");
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => match expr.as_ref() {
                    Expr::Membership { .. } => self.membership(expr, true),
                    _ => self.expr(expr),
                },
                Literal::Every { domain, query, .. } => {
                    self.expr(domain);
                    self.query(query);
                }
            }
            for modifier in &stmt.with_mods {
                self.expr(&modifier.refr);
                self.expr(&modifier.r#as);
            }
        }
    }

    fn expr(&mut self, expr: &Ref<Expr>) {
        match expr.as_ref() {
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|item| self.expr(item));
            }
            Expr::Object { fields, .. } => {
                for (_, key, value) in fields {
                    self.expr(key);
                    self.expr(value);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term);
                self.query(query);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.expr(key);
                self.expr(value);
                self.query(query);
            }
            Expr::Call { fcn, params, .. } => {
                self.expr(fcn);
                params.iter().for_each(|param| self.expr(param));
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::RefDot { refr, .. } => self.expr(refr),
            Expr::RefBrack { refr, index, .. } => {
                self.expr(refr);
                self.expr(index);
            }
            Expr::BoolExpr { lhs, rhs, .. } | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::ArithExpr { op, lhs, rhs, .. } => {
                let (function, token) = match op {
                    ArithOp::Add => ("plus", "+"),
                    ArithOp::Sub => ("minus", "-"),
                    ArithOp::Mul => ("mul", "*"),
                    ArithOp::Div => ("div", "/"),
                    ArithOp::Mod => ("rem", "%"),
                };
                self.arithmetic.push(bounds(expr));
                self.operator(expr, function, lhs, token, rhs);
            }
            Expr::BinExpr { op, lhs, rhs, .. } => {
                let (function, token) = match op {
                    BinOp::Union => ("union", "|"),
                    BinOp::Intersection => ("intersection", "&"),
                };
                self.operator(expr, function, lhs, token, rhs);
            }
            Expr::Membership { .. } => self.membership(expr, false),
            _ => {}
        }
    }

    /// `[key,] value in collection`, a condition of its own or not, becomes
    /// `__palisade.member[_key]([key,] value, collection)`.
    fn membership(&mut self, expr: &Ref<Expr>, condition: bool) {
        let Expr::Membership {
            key,
            value,
            collection,
            ..
        } = expr.as_ref()
        else {
            return;
        };
        if !condition {
            self.memberships_as_values.push(bounds(expr));
        }
        let function = match key {
            Some(key) => {
                self.expr(key);
                "member_key"
            }
            None => "member",
        };
        self.operator(expr, function, value, "in", collection);
    }

    /// `lhs <token> rhs` (the whole `expr`) becomes `__palisade.<function>(lhs, rhs)`.
    fn operator(
        &mut self,
        expr: &Ref<Expr>,
        function: &str,
        lhs: &Ref<Expr>,
        token: &str,
        rhs: &Ref<Expr>,
    ) {
        self.expr(lhs);
        self.expr(rhs);
        self.call_around(expr, function);
        self.comma_for(lhs, token, rhs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(body: &str) -> String {
        let source = format!("package t\nimport rego.v1\n{body}\n");
        let out = rewrite("t.rego", &source, false);
        out.strip_prefix("package t\nimport rego.v1\n")
            .unwrap()
            .trim_end()
            .to_string()
    }

    #[test]
    fn operators_become_calls_with_their_precedence_and_parentheses() {
        assert_eq!(
            rewritten("x := input.a + 2 * input.b"),
            "x := __palisade.plus(input.a , __palisade.mul(2 , input.b))"
        );
        assert_eq!(
            rewritten("x := (input.a + 2) * input.b"),
            "x := __palisade.mul((__palisade.plus(input.a , 2)) , input.b)"
        );
        assert_eq!(
            rewritten("x := input.a - 1 - input.c"),
            "x := __palisade.minus(__palisade.minus(input.a , 1) , input.c)"
        );
        assert_eq!(
            rewritten("x := input.a+1+input.b -1"),
            "x := __palisade.minus(__palisade.plus(__palisade.plus(input.a,1),input.b) ,1)"
        );
        assert_eq!(
            rewritten("s := input.a | input.b & input.c"),
            "s := __palisade.union(input.a , __palisade.intersection(input.b , input.c))"
        );
        assert_eq!(
            rewritten("r if input.i % 2 == 0 # a + b in c"),
            "r if __palisade.rem(input.i , 2) == 0 # a + b in c"
        );
    }

    #[test]
    fn membership_and_iteration_become_calls() {
        assert_eq!(
            rewritten("r := input.x in input.xs"),
            "r := __palisade.member(input.x , input.xs)"
        );
        assert_eq!(
            rewritten("r := 1, input.x in input.xs"),
            "r := __palisade.member_key(1, input.x , input.xs)"
        );
        assert_eq!(
            rewritten("r if { some x in input.xs; x > 1 }"),
            "r if { some x in __palisade.collection(input.xs); x > 1 }"
        );
        assert_eq!(
            rewritten("r := [y | some x in input.xs\n some y in x + 1]"),
            "r := [y | some x in __palisade.collection(input.xs)\n some y in \
             __palisade.collection(__palisade.plus(x , 1))]"
        );
    }

    #[test]
    fn a_membership_used_as_a_value_is_found() {
        let found = |body: &str| {
            let source = format!("package t\nimport rego.v1\n{body}\n");
            membership_as_value("t.rego", &source, false)
        };
        assert_eq!(found("r if input.x in {1}"), None);
        assert_eq!(found("r if { not input.x in {1}; 1, 2 in [0, 2] }"), None);
        assert_eq!(found("r := input.x in {1}"), Some("input.x in {1}".into()));
        assert_eq!(
            found("r if { y := \"a\" in input.xs; y }"),
            Some("\"a\" in input.xs".into())
        );
        assert_eq!(
            found("r if (input.x in {1}) == false"),
            Some("input.x in {1}".into())
        );
    }

    #[test]
    fn a_wrong_type_is_a_deny_on_the_interpreter_not_an_error_a_fail_open_filter_lets_through() {
        use palisade::Policy as _;
        // io.jwt.* runs the policy on the interpreter; `"abc" + 1` is undefined in OPA, so the
        // default applies. Before the rewrite, the interpreter failed the evaluation, and with
        // `failure_mode: allow` the request went through.
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                      headers := input.attributes.request.http.headers\n\
                      allow if headers[\"x-n\"] + 1 > 5\n\
                      allow if { some r in headers[\"x-roles\"]; r == \"admin\" }\n\
                      allow if headers[\"x-set\"] | {1} == {1}\n\
                      claims := io.jwt.decode(headers.authorization)\n";
        let config = palisade::__private::parse_config(
            serde_json::json!({ "policy": policy, "failure_mode": "allow" })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let authz = crate::RegoAuthz::from_config(config).unwrap();
        assert_eq!(authz.engine_name(), "interpreter");
        let host = palisade::__private::FakeHost::with_headers(&[
            (":method", "GET"),
            (":path", "/"),
            ("x-n", "abc"),
            ("x-roles", "admin"),
            ("x-set", "x"),
        ]);
        let request = palisade::Request::from_host(&host).unwrap();
        let decision = authz.decide(&request).unwrap();
        assert!(!decision.is_allowed());
    }

    #[test]
    fn arithmetic_sends_the_policy_to_the_interpreter_which_computes_as_opa() {
        use palisade::Policy as _;
        let found = |body: &str| {
            let source = format!("package t\nimport rego.v1\n{body}\n");
            arithmetic_in("t.rego", &source, false)
        };
        assert_eq!(found("r if input.x in {1}"), None);
        assert_eq!(found("r := count(input.xs) > 1"), None);
        assert_eq!(
            found("r if { x := 2; input.n * x > 1 }"),
            Some("input.n * x".into())
        );
        // In OPA, 0.1 + 0.2 == 0.3 (64-bit mantissas, the shortest decimal); in 64-bit
        // floats, as regorus' engines compute, it is 0.30000000000000004.
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                      allow if to_number(input.attributes.request.http.headers[\"x-a\"]) + 0.2 \
                      == 0.3\n";
        let config = palisade::__private::parse_config(
            serde_json::json!({ "policy": policy })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let authz = crate::RegoAuthz::from_config(config).unwrap();
        assert_eq!(authz.engine_name(), "interpreter");
        let decide = |a: &str| {
            let host = palisade::__private::FakeHost::with_headers(&[
                (":method", "GET"),
                (":path", "/"),
                ("x-a", a),
            ]);
            let request = palisade::Request::from_host(&host).unwrap();
            authz.decide(&request).unwrap().is_allowed()
        };
        assert!(decide("0.1"));
        assert!(!decide("0.2"));
    }

    #[test]
    fn a_policy_that_does_not_parse_is_left_as_it_is() {
        let source = "package t\nx := 1 +\n";
        assert_eq!(rewrite("t.rego", source, false), source);
    }

    #[test]
    fn every_function_a_rewrite_calls_is_an_extension() {
        let names: Vec<&str> = extensions().iter().map(|e| e.name).collect();
        let text = rewritten(
            "r if { some x in input.xs; x + 1 - 2 * 3 / 4 % 5 == 0; input.a | input.b & input.c \
             == set(); x in input.xs; 1, x in input.xs }",
        );
        for call in text.split("__palisade.").skip(1) {
            let name = format!("__palisade.{}", call.split('(').next().unwrap());
            assert!(names.contains(&name.as_str()), "{name} in {text}");
        }
    }
}
