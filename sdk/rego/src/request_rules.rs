//! Request rules: a policy that only compares request fields with constant strings, answered
//! from the request itself, without regorus.
//!
//! Most policies in front of a service are of this class: `default allow := false` and `allow`
//! bodies that test the method, the path or a header against literals. regorus answers them
//! right, but building the input document and running its VM is most of what such a decision
//! costs (PERFORMANCE.md). [`RequestRules::of`] recognises the shape at configure, after regorus
//! has compiled and checked the policy, and the filter then reads the request's fields directly.
//!
//! The shape, exactly; anything else stays with regorus:
//! - one module, in the package of the rule, importing nothing but `rego.v1`, `future.keywords`
//!   and paths below `input`; no data under the package's first name;
//! - every rule is the decision rule or an alias: at most one `default allow := true|false`,
//!   bodies of value `true` (`allow if {...}`, `allow := true if {...}`, v0 `allow {...}`, no
//!   `else`), and body-less rules that name a path below `input` (`http :=
//!   input.attributes.request.http`, `role := http.headers["x-role"]`), defined once;
//! - every expression of a body, with no `with`, is one of `F == "s"` (either way round),
//!   `startswith(F, "s")`, `endswith(F, "s")` or `F in {"a", "b"}` (or `[...]`), where `F` is
//!   `input.attributes.request.http.` then `method`, `path`, `host`, `scheme`, or `headers` with a
//!   literal name (`headers["x-role"]`, `headers.accept`), written out or through an alias
//!   (`http_request.method` after `import input.attributes.request.http as http_request`).
//!
//! Each test is false when its field is missing or not a string: OPA finds such a comparison
//! false or undefined, and such a builtin call an error, undefined in non-strict mode. So a body
//! holds exactly when each of its tests holds on a present string. The language suite compares
//! this engine with OPA on every policy it takes, as it compares regorus' two engines.

use std::borrow::Cow;

use regorus::unstable::{BoolOp, Expr, Literal, Module, Ref, Rule, RuleHead};
use regorus::Value;

use palisade::Request;

use crate::input::header_value;

/// A field of OPA-Envoy's input that request rules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `attributes.request.http.method`.
    Method,
    /// `attributes.request.http.path`.
    Path,
    /// `attributes.request.http.host`.
    Host,
    /// `attributes.request.http.scheme`.
    Scheme,
    /// `attributes.request.http.headers[name]`.
    Header(String),
}

impl Field {
    /// The field below `input.attributes.request.http` that `path` names, if it is one.
    fn at(path: &[String]) -> Option<Self> {
        let [attributes, request, http, rest @ ..] = path else {
            return None;
        };
        if (attributes.as_str(), request.as_str(), http.as_str())
            != ("attributes", "request", "http")
        {
            return None;
        }
        match rest {
            [name] => match name.as_str() {
                "method" => Some(Self::Method),
                "path" => Some(Self::Path),
                "host" => Some(Self::Host),
                "scheme" => Some(Self::Scheme),
                _ => None,
            },
            [headers, name] if headers == "headers" => Some(Self::Header(name.clone())),
            _ => None,
        }
    }

    /// Its keys below `input`.
    fn keys(&self) -> Vec<&str> {
        let mut keys = vec!["attributes", "request", "http"];
        match self {
            Self::Method => keys.push("method"),
            Self::Path => keys.push("path"),
            Self::Host => keys.push("host"),
            Self::Scheme => keys.push("scheme"),
            Self::Header(name) => keys.extend(["headers", name.as_str()]),
        }
        keys
    }
}

/// Where request rules read their fields: a request, or an input document (for the tests
/// that compare them with OPA).
pub trait Fields {
    /// The field's text; `None` when it is missing or not a string.
    fn text(&self, field: &Field) -> Option<Cow<'_, str>>;
}

impl Fields for Request<'_> {
    /// As [`crate::input::InputBuilder`] writes the field into the input.
    fn text(&self, field: &Field) -> Option<Cow<'_, str>> {
        match field {
            Field::Method => Some(self.method().into()),
            Field::Path => Some(self.path().into()),
            Field::Host => Some(self.host().into()),
            Field::Scheme => Some(self.scheme().into()),
            Field::Header(name) => header_value(self, name),
        }
    }
}

impl Fields for Value {
    fn text(&self, field: &Field) -> Option<Cow<'_, str>> {
        let mut value = self;
        for key in field.keys() {
            let Value::Object(object) = value else {
                return None;
            };
            value = object.get(&Value::from(key))?;
        }
        match value {
            Value::String(text) => Some(Cow::Borrowed(text)),
            _ => None,
        }
    }
}

/// One test of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Equals(Field, String),
    StartsWith(Field, String),
    EndsWith(Field, String),
    OneOf(Field, Vec<String>),
}

impl Test {
    fn holds(&self, fields: &dyn Fields) -> bool {
        let (Self::Equals(field, _)
        | Self::StartsWith(field, _)
        | Self::EndsWith(field, _)
        | Self::OneOf(field, _)) = self;
        let Some(value) = fields.text(field) else {
            return false;
        };
        match self {
            Self::Equals(_, text) => value == text.as_str(),
            Self::StartsWith(_, text) => value.starts_with(text.as_str()),
            Self::EndsWith(_, text) => value.ends_with(text.as_str()),
            Self::OneOf(_, texts) => texts.iter().any(|text| value == text.as_str()),
        }
    }
}

/// A policy of the shape the module documentation describes, ready to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRules {
    /// The `default` value, if the policy has one.
    default: Option<bool>,
    /// The bodies: the rule is `true` when every test of one of them holds.
    bodies: Vec<Vec<Test>>,
}

impl RequestRules {
    /// The rules of `module`, if it has the shape, for the rule `data.<package>.<name>` (`rule`)
    /// with `data` as the base document.
    pub fn of(module: &Module, rule: &str, data: Option<&serde_json::Value>) -> Option<Self> {
        let package = ref_path(&module.package.refr)?;
        let (rule_package, name) = rule.strip_prefix("data.")?.rsplit_once('.')?;
        if package.join(".") != rule_package {
            return None;
        }
        let first = package.first()?;
        if data.is_some_and(|data| data.get(first).is_some()) {
            return None;
        }
        let mut aliases = Aliases::default();
        for import in &module.imports {
            let path = ref_path(&import.refr)?;
            let keyword = path == ["rego", "v1"] || path.first().is_some_and(|p| p == "future");
            if keyword && import.r#as.is_none() {
                continue;
            }
            let name = match &import.r#as {
                Some(alias) => alias.text().to_string(),
                None => path.last()?.clone(),
            };
            (path.first()? == "input").then_some(())?;
            aliases.add(name, path)?;
        }
        let mut rules = Self {
            default: None,
            bodies: Vec::new(),
        };
        // The helper rules first: the decision rule's bodies may come before them.
        let mut decision_rules = Vec::new();
        for rule in &module.policy {
            match rule.as_ref() {
                Rule::Spec {
                    head:
                        RuleHead::Compr {
                            refr,
                            assign: Some(assign),
                            ..
                        },
                    bodies,
                    ..
                } if bodies.is_empty() && ref_path(refr).is_some_and(|path| path != [name]) => {
                    let [helper] = ref_path(refr)?.try_into().ok()?;
                    aliases.add(helper, ref_path(&assign.value)?)?;
                }
                _ => decision_rules.push(rule),
            }
        }
        for rule in decision_rules {
            match rule.as_ref() {
                Rule::Default {
                    refr, args, value, ..
                } => {
                    let is_name = ref_path(refr).is_some_and(|path| path == [name]);
                    if !is_name || !args.is_empty() || rules.default.is_some() {
                        return None;
                    }
                    rules.default = Some(boolean(value)?);
                }
                Rule::Spec { head, bodies, .. } => {
                    let RuleHead::Compr { refr, assign, .. } = head else {
                        return None;
                    };
                    let is_true = assign
                        .as_ref()
                        .is_none_or(|assign| boolean(&assign.value) == Some(true));
                    if !is_true || ref_path(refr).is_none_or(|path| path != [name]) {
                        return None;
                    }
                    if bodies.is_empty() {
                        // `allow := true` without a body.
                        rules.bodies.push(Vec::new());
                    }
                    for body in bodies {
                        if body.is_else || body.assign.is_some() {
                            return None;
                        }
                        let tests = body
                            .query
                            .stmts
                            .iter()
                            .map(|stmt| match (&stmt.literal, stmt.with_mods.is_empty()) {
                                (Literal::Expr { expr, .. }, true) => test(expr, &aliases),
                                _ => None,
                            })
                            .collect::<Option<Vec<_>>>()?;
                        rules.bodies.push(tests);
                    }
                }
            }
        }
        Some(rules)
    }

    /// The rule's value for the request or input `fields`: `true`, the default, or undefined.
    pub fn evaluate(&self, fields: &dyn Fields) -> Value {
        let holds = self
            .bodies
            .iter()
            .any(|tests| tests.iter().all(|test| test.holds(fields)));
        match (holds, self.default) {
            (true, _) => Value::Bool(true),
            (false, Some(default)) => Value::Bool(default),
            (false, None) => Value::Undefined,
        }
    }
}

/// Names that stand for a path below `input`: imports (`import input.attributes.request.http`,
/// `... as http`) and rules that are such a path (`http := input.attributes.request.http`),
/// each with the path it names (rooted at `input` or at another alias).
#[derive(Debug, Default)]
struct Aliases(Vec<(String, Vec<String>)>);

impl Aliases {
    /// `name` for `path`; `None` if `name` has a path already (two definitions of a rule may
    /// conflict).
    fn add(&mut self, name: String, path: Vec<String>) -> Option<()> {
        if self.0.iter().any(|(known, _)| *known == name) {
            return None;
        }
        self.0.push((name, path));
        Some(())
    }

    /// `path` with its aliases replaced, if it then starts at `input`. A chain of aliases
    /// longer than there are aliases is a cycle (which regorus would have refused).
    fn resolve(&self, mut path: Vec<String>) -> Option<Vec<String>> {
        for _ in 0..=self.0.len() {
            let (root, rest) = path.split_first()?;
            if root == "input" {
                return Some(path);
            }
            let (_, named) = self.0.iter().find(|(name, _)| name == root)?;
            let mut resolved = named.clone();
            resolved.extend_from_slice(rest);
            path = resolved;
        }
        None
    }
}

/// The test `expr` is, if it is one request rules have.
fn test(expr: &Ref<Expr>, aliases: &Aliases) -> Option<Test> {
    match expr.as_ref() {
        Expr::BoolExpr {
            op: BoolOp::Eq,
            lhs,
            rhs,
            ..
        } => match (input_field(lhs, aliases), input_field(rhs, aliases)) {
            (Some(field), None) => Some(Test::Equals(field, string(rhs)?)),
            (None, Some(field)) => Some(Test::Equals(field, string(lhs)?)),
            _ => None,
        },
        Expr::Call { fcn, params, .. } => {
            let [subject, text] = params.as_slice() else {
                return None;
            };
            let (field, text) = (input_field(subject, aliases)?, string(text)?);
            match ref_path(fcn)?.as_slice() {
                // A rule of that name would shadow the builtin.
                [f] if aliases.0.iter().any(|(name, _)| name == f) => None,
                [f] if f == "startswith" => Some(Test::StartsWith(field, text)),
                [f] if f == "endswith" => Some(Test::EndsWith(field, text)),
                _ => None,
            }
        }
        Expr::Membership {
            key: None,
            value,
            collection,
            ..
        } => {
            let (Expr::Set { items, .. } | Expr::Array { items, .. }) = collection.as_ref() else {
                return None;
            };
            let texts = items.iter().map(string).collect::<Option<Vec<_>>>()?;
            Some(Test::OneOf(input_field(value, aliases)?, texts))
        }
        _ => None,
    }
}

/// The input field `expr` reads (`input.attributes.request.http.method`, `http.method` with an
/// alias `http`, ...), if it is one.
fn input_field(expr: &Ref<Expr>, aliases: &Aliases) -> Option<Field> {
    let path = aliases.resolve(ref_path(expr)?)?;
    Field::at(path.get(1..)?)
}

/// `a.b["c"].d` as `["a", "b", "c", "d"]`: a variable then fields or literal string keys.
fn ref_path(expr: &Ref<Expr>) -> Option<Vec<String>> {
    match expr.as_ref() {
        Expr::Var { value, .. } => Some(vec![value.as_string().ok()?.to_string()]),
        Expr::RefDot { refr, field, .. } => {
            let mut path = ref_path(refr)?;
            path.push(field.1.as_string().ok()?.to_string());
            Some(path)
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut path = ref_path(refr)?;
            path.push(string(index)?);
            Some(path)
        }
        _ => None,
    }
}

/// The literal string `expr` is, if it is one.
fn string(expr: &Ref<Expr>) -> Option<String> {
    match expr.as_ref() {
        Expr::String { value, .. } | Expr::RawString { value, .. } => {
            Some(value.as_string().ok()?.to_string())
        }
        _ => None,
    }
}

/// The literal boolean `expr` is, if it is one.
fn boolean(expr: &Ref<Expr>) -> Option<bool> {
    match expr.as_ref() {
        Expr::Bool { value, .. } => value.as_bool().ok().copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    fn rules(policy: &str) -> Option<RequestRules> {
        let module = parse("t.rego", policy, false).unwrap();
        RequestRules::of(&module, "data.envoy.authz.allow", None)
    }

    const RBAC: &str = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                        allow if {\n  input.attributes.request.http.method == \"GET\"\n  \
                        startswith(input.attributes.request.http.path, \"/public/\")\n}\n\
                        allow if input.attributes.request.http.headers[\"x-role\"] == \"admin\"\n";

    fn input(method: &str, path: &str, headers: serde_json::Value) -> Value {
        Value::from(serde_json::json!({"attributes": {"request": {"http": {
            "method": method, "path": path, "headers": headers,
        }}}}))
    }

    #[test]
    fn an_rbac_policy_is_read_into_tests() {
        let rules = rules(RBAC).unwrap();
        assert_eq!(rules.default, Some(false));
        assert_eq!(
            rules.bodies,
            vec![
                vec![
                    Test::Equals(Field::Method, "GET".into()),
                    Test::StartsWith(Field::Path, "/public/".into()),
                ],
                vec![Test::Equals(Field::Header("x-role".into()), "admin".into())],
            ]
        );
        let answer = |method, path, headers| rules.evaluate(&input(method, path, headers));
        let none = serde_json::json!({});
        assert_eq!(answer("GET", "/public/a", none.clone()), Value::Bool(true));
        assert_eq!(
            answer("POST", "/public/a", none.clone()),
            Value::Bool(false)
        );
        let admin = serde_json::json!({"x-role": "admin"});
        assert_eq!(answer("POST", "/private", admin), Value::Bool(true));
        // A field that is not a string fails its test.
        let number = serde_json::json!({"x-role": 1});
        assert_eq!(answer("POST", "/private", number), Value::Bool(false));
    }

    #[test]
    fn a_request_reads_as_the_input_document_it_makes() {
        use crate::input::{InputBuilder, InputContext, InputNeeds};
        use palisade::__private::FakeHost;
        let fields = [
            Field::Method,
            Field::Path,
            Field::Host,
            Field::Scheme,
            Field::Header("x-role".into()),
            Field::Header("X-Role".into()),
            Field::Header(":authority".into()),
            Field::Header("absent".into()),
        ];
        let builder = InputBuilder::new(InputNeeds::all());
        let context = InputContext {
            now: std::time::SystemTime::UNIX_EPOCH,
            skip_body_parse: true,
        };
        let requests: [&[(&str, &str)]; 3] = [
            &[
                (":method", "GET"),
                (":path", "/a?b=c"),
                (":authority", "h"),
                (":scheme", "https"),
            ],
            // repeated headers, a header name in capitals
            &[
                (":method", "POST"),
                (":path", "/"),
                ("x-role", "a"),
                ("x-role", "b"),
                ("X-Role", "c"),
            ],
            // no pseudo-headers at all
            &[("x-role", "")],
        ];
        for headers in requests {
            let host = FakeHost::with_headers(headers);
            let request = Request::from_host(&host).unwrap();
            let input = builder.build(&request, &context).unwrap();
            for field in &fields {
                assert_eq!(
                    request.text(field),
                    input.text(field),
                    "{field:?} of {headers:?}"
                );
            }
        }
    }

    #[test]
    fn imports_and_helper_rules_of_input_paths_are_aliases() {
        let expected = rules(RBAC).unwrap();
        let imported = "package envoy.authz\nimport rego.v1\n\
                        import input.attributes.request.http as http_request\n\
                        import input.attributes.request.http.headers\n\
                        default allow := false\n\
                        allow if {\n  http_request.method == \"GET\"\n  \
                        startswith(http_request.path, \"/public/\")\n}\n\
                        allow if headers[\"x-role\"] == \"admin\"\n";
        assert_eq!(rules(imported).as_ref(), Some(&expected));
        // Helper rules, one through another, defined after their use.
        let helpers = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                       allow if {\n  http.method == \"GET\"\n  \
                       startswith(http.path, \"/public/\")\n}\n\
                       allow if headers[\"x-role\"] == \"admin\"\n\
                       headers := http.headers\n\
                       http := input.attributes.request.http\n";
        assert_eq!(rules(helpers).as_ref(), Some(&expected));
        // Not aliases: a helper defined twice, one of a data path in use, a cycle.
        let head = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                    allow if http.method == \"GET\"\n";
        for rest in [
            "http := input.attributes.request.http\nhttp := input.attributes.request\n",
            "http := data.http\n",
            "http := other.http\nother := http\n",
            "http := {\"method\": \"GET\"}\n",
            // a rule named like the builtin a test calls
            "allow if startswith(http.path, \"/\")\nstartswith := input.x\n\
             http := input.attributes.request.http\n",
        ] {
            assert_eq!(rules(&format!("{head}{rest}")), None, "{rest}");
        }
    }

    #[test]
    fn without_a_default_no_body_holding_is_undefined() {
        let policy = "package envoy.authz\nimport rego.v1\n\
                      allow if input.attributes.request.http.method in {\"GET\", \"HEAD\"}\n";
        let rules = rules(policy).unwrap();
        assert_eq!(
            rules.evaluate(&input("PUT", "/", serde_json::json!({}))),
            Value::Undefined
        );
        assert_eq!(
            rules.evaluate(&input("HEAD", "/", serde_json::json!({}))),
            Value::Bool(true)
        );
    }

    #[test]
    fn anything_beyond_the_shape_stays_with_regorus() {
        let head = "package envoy.authz\nimport rego.v1\ndefault allow := false\n";
        for rest in [
            // a helper rule, a function, a negation, a variable, another operator
            "allow if is_get\nis_get if input.attributes.request.http.method == \"GET\"\n",
            "allow if f(1)\nf(x) := true\n",
            "allow if not input.attributes.request.http.method == \"GET\"\n",
            "allow if { m := input.attributes.request.http.method; m == \"GET\" }\n",
            "allow if input.attributes.request.http.method != \"GET\"\n",
            // another value, else, with
            "allow := \"yes\" if input.attributes.request.http.method == \"GET\"\n",
            "allow if input.attributes.request.http.method == \"GET\"\n\
             else := true if input.attributes.request.http.path == \"/\"\n",
            "allow if input.attributes.request.http.method == \"GET\" with input as {}\n",
            // other fields, computed keys, non-string literals
            "allow if input.parsed_path[0] == \"a\"\n",
            "allow if input.attributes.request.http.body == \"a\"\n",
            "allow if input.attributes.request.http.headers[lower(\"X\")] == \"a\"\n",
            "allow if input.attributes.request.http.method == 1\n",
            "allow if contains(input.attributes.request.http.path, \"a\")\n",
            "allow if input.attributes.request.http.method in {\"GET\", 1}\n",
            // a data reference
            "allow if input.attributes.request.http.method == data.method\n",
        ] {
            assert_eq!(rules(&format!("{head}{rest}")), None, "{rest}");
        }
        let other_package = RBAC.replace("envoy.authz", "envoy.other");
        assert_eq!(rules(&other_package), None);
        let import = RBAC.replace("import rego.v1", "import rego.v1\nimport data.roles");
        assert_eq!(rules(&import), None);
        let module = parse("t.rego", RBAC, false).unwrap();
        let data = serde_json::json!({"envoy": {}});
        assert_eq!(
            RequestRules::of(&module, "data.envoy.authz.allow", Some(&data)),
            None
        );
    }
}
