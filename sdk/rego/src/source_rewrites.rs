//! Rego rewritten before compiling, so that regorus reads it as OPA does. First, forms OPA
//! accepts and regorus refuses, rewritten into what they mean:
//!
//! - **Output arguments of Palisade's extensions.** In OPA, a call with one argument more than
//!   the function takes binds its result to that argument: `io.jwt.decode(token, [h, p, s])`
//!   means `[h, p, s] = io.jwt.decode(token)`. regorus knows the form for its own builtins
//!   only; for an extension it reports the output as an unsafe variable.
//! - **`with f as <builtin>`.** OPA replaces `f` by another builtin (`with count as max`);
//!   regorus reads the builtin's name as a variable. The rewrite names a function of the
//!   module's own that calls the builtin (`__palisade_with_max(a1) := max(a1)`, appended).
//! - **`with <rule> as`.** OPA replaces a rule of the module named without its package
//!   (`over with limit as 2`); regorus' interpreter reports an undefined rule. The rewrite
//!   names it by its path (`with data.t.limit as 2`).
//! - **`import future.keywords...`** in a Rego v1 module, or beside `import rego.v1` or an
//!   import of all of `future.keywords`: no-ops in OPA, "shadows previous import" in regorus.
//!   They are dropped.
//! - **A function with no body**, `can("alice", "write")`: in OPA its value is true; regorus
//!   requires a body or a value. It gets `:= true`.
//!
//! Then forms both accept but evaluate differently ([`super::comprehensions`]: an undefined
//! element of an array comprehension is left out; [`super::negation`]: what a `not` evaluates
//! first; [`super::assignments`]: an assignment of an undefined value fails).
//!
//! Comments and string literals are never touched (the search runs on
//! [`code_only`](super::builtins::code_only) text), and a rewrite stays on its line, so error
//! positions keep their line.

use super::builtins::{code_only, is_ident_char};
use super::lexical::apply;

/// `source` with every rewrite applied; `extensions` are Palisade's (name, arity), `v0` says
/// the module is Rego v0.
/// `on_interpreter` says the module is for regorus' interpreter, which negates as OPA does
/// without the `not` keyword ([`super::negation`]).
pub(crate) fn rewrite(
    source: &str,
    extensions: &[(&str, u8)],
    v0: bool,
    on_interpreter: bool,
) -> String {
    // Read before the future imports go.
    let not_keyword = super::negation::imports_not_keyword(source);
    let source = output_arguments(source, extensions);
    let source = with_builtins(&source, extensions);
    let source = with_rules(&source);
    let source = future_imports(&source, v0);
    let source = bodiless_functions(&source);
    let source = walk_relations(&source);
    let source = super::comprehensions::rewrite(&source);
    let source = match (not_keyword, on_interpreter) {
        (false, _) => super::negation::rewrite(&source),
        (true, true) => super::negation::hold_whole(&source),
        (true, false) => source,
    };
    super::assignments::rewrite(&source)
}

/// Every output-argument call to one of `functions` (name, arity) rewritten as
/// `output = name(arguments)`.
fn output_arguments(source: &str, functions: &[(&str, u8)]) -> String {
    let code = code_only(source);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (name, arity) in functions {
        for (start, _) in code.match_indices(name) {
            let before = code.get(..start).and_then(|s| s.chars().next_back());
            if before.is_some_and(|c| is_ident_char(c) || c == '.') {
                continue;
            }
            let Some(open) = open_paren_after(&code, start + name.len()) else {
                continue;
            };
            let Some((arguments, close)) = arguments(&code, open) else {
                continue;
            };
            if arguments.len() != usize::from(*arity) + 1 {
                continue;
            }
            let text = |(from, to): (usize, usize)| source.get(from..to).unwrap_or_default().trim();
            let Some((&output, inputs)) = arguments.split_last() else {
                continue;
            };
            let inputs: Vec<&str> = inputs.iter().map(|range| text(*range)).collect();
            let mut replacement = format!("{} = {name}({})", text(output), inputs.join(", "));
            // A call over several lines keeps its lines, so later error positions do too.
            let lines = |text: &str| text.matches('\n').count();
            let dropped = lines(source.get(start..close + 1).unwrap_or_default())
                .saturating_sub(lines(&replacement));
            replacement.push_str(&"\n".repeat(dropped));
            edits.push((start, close + 1, replacement));
        }
    }
    apply(source, edits)
}

/// Every `pattern := walk(x)` (or `=`) that starts an expression rewritten in the
/// output-argument form `walk(x, pattern)`. In OPA `walk` is a relation: `[path, value] :=
/// walk(input)` binds each pair in turn. regorus' interpreter iterates the pairs only in the
/// output-argument form; given `:=` it binds all of them at once, so the usual form never
/// matched (a policy reading `walk` runs on the interpreter).
fn walk_relations(source: &str) -> String {
    let code = code_only(source);
    let mut edits = Vec::new();
    for (at, _) in code.match_indices("walk") {
        if !super::lexical::is_word_at(&code, at, "walk") {
            continue;
        }
        let Some(open) = open_paren_after(&code, at + "walk".len()) else {
            continue;
        };
        let Some((arguments, close)) = arguments(&code, open) else {
            continue;
        };
        let [argument] = arguments.as_slice() else {
            continue;
        };
        let Some(pattern) = assigned_pattern(&code, at) else {
            continue;
        };
        let text = |(from, to): (usize, usize)| source.get(from..to).unwrap_or_default().trim();
        let assigned = text((pattern, at));
        let target = assigned.trim_end_matches([' ', '\t', ':', '=']);
        let walked = text(*argument);
        // The interpreter iterates only into an array pattern: a name gets the pair after.
        let replacement = match target.starts_with('[') {
            true => format!("walk({walked}, {target})"),
            false => {
                let pair = format!("[{WALK_PREFIX}path_{pattern}, {WALK_PREFIX}value_{pattern}]");
                let operator = assigned.get(target.len()..).unwrap_or_default().trim();
                format!("walk({walked}, {pair}); {target} {operator} {pair}")
            }
        };
        edits.push((pattern, close + 1, replacement));
    }
    apply(source, edits)
}

/// The prefix of the variables [`walk_relations`] adds.
const WALK_PREFIX: &str = "__palisade_walk_";

/// Where the pattern of `pattern := ` (or `=`) before `at` starts, when it is a name or an
/// array pattern and starts an expression.
fn assigned_pattern(code: &str, at: usize) -> Option<usize> {
    let before = code.get(..at)?.trim_end_matches([' ', '\t']);
    let before = match before.strip_suffix(":=") {
        Some(before) => before,
        None => before
            .strip_suffix('=')
            .filter(|b| !b.ends_with(['=', '!', '<', '>', ':']))?,
    };
    let before = before.trim_end_matches([' ', '\t']);
    let start = match before.strip_suffix(']') {
        Some(_) => {
            let mut depth = 0usize;
            let mut start = None;
            for (i, c) in before.char_indices().rev() {
                match c {
                    ']' => depth += 1,
                    '[' => {
                        depth -= 1;
                        if depth == 0 {
                            start = Some(i);
                            break;
                        }
                    }
                    '\n' => return None,
                    _ => {}
                }
            }
            start?
        }
        None => {
            let name = before.trim_end_matches(|c: char| is_ident_char(c));
            (name.len() < before.len()).then_some(name.len())?
        }
    };
    // Inside a body or a comprehension, not a rule's head (`r := walk(input)`: its value).
    let depth = code.get(..start)?.chars().fold(0i32, |depth, c| match c {
        '{' | '[' | '(' => depth + 1,
        '}' | ']' | ')' => depth - 1,
        _ => depth,
    });
    (depth > 0 && super::lexical::starts_statement(code, start)).then_some(start)
}

/// The prefix of the functions [`with_builtins`] adds.
const WITH_PREFIX: &str = "__palisade_with_";

/// Every `with <target> as <builtin>` pointed at a function of the module's own that calls the
/// builtin (regorus' or an extension), defined at the end of the module.
fn with_builtins(source: &str, extensions: &[(&str, u8)]) -> String {
    let code = code_only(source);
    let defined = super::builtins::defined_functions(source);
    let arity = |name: &str| {
        regorus::unstable::BUILTINS
            .get(name)
            .map(|(_, arity)| *arity)
            .or_else(|| extensions.iter().find(|(n, _)| *n == name).map(|(_, a)| *a))
    };
    // Adjacent words: only blanks between them.
    let adjacent = |a: &(usize, &str), b: &(usize, &str)| {
        code.get(a.0 + a.1.len()..b.0)
            .is_some_and(|gap| gap.chars().all(char::is_whitespace))
    };
    let mut edits = Vec::new();
    let mut wrappers: Vec<(String, &str, u8)> = Vec::new();
    for window in words(&code).windows(4) {
        let [with, target, as_, value] = window else {
            continue;
        };
        if with.1 != "with"
            || as_.1 != "as"
            || !(adjacent(with, target) && adjacent(target, as_) && adjacent(as_, value))
        {
            continue;
        }
        // `with input...`/`with data...` replace a document by a value, not a function.
        let replaces_a_function = !["input", "data"]
            .iter()
            .any(|root| target.1 == *root || target.1.starts_with(&format!("{root}.")));
        let Some(arity) =
            arity(value.1).filter(|_| replaces_a_function && !defined.iter().any(|d| d == value.1))
        else {
            continue;
        };
        let wrapper = format!("{WITH_PREFIX}{}", value.1.replace('.', "_"));
        edits.push((value.0, value.0 + value.1.len(), wrapper.clone()));
        if !wrappers.iter().any(|(w, _, _)| *w == wrapper) {
            wrappers.push((wrapper, value.1, arity));
        }
    }
    let mut out = apply(source, edits);
    for (wrapper, builtin, arity) in wrappers {
        let params: Vec<String> = (1..=arity).map(|i| format!("a{i}")).collect();
        let params = params.join(", ");
        out.push_str(&format!("\n{wrapper}({params}) := {builtin}({params})\n"));
    }
    out
}

/// The dotted words of `code` (`with`, `count`, `io.jwt.decode`) and where each starts.
fn words(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in code
        .char_indices()
        .chain(std::iter::once((code.len(), ' ')))
    {
        match (start, is_ident_char(c) || c == '.') {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                out.push((from, code.get(from..at).unwrap_or_default()));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Every `with <rule> as`, where the rule is one of the module's own (not a function), with the
/// rule named by its path.
fn with_rules(source: &str) -> String {
    let code = code_only(source);
    let Some(package) = package_of(&code) else {
        return source.to_string();
    };
    let rules = rule_names(&code);
    let mut edits = Vec::new();
    for window in words(&code).windows(3) {
        let [with, target, as_] = window else {
            continue;
        };
        if with.1 == "with" && as_.1 == "as" && rules.iter().any(|rule| rule == target.1) {
            let path = format!("data.{package}.{}", target.1);
            edits.push((target.0, target.0 + target.1.len(), path));
        }
    }
    apply(source, edits)
}

/// The module's package, `a.b` of `package a.b`.
fn package_of(code: &str) -> Option<String> {
    code.lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|package| package.trim().to_string())
}

/// The names of the module's rules that are not functions (`x` of `x := 1`, `default x := 1`,
/// `x contains y if ...`, `x[k] := v`).
fn rule_names(code: &str) -> Vec<String> {
    code.lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter_map(|line| {
            let line = line.strip_prefix("default ").map_or(line, str::trim_start);
            let name: String = line.chars().take_while(|c| is_ident_char(*c)).collect();
            let after = line.get(name.len()..).unwrap_or_default().trim_start();
            let keyword = ["package", "import", "default"].contains(&name.as_str());
            (!keyword && !after.starts_with('(')).then_some(name)
        })
        .collect()
}

/// `source` without the `import future.keywords...` lines regorus refuses: all of them in a v1
/// module or beside `import rego.v1`, the single keywords beside `import future.keywords`, and
/// repeats.
fn future_imports(source: &str, v0: bool) -> String {
    let code = code_only(source);
    // (where the import starts, where its line's code ends, what it imports)
    let mut imports: Vec<(usize, usize, &str)> = Vec::new();
    let mut offset = 0usize;
    for line in code.split('\n') {
        let start = offset + line.len() - line.trim_start().len();
        if let Some(path) = line.trim().strip_prefix("import ") {
            imports.push((start, offset + line.trim_end().len(), path.trim()));
        }
        offset += line.len() + 1;
    }
    let keep_any = v0 && !imports.iter().any(|(_, _, path)| *path == "rego.v1");
    let all = imports
        .iter()
        .any(|(_, _, path)| *path == "future.keywords");
    let mut kept: Vec<&str> = Vec::new();
    let mut edits = Vec::new();
    for (start, end, path) in imports {
        if !path.starts_with("future.keywords") {
            continue;
        }
        match keep_any && !kept.contains(&path) && (path == "future.keywords" || !all) {
            true => kept.push(path),
            false => edits.push((start, end, String::new())),
        }
    }
    apply(source, edits)
}

/// Every top-level `name(arguments)` line with nothing after it given the value true.
fn bodiless_functions(source: &str) -> String {
    let code = code_only(source);
    let mut edits = Vec::new();
    let mut offset = 0usize;
    let lines: Vec<&str> = code.split('\n').collect();
    for (index, line) in lines.iter().enumerate() {
        let at = offset;
        offset += line.len() + 1;
        let trimmed = line.trim_end();
        let name_len = trimmed
            .find(|c: char| !(is_ident_char(c) || c == '.'))
            .unwrap_or(trimmed.len());
        let starts_a_rule = trimmed.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        let Some(open) = open_paren_after(&code, at + name_len) else {
            continue;
        };
        let closes_the_line = super::lexical::closing(&code, open) == Some(at + trimmed.len() - 1);
        let body_follows = lines
            .get(index + 1..)
            .unwrap_or_default()
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .is_some_and(|next| next.starts_with('{') || next.starts_with("if"));
        if starts_a_rule && name_len > 0 && closes_the_line && !body_follows {
            let end = at + trimmed.len();
            edits.push((end, end, " := true".to_string()));
        }
    }
    apply(source, edits)
}

/// The offset of the `(` that follows `at` after blanks on the same line, if one does.
fn open_paren_after(code: &str, at: usize) -> Option<usize> {
    let rest = code.get(at..)?;
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest.get(skipped..)?
        .starts_with('(')
        .then_some(at + skipped)
}

/// The byte ranges of the top-level arguments of the call whose `(` is at `open`, and the
/// offset of its `)`; `None` when the parentheses do not close or the call has no argument.
fn arguments(code: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let mut ranges = Vec::new();
    let mut depth = 0usize;
    let mut from = open + 1;
    for (offset, c) in code.get(open..)?.char_indices() {
        let at = open + offset;
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let last_blank = code.get(from..at)?.trim().is_empty();
                    match (ranges.is_empty(), last_blank) {
                        // `f()`
                        (true, true) => return None,
                        // `f(a, b,)`: a trailing comma
                        (false, true) => {}
                        _ => ranges.push((from, at)),
                    }
                    return Some((ranges, at));
                }
            }
            ',' if depth == 1 => {
                ranges.push((from, at));
                from = at + 1;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &[(&str, u8)] = &[("io.jwt.decode", 1), ("io.jwt.verify_hs256", 2)];

    #[test]
    fn walk_assigned_to_a_pattern_becomes_its_relation_form() {
        let policy = "p := {v | [path, v] := walk(input); is_string(v)}\n\
                      q if {\n  pair = walk(data.x)\n  pair[1] == 1\n}\n\
                      r := walk(input)\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "p := {v | walk(input, [path, v]); is_string(v)}\n\
             q if {\n  walk(data.x, [__palisade_walk_path_59, __palisade_walk_value_59]); \
             pair = [__palisade_walk_path_59, __palisade_walk_value_59]\n  pair[1] == 1\n}\n\
             r := walk(input)\n"
        );
        // A comparison is left alone.
        let left = "a if { [p, v] == walk(input) }\n";
        assert_eq!(rewrite(left, JWT, false, false), left);
    }

    #[test]
    fn an_output_argument_call_over_several_lines_with_a_trailing_comma() {
        let policy =
            "p := x if {\n\tio.jwt.verify_hs256(\n\t\tinput.t,\n\t\t\"k\",\n\t\tx,\n\t)\n}\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "p := x if {\n\tx = io.jwt.verify_hs256(input.t, \"k\")\n\n\n\n\n}\n"
        );
        // A trailing comma on an ordinary call leaves it alone.
        let plain = "p := io.jwt.verify_hs256(input.t, \"k\",)\n";
        assert_eq!(rewrite(plain, JWT, false, false), plain);
    }

    #[test]
    fn an_extra_argument_becomes_the_result() {
        let policy = "allow if {\n  io.jwt.decode(input.token, [_, payload, _])\n  \
                      io.jwt.verify_hs256 (input.token, \"s,(\", ok)\n  ok\n}\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "allow if {\n  [_, payload, _] = io.jwt.decode(input.token)\n  \
             ok = io.jwt.verify_hs256(input.token, \"s,(\")\n  ok\n}\n"
        );
    }

    #[test]
    fn with_a_builtin_calls_it_through_a_function_of_the_module() {
        let policy = "allow if {\n  count(x) == 3 with count as max\n  y with input.v as max\n  \
                      z with input.o as {\"m\": max}\n}\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "allow if {\n  count(x) == 3 with count as __palisade_with_max\n  \
             y with input.v as max\n  z with input.o as {\"m\": max}\n}\n\
             \n__palisade_with_max(a1) := max(a1)\n"
        );
        let own = "f(_) := 1\nallow if { count(x) == 1 with count as f }\n";
        assert_eq!(rewrite(own, JWT, false, false), own);
    }

    #[test]
    fn text_after_non_ascii_strings_and_comments_is_rewritten_in_place() {
        let policy = "greeting := \"héllo ✓\" # ünïcode\n\
                      allow if {\n  io.jwt.decode(input.token, [_, payload, _])\n}\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "greeting := \"héllo ✓\" # ünïcode\n\
             allow if {\n  [_, payload, _] = io.jwt.decode(input.token)\n}\n"
        );
    }

    #[test]
    fn with_a_rule_names_it_by_its_path() {
        let policy = "package t.u\nlimit := 10\nf(x) := x\n\
                      a if { over with limit as 2 }\nb if { g(1) with f as h }\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "package t.u\nlimit := 10\nf(x) := x\n\
             a if { over with data.t.u.limit as 2 }\nb if { g(1) with f as h }\n"
        );
    }

    #[test]
    fn future_keywords_imports_regorus_refuses_are_dropped() {
        let v1 = "package t\nimport rego.v1\nimport future.keywords.in\nimport data.x\n";
        assert_eq!(
            rewrite(v1, JWT, false, false),
            "package t\nimport rego.v1\n\nimport data.x\n"
        );
        let v0 = "package t\nimport future.keywords\nimport future.keywords.in\n\
                  import future.keywords\n";
        assert_eq!(
            rewrite(v0, JWT, true, false),
            "package t\nimport future.keywords\n\n\n"
        );
        let needed = "package t\nimport future.keywords.in\nimport future.keywords.if\n";
        assert_eq!(rewrite(needed, JWT, true, false), needed);
        assert_eq!(
            rewrite(
                "package t\nimport rego.v1\nimport future.keywords.if\n",
                JWT,
                true,
                false
            ),
            "package t\nimport rego.v1\n\n"
        );
    }

    #[test]
    fn a_function_with_no_body_is_true() {
        let policy = "can(\"alice\", \"write\")\nf(x)\n{\n  x\n}\ng(x) := 1\nh(1)\n";
        assert_eq!(
            rewrite(policy, JWT, false, false),
            "can(\"alice\", \"write\") := true\nf(x)\n{\n  x\n}\ng(x) := 1\nh(1) := true\n"
        );
    }

    #[test]
    fn other_calls_strings_and_comments_are_left_alone() {
        let policy = "x := io.jwt.decode(t)\n# io.jwt.decode(a, b)\n\
                      y := \"io.jwt.decode(a, b)\"\nz := my.io.jwt.decode(a, b)\n\
                      w := io.jwt.decode(f(a, b))\nv := io.jwt.decode(\n";
        assert_eq!(rewrite(policy, JWT, false, false), policy);
    }

    #[test]
    fn the_rewritten_forms_answer_as_opa_does() {
        use crate::test_support::both;
        use serde_json::json;
        let policy = "package t\nimport rego.v1\nimport future.keywords.in\n\
                      limit := 10\nover if input.n > limit\n\
                      default lower := false\nlower if over with limit as 2\n\
                      can(\"alice\", \"write\")\ndefault can(_, _) := false\n\
                      x := [lower, can(input.user, \"write\")]\n";
        assert_eq!(
            both(policy, json!({"n": 4, "user": "alice"})),
            Ok(json!([true, true]))
        );
        assert_eq!(
            both(policy, json!({"n": 1, "user": "bob"})),
            Ok(json!([false, false]))
        );
    }
}
