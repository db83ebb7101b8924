//! Constructs regorus' bytecode VM evaluates otherwise than OPA, found when the policy is
//! configured: a policy with one runs on the interpreter, which evaluates them as OPA does (the
//! differential suite against OPA, `sdk/rego/tests/opa`, found each one). The VM
//!
//! - ignores the value of a default function (`default f(_) := 10`);
//! - calls a function whose parameter is `_` or unused with an undefined argument, and answers;
//! - raises no conflict error where a complete rule or function has two values (OPA's
//!   `eval_conflict_error`): two definitions with different values (its answer is undefined;
//!   when that rule is the one the filter evaluates and no rule reads it, as OPA-Envoy's
//!   `allow := {...}` definitions are, it stays on the VM, and the interpreter confirms an
//!   undefined answer: [`decision_may_conflict`]), or one
//!   whose body or value iterates (`x := v if { some v in input.xs }`: one of the values), or two
//!   values for one key of a partial object rule with a computed key;
//! - puts an undefined element into the result of an object comprehension (the string
//!   `"<undefined>"` when written out), where OPA leaves the element out, and raises no conflict
//!   error for a key with two values (array comprehensions are rewritten for the VM:
//!   [`super::comprehensions`], unless their element holds another comprehension);
//! - cannot read a rule head that is a path (`a.b.c := 1`, `users[name].role := r`) as a
//!   document;
//! - writes an undefined rule into a package read as a document (`data.a.b.c`);
//! - answers `x := walk(v)` with every `[path, value]` pair at once, where OPA iterates them.
//!
//! The reading is lexical, on [`code_only`] text, like [`super::recursion`]: a rule starts at
//! the beginning of a line. It errs towards the interpreter, which is slower but right.

use super::builtins::{code_only, is_ident_char};
use super::comprehensions::{array_comprehensions, nests_a_comprehension};
use super::lexical::{closing, comma_separated, is_word_at, text};

/// The first construct of `sources` the VM evaluates otherwise than OPA, named with its text;
/// `rule` is the rule the filter evaluates (`data.envoy.authz.allow`).
pub fn construct(sources: &[&str], rule: &str) -> Option<String> {
    let codes: Vec<String> = sources.iter().map(|s| code_only(s)).collect();
    let packages: Vec<String> = codes.iter().filter_map(|c| package(c)).collect();
    let decision = decision_rule(&codes, rule);
    codes.iter().find_map(|code| {
        let statements = statements(code);
        let decision = decision.filter(|_| package(code).as_deref() == rule_package(rule));
        default_function(&statements)
            .or_else(|| ignored_parameter(&statements))
            .or_else(|| conflicting_values(&statements, decision))
            .or_else(|| computed_key(&statements))
            .or_else(|| ref_head(&statements))
            .or_else(|| comprehension(code))
            .or_else(|| walk(code))
            .or_else(|| package_document(code, &packages))
    })
}

/// A top-level statement: the rule's name, its head (up to `if` or the body's `{`) and the rest.
struct Statement<'a> {
    name: &'a str,
    /// Whether the statement starts with `default`.
    default: bool,
    head: &'a str,
    body: &'a str,
    /// The whole statement, to quote.
    whole: &'a str,
}

fn package(code: &str) -> Option<String> {
    code.lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|p| p.trim().to_string())
}

/// The module's rule statements (a statement starts at a line that starts with a name).
fn statements(code: &str) -> Vec<Statement<'_>> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0usize;
    for line in code.split('\n') {
        if line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            starts.push(offset);
        }
        offset += line.len() + 1;
    }
    starts.push(code.len());
    starts
        .windows(2)
        .filter_map(|pair| {
            let whole = code.get(*pair.first()?..*pair.get(1)?)?.trim_end();
            let (default, rest) = match whole.strip_prefix("default ") {
                Some(rest) => (true, rest.trim_start()),
                None => (false, whole),
            };
            let name_len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
            let name = rest.get(..name_len)?;
            if ["package", "import"].contains(&name) {
                return None;
            }
            let head_len = head_length(rest);
            Some(Statement {
                name,
                default,
                head: rest.get(..head_len)?,
                body: rest.get(head_len..)?,
                whole,
            })
        })
        .collect()
}

/// Where a rule's head ends: at `if`, or at the `{` of its body, outside brackets.
fn head_length(rule: &str) -> usize {
    let mut depth = 0usize;
    for (at, c) in rule.char_indices() {
        match c {
            '{' if depth == 0
                && !rule
                    .get(..at)
                    .unwrap_or_default()
                    .trim_end()
                    .ends_with(['=', ':', ',', '(', '[', '{']) =>
            {
                return at;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            'i' if depth == 0 && is_word_at(rule, at, "if") => return at,
            _ => {}
        }
    }
    rule.len()
}

/// The first line of a statement, to quote it.
fn quoted(statement: &Statement<'_>) -> String {
    statement
        .whole
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The parameters of a function's head, if the head is a function's.
fn parameters<'a>(statement: &Statement<'a>) -> Option<Vec<&'a str>> {
    let open = statement.name.len();
    if statement.head.get(open..open + 1) != Some("(") {
        return None;
    }
    let close = closing(statement.head, open)?;
    Some(
        comma_separated(statement.head, open + 1..close)
            .into_iter()
            .map(|range| text(statement.head, range))
            .collect(),
    )
}

fn default_function(statements: &[Statement<'_>]) -> Option<String> {
    let found = statements
        .iter()
        .find(|s| s.default && parameters(s).is_some())?;
    Some(format!("defines a default function (`{}`)", quoted(found)))
}

fn ignored_parameter(statements: &[Statement<'_>]) -> Option<String> {
    let found = statements.iter().find(|s| {
        !s.default
            && parameters(s).is_some_and(|params| {
                params.iter().any(|param| {
                    let name = param.chars().all(is_ident_char)
                        && !param.starts_with(|c: char| c.is_ascii_digit())
                        && !is_literal(param);
                    name && (*param == "_" || !mentions(s, param))
                })
            })
    })?;
    Some(format!(
        "has a function that ignores a parameter (`{}`)",
        quoted(found)
    ))
}

/// Whether `word` occurs in the statement beyond its parameters.
fn mentions(statement: &Statement<'_>, word: &str) -> bool {
    let after_params = statement
        .head
        .find(')')
        .and_then(|close| statement.whole.get(close + 1..))
        .unwrap_or_default();
    after_params
        .match_indices(word)
        .any(|(at, _)| is_word_at(after_params, at, word))
}

/// The value of a complete rule's or function's head (`v` of `x := v`), if it has one.
fn value<'a>(statement: &Statement<'a>) -> Option<&'a str> {
    let head = statement.head;
    let mut depth = 0usize;
    for (at, c) in head.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && head.get(at + 1..at + 2) == Some("=") => {
                return head.get(at + 2..).map(str::trim);
            }
            '=' if depth == 0
                && head.get(at + 1..at + 2) != Some("=")
                && !head
                    .get(..at)
                    .unwrap_or_default()
                    .ends_with(['=', '!', '<', '>', ':']) =>
            {
                return head.get(at + 1..).map(str::trim);
            }
            _ => {}
        }
    }
    None
}

/// Whether the rule is a partial one (`contains`, or a key in brackets after its name).
fn is_partial(statement: &Statement<'_>) -> bool {
    let after_name = statement
        .head
        .get(statement.name.len()..)
        .unwrap_or_default();
    after_name.trim_start().starts_with("contains") || after_name.starts_with('[')
}

/// Whether evaluating `text` may go through several values: `some`, or a reference with `_` or
/// a name in brackets.
fn iterates(text: &str) -> bool {
    if text
        .match_indices("some")
        .any(|(at, _)| is_word_at(text, at, "some"))
    {
        return true;
    }
    // One pass: each `[` that follows a reference, and whether what it holds is a bare name.
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut previous = ' ';
    for (at, c) in text.char_indices() {
        match c {
            '[' | '{' | '(' => {
                let after_ref =
                    c == '[' && (is_ident_char(previous) || matches!(previous, ']' | ')' | '}'));
                open.push((at, after_ref));
            }
            ']' | '}' | ')' => {
                if let Some((start, true)) = open.pop() {
                    let inside = text.get(start + 1..at).unwrap_or_default().trim();
                    let name = !inside.is_empty()
                        && inside.chars().all(is_ident_char)
                        && !inside.starts_with(|c: char| c.is_ascii_digit());
                    if name {
                        return true;
                    }
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            previous = c;
        }
    }
    false
}

/// `text` with what comprehensions hold blanked: iterating inside one gives one value.
fn without_comprehensions(text: &str) -> String {
    let mut out = text.to_string();
    // (where the bracket opens, whether a `|` is directly inside it)
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut inside: Vec<(usize, usize)> = Vec::new();
    for (at, c) in text.char_indices() {
        match c {
            '[' | '{' | '(' => open.push((at, false)),
            '|' => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
            }
            ']' | '}' | ')' => {
                if let Some((start, true)) = open.pop() {
                    inside.push((start + 1, at));
                }
            }
            _ => {}
        }
    }
    for (start, end) in inside {
        if out.is_char_boundary(start) && out.is_char_boundary(end) {
            out.replace_range(start..end, &" ".repeat(end - start));
        }
    }
    out
}

/// A literal value: a string, number, `true`, `false` or `null`.
fn is_literal(value: &str) -> bool {
    matches!(value, "true" | "false" | "null")
        || value.parse::<f64>().is_ok()
        || (value.len() >= 2 && value.starts_with('"') && value.ends_with('"'))
}

/// The package of a rule path (`envoy.authz` of `data.envoy.authz.allow`).
fn rule_package(rule: &str) -> Option<&str> {
    rule.strip_prefix("data.")?
        .rsplit_once('.')
        .map(|(package, _)| package)
}

/// The name of the rule the filter evaluates, when no rule reads it: the only place where
/// the VM's answer to two values (undefined) fails the request as OPA's conflict error does. A
/// mention anywhere but at the start of a definition (`name := ...`, `default name := ...`),
/// written out or as a field (`data.t.allow`), counts as a read.
fn decision_rule<'a>(codes: &[String], rule: &'a str) -> Option<&'a str> {
    let name = rule.rsplit('.').next()?;
    let read = codes.iter().any(|code| {
        code.match_indices(name).any(|(at, _)| {
            let before = code.get(..at).unwrap_or_default();
            let after = code.get(at + name.len()..).and_then(|s| s.chars().next());
            let whole_word = !before.chars().next_back().is_some_and(is_ident_char)
                && !after.is_some_and(is_ident_char);
            let defines = before.is_empty()
                || before.ends_with('\n')
                || before == "default "
                || before.ends_with("\ndefault ");
            whole_word && !defines
        })
    });
    (!read).then_some(name)
}

/// The complete rules and functions of `statements` with a value, by name.
fn complete_definitions<'s, 'a>(
    statements: &'s [Statement<'a>],
) -> std::collections::BTreeMap<&'a str, Vec<&'s Statement<'a>>> {
    let mut by_name: std::collections::BTreeMap<&str, Vec<&Statement<'_>>> = Default::default();
    for statement in statements {
        if !statement.default && !is_partial(statement) && complete_value(statement).is_some() {
            by_name.entry(statement.name).or_default().push(statement);
        }
    }
    by_name
}

/// The value of a complete rule's head: what follows `:=` or `=`, or `true` for a head that is
/// the name alone (`allow if { ... }`, `p if { false } else := 1`).
fn complete_value<'a>(statement: &Statement<'a>) -> Option<&'a str> {
    let after_name = statement.head.get(statement.name.len()..)?.trim();
    match after_name {
        "" | "if" => Some("true"),
        _ => value(statement),
    }
}

/// Whether the definitions of one rule may give it two values.
fn may_differ(definitions: &[&Statement<'_>]) -> bool {
    let first_value = definitions.first().and_then(|d| complete_value(d));
    // Strings are blanked in code_only text: two string values may differ.
    let same_constant = |v: &str| is_literal(v) && !v.starts_with('"');
    let one_literal = definitions.iter().all(|d| {
        complete_value(d) == first_value
            && first_value.is_some_and(same_constant)
            && !d.body.contains("else")
    });
    definitions.len() > 1 && !one_literal
}

/// Whether `rule`, the rule the filter evaluates, has definitions that may give it two values,
/// and no other rule reads it: it stays on the VM, which answers such a conflict with
/// undefined, and the interpreter confirms an undefined answer ([`super::eval::Evaluator`]).
pub fn decision_may_conflict(sources: &[&str], rule: &str) -> bool {
    let codes: Vec<String> = sources.iter().map(|s| code_only(s)).collect();
    let Some(decision) = decision_rule(&codes, rule) else {
        return false;
    };
    codes
        .iter()
        .filter(|code| package(code).as_deref() == rule_package(rule))
        .any(|code| {
            let statements = statements(code);
            complete_definitions(&statements)
                .get(decision)
                .is_some_and(|definitions| {
                    definitions.iter().all(|d| parameters(d).is_none()) && may_differ(definitions)
                })
        })
}

fn conflicting_values(statements: &[Statement<'_>], decision: Option<&str>) -> Option<String> {
    let found = complete_definitions(statements)
        .into_iter()
        .find_map(|(name, definitions)| {
            let is_decision =
                Some(name) == decision && definitions.iter().all(|d| parameters(d).is_none());
            // The VM answers two values of the rule the filter evaluates with undefined, which
            // the interpreter then confirms (`decision_may_conflict`).
            if may_differ(&definitions) && !is_decision {
                return definitions.get(1).copied();
            }
            definitions.iter().copied().find(|d| {
                let value = complete_value(d).unwrap_or_default();
                !is_literal(value)
                    && (iterates(&without_comprehensions(d.body))
                        || iterates(&without_comprehensions(value)))
            })
        })?;
    Some(format!(
        "has a complete rule or function that may have two values (`{}`)",
        quoted(found)
    ))
}

fn computed_key(statements: &[Statement<'_>]) -> Option<String> {
    let found = statements.iter().find(|s| {
        let after_name = s.head.get(s.name.len()..).unwrap_or_default();
        let Some(close) = after_name
            .starts_with('[')
            .then(|| closing(after_name, 0))
            .flatten()
        else {
            return false;
        };
        let key = after_name.get(1..close).unwrap_or_default().trim();
        let literal = (key.starts_with('"') && key.ends_with('"')) || key.parse::<f64>().is_ok();
        !literal && value(s).is_some()
    })?;
    Some(format!(
        "has a partial object rule with a computed key (`{}`)",
        quoted(found)
    ))
}

fn ref_head(statements: &[Statement<'_>]) -> Option<String> {
    let found = statements.iter().find(|s| {
        let mut rest = s.head.get(s.name.len()..).unwrap_or_default();
        loop {
            if rest.starts_with('.') {
                return true;
            }
            match rest.starts_with('[').then(|| closing(rest, 0)).flatten() {
                Some(close) => rest = rest.get(close + 1..).unwrap_or_default(),
                None => return false,
            }
        }
    })?;
    Some(format!(
        "has a rule head that is a path (`{}`)",
        quoted(found)
    ))
}

/// A call of the `walk` builtin.
fn walk(code: &str) -> Option<String> {
    let at = code.match_indices("walk").map(|(at, _)| at).find(|&at| {
        is_word_at(code, at, "walk")
            && code
                .get(at + 4..)
                .is_some_and(|rest| rest.trim_start().starts_with('('))
    })?;
    let call: String = code
        .get(at..)?
        .chars()
        .take_while(|c| *c != '\n')
        .take(40)
        .collect();
    Some(format!("calls walk (`{}`)", call.trim_end()))
}

fn comprehension(code: &str) -> Option<String> {
    let quote = |at: usize| -> Option<String> {
        let quote: String = code.get(at..)?.chars().take(40).collect();
        Some(format!("{}...", quote.trim_end()))
    };
    // Array comprehensions are rewritten for the VM (comprehensions.rs), but for one whose
    // element holds another comprehension.
    for (open, bar, _) in array_comprehensions(code) {
        if nests_a_comprehension(code, open + 1..bar) {
            return Some(format!(
                "has an array comprehension whose element is a comprehension (`{}`)",
                quote(open)?
            ));
        }
    }
    // One pass: for each open brace, whether a `:` (an object's) came before a `|` directly
    // inside it, with no line break before.
    let mut open: Vec<(usize, bool, bool)> = Vec::new();
    for (at, c) in code.char_indices() {
        match c {
            '{' | '[' | '(' => open.push((at, false, c != '{')),
            '}' | ']' | ')' => {
                open.pop();
            }
            ':' if code.get(at + 1..at + 2) != Some("=") => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
            }
            '\n' | ';' => {
                if let Some(top) = open.last_mut() {
                    top.2 = true;
                }
            }
            '|' => {
                if let Some(&(start, true, false)) = open.last() {
                    return Some(format!("has an object comprehension (`{}`)", quote(start)?));
                }
            }
            _ => {}
        }
    }
    None
}

fn package_document(code: &str, packages: &[String]) -> Option<String> {
    code.match_indices("data.").find_map(|(at, _)| {
        if !is_word_at(code, at, "data") {
            return None;
        }
        let path: String = code
            .get(at + "data.".len()..)?
            .chars()
            .take_while(|c| is_ident_char(*c) || *c == '.')
            .collect();
        let path = path.trim_end_matches('.');
        let whole = packages.iter().any(|package| {
            package == path
                || package
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        whole.then(|| format!("reads a package as a document (`data.{path}`)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(rules: &str) -> Option<String> {
        construct(
            &[&format!("package t\nimport rego.v1\n{rules}\n")],
            "data.t.allow",
        )
    }

    #[test]
    fn what_the_vm_evaluates_otherwise_is_found() {
        let cases = [
            ("default f(_) := 10", "default function"),
            ("f(_) := 1", "ignores a parameter"),
            ("f(x, y) := x", "ignores a parameter"),
            ("x := 1 if input.a\nx := 2 if input.b", "two values"),
            (
                "f(x) := \"a\" if x < 1\nf(x) := \"b\" if x > 0",
                "two values",
            ),
            ("x := v if { some v in input.xs }", "two values"),
            ("x := input.xs[_]", "two values"),
            ("x := v if { v := input.xs[i] }", "two values"),
            ("p[k] := v if { some k, v in input.o }", "computed key"),
            ("a.b.c := 1", "path"),
            (
                "users[name].role := r if { some name, r in data.roles }",
                "computed key",
            ),
            (
                "m := [[u | some u in x] | some x in input.xs]",
                "element is a comprehension",
            ),
            (
                "by := {u.id: u | some u in input.users}",
                "object comprehension",
            ),
            (
                "paths contains p if { walk(input, [p, _]) }",
                "calls walk (`walk(input, [p, _]) }`)",
            ),
            ("s := data.t", "package as a document"),
        ];
        for (rules, construct) in cases {
            let found = found(rules).unwrap_or_default();
            assert!(found.contains(construct), "{rules}: {found}");
        }
    }

    #[test]
    fn two_values_of_the_rule_the_filter_evaluates_stay_on_the_vm_unless_read() {
        let two =
            "allow := {\"allowed\": true} if input.a\nallow := {\"allowed\": false} if input.b";
        assert_eq!(found(two), None);
        for read in [
            format!("{two}\nallowed := allow.allowed"),
            format!("{two}\nx := data.t.allow"),
            format!("{two}\nlevel := 1 if input.a\nlevel := 2 if input.b"),
            "allow := v if { some v in input.xs }".to_string(),
        ] {
            assert!(
                found(&read).is_some_and(|f| f.contains("two values")),
                "{read}"
            );
        }
    }

    /// `policy` (package `envoy.authz`) configured as the filter does, the decision for a request
    /// with `headers`, and whether the configuration logged `needle`.
    fn decide(policy: &str, headers: &[(&str, &str)], needle: &str) -> (&'static str, bool, bool) {
        use palisade::Policy as _;
        let mut all = vec![(":method", "GET"), (":path", "/")];
        all.extend_from_slice(headers);
        let host = palisade::__private::FakeHost::with_headers(&all);
        // Reading the headers installs the test logger for this thread.
        let request = palisade::Request::from_host(&host).unwrap();
        let config = palisade::__private::parse_config(
            serde_json::json!({ "policy": policy })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let authz = crate::RegoAuthz::from_config(config).unwrap();
        let allowed = authz
            .decide(&request)
            .map(|d| d.is_allowed())
            .unwrap_or(false);
        (authz.engine_name(), allowed, host.logged(needle))
    }

    #[test]
    fn such_a_policy_runs_on_the_interpreter_which_answers_as_opa_and_says_why() {
        let user = "input.attributes.request.http.headers[\"x-user\"]";
        // (rules, the construct the log names, headers, OPA's decision)
        let cases = [
            (
                format!("default limit(_) := 10\nallow if limit({user}) > 5"),
                "defines a default function",
                vec![("x-user", "bob")],
                true,
            ),
            (
                format!(
                    "role := r if {{ some r in split({user}, \",\") }}\nallow if role == \"a\""
                ),
                "has a complete rule or function that may have two values",
                vec![("x-user", "a,b")],
                false,
            ),
            (
                format!(
                    "by := {{u: n | some u in split({user}, \",\"); n := to_number(u)}}\n\
                     allow if count(by) == 1"
                ),
                "has an object comprehension",
                vec![("x-user", "1,x")],
                true,
            ),
            (
                format!("always(_) := true\nallow if always({user})"),
                "has a function that ignores a parameter",
                vec![],
                false,
            ),
            (
                "cfg.mode := \"on\"\nallow if cfg == {\"mode\": \"on\"}".to_string(),
                "has a rule head that is a path",
                vec![],
                true,
            ),
        ];
        for (rules, construct, headers, allowed) in cases {
            let policy =
                format!("package envoy.authz\nimport rego.v1\ndefault allow := false\n{rules}\n");
            let needle =
                format!("data.envoy.authz.allow runs on the interpreter: the policy {construct}");
            let answer = decide(&policy, &headers, &needle);
            assert_eq!(answer, ("interpreter", allowed, true), "{rules}");
        }
    }

    #[test]
    fn a_policy_without_one_stays_on_the_vm() {
        let plain = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                     allow if lower(input.attributes.request.http.method) == \"get\"\n";
        assert_eq!(
            decide(plain, &[], "runs on the interpreter"),
            ("bytecode VM", true, false)
        );
        // Decision objects, OPA-Envoy style: they stay on the VM. Two values of the rule the
        // filter evaluates fail the request, as in OPA: the VM answers undefined, and the
        // interpreter, evaluating again, OPA's conflict error.
        let objects = "package envoy.authz\nimport rego.v1\n\
                       default allow := {\"allowed\": false}\n\
                       allow := {\"allowed\": true} if input.attributes.request.http.method == \"GET\"\n\
                       allow := {\"allowed\": true, \"http_status\": 200} if \
                       input.attributes.request.http.headers[\"x-a\"]\n";
        let confirmed = "bytecode VM, its undefined answers confirmed by the interpreter";
        assert_eq!(
            decide(objects, &[], "runs on the interpreter"),
            (confirmed, true, false)
        );
        assert_eq!(
            decide(objects, &[("x-a", "1")], "runs on the interpreter"),
            (confirmed, false, false)
        );
        // The request fails as OPA's does: an evaluation error (the conflict), not undefined.
        use palisade::Policy as _;
        let host = palisade::__private::FakeHost::with_headers(&[
            (":method", "GET"),
            (":path", "/"),
            ("x-a", "1"),
        ]);
        let request = palisade::Request::from_host(&host).unwrap();
        let config = palisade::__private::parse_config(
            serde_json::json!({ "policy": objects })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let authz = crate::RegoAuthz::from_config(config).unwrap();
        let error = authz.decide(&request).unwrap_err();
        assert_eq!(error.reason, Some("evaluation"), "{error:?}");
        assert!(error.message.contains("conflict"), "{error:?}");
    }

    #[test]
    fn what_the_vm_evaluates_as_opa_does_is_not() {
        for rules in [
            "default allow := false\nallow if input.a\nallow if input.b",
            "allow := true if input.a\nallow := true if input.b",
            "level := \"a\" if input.a",
            "f(x) := x * 2\ng(x) if f(x) > 1",
            "names contains n if some n in input.names",
            "headers[\"x-user\"] := input.user",
            "s := {x | some x in input.xs}",
            "names := [u.name | some u in input.users]",
            "u := {1} | {2}",
            "x := input.headers[\"x-user\"]\ny := data.t.x",
            "allow if {\n  x := input.a | input.b\n  count(x) > 0\n}",
            "# f(_) := 1 and [x | x]\ny := \"[x | y]\"",
        ] {
            assert_eq!(found(rules), None, "{rules}");
        }
    }
}
