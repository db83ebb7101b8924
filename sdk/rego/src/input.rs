//! The OPA-Envoy input document, built as regorus values straight from the request.
//!
//! The layout is opa-envoy-plugin's (a v3 `CheckRequest` in protojson, plus `parsed_path`,
//! `parsed_query`, `parsed_body`, `truncated_body` and `version`). Parts that cost a host call
//! or parsing (addresses, protocol, body, parsed query/path, headers map, time) are built only
//! when the policy's source mentions them; see [`InputNeeds`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use regorus::Value;

use palisade::__private::{parse_query, percent_decode};
use palisade::{Request, SocketAddress};

/// Which optional parts of the input a policy may read.
///
/// Decided once, from the policy sources: a part is built when its field name appears in the
/// source as a word, or always when the source uses `input` as a whole (`x := input`,
/// `input[k]` with a computed key, `walk(input)`, ...). A policy that reaches a part only
/// through a computed key below `input` (e.g. `http[k]` with `k == "protocol"`) must mention
/// the field somewhere, e.g. in a comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputNeeds {
    pub(crate) headers: HeaderNeeds,
    pub(crate) body: bool,
    pub(crate) parsed_body: bool,
    pub(crate) parsed_path: bool,
    pub(crate) parsed_query: bool,
    pub(crate) protocol: bool,
    pub(crate) source: bool,
    pub(crate) destination: bool,
    pub(crate) time: bool,
}

/// Which request headers go into `attributes.request.http.headers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum HeaderNeeds {
    /// The policy never mentions `headers`.
    #[default]
    None,
    /// Every mention of `headers` is an index by a literal name (`headers["x-role"]`,
    /// `headers.authorization`): only these headers.
    Named(Vec<String>),
    /// All of them.
    All,
}

impl HeaderNeeds {
    /// What the mentions of `headers` in `source` need, merged into `self`.
    fn add_mentions(&mut self, source: &str) {
        for at in word_positions(source, "headers") {
            let rest = source.get(at + "headers".len()..).unwrap_or_default();
            match (&mut *self, literal_index(rest)) {
                (Self::All, _) => return,
                (_, None) => *self = Self::All,
                (Self::Named(names), Some(name)) => {
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
                (Self::None, Some(name)) => *self = Self::Named(vec![name.to_string()]),
            }
        }
    }

    fn wants(&self, name: &str) -> bool {
        match self {
            Self::None => false,
            Self::Named(names) => names.iter().any(|n| n == name),
            Self::All => true,
        }
    }
}

/// The name in `["name"]` or `.name` at the start of `rest`, when it is a plain literal.
fn literal_index(rest: &str) -> Option<&str> {
    if let Some(quoted) = rest.strip_prefix("[\"") {
        let (name, after) = quoted.split_once('"')?;
        let plain = !name.contains('\\');
        return (plain && after.starts_with(']')).then_some(name);
    }
    let ident = rest.strip_prefix('.')?;
    let end = ident
        .bytes()
        .position(|b| !is_ident(b))
        .unwrap_or(ident.len());
    ident.get(..end).filter(|name| !name.is_empty())
}

impl InputNeeds {
    /// Everything, for tools that show the whole input.
    pub fn all() -> Self {
        Self {
            headers: HeaderNeeds::All,
            body: true,
            parsed_body: true,
            parsed_path: true,
            parsed_query: true,
            protocol: true,
            source: true,
            destination: true,
            time: true,
        }
    }

    /// What policies with these sources may read.
    pub fn of_sources<'a>(sources: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needs = Self::default();
        for source in sources {
            if uses_whole_input(source) {
                return Self::all();
            }
            let mentions = |word: &str| mentions_word(source, word);
            needs.headers.add_mentions(source);
            needs.body |= mentions("body") || mentions("raw_body") || mentions("rawBody");
            needs.parsed_body |= mentions("parsed_body") || mentions("truncated_body");
            needs.parsed_path |= mentions("parsed_path");
            needs.parsed_query |= mentions("parsed_query");
            needs.protocol |= mentions("protocol");
            needs.source |= mentions("source");
            needs.destination |= mentions("destination");
            needs.time |= mentions("time");
        }
        needs
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where `word` occurs in `text` as a whole identifier.
fn word_positions<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    let bytes = text.as_bytes();
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let before = at.checked_sub(1).and_then(|i| bytes.get(i));
            let after = bytes.get(at + word.len());
            !before.is_some_and(|b| is_ident(*b)) && !after.is_some_and(|b| is_ident(*b))
        })
}

/// Whether `word` occurs in `text` as a whole identifier.
fn mentions_word(text: &str, word: &str) -> bool {
    word_positions(text, word).next().is_some()
}

/// Whether `input` is used other than as `input.field` or `input["field"]`.
fn uses_whole_input(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("input").any(|(at, _)| {
        let before = at.checked_sub(1).and_then(|i| bytes.get(i));
        let rest = text.get(at + 5..).unwrap_or_default();
        let whole_word = !before.is_some_and(|b| is_ident(*b) || *b == b'.')
            && !rest.bytes().next().is_some_and(is_ident);
        whole_word && !(rest.starts_with('.') || rest.starts_with("[\""))
    })
}

/// Things the input needs that do not come from the request itself.
#[derive(Debug, Clone)]
pub struct InputContext {
    /// The proxy's clock, for `attributes.request.time` (only read when [`InputNeeds`] has
    /// `time`).
    pub now: SystemTime,
    /// Whether to leave `parsed_body` out (`skip_request_body_parse`).
    pub skip_body_parse: bool,
}

/// Why the input could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A JSON body that does not parse (OPA-Envoy fails the request the same way).
    #[error("request body is not valid JSON: {0}")]
    BadJsonBody(String),
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::from(
        entries
            .into_iter()
            .map(|(k, v)| (s(k), v))
            .collect::<BTreeMap<Value, Value>>(),
    )
}

/// Builds the input document of each request for a policy with these needs.
///
/// The parts every input has are made once, here: the keys of the always-present fields (a
/// request clones a shared string instead of allocating one) and the constant objects.
#[derive(Debug)]
pub struct InputBuilder {
    needs: InputNeeds,
    keys: Keys,
    /// `version`: `{"ext_authz": "v3", "encoding": "protojson"}`.
    version: Value,
    /// `metadataContext`: always empty here (Envoy gives filters no view of it).
    empty: Value,
}

/// The keys every request's input has.
#[derive(Debug)]
struct Keys {
    attributes: Value,
    request: Value,
    http: Value,
    method: Value,
    path: Value,
    host: Value,
    scheme: Value,
    id: Value,
    headers: Value,
    size: Value,
    metadata_context: Value,
    version: Value,
}

impl InputBuilder {
    /// A builder for a policy that reads `needs`.
    pub fn new(needs: InputNeeds) -> Self {
        Self {
            needs,
            keys: Keys {
                attributes: s("attributes"),
                request: s("request"),
                http: s("http"),
                method: s("method"),
                path: s("path"),
                host: s("host"),
                scheme: s("scheme"),
                id: s("id"),
                headers: s("headers"),
                size: s("size"),
                metadata_context: s("metadataContext"),
                version: s("version"),
            },
            version: object(vec![("ext_authz", s("v3")), ("encoding", s("protojson"))]),
            empty: Value::new_object(),
        }
    }

    /// What the policy reads.
    pub fn needs(&self) -> &InputNeeds {
        &self.needs
    }

    /// Builds the input document for one request.
    pub fn build(
        &self,
        request: &Request<'_>,
        context: &InputContext,
    ) -> Result<Value, InputError> {
        let (needs, keys) = (&self.needs, &self.keys);
        let mut http = BTreeMap::new();
        http.insert(keys.method.clone(), s(request.method()));
        http.insert(keys.path.clone(), s(request.path()));
        http.insert(keys.host.clone(), s(request.host()));
        http.insert(keys.scheme.clone(), s(request.scheme()));
        if let Some(id) = request.header("x-request-id") {
            http.insert(keys.id.clone(), s(id));
        }
        if needs.headers != HeaderNeeds::None {
            http.insert(keys.headers.clone(), headers_map(request, &needs.headers));
        }
        if needs.protocol {
            if let Some(protocol) = request.property_text(&["request", "protocol"]) {
                http.insert(s("protocol"), Value::from(protocol));
            }
        }
        // protojson writes int64 as a string.
        if let Some(size) = request.header("content-length") {
            http.insert(keys.size.clone(), s(size));
        }
        let body = request.body();
        if needs.body {
            if let Some(body) = body.filter(|b| !b.bytes.is_empty()) {
                let text = String::from_utf8_lossy(&body.bytes);
                http.insert(s("body"), s(&text));
            }
        }

        let mut request_attrs = BTreeMap::new();
        request_attrs.insert(keys.http.clone(), Value::from(http));
        if needs.time {
            let time = palisade::__private::rfc3339(context.now);
            request_attrs.insert(s("time"), Value::from(time));
        }
        let mut attributes = BTreeMap::new();
        attributes.insert(keys.request.clone(), Value::from(request_attrs));
        attributes.insert(keys.metadata_context.clone(), self.empty.clone());
        if needs.source {
            let source = peer(request.source(), request, "source");
            attributes.insert(s("source"), source);
        }
        if needs.destination {
            let destination = peer(request.destination(), request, "destination");
            attributes.insert(s("destination"), destination);
        }

        let mut input = BTreeMap::new();
        input.insert(keys.attributes.clone(), Value::from(attributes));
        input.insert(keys.version.clone(), self.version.clone());
        if needs.parsed_path {
            input.insert(s("parsed_path"), parsed_path(request.url_path()));
        }
        if needs.parsed_query {
            input.insert(s("parsed_query"), parsed_query(request.query_string()));
        }
        if needs.parsed_body {
            let truncated = body.is_some_and(|b| b.truncated);
            input.insert(s("truncated_body"), Value::from(truncated));
            if !context.skip_body_parse {
                let parsed = match body {
                    Some(body) if !truncated => {
                        parse_body(request.header("content-type"), &body.bytes)?
                    }
                    _ => Value::Null,
                };
                input.insert(s("parsed_body"), parsed);
            }
        }
        Ok(Value::from(input))
    }
}

/// Headers as ext_authz sends them: lower-case names, repeated values joined with `,`; only
/// those the policy may read. One pass over the headers, on every request (the request rules
/// read one header at a time with [`header_value`]; a test checks that both agree).
fn headers_map(request: &Request<'_>, wanted: &HeaderNeeds) -> Value {
    let mut map: BTreeMap<Value, Value> = BTreeMap::new();
    for (name, value) in request.headers() {
        if !wanted.wants(name) {
            continue;
        }
        match map.entry(s(name)) {
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(s(value));
            }
            std::collections::btree_map::Entry::Occupied(mut entry) => {
                let joined = match entry.get() {
                    Value::String(previous) => format!("{previous},{value}"),
                    _ => value.clone(),
                };
                entry.insert(Value::from(joined));
            }
        }
    }
    Value::from(map)
}

/// The value of the header `name` (matched exactly) in the input's headers map: repeated
/// values joined with `,`.
pub(crate) fn header_value<'r>(request: &'r Request<'_>, name: &str) -> Option<Cow<'r, str>> {
    let mut values = request
        .headers()
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, value)| value.as_str());
    let first = values.next()?;
    Some(values.fold(Cow::Borrowed(first), |joined, value| {
        Cow::Owned(format!("{joined},{value}"))
    }))
}

fn peer(address: Option<&SocketAddress>, request: &Request<'_>, side: &str) -> Value {
    let mut entries = Vec::new();
    if let Some(address) = address {
        entries.push((
            "address",
            object(vec![(
                "socketAddress",
                object(vec![
                    ("address", s(&address.address)),
                    ("portValue", Value::from(u64::from(address.port))),
                ]),
            )]),
        ));
    }
    // The mTLS identity, as ext_authz reports it: the peer's URI SAN (source) or our own
    // certificate's (destination).
    let san = match side {
        "source" => ["connection", "uri_san_peer_certificate"],
        _ => ["connection", "uri_san_local_certificate"],
    };
    if let Some(principal) = request.property_text(&san).filter(|p| !p.is_empty()) {
        entries.push(("principal", Value::from(principal)));
    }
    object(entries)
}

/// The path, percent-decoded, split on `/`, the leading empty segment dropped.
fn parsed_path(url_path: &str) -> Value {
    let decoded = percent_decode(url_path);
    Value::from(
        decoded
            .trim_start_matches('/')
            .split('/')
            .map(Value::from)
            .collect::<Vec<Value>>(),
    )
}

/// Query parameters as a map from name to the array of its values.
fn parsed_query(query: &str) -> Value {
    params_map(parse_query(query))
}

fn params_map(pairs: Vec<(String, String)>) -> Value {
    let mut map: BTreeMap<Value, Vec<Value>> = BTreeMap::new();
    for (name, value) in pairs {
        map.entry(Value::from(name))
            .or_default()
            .push(Value::from(value));
    }
    Value::from(
        map.into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect::<BTreeMap<Value, Value>>(),
    )
}

/// JSON and urlencoded bodies are parsed; anything else (or an empty body) is `null`.
fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, InputError> {
    let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    if content_type.contains("application/json") {
        let text =
            std::str::from_utf8(bytes).map_err(|e| InputError::BadJsonBody(e.to_string()))?;
        let value =
            Value::from_json_str(text).map_err(|e| InputError::BadJsonBody(e.to_string()))?;
        // A number regorus cannot write out would take the VM down in a builtin's error.
        if !super::replacements::within_1e308(&value) {
            return Err(InputError::BadJsonBody(
                "a number beyond ±1e308, which Palisade cannot represent".into(),
            ));
        }
        return Ok(value);
    }
    if content_type.contains("application/x-www-form-urlencoded") {
        return Ok(params_map(parse_query(&String::from_utf8_lossy(bytes))));
    }
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade::__private::FakeHost;
    use palisade::RequestBody;

    fn context() -> InputContext {
        InputContext {
            now: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500),
            skip_body_parse: false,
        }
    }

    fn host() -> FakeHost {
        let mut host = FakeHost::with_headers(&[
            (":method", "POST"),
            (":path", "/api/v1/caf%C3%A9/items?id=7&tag=a&tag=b+c"),
            (":authority", "shop.example"),
            (":scheme", "https"),
            ("content-type", "application/json"),
            ("content-length", "13"),
            ("x-request-id", "req-1"),
            ("accept", "a"),
            ("accept", "b"),
        ]);
        host.properties
            .insert("source.address".into(), b"10.0.0.1:4000".to_vec());
        host.properties
            .insert("destination.address".into(), b"10.0.0.2:8080".to_vec());
        host.properties
            .insert("request.protocol".into(), b"HTTP/1.1".to_vec());
        host
    }

    fn get<'v>(value: &'v Value, path: &[&str]) -> &'v Value {
        path.iter().fold(value, |v, key| &v[*key])
    }

    #[test]
    fn builds_the_opa_envoy_document() {
        let host = host();
        let body = RequestBody {
            bytes: br#"{"qty": 2}"#.to_vec(),
            truncated: false,
        };
        let request = Request::from_host(&host).unwrap().with_body(Some(body));
        let input = InputBuilder::new(InputNeeds::all())
            .build(&request, &context())
            .unwrap();
        let http = get(&input, &["attributes", "request", "http"]);
        assert_eq!(http["method"], s("POST"));
        assert_eq!(
            http["path"],
            s("/api/v1/caf%C3%A9/items?id=7&tag=a&tag=b+c")
        );
        assert_eq!(http["host"], s("shop.example"));
        assert_eq!(http["scheme"], s("https"));
        assert_eq!(http["id"], s("req-1"));
        assert_eq!(http["protocol"], s("HTTP/1.1"));
        assert_eq!(http["size"], s("13"));
        assert_eq!(http["body"], s(r#"{"qty": 2}"#));
        assert_eq!(http["headers"]["accept"], s("a,b"));
        assert_eq!(http["headers"][":authority"], s("shop.example"));
        assert_eq!(
            get(&input, &["attributes", "request", "time"]),
            &s("1970-01-01T00:00:01.500Z")
        );
        let source = get(
            &input,
            &["attributes", "source", "address", "socketAddress"],
        );
        assert_eq!(source["address"], s("10.0.0.1"));
        assert_eq!(source["portValue"], Value::from(4000u64));
        assert_eq!(
            get(
                &input,
                &[
                    "attributes",
                    "destination",
                    "address",
                    "socketAddress",
                    "portValue"
                ]
            ),
            &Value::from(8080u64)
        );
        assert_eq!(
            input["parsed_path"],
            Value::from(vec![s("api"), s("v1"), s("café"), s("items")])
        );
        assert_eq!(
            input["parsed_query"]["tag"],
            Value::from(vec![s("a"), s("b c")])
        );
        assert_eq!(input["parsed_body"]["qty"], Value::from(2u64));
        assert_eq!(input["truncated_body"], Value::from(false));
        assert_eq!(input["version"]["encoding"], s("protojson"));
    }

    #[test]
    fn a_truncated_body_is_not_parsed() {
        let host = host();
        let body = RequestBody {
            bytes: br#"{"qty": "#.to_vec(),
            truncated: true,
        };
        let request = Request::from_host(&host).unwrap().with_body(Some(body));
        let input = InputBuilder::new(InputNeeds::all())
            .build(&request, &context())
            .unwrap();
        assert_eq!(input["truncated_body"], Value::from(true));
        assert_eq!(input["parsed_body"], Value::Null);
    }

    #[test]
    fn bad_json_body_is_an_error_and_forms_are_parsed() {
        let host = host();
        let body = RequestBody {
            bytes: b"{not json".to_vec(),
            truncated: false,
        };
        let request = Request::from_host(&host).unwrap().with_body(Some(body));
        assert!(matches!(
            InputBuilder::new(InputNeeds::all()).build(&request, &context()),
            Err(InputError::BadJsonBody(_))
        ));
        for huge in [
            &b"{\"x\": 1.7976931348623157e308}"[..],
            b"[1e400]",
            b"-1e308",
        ] {
            assert!(
                matches!(
                    parse_body(Some("application/json"), huge),
                    Err(InputError::BadJsonBody(_))
                ),
                "{}",
                String::from_utf8_lossy(huge)
            );
        }
        let form = parse_body(Some("application/x-www-form-urlencoded"), b"a=1&a=2&b=x+y").unwrap();
        assert_eq!(form["a"], Value::from(vec![s("1"), s("2")]));
        assert_eq!(form["b"], Value::from(vec![s("x y")]));
        assert_eq!(parse_body(Some("text/plain"), b"hi").unwrap(), Value::Null);
    }

    #[test]
    fn unneeded_parts_cost_nothing() {
        let host = host();
        let request = Request::from_host(&host).unwrap();
        let needs =
            InputNeeds::of_sources(["allow if input.attributes.request.http.method == \"GET\""]);
        assert_eq!(needs, InputNeeds::default());
        let input = InputBuilder::new(needs)
            .build(&request, &context())
            .unwrap();
        assert_eq!(host.property_reads.get(), 0, "no property was fetched");
        assert_eq!(input["parsed_query"], Value::Undefined);
        assert_eq!(
            get(&input, &["attributes", "request", "http", "headers"]),
            &Value::Undefined
        );
    }

    #[test]
    fn needs_follow_the_words_the_policy_uses() {
        let needs = InputNeeds::of_sources([
            "import input.attributes.request.http as http\nallow if http.headers[\"x\"]",
            "allow if input.parsed_query.id[0] == \"7\"",
        ]);
        assert_eq!(needs.headers, HeaderNeeds::Named(vec!["x".into()]));
        assert!(needs.parsed_query);
        assert!(!needs.source && !needs.parsed_body && !needs.time);
        assert!(InputNeeds::of_sources(["x := input"]).source);
        assert!(InputNeeds::of_sources(["allow if walk(input, [p, v])"]).time);
        assert!(InputNeeds::of_sources(["allow if input[k] == 1"]).body);
        assert!(!InputNeeds::of_sources(["allow if input[\"parsed_path\"][0] == \"a\""]).body);
        assert!(!InputNeeds::of_sources(["my_input := 1\nallow if myinput.x"]).body);
    }

    #[test]
    fn only_the_headers_a_policy_indexes_by_name_are_built() {
        let named = |sources: &[&str]| InputNeeds::of_sources(sources.iter().copied()).headers;
        assert_eq!(named(&["allow if x == 1"]), HeaderNeeds::None);
        assert_eq!(
            named(&[
                "allow if input.attributes.request.http.headers[\"x-role\"] == \"admin\"",
                "t := http.headers.authorization\nu := http.headers[\"x-role\"]",
            ]),
            HeaderNeeds::Named(vec!["x-role".into(), "authorization".into()])
        );
        // Anything but a literal index needs them all: a computed key, the map as a whole, a
        // literal with an escape, or the word in a comment or a decision's "headers" field.
        for source in [
            "allow if http.headers[name] == \"a\"",
            "h := input.attributes.request.http.headers",
            "allow if http.headers[\"x\\u002drole\"]",
            "# headers are checked below\nallow if http.headers.a",
            "result := {\"allowed\": true, \"headers\": {\"a\": \"b\"}}",
        ] {
            assert_eq!(named(&[source]), HeaderNeeds::All, "{source}");
        }

        let host = host();
        let request = Request::from_host(&host).unwrap();
        let needs = InputNeeds::of_sources(["allow if http.headers.accept == \"a,b\""]);
        let input = InputBuilder::new(needs)
            .build(&request, &context())
            .unwrap();
        let headers = get(&input, &["attributes", "request", "http", "headers"]);
        assert_eq!(headers["accept"], s("a,b"), "repeated values are joined");
        assert_eq!(
            headers.as_object().unwrap().len(),
            1,
            "only the named header"
        );
    }
}
