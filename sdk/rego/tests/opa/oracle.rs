//! Real OPA (v1.20.2, the Go library in the `opa-golib-python-bindings` wheel's
//! `libopabridge.so`), loaded through its C interface: the oracle Palisade's Rego engine must
//! agree with.
//!
//! OPA-Envoy runs OPA's default, non-strict mode: a builtin's error makes the call undefined.
//! The wheel's bridge hard-codes strict builtin errors (the query fails), so the oracle loads a
//! copy of it with that one option turned off ([`crate::non_strict`]) and checks that it
//! answers as non-strict OPA does before any comparison. Should a builtin's error still reach
//! a query, [`Answer::of`] reports it as such, and the comparison reads it as an undefined
//! call.

use std::ffi::{c_char, c_int, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// What OPA answered for a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The query's bindings, one object per result (empty: undefined).
    Results(Vec<serde_json::Map<String, Value>>),
    /// A builtin failed (`eval_builtin_error`, `eval_type_error`): undefined in non-strict mode.
    BuiltinError(String),
    /// Any other error: conflicts, compile errors of the query.
    Error { code: String, message: String },
}

type New = unsafe extern "C" fn() -> u64;
type Destroy = unsafe extern "C" fn(u64);
type Free = unsafe extern "C" fn(*mut c_char);
type Add = unsafe extern "C" fn(u64, *const c_char, *const c_char) -> *mut c_char;
type Eval = unsafe extern "C" fn(u64, *const c_char, *const c_char, c_int, c_int) -> *mut c_char;

struct Library {
    // Kept loaded for the process: the functions below point into it.
    _lib: libloading::Library,
    new: New,
    destroy: Destroy,
    free: Free,
    add_policy: Add,
    add_data: Add,
    eval_query: Eval,
}

/// Where the bridge is: `$OPA_BRIDGE`, or the wheel `scripts/setup` installs in `.venv`.
pub fn library_path() -> PathBuf {
    if let Some(path) = std::env::var_os("OPA_BRIDGE") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    std::fs::read_dir(&venv)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| {
            python
                .path()
                .join("site-packages/opa_bindings/libopabridge.so")
        })
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "no libopabridge.so under {}: run scripts/setup (it installs the \
                 opa-golib-python-bindings wheel), or set OPA_BRIDGE",
                venv.display()
            )
        })
}

fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let path = crate::non_strict::copy_of(&library_path());
        // SAFETY: loading the bridge runs the Go runtime's initialisers, which is what the
        // library is for; the symbols are read with the signatures of the wheel's `_native.py`.
        unsafe {
            let lib = libloading::Library::new(&path)
                .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
            let new: New = *lib.get(b"OpaNew").unwrap();
            let destroy: Destroy = *lib.get(b"OpaDestroy").unwrap();
            let free: Free = *lib.get(b"OpaFreeString").unwrap();
            let add_policy: Add = *lib.get(b"OpaAddPolicy").unwrap();
            let add_data: Add = *lib.get(b"OpaAddData").unwrap();
            let eval_query: Eval = *lib.get(b"OpaEvalQuery").unwrap();
            Library {
                _lib: lib,
                new,
                destroy,
                free,
                add_policy,
                add_data,
                eval_query,
            }
        }
    })
}

/// One OPA engine: policies and data, then queries.
pub struct Opa {
    handle: u64,
}

fn text(s: &str) -> CString {
    CString::new(s).expect("no NUL in text handed to OPA")
}

impl Opa {
    pub fn new() -> Self {
        static NON_STRICT: OnceLock<()> = OnceLock::new();
        NON_STRICT.get_or_init(|| {
            let opa = Self::unchecked();
            let answer = opa.query("x := [1 | to_number(\"x\")]", None);
            let non_strict = Answer::Results(vec![serde_json::json!({"x": []})
                .as_object()
                .cloned()
                .unwrap()]);
            assert_eq!(
                answer,
                non_strict,
                "the OPA bridge at {} does not evaluate with OPA's default, non-strict \
                 builtin errors",
                library_path().display()
            );
        });
        Self::unchecked()
    }

    fn unchecked() -> Self {
        // SAFETY: OpaNew takes nothing and returns a handle.
        let handle = unsafe { (library().new)() };
        Self { handle }
    }

    /// Calls a bridge function that returns a JSON envelope, and reads it.
    fn envelope(&self, call: impl FnOnce(u64) -> *mut c_char) -> Value {
        let lib = library();
        let raw = call(self.handle);
        assert!(!raw.is_null(), "the OPA bridge returned NULL");
        // SAFETY: the bridge returns a NUL-terminated string it allocated with malloc, which is
        // ours to free with OpaFreeString once copied.
        let json = unsafe {
            let json = CStr::from_ptr(raw).to_string_lossy().into_owned();
            (lib.free)(raw);
            json
        };
        serde_json::from_str(&beyond_f64_as_strings(&json))
            .unwrap_or_else(|e| panic!("OPA's envelope {json}: {e}"))
    }

    fn checked(envelope: &Value) -> Result<(), String> {
        match envelope.get("error") {
            Some(err) if !err.is_null() => Err(format!("{}: {}", err["code"], err["message"])),
            _ => Ok(()),
        }
    }

    /// Adds a Rego module.
    pub fn add_policy(&mut self, path: &str, source: &str) -> Result<(), String> {
        let (path, source) = (text(path), text(source));
        let add = library().add_policy;
        // SAFETY: both strings outlive the call, which copies them.
        let envelope = self.envelope(|h| unsafe { add(h, path.as_ptr(), source.as_ptr()) });
        Self::checked(&envelope)
    }

    /// Adds `data` at the root of the data document (merged with what is there).
    pub fn add_data(&mut self, data: &Value) -> Result<(), String> {
        let (path, data) = (text(""), text(&data.to_string()));
        let add = library().add_data;
        // SAFETY: both strings outlive the call, which copies them.
        let envelope = self.envelope(|h| unsafe { add(h, path.as_ptr(), data.as_ptr()) });
        Self::checked(&envelope)
    }

    /// Evaluates a query with `input` (none for `None`).
    pub fn query(&self, query: &str, input: Option<&Value>) -> Answer {
        let query = text(query);
        let input = text(&input.map(Value::to_string).unwrap_or_default());
        let eval = library().eval_query;
        // SAFETY: as for add_policy; coverage and tracing are off.
        let envelope = self.envelope(|h| unsafe { eval(h, query.as_ptr(), input.as_ptr(), 0, 0) });
        Answer::of(&envelope)
    }
}

/// `json` with every number beyond what an f64 holds (OPA computes on arbitrary precision,
/// `1.5e300 * 1e19`) written as the string `"<number beyond f64: ...>"`, which serde_json
/// reads, and no answer of Palisade's equals.
fn beyond_f64_as_strings(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut chars = json.char_indices().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some((at, c)) = chars.next() {
        if in_string {
            out.push(c);
            in_string = c != '"' || escaped;
            escaped = c == '\\' && !escaped;
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            continue;
        }
        if !(c == '-' || c.is_ascii_digit()) {
            out.push(c);
            continue;
        }
        let mut end = at + c.len_utf8();
        while let Some(&(next_at, next)) = chars.peek() {
            if !(next.is_ascii_digit() || matches!(next, '.' | 'e' | 'E' | '+' | '-')) {
                break;
            }
            end = next_at + next.len_utf8();
            chars.next();
        }
        let number = &json[at..end];
        // With serde_json's arbitrary_precision (the `x509` feature), an integer is read exactly
        // and compared digit for digit (`compare::same`).
        let exact_integer = cfg!(feature = "x509") && !number.contains(['.', 'e', 'E']);
        match number.parse::<f64>() {
            Ok(n) if n.is_infinite() && !exact_integer => {
                out.push_str(&format!("\"<number beyond f64: {number}>\""))
            }
            _ => out.push_str(number),
        }
    }
    out
}

impl Default for Opa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Opa {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpaNew and is destroyed once.
        unsafe { (library().destroy)(self.handle) }
    }
}

impl Answer {
    fn of(envelope: &Value) -> Self {
        if let Some(err) = envelope.get("error").filter(|e| !e.is_null()) {
            let code = err["code"].as_str().unwrap_or_default().to_string();
            let message = err["message"].as_str().unwrap_or_default().to_string();
            // The bridge reports every evaluation error as `eval_error`, with OPA's own code in
            // the message (`...: eval_builtin_error: ...`).
            let builtin = ["eval_builtin_error", "eval_type_error"]
                .iter()
                .any(|c| code == *c || message.contains(&format!(": {c}: ")));
            return match builtin {
                true => Answer::BuiltinError(message),
                false => Answer::Error { code, message },
            };
        }
        let results = envelope["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("bindings").and_then(Value::as_object).cloned())
            .collect();
        Answer::Results(results)
    }
}
