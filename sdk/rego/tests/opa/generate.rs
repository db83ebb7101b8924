//! Deterministic JSON inputs for the language cases (`generate: {kind, count}`), seeded by the
//! case's name: the same inputs on every run, different ones for each case.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Which inputs, and how many.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub kind: Kind,
    pub count: usize,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// OPA-Envoy inputs: method, path, a few headers, parsed path and query.
    Request,
    /// `{"a", "b", "xs", "o"}`: scalars of every type, and collections of them.
    Values,
    /// `{"a", "b", "c"}`: integers, fractions, large and negative numbers.
    Numbers,
    /// `{"user", "roles", "tenant"}`: who asks, for RBAC-shaped policies.
    Users,
}

/// xorshift64, seeded by a name.
struct Rng(u64);

impl Rng {
    fn new(name: &str) -> Self {
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `spec.count` inputs for the case named `name`.
pub fn inputs(spec: &Spec, name: &str) -> Vec<Value> {
    let mut rng = Rng::new(name);
    (0..spec.count)
        .map(|_| match spec.kind {
            Kind::Request => request(&mut rng),
            Kind::Values => values(&mut rng),
            Kind::Numbers => numbers(&mut rng),
            Kind::Users => users(&mut rng),
        })
        .collect()
}

fn request(rng: &mut Rng) -> Value {
    let method = rng.pick(&["GET", "POST", "PUT", "DELETE", "get"]);
    let path = rng.pick(&[
        "/",
        "/api/v1/users",
        "/api/v1/users/42",
        "/api/v1/orders/7?limit=5",
        "/admin/settings",
        "/public/index.html",
        "//x",
    ]);
    let mut headers = Map::new();
    for (name, values) in [
        ("x-user", &["alice", "bob", "carol", "", "Alice"][..]),
        ("x-role", &["admin", "reader", "writer", "admin,reader"][..]),
        ("x-tenant", &["t1", "t2", "1"][..]),
        (
            "authorization",
            &["Bearer abc", "Basic YWxpY2U6cHc=", "bearer"][..],
        ),
    ] {
        if rng.chance(70) {
            headers.insert(name.into(), json!(rng.pick(values)));
        }
    }
    let (bare, query) = path.split_once('?').unwrap_or((path, ""));
    let parsed_path: Vec<&str> = bare.split('/').filter(|s| !s.is_empty()).collect();
    let parsed_query: Map<String, Value> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), json!([v])))
        .collect();
    json!({
        "attributes": {"request": {"http": {
            "method": method, "path": path, "headers": headers,
        }}},
        "parsed_path": parsed_path,
        "parsed_query": parsed_query,
    })
}

fn scalar(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!(0),
        json!(1),
        json!(-1),
        json!(1.0),
        json!(2.5),
        json!(-0.5),
        json!(1e3),
        json!(100),
        json!(9_007_199_254_740_993u64),
        json!(1e20),
        json!("1"),
        json!("a"),
        json!(""),
        json!("b"),
        json!(true),
        json!(false),
        json!(null),
    ])
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    match (depth, rng.below(6)) {
        (0, _) | (_, 0..=2) => scalar(rng),
        (_, 3 | 4) => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => {
            let keys = ["a", "b", "c", "1"];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| (rng.pick(&keys).to_string(), value(rng, depth - 1)))
                    .collect(),
            )
        }
    }
}

fn values(rng: &mut Rng) -> Value {
    json!({
        "a": value(rng, 1),
        "b": value(rng, 1),
        "xs": Value::Array((0..rng.below(5)).map(|_| scalar(rng)).collect()),
        "o": Value::Object((0..rng.below(4)).map(|i| (format!("k{i}"), value(rng, 1))).collect()),
    })
}

fn number(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!(0),
        json!(1),
        json!(-7),
        json!(3),
        json!(2.5),
        json!(-0.25),
        json!(0.1),
        json!(1e15),
        json!(1e-9),
        json!(4_611_686_018_427_387_904u64),
        json!(18_446_744_073_709_551_615u64),
        json!(-9_223_372_036_854_775_808i64),
        json!(1.5e300),
        json!(7.0),
    ])
}

fn numbers(rng: &mut Rng) -> Value {
    json!({"a": number(rng), "b": number(rng), "c": number(rng)})
}

fn users(rng: &mut Rng) -> Value {
    let roles = ["admin", "reader", "writer", "auditor"];
    let picked: Vec<&str> = roles.iter().copied().filter(|_| rng.chance(40)).collect();
    let mut input = Map::new();
    if rng.chance(90) {
        input.insert(
            "user".into(),
            json!(rng.pick(&["alice", "bob", "carol", "dave", ""])),
        );
    }
    input.insert("roles".into(), json!(picked));
    if rng.chance(80) {
        input.insert("tenant".into(), json!(rng.pick(&["t1", "t2", "t3"])));
    }
    input.insert("n".into(), json!(rng.below(12)));
    Value::Object(input)
}
