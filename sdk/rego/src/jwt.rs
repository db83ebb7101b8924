//! OPA's `io.jwt.*` built-ins over `serde_json` values, to be registered as regorus extensions.
//!
//! The semantics follow OPA's `topdown/tokens.go` so that OPA-Envoy policies behave the same here:
//! malformed tokens, keys and constraints are errors, while a bad signature or a failed claim
//! check is a plain `false` (or `[false, {}, {}]` for `decode_verify`). Where OPA panics or where
//! this module is deliberately narrower, the item's documentation says so.
//!
//! Supported algorithms: HS256/384/512, RS256/384/512, PS256/384/512 (salt length = hash length),
//! ES256 and ES384. ES512 and EdDSA tokens never verify (the keys parse, the signature is `false`).

use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::der::asn1::AnyRef;
use spki::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

/// Why a JWT built-in failed. OPA reports these as evaluation errors (not as `false`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// An argument had the wrong JSON type.
    #[error("operand {position} must be {expected}")]
    Operand {
        position: u8,
        expected: &'static str,
    },
    /// The token has no `.` at all.
    #[error("encoded JWT had no period separators")]
    NoPeriods,
    /// The token does not have exactly three `.`-separated sections.
    #[error("encoded JWT must have 3 sections, found {0}")]
    Sections(usize),
    /// A base64url string could not be decoded.
    #[error("illegal base64url string")]
    Base64Url,
    /// A token section (`header`, `payload` or `signature`) is not valid base64url.
    #[error("JWT {part} had invalid encoding")]
    PartEncoding { part: &'static str },
    /// The header or payload is not a JSON object.
    #[error("bad JWT {part}: {reason}")]
    PartJson { part: &'static str, reason: String },
    /// The header has `enc`: the token is a JWE, which OPA does not support either.
    #[error("JWT is a JWE object, which is not supported")]
    Jwe,
    /// A registered header parameter (`alg`, `kid`, `typ`, `cty`, `crit`) has the wrong type.
    #[error("JWT header parameter {name}: must be {expected}")]
    HeaderParameter {
        name: &'static str,
        expected: &'static str,
    },
    /// `decode_verify` was given a constraint it does not know.
    #[error("unknown token validation constraint: {0}")]
    UnknownConstraint(String),
    /// A known constraint has the wrong type or value.
    #[error("{name} constraint: must be {expected}")]
    Constraint {
        name: &'static str,
        expected: &'static str,
    },
    /// Both `cert` and a non-empty `secret` were given.
    #[error("duplicate key constraints")]
    DuplicateKeyConstraints,
    /// Neither `cert` nor a non-empty `secret` was given.
    #[error("no key constraint")]
    NoKeyConstraint,
    /// A verified token's `exp` or `nbf` claim is not a number.
    #[error("{0} value must be a number")]
    ClaimNotNumber(&'static str),
    /// The certificate, public key or JWK (set) could not be read.
    #[error("invalid verification key: {0}")]
    InvalidKey(&'static str),
}

/// A JWS algorithm this module can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

impl Algorithm {
    /// Parses a JOSE `alg` name (`"RS256"`); `None` for `none` and anything unsupported.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "HS256" => Self::Hs256,
            "HS384" => Self::Hs384,
            "HS512" => Self::Hs512,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            _ => return None,
        })
    }
}

/// Algorithms OPA knows: a JWK whose `alg` is outside this list is dropped from a key set.
const OPA_ALGORITHMS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512", "EdDSA",
];

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Go's RSA verification has no practical upper bound; the `rsa` crate's default (4096) would
/// reject 8192-bit keys that OPA accepts.
const RSA_MAX_BITS: usize = 16384;

/// `base64url.decode` as OPA does it: a string without trailing `=` is padded first (a length
/// of 1 mod 4 is an error), then decoded as padded base64url. Like Go's decoder, non-zero
/// trailing bits are ignored and `\r`/`\n` are skipped.
pub fn base64url_decode(encoded: &str) -> Result<Vec<u8>, JwtError> {
    let mut padded = encoded.to_owned();
    if !encoded.ends_with('=') {
        match encoded.len() % 4 {
            0 => {}
            2 => padded.push_str("=="),
            3 => padded.push('='),
            _ => return Err(JwtError::Base64Url),
        }
    }
    base64_decode(padded.as_bytes(), Alphabet::Url).ok_or(JwtError::Base64Url)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Standard,
    Url,
}

/// Padded base64 as Go's `base64.URLEncoding` / `StdEncoding` decode it. Hand-written because
/// the general-purpose crates cost tens of KiB of wasm for this one loop.
fn base64_decode(input: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' if alphabet == Alphabet::Url => 62,
            b'_' if alphabet == Alphabet::Url => 63,
            b'+' if alphabet == Alphabet::Standard => 62,
            b'/' if alphabet == Alphabet::Standard => 63,
            _ => return None,
        };
        Some(u32::from(v))
    };
    let symbols: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| *c != b'\r' && *c != b'\n')
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let last = symbols.len() / 4;
    let mut out = Vec::with_capacity(last * 3);
    for (i, quantum) in symbols.chunks_exact(4).enumerate() {
        let pad = quantum.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != last) {
            return None;
        }
        let mut bits = 0u32;
        for c in quantum.iter().take(4 - pad) {
            bits = bits << 6 | value(*c)?;
        }
        let bytes = (bits << (6 * pad)).to_be_bytes();
        out.extend_from_slice(bytes.get(1..4 - pad)?);
    }
    Some(out)
}

fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]) {
        out.extend(char::from_digit(u32::from(nibble), 16));
    }
    out
}

/// `io.jwt.decode(token)`: `[header, payload, signature_hex]`, without verifying anything.
///
/// A header `cty` of exactly `"JWT"` means the payload is a nested token (quotes trimmed, as
/// OPA does); the innermost token is returned.
pub fn decode(token: &Value) -> Result<Value, JwtError> {
    let mut text = operand_str(token, 1)?.to_owned();
    loop {
        let raw = split_token(&text)?;
        let header = decode_header(raw.header)?;
        let payload = decode_part(raw.payload, "payload")?;
        if let Some(cty) = header.get("cty") {
            let cty = cty.as_str().ok_or(JwtError::HeaderParameter {
                name: "cty",
                expected: "a string",
            })?;
            if cty == "JWT" {
                let inner = String::from_utf8(payload)
                    .map_err(|_| JwtError::PartEncoding { part: "payload" })?;
                text = inner.trim_matches(['"', '\'']).to_owned();
                continue;
            }
        }
        let payload = json_object(&payload, "payload")?;
        let signature = decode_part(raw.signature, "signature")?;
        return Ok(Value::Array(vec![
            Value::Object(header),
            Value::Object(payload),
            Value::String(hex_lower(&signature)),
        ]));
    }
}

/// `io.jwt.decode_verify(token, constraints)`: `[valid, header, payload]`.
///
/// `now_ns` is the evaluation clock (`time.now_ns()`), used when `constraints` has no `time`.
/// A failed signature or claim check returns `[false, {}, {}]`; malformed constraints or a
/// malformed token are errors, exactly where OPA reports errors.
pub fn decode_verify(token: &Value, constraints: &Value, now_ns: i64) -> Result<Value, JwtError> {
    let constraints = Constraints::parse(constraints, now_ns)?;
    let mut text = operand_str(token, 1)?.to_owned();
    let (header, payload) = loop {
        let raw = split_token(&text)?;
        let header = decode_header(raw.header)?;
        let jose = JoseHeader::parse(&header)?;
        if !jose.is_valid() {
            return Ok(unverified());
        }
        if !constraints.alg.is_empty() && constraints.alg != jose.alg {
            return Ok(unverified());
        }
        let signature = decode_part(raw.signature, "signature")?;
        if !constraints.signature_ok(&jose, raw.signing_input, &signature) {
            return Ok(unverified());
        }
        let payload = decode_part(raw.payload, "payload")?;
        if jose.cty.eq_ignore_ascii_case("JWT") {
            // Nested token: verified again, with the same constraints, as OPA does.
            text = String::from_utf8(payload)
                .map_err(|_| JwtError::PartEncoding { part: "payload" })?;
            continue;
        }
        break (header, json_object(&payload, "payload")?);
    };

    if !constraints.iss.is_empty() {
        // OPA panics on a non-string `iss`; treating it as a mismatch is the safe reading.
        match payload.get("iss") {
            Some(Value::String(iss)) if *iss == constraints.iss => {}
            _ => return Ok(unverified()),
        }
    }
    match payload.get("aud") {
        Some(aud) if !audience_matches(aud, &constraints.aud) => return Ok(unverified()),
        None if !constraints.aud.is_empty() => return Ok(unverified()),
        _ => {}
    }
    // Claims are in seconds, the clock in nanoseconds; OPA compares them as float64 seconds.
    let now_s = constraints.time_ns / 1e9;
    if let Some(exp) = payload.get("exp") {
        if now_s >= exp.as_f64().ok_or(JwtError::ClaimNotNumber("exp"))? {
            return Ok(unverified());
        }
    }
    if let Some(nbf) = payload.get("nbf") {
        if now_s < nbf.as_f64().ok_or(JwtError::ClaimNotNumber("nbf"))? {
            return Ok(unverified());
        }
    }
    Ok(Value::Array(vec![
        Value::Bool(true),
        Value::Object(header),
        Value::Object(payload),
    ]))
}

/// `io.jwt.verify_<alg>(token, key)` for any supported algorithm: `key` is the HMAC secret for
/// `HS*`, otherwise a PEM certificate, a PEM public key, or a JWK / JWK set as a JSON string.
///
/// As in OPA, the HMAC variants look only at the signature (not the header), and the
/// asymmetric ones ignore the header's `alg` except to skip JWKS keys whose own `alg` differs.
pub fn verify(alg: Algorithm, token: &Value, key: &Value) -> Result<Value, JwtError> {
    let token = operand_str(token, 1)?;
    let raw = split_token(token)?;
    if matches!(alg, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512) {
        let secret = KeyMaterial::Secret(operand_str(key, 2)?.as_bytes().to_vec());
        let signature = decode_part(raw.signature, "signature")?;
        let valid = verify_signature(&secret, alg, raw.signing_input, &signature);
        return Ok(Value::Bool(valid));
    }
    let keys = parse_keys(operand_str(key, 2)?)?;
    let signature = decode_part(raw.signature, "signature")?;
    let jose = JoseHeader::parse(&decode_header(raw.header)?)?;
    let valid = verify_with_keys(&keys, &jose, |key| {
        verify_signature(key, alg, raw.signing_input, &signature)
    });
    Ok(Value::Bool(valid))
}

/// Defines the `io.jwt.verify_<alg>` built-ins as thin wrappers over [`verify`].
macro_rules! verify_builtins {
    ($($name:ident => $alg:ident),* $(,)?) => {$(
        #[doc = concat!("`io.jwt.", stringify!($name), "(token, key)`; see [`verify`].")]
        pub fn $name(token: &Value, key: &Value) -> Result<Value, JwtError> {
            verify(Algorithm::$alg, token, key)
        }
    )*};
}

verify_builtins! {
    verify_hs256 => Hs256, verify_hs384 => Hs384, verify_hs512 => Hs512,
    verify_rs256 => Rs256, verify_rs384 => Rs384, verify_rs512 => Rs512,
    verify_ps256 => Ps256, verify_ps384 => Ps384, verify_ps512 => Ps512,
    verify_es256 => Es256, verify_es384 => Es384,
}

// ---- token structure ----

/// The three encoded sections of a compact JWS, and the bytes the signature covers.
struct RawToken<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    signing_input: &'a [u8],
}

fn split_token(token: &str) -> Result<RawToken<'_>, JwtError> {
    if !token.contains('.') {
        return Err(JwtError::NoPeriods);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(JwtError::Sections(parts.len()));
    };
    let signing_input = token.rsplit_once('.').map_or("", |(input, _)| input);
    Ok(RawToken {
        header,
        payload,
        signature,
        signing_input: signing_input.as_bytes(),
    })
}

fn decode_part(encoded: &str, part: &'static str) -> Result<Vec<u8>, JwtError> {
    base64url_decode(encoded).map_err(|_| JwtError::PartEncoding { part })
}

fn json_object(bytes: &[u8], part: &'static str) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(JwtError::PartJson {
            part,
            reason: "decoded JSON type was not an Object".into(),
        }),
        Err(e) => Err(JwtError::PartJson {
            part,
            reason: format!("invalid JSON: {e}"),
        }),
    }
}

fn decode_header(encoded: &str) -> Result<Map<String, Value>, JwtError> {
    let header = json_object(&decode_part(encoded, "header")?, "header")?;
    if header.contains_key("enc") {
        return Err(JwtError::Jwe);
    }
    Ok(header)
}

/// The registered JOSE header parameters OPA looks at.
#[derive(Default)]
struct JoseHeader {
    alg: String,
    kid: String,
    cty: String,
    crit: Vec<String>,
    unknown: Vec<String>,
}

impl JoseHeader {
    fn parse(header: &Map<String, Value>) -> Result<Self, JwtError> {
        fn string(name: &'static str, value: &Value) -> Result<String, JwtError> {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or(JwtError::HeaderParameter {
                    name,
                    expected: "a string",
                })
        }
        let mut parsed = Self::default();
        for (name, value) in header {
            match name.as_str() {
                "alg" => parsed.alg = string("alg", value)?,
                "kid" => parsed.kid = string("kid", value)?,
                "cty" => parsed.cty = string("cty", value)?,
                "typ" => {
                    string("typ", value)?;
                }
                "crit" => {
                    let list = value.as_array().ok_or(JwtError::HeaderParameter {
                        name: "crit",
                        expected: "a list",
                    })?;
                    // OPA stops at the first non-string entry and only rejects an empty result.
                    parsed.crit = list
                        .iter()
                        .map_while(|v| v.as_str().map(str::to_owned))
                        .collect();
                    if parsed.crit.is_empty() {
                        return Err(JwtError::HeaderParameter {
                            name: "crit",
                            expected: "a nonempty list of strings",
                        });
                    }
                }
                other => parsed.unknown.push(other.to_owned()),
            }
        }
        Ok(parsed)
    }

    /// RFC 7515: `alg` is required, and a critical parameter we do not understand invalidates
    /// the token (a `false`, not an error).
    fn is_valid(&self) -> bool {
        !self.alg.is_empty() && !self.unknown.iter().any(|u| self.crit.contains(u))
    }
}

fn unverified() -> Value {
    Value::Array(vec![
        Value::Bool(false),
        Value::Object(Map::new()),
        Value::Object(Map::new()),
    ])
}

fn audience_matches(aud: &Value, wanted: &str) -> bool {
    match aud {
        Value::String(aud) => aud == wanted,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(wanted)),
        _ => false,
    }
}

fn operand_str(value: &Value, position: u8) -> Result<&str, JwtError> {
    value.as_str().ok_or(JwtError::Operand {
        position,
        expected: "a string",
    })
}

// ---- constraints ----

struct Constraints {
    keys: Option<Vec<VerificationKey>>,
    secret: String,
    alg: String,
    iss: String,
    aud: String,
    time_ns: f64,
}

impl Constraints {
    fn parse(value: &Value, now_ns: i64) -> Result<Self, JwtError> {
        fn string<'v>(name: &'static str, value: &'v Value) -> Result<&'v str, JwtError> {
            value.as_str().ok_or(JwtError::Constraint {
                name,
                expected: "a string",
            })
        }
        let negative_time = JwtError::Constraint {
            name: "token time",
            expected: "non-negative",
        };
        let object = value.as_object().ok_or(JwtError::Operand {
            position: 2,
            expected: "an object",
        })?;
        let (mut keys, mut secret, mut alg, mut iss, mut aud) = (None, "", "", "", "");
        let mut time_ns = None;
        for (name, value) in object {
            match name.as_str() {
                "cert" => keys = Some(parse_keys(string("cert", value)?)?),
                "secret" => secret = string("secret", value)?,
                "alg" => alg = string("alg", value)?,
                "iss" => iss = string("iss", value)?,
                "aud" => aud = string("aud", value)?,
                "time" => {
                    let time = value.as_f64().ok_or(JwtError::Constraint {
                        name: "token time",
                        expected: "a number",
                    })?;
                    if time < 0.0 {
                        return Err(negative_time);
                    }
                    time_ns = Some(time);
                }
                other => return Err(JwtError::UnknownConstraint(other.to_owned())),
            }
        }
        let time_ns = match time_ns {
            Some(time) => time,
            None if now_ns >= 0 => now_ns as f64,
            None => return Err(negative_time),
        };
        // An empty secret counts as absent, as in OPA.
        match (keys.is_some(), !secret.is_empty()) {
            (true, true) => Err(JwtError::DuplicateKeyConstraints),
            (false, false) => Err(JwtError::NoKeyConstraint),
            _ => Ok(Self {
                keys,
                secret: secret.to_owned(),
                alg: alg.to_owned(),
                iss: iss.to_owned(),
                aud: aud.to_owned(),
                time_ns,
            }),
        }
    }

    /// Verifies with the algorithm the token names; keys decide which algorithms can succeed,
    /// so an `HS256` token never verifies against an RSA or EC key (alg confusion).
    fn signature_ok(&self, jose: &JoseHeader, signing_input: &[u8], signature: &[u8]) -> bool {
        let Some(alg) = Algorithm::from_name(&jose.alg) else {
            return false;
        };
        let check = |key: &KeyMaterial| verify_signature(key, alg, signing_input, signature);
        match &self.keys {
            Some(keys) => verify_with_keys(keys, jose, check),
            None => check(&KeyMaterial::Secret(self.secret.as_bytes().to_vec())),
        }
    }
}

// ---- keys ----

enum KeyMaterial {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Secret(Vec<u8>),
    /// A key OPA can read but this module cannot use (Ed25519, P-521, ...): never verifies.
    Unsupported,
}

struct VerificationKey {
    material: KeyMaterial,
    /// The JWK's `alg`, empty for PEM input.
    alg: String,
    /// The JWK's `kid`, empty for PEM input.
    kid: String,
}

/// OPA's key selection: a key whose `kid` equals the token's is the only one tried; otherwise
/// every key whose `alg` is unset or equal to the token's `alg` is tried.
fn verify_with_keys(
    keys: &[VerificationKey],
    jose: &JoseHeader,
    check: impl Fn(&KeyMaterial) -> bool,
) -> bool {
    if !jose.kid.is_empty() {
        if let Some(key) = keys.iter().find(|k| k.kid == jose.kid) {
            return check(&key.material);
        }
    }
    keys.iter()
        .filter(|k| k.alg.is_empty() || k.alg == jose.alg)
        .any(|k| check(&k.material))
}

fn verify_signature(key: &KeyMaterial, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier;
    use Algorithm as A;
    match (alg, key) {
        (A::Hs256, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha256>>(k, input, signature),
        (A::Hs384, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha384>>(k, input, signature),
        (A::Hs512, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha512>>(k, input, signature),
        (_, KeyMaterial::Rsa(k)) => rsa_ok(k, alg, input, signature),
        (A::Es256, KeyMaterial::P256(k)) => fixed_width_rs(signature, 32)
            .and_then(|rs| p256::ecdsa::Signature::from_slice(&rs).ok())
            .is_some_and(|sig| k.verify(input, &sig).is_ok()),
        (A::Es384, KeyMaterial::P384(k)) => fixed_width_rs(signature, 48)
            .and_then(|rs| p384::ecdsa::Signature::from_slice(&rs).ok())
            .is_some_and(|sig| k.verify(input, &sig).is_ok()),
        _ => false,
    }
}

fn rsa_ok(key: &RsaPublicKey, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
    use Algorithm as A;
    // Go (1.24+, so current OPA) refuses RSA operations with keys under 1024 bits.
    if key.n().bits() < 1024 {
        return false;
    }
    let result = match alg {
        A::Rs256 => key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input), sig),
        A::Rs384 => key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(input), sig),
        A::Rs512 => key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(input), sig),
        A::Ps256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(input), sig),
        A::Ps384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(input), sig),
        A::Ps512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(input), sig),
        _ => return false,
    };
    result.is_ok()
}

/// Constant-time HMAC check (length mismatch is simply `false`).
fn hmac_ok<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8], signature: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

/// Like Go, splits a JWS ECDSA signature in two halves read as big-endian integers, and
/// rewrites them as the fixed-width `r || s` the RustCrypto types expect.
fn fixed_width_rs(signature: &[u8], width: usize) -> Option<Vec<u8>> {
    let (r, s) = signature.split_at_checked(signature.len() / 2)?;
    let mut out = Vec::with_capacity(2 * width);
    for half in [r, s] {
        let start = half.iter().position(|b| *b != 0).unwrap_or(half.len());
        let digits = half.get(start..)?;
        out.resize(out.len() + width.checked_sub(digits.len())?, 0);
        out.extend_from_slice(digits);
    }
    Some(out)
}

/// Reads OPA's `cert` argument: a PEM `CERTIFICATE` or `PUBLIC KEY`, else a JWK or JWK set.
fn parse_keys(text: &str) -> Result<Vec<VerificationKey>, JwtError> {
    let Some((label, der, rest)) = pem_first_block(text) else {
        return parse_jwks(text);
    };
    // Go's pem.Decode leaves only whitespace-free rest for a single block; a second block (a
    // chain) is an error in OPA. Trailing whitespace is tolerated here.
    if !rest.trim().is_empty() {
        return Err(JwtError::InvalidKey(
            "extra data after a PEM certificate block",
        ));
    }
    let der = der.ok_or(JwtError::InvalidKey("PEM block is not valid base64"))?;
    let material = match label {
        "CERTIFICATE" => key_from_spki(spki_of_certificate(&der)?)?,
        "PUBLIC KEY" => key_from_spki(
            SubjectPublicKeyInfoRef::from_der(&der)
                .map_err(|_| JwtError::InvalidKey("failed to parse a PEM public key"))?,
        )?,
        _ => {
            return Err(JwtError::InvalidKey(
                "failed to extract a Key from the PEM certificate",
            ))
        }
    };
    Ok(vec![VerificationKey {
        material,
        alg: String::new(),
        kid: String::new(),
    }])
}

/// Finds the first PEM block (text before it is ignored, as in Go). Returns the label, the
/// decoded body (`None` if it is not base64) and the text after the END line.
fn pem_first_block(text: &str) -> Option<(&str, Option<Vec<u8>>, &str)> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN)?;
    let (label, after) = text.get(start + BEGIN.len()..)?.split_once("-----")?;
    if label.contains('\n') {
        return None;
    }
    let end = format!("-----END {label}-----");
    let (body, rest) = after.split_once(end.as_str())?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Some((
        label,
        base64_decode(compact.as_bytes(), Alphabet::Standard),
        rest,
    ))
}

/// Walks `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }` to the key, without
/// decoding names or extensions (the signature on the certificate is not checked, as in OPA).
fn spki_of_certificate(der: &[u8]) -> Result<SubjectPublicKeyInfoRef<'_>, JwtError> {
    let walk = || -> spki::der::Result<SubjectPublicKeyInfoRef<'_>> {
        let mut reader = SliceReader::new(der)?;
        let certificate: AnyRef<'_> = reader.decode()?;
        reader.finish(())?;
        certificate.tag().assert_eq(Tag::Sequence)?;
        let mut fields = SliceReader::new(certificate.value())?;
        let tbs: AnyRef<'_> = fields.decode()?;
        tbs.tag().assert_eq(Tag::Sequence)?;
        let mut tbs = SliceReader::new(tbs.value())?;
        let version_tag = Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        };
        if tbs.peek_tag()? == version_tag {
            tbs.decode::<AnyRef<'_>>()?;
        }
        for _ in 0..5 {
            tbs.decode::<AnyRef<'_>>()?;
        }
        tbs.decode()
    };
    walk().map_err(|_| JwtError::InvalidKey("failed to parse a PEM certificate"))
}

fn key_from_spki(spki: SubjectPublicKeyInfoRef<'_>) -> Result<KeyMaterial, JwtError> {
    let invalid = JwtError::InvalidKey("failed to parse a PEM public key");
    let bits = spki.subject_public_key.as_bytes().ok_or(invalid.clone())?;
    if spki.algorithm.oid == OID_RSA_ENCRYPTION {
        let key = rsa::pkcs1::RsaPublicKey::from_der(bits).map_err(|_| invalid.clone())?;
        return rsa_key(key.modulus.as_bytes(), key.public_exponent.as_bytes()).ok_or(invalid);
    }
    if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|_| invalid.clone())?;
        return match curve {
            OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                .map(KeyMaterial::P256)
                .map_err(|_| invalid),
            OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                .map(KeyMaterial::P384)
                .map_err(|_| invalid),
            _ => Ok(KeyMaterial::Unsupported),
        };
    }
    Ok(KeyMaterial::Unsupported)
}

fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Option<KeyMaterial> {
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .ok()
        .map(KeyMaterial::Rsa)
}

/// A JWK set (`{"keys": [...]}`) or a single JWK, as `jwk.ParseString` accepts.
fn parse_jwks(text: &str) -> Result<Vec<VerificationKey>, JwtError> {
    let invalid = JwtError::InvalidKey("failed to parse a JWK key (set)");
    let document: Value = serde_json::from_slice(text.as_bytes()).map_err(|_| invalid.clone())?;
    let object = document.as_object().ok_or(invalid.clone())?;
    let jwks: Vec<&Value> = match object.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err(invalid),
        None => vec![&document],
    };
    let mut keys = Vec::with_capacity(jwks.len());
    for jwk in jwks {
        let jwk = jwk.as_object().ok_or(invalid.clone())?;
        let alg = jwk_string(jwk, "alg")?.unwrap_or_default();
        if !alg.is_empty() && !OPA_ALGORITHMS.contains(&alg) {
            continue; // e.g. an encryption key (RSA-OAEP) published in the same set
        }
        keys.push(VerificationKey {
            material: jwk_material(jwk)?,
            alg: alg.to_owned(),
            kid: jwk_string(jwk, "kid")?.unwrap_or_default().to_owned(),
        });
    }
    Ok(keys)
}

fn jwk_string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JwtError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::InvalidKey("JWK parameter is not a string")),
    }
}

fn jwk_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwtError> {
    let text = jwk_string(jwk, name)?
        .ok_or(JwtError::InvalidKey("JWK is missing a required parameter"))?;
    base64url_decode(text).map_err(|_| JwtError::InvalidKey("JWK parameter is not base64url"))
}

fn jwk_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
    match jwk_string(jwk, "kty")? {
        Some("RSA") => rsa_key(&jwk_bytes(jwk, "n")?, &jwk_bytes(jwk, "e")?)
            .ok_or(JwtError::InvalidKey("invalid RSA JWK")),
        Some("EC") => {
            let width: usize = match jwk_string(jwk, "crv")? {
                Some("P-256") => 32,
                Some("P-384") => 48,
                _ => return Ok(KeyMaterial::Unsupported),
            };
            let invalid = JwtError::InvalidKey("invalid EC JWK");
            let mut point = vec![0x04];
            for coordinate in [jwk_bytes(jwk, "x")?, jwk_bytes(jwk, "y")?] {
                let pad = width.checked_sub(coordinate.len()).ok_or(invalid.clone())?;
                point.resize(point.len() + pad, 0);
                point.extend_from_slice(&coordinate);
            }
            let material = if width == 32 {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(KeyMaterial::P256)
            } else {
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(KeyMaterial::P384)
            };
            material.map_err(|_| invalid)
        }
        Some("oct") => Ok(KeyMaterial::Secret(jwk_bytes(jwk, "k")?)),
        Some("OKP") => Ok(KeyMaterial::Unsupported),
        _ => Err(JwtError::InvalidKey("JWK has a missing or unknown kty")),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;
    use serde_json::json;

    const NOW_S: i64 = 1_700_000_000;
    const NOW_NS: i64 = NOW_S * 1_000_000_000;

    // Test keys generated once with `openssl genpkey` / `openssl req -x509` (100-year validity).
    /// 2048-bit RSA private key (PKCS#8)
    const RSA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCixDUcc+BLi/zz
lDWzf8O+uCtlmj2mSUkJkorGMl0tJVv0Y5tob6GcJX5QSVTgctaW6Ne4Vr9VdzTt
7bmt48IvSf5a4sBLKpK+vLkXD7LWwDi7FfaDJEhbDv+gAfVl7nWp99yoyS0GCtwp
aW9bIV8CtPmxp88gZaxlschl8hHmx08D2/9hh6gvxBUn1VAydVHa9+JXbk/WT4lV
ckd2Co5Ypn9nmMUnXCbpLAnllAy84BPqbfuFl4FOVi/rnnuMVeJUHLu9KyX5ccQj
SUF0BtlyaDjhOCafBfIi/p/b5LF9S6KT6ArqfJpOprhWfuOy6LWpGu+kBpa5j5MZ
uXQ8BDzdAgMBAAECggEAAg8TUOnSU4JQz8/3Ie8izb3MprtdvkW9C8bzxHAMp66K
TDwaUibfV3dN8rwKu9AYEM6fM/C8+NrKK5xPNfjkku6PrhyiLBE8y/bdLIKBU6AY
15z+gkgqNiSpbR+5N/HdQSome2gYDrSCdm+j/fYdGo6pferOfu1qUdr+2vNF8LJd
h9cHFRi8K1I7wKdSDeJps1Q3qMBwaPTI2gRATtOQMqmBOW5pynxObIMJd0nRtRVZ
7lGZkx/83ac+ialiDx2bU1D0hCBCV3EQNYDUbDCtQpeDFxpcMmu7X0z1N/6NGavZ
PKo7xSaLuY3atEjmjKKcGEraHSz/80woSmCN/ai9TQKBgQDhmrZKtG9hRA0kmTN7
trkXaPRVUFNfK64ft/GjJqKUUoDAbTvyEo4VCJ9+Zxgw2EWt6At8E8TKk+qqAJ6q
CnBHRWtfqTaKEgh7WHqw2JmddspabfFHNVVtxbLXEYcOgLVVaT/2Lcb7DA14hj/3
bGYHxHsyfbxlNMG1eWcwHjb1AwKBgQC4silvdxw1nDooy3G/HMmil7apcooPbM8s
14a3vbCJ25/CZQMzxMtRjBpLKXljzDB5QdW3HVht9fxLRh8YEedSgwakUD3129xE
mk/6Nmqf8/eFUwWfP7bBzoabGhvU8ctxwYRvGUDul6ZyuTUXps8Jo3t7rJXP2CYA
qkA939CwnwKBgQC9VrTK+afIf+5v2sukdnPcu87jkuiFpQkbwargfFpSFPPNi1+W
CBCKgpQo56kbxUalb2vEFGtCgOWfC6odl2knx5EX1dHaCsxniJhft0klKD8nqcGn
O5GY8STo7uLkPwzww8ZUe5LVuwXLMxCYPLdcqX+jnnbwkVhJT7xUW+dPtQKBgDbW
14y8Hgkg+PfR6FUpdAkt6NOJKcsIsL8Mw3hc/0T/jAEJQxkk7oWpBsmYZ+2k3CO0
04MKWI5VwnKLQIJCFqAePWOeW7dbb5yDAQo3DBOwOadBjmLJZTdIXhlBeFAS9ygw
oGToZ6owJwDbUxNRuRmQjAKdrOHIuQfrhSWaBfnbAoGACMQPJTzPKk7cAkmf9Boz
Dl+YFcmtROu5LUTptE/25mFBBMtYWTX8o59WoLnVlH9qPZ+1MpeUmATl2JK0c5tD
5q7BK+omhVcBpZwqKeiWgjg8QkNNEgHbVMs6mpC6bXeOedT8lsBuWbTLxBbWrHW8
nhbE0fzKTIM0uKxHXYTtukk=
-----END PRIVATE KEY-----
";
    /// self-signed certificate for RSA_KEY
    const RSA_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIDGzCCAgOgAwIBAgIUR+EoLHeZHuLjcBAi2qIAB3r6/TwwDQYJKoZIhvcNAQEL
BQAwHDEaMBgGA1UEAwwRcGFsaXNhZGUtdGVzdC1yc2EwIBcNMjYxMTIxMjIwNzUx
WhgPMjEyNjEwMjgyMjA3NTFaMBwxGjAYBgNVBAMMEXBhbGlzYWRlLXRlc3QtcnNh
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAosQ1HHPgS4v885Q1s3/D
vrgrZZo9pklJCZKKxjJdLSVb9GObaG+hnCV+UElU4HLWlujXuFa/VXc07e25rePC
L0n+WuLASyqSvry5Fw+y1sA4uxX2gyRIWw7/oAH1Ze51qffcqMktBgrcKWlvWyFf
ArT5safPIGWsZbHIZfIR5sdPA9v/YYeoL8QVJ9VQMnVR2vfiV25P1k+JVXJHdgqO
WKZ/Z5jFJ1wm6SwJ5ZQMvOAT6m37hZeBTlYv6557jFXiVBy7vSsl+XHEI0lBdAbZ
cmg44TgmnwXyIv6f2+SxfUuik+gK6nyaTqa4Vn7jsui1qRrvpAaWuY+TGbl0PAQ8
3QIDAQABo1MwUTAdBgNVHQ4EFgQUSj6O9pLBE56+SUoAgZVigWi/nS8wHwYDVR0j
BBgwFoAUSj6O9pLBE56+SUoAgZVigWi/nS8wDwYDVR0TAQH/BAUwAwEB/zANBgkq
hkiG9w0BAQsFAAOCAQEAKNVurfmyeOgqGc5Z0kny6xciDGKbkiojxTUFUl+3wGiG
x/ByeIo9waNQCb3n+2/sirtvi7+XxhxxT3aXfDlkW8dJkXJFCkM8DwxJ/TVqSyTf
y5Ik1xpQ0DPXYle72wEaY22osTI1A3rqNZ01Bbz8k5Sw23PV+ARz/l2tBfe3A4pJ
V1SHi1A79+0xrYwArIYz9ueb5iUs0wKJFGyS73jI1MDtylFpvoDlEbUi9PPOgjzD
VeNAMBygzVSvalLR/8ToQvxsmzsh0FDJnNvITAhwQ+NKXeTvXkvsFeUfSVKn9ZIj
kVj/mhhG02zci7ZqEwg7w1HBoe+tdfJ1aLWmZ/5UQw==
-----END CERTIFICATE-----
";
    /// public key of RSA_KEY
    const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAosQ1HHPgS4v885Q1s3/D
vrgrZZo9pklJCZKKxjJdLSVb9GObaG+hnCV+UElU4HLWlujXuFa/VXc07e25rePC
L0n+WuLASyqSvry5Fw+y1sA4uxX2gyRIWw7/oAH1Ze51qffcqMktBgrcKWlvWyFf
ArT5safPIGWsZbHIZfIR5sdPA9v/YYeoL8QVJ9VQMnVR2vfiV25P1k+JVXJHdgqO
WKZ/Z5jFJ1wm6SwJ5ZQMvOAT6m37hZeBTlYv6557jFXiVBy7vSsl+XHEI0lBdAbZ
cmg44TgmnwXyIv6f2+SxfUuik+gK6nyaTqa4Vn7jsui1qRrvpAaWuY+TGbl0PAQ8
3QIDAQAB
-----END PUBLIC KEY-----
";
    /// an unrelated RSA public key
    const OTHER_RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtYUFFm+XDRO1/fCtQWVi
SaGP1cGLjueALCNdYeM68HSATfcmmG9BjkSwefKyQagzuKa0bw5uojyIVnUIMfrW
asr68Hbia8euhgNbObThD+UIBiiwIYwDLEIzEYtrkbXd7wbYB7syLhr2XYV3Rou+
Imm5N8TN6gOEzTooq7Zx89ZwJuQva5GjNqTXBehMOCAflA0avhLD8WjlHWlmmhY/
pjX09g4jL2ATJJnudtQNxWBKunJOborQrDOmVEDXvcWs0mMMRzmSKZdeQtjxE6lK
1NiksiKiAvNn84EDF4Wx4b3l9mjMu1CtgYa2PhhAV05OZ5r0KHTPausfwhTiwPwV
/wIDAQAB
-----END PUBLIC KEY-----
";
    /// P-256 private key (PKCS#8)
    const P256_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsv5d8lpylOIx4H39
cawdtQhvP+sIwMzVi0U1HQ7yZ4ChRANCAAQj6mUjjQm0k/K5a7EH+4dUk6wbifQk
7xhS8XR5Mwl0BdtHh1qCoj1N124+q5yjnX711EyDiHpXUWX5vin9DKY/
-----END PRIVATE KEY-----
";
    /// self-signed certificate for P256_KEY
    const P256_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUZuM/PJgRmTKSBMpWm1aUeOeW1jowCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwScGFsaXNhZGUtdGVzdC1wMjU2MCAXDTI2MTEyMTIyMDc1MloY
DzIxMjYxMDI4MjIwNzUyWjAdMRswGQYDVQQDDBJwYWxpc2FkZS10ZXN0LXAyNTYw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQj6mUjjQm0k/K5a7EH+4dUk6wbifQk
7xhS8XR5Mwl0BdtHh1qCoj1N124+q5yjnX711EyDiHpXUWX5vin9DKY/o1MwUTAd
BgNVHQ4EFgQUQIQPnV212cQ3JYrmCfhjH8Vg/5YwHwYDVR0jBBgwFoAUQIQPnV21
2cQ3JYrmCfhjH8Vg/5YwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAoLIVCMQ6s2FKJfXf1vq5RyJp9xaemxQE8sOg1xRJAX4CIQC+iuTtFHXe0INw
Q3YSOTqPQUPIZNR9fQ9oRyE1ce16Pg==
-----END CERTIFICATE-----
";
    /// public key of P256_KEY
    const P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI+plI40JtJPyuWuxB/uHVJOsG4n0
JO8YUvF0eTMJdAXbR4dagqI9TdduPquco51+9dRMg4h6V1Fl+b4p/QymPw==
-----END PUBLIC KEY-----
";
    /// P-384 private key (PKCS#8)
    const P384_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDetY30OtJNfL98Kb7R
eIl9V10VfEtCNTqOmdFzH0Wjvrkf3QsecLc2aLPZBiOeo7mhZANiAAQkSAZGnyDK
FSFIFVXOV0sSoXR7zDFgw9vqmMpKzr0LFeUctBgE/9nJVne6KgMWceXTiqx+NERE
U0F36cJqir2WGWm9SwB+RRuaD5v/gq8fJBDaHeDn8wsPptc06ehNHaY=
-----END PRIVATE KEY-----
";
    /// public key of P384_KEY
    const P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEJEgGRp8gyhUhSBVVzldLEqF0e8wxYMPb
6pjKSs69CxXlHLQYBP/ZyVZ3uioDFnHl04qsfjRERFNBd+nCaoq9lhlpvUsAfkUb
mg+b/4KvHyQQ2h3g5/MLD6bXNOnoTR2m
-----END PUBLIC KEY-----
";
    /// an Ed25519 public key (not supported here)
    const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAu3xJblB+V9MWzQqtb4bWPnrzO5f2Bht1ODCSBIPZlfw=
-----END PUBLIC KEY-----
";

    enum Signer {
        Hmac(&'static [u8]),
        Rsa(rsa::RsaPrivateKey),
        P256(p256::ecdsa::SigningKey),
        P384(p384::ecdsa::SigningKey),
    }

    fn rsa_signer() -> Signer {
        Signer::Rsa(rsa::RsaPrivateKey::from_pkcs8_pem(RSA_KEY).unwrap())
    }
    fn p256_signer() -> Signer {
        Signer::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(P256_KEY).unwrap())
    }
    fn p384_signer() -> Signer {
        Signer::P384(p384::ecdsa::SigningKey::from_pkcs8_pem(P384_KEY).unwrap())
    }

    /// Unpadded base64url, as JWTs use it.
    fn b64(bytes: &[u8]) -> String {
        const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut bits = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                bits |= u32::from(*b) << (16 - 8 * i);
            }
            for i in 0..=chunk.len() {
                out.push(char::from(URL[(bits >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    /// Signs `header.claims` with whatever `header.alg` names (or HS256 for an HMAC key when
    /// `alg` is something else, such as `none`, to build tokens that lie about their alg).
    fn sign_with(signer: &Signer, sign_alg: &str, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let data = input.as_bytes();
        let sig: Vec<u8> = match (signer, sign_alg) {
            (Signer::Hmac(k), "HS384") => {
                let mut m = Hmac::<Sha384>::new_from_slice(k).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            (Signer::Hmac(k), "HS512") => {
                let mut m = Hmac::<Sha512>::new_from_slice(k).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            (Signer::Hmac(k), _) => {
                let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            (Signer::Rsa(k), "RS256") => k
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
                .unwrap(),
            (Signer::Rsa(k), "RS384") => k
                .sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(data))
                .unwrap(),
            (Signer::Rsa(k), "RS512") => k
                .sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(data))
                .unwrap(),
            (Signer::Rsa(k), "PS256") => k
                .sign_with_rng(
                    &mut rand_core::OsRng,
                    Pss::new::<Sha256>(),
                    &Sha256::digest(data),
                )
                .unwrap(),
            (Signer::P256(k), _) => {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = k.sign(data);
                s.to_bytes().to_vec()
            }
            (Signer::P384(k), _) => {
                use p384::ecdsa::signature::Signer as _;
                let s: p384::ecdsa::Signature = k.sign(data);
                s.to_bytes().to_vec()
            }
            (_, other) => panic!("test signer cannot do {other}"),
        };
        format!("{input}.{}", b64(&sig))
    }

    fn sign(signer: &Signer, header: Value, claims: Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("HS256").to_owned();
        sign_with(signer, &alg, &header, &claims)
    }

    fn hs256(secret: &'static [u8], claims: Value) -> String {
        sign(
            &Signer::Hmac(secret),
            json!({"alg": "HS256", "typ": "JWT"}),
            claims,
        )
    }

    /// An HS256 token whose payload is `payload` verbatim (not necessarily a JSON object).
    fn hs256_raw(secret: &[u8], header: &Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn dv(token: &str, constraints: Value) -> Value {
        decode_verify(&json!(token), &constraints, NOW_NS).unwrap()
    }

    fn is_valid(result: &Value) -> bool {
        let valid = result[0].as_bool().unwrap();
        if !valid {
            assert_eq!(result, &json!([false, {}, {}]));
        }
        valid
    }

    fn tamper_payload(token: &str, claims: Value) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        )
    }

    fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_KEY)
            .unwrap()
            .to_public_key();
        let mut jwk = json!({
            "kty": "RSA",
            "kid": kid,
            "n": b64(&key.n().to_bytes_be()),
            "e": b64(&key.e().to_bytes_be()),
        });
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    fn other_rsa_jwk(kid: &str) -> Value {
        let spki =
            SubjectPublicKeyInfoRef::from_der(&pem_first_block(OTHER_RSA_PUB).unwrap().1.unwrap())
                .unwrap()
                .subject_public_key
                .as_bytes()
                .unwrap()
                .to_vec();
        let key = rsa::pkcs1::RsaPublicKey::from_der(&spki).unwrap();
        json!({
            "kty": "RSA",
            "kid": kid,
            "n": b64(key.modulus.as_bytes()),
            "e": b64(key.public_exponent.as_bytes()),
        })
    }

    fn p256_jwk(kid: &str) -> Value {
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(P256_KEY).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        })
    }

    // ---- base64url ----

    #[test]
    fn base64url_decode_tolerates_missing_padding_like_opa() {
        assert_eq!(base64url_decode("QQ").unwrap(), b"A");
        assert_eq!(base64url_decode("QQ==").unwrap(), b"A");
        assert_eq!(base64url_decode("QUI").unwrap(), b"AB");
        assert_eq!(base64url_decode("QUI=").unwrap(), b"AB");
        assert_eq!(base64url_decode("QUJD").unwrap(), b"ABC");
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        // Go ignores non-zero trailing bits.
        assert_eq!(base64url_decode("QR").unwrap(), b"A");
    }

    #[test]
    fn base64url_decode_rejects_what_opa_rejects() {
        assert_eq!(base64url_decode("QUJDR"), Err(JwtError::Base64Url));
        assert_eq!(base64url_decode("QQ="), Err(JwtError::Base64Url));
        assert_eq!(base64url_decode("QQ+/"), Err(JwtError::Base64Url));
        assert_eq!(base64url_decode("Q=Q="), Err(JwtError::Base64Url));
        assert_eq!(base64url_decode("Q==="), Err(JwtError::Base64Url));
        assert_eq!(base64url_decode("QQ==QUJD"), Err(JwtError::Base64Url));
        // The padding is chosen from the raw length, newlines included, as OPA does.
        assert_eq!(base64url_decode("QU\nJD"), Err(JwtError::Base64Url));
    }

    // ---- io.jwt.decode ----

    #[test]
    fn decode_returns_header_payload_and_hex_signature() {
        let token = hs256(b"secret", json!({"sub": "alice", "n": 1}));
        let decoded = decode(&json!(token)).unwrap();
        assert_eq!(decoded[0], json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(decoded[1], json!({"sub": "alice", "n": 1}));
        let sig = base64url_decode(token.rsplit('.').next().unwrap()).unwrap();
        assert_eq!(decoded[2], json!(hex_lower(&sig)));
        assert_eq!(decoded[2].as_str().unwrap().len(), 64);
    }

    #[test]
    fn decode_accepts_the_jwt_io_example() {
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let decoded = decode(&json!(token)).unwrap();
        assert_eq!(decoded[1]["name"], json!("John Doe"));
        assert_eq!(
            decoded[2],
            json!("49f94ac7044948c78a285d904f87f0a4c7897f7e8f3a4eb2255fda750b2cc397")
        );
        assert_eq!(
            verify_hs256(&json!(token), &json!("your-256-bit-secret")).unwrap(),
            json!(true)
        );
    }

    #[test]
    fn decode_rejects_malformed_tokens() {
        let h = b64(br#"{"alg":"HS256"}"#);
        let p = b64(br#"{"a":1}"#);
        let cases = [
            ("nodots".to_owned(), JwtError::NoPeriods),
            (format!("{h}.{p}"), JwtError::Sections(2)),
            (format!("{h}.{p}.x.y"), JwtError::Sections(4)),
            (
                format!("{h}!.{p}.",),
                JwtError::PartEncoding { part: "header" },
            ),
            (
                format!("{h}.{p}!.",),
                JwtError::PartEncoding { part: "payload" },
            ),
            (
                format!("{h}.{p}.a"),
                JwtError::PartEncoding { part: "signature" },
            ),
            (
                format!("{}.{p}.", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)),
                JwtError::Jwe,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(decode(&json!(token)), Err(want), "{token}");
        }
        for (header, payload, part) in [
            (b64(b"not json"), p.clone(), "header"),
            (b64(b"[1]"), p.clone(), "header"),
            (h.clone(), b64(b"\"str\""), "payload"),
        ] {
            let err = decode(&json!(format!("{header}.{payload}."))).unwrap_err();
            assert!(
                matches!(err, JwtError::PartJson { part: p, .. } if p == part),
                "{err}"
            );
        }
        assert_eq!(
            decode(&json!(42)),
            Err(JwtError::Operand {
                position: 1,
                expected: "a string"
            })
        );
    }

    #[test]
    fn decode_unwraps_a_nested_token() {
        let inner = hs256(b"k", json!({"sub": "inner"}));
        let quoted = format!("\"{inner}\"");
        let outer = hs256_raw(
            b"k",
            &json!({"alg": "HS256", "cty": "JWT"}),
            quoted.as_bytes(),
        );
        let decoded = decode(&json!(outer)).unwrap();
        assert_eq!(decoded[1], json!({"sub": "inner"}));
        assert_eq!(decoded[0], json!({"alg": "HS256", "typ": "JWT"}));
    }

    // ---- io.jwt.verify_* ----

    #[test]
    fn verify_hs_checks_the_secret_and_the_signed_bytes() {
        for (alg, verify_fn) in [
            (
                "HS256",
                verify_hs256 as fn(&Value, &Value) -> Result<Value, JwtError>,
            ),
            ("HS384", verify_hs384),
            ("HS512", verify_hs512),
        ] {
            let token = sign(
                &Signer::Hmac(b"s3cret"),
                json!({"alg": alg}),
                json!({"a": 1}),
            );
            assert_eq!(
                verify_fn(&json!(token), &json!("s3cret")),
                Ok(json!(true)),
                "{alg}"
            );
            assert_eq!(
                verify_fn(&json!(token), &json!("wrong")),
                Ok(json!(false)),
                "{alg}"
            );
            let tampered = tamper_payload(&token, json!({"a": 2}));
            assert_eq!(
                verify_fn(&json!(tampered), &json!("s3cret")),
                Ok(json!(false))
            );
        }
        // HS256 verifier on an HS512 signature: wrong length, false.
        let token = sign(&Signer::Hmac(b"s"), json!({"alg": "HS512"}), json!({}));
        assert_eq!(verify_hs256(&json!(token), &json!("s")), Ok(json!(false)));
        assert!(verify_hs256(&json!("a.b"), &json!("s")).is_err());
        assert!(verify_hs256(&json!(token), &json!(1)).is_err());
    }

    #[test]
    fn verify_rs_accepts_certificate_public_key_and_jwks() {
        let signer = rsa_signer();
        let jwks = json!({"keys": [rsa_jwk("k1", Some("RS256"))]}).to_string();
        for (alg, verify_fn) in [
            (
                "RS256",
                verify_rs256 as fn(&Value, &Value) -> Result<Value, JwtError>,
            ),
            ("RS384", verify_rs384),
            ("RS512", verify_rs512),
        ] {
            let token = json!(sign(&signer, json!({"alg": alg}), json!({"sub": "x"})));
            assert_eq!(
                verify_fn(&token, &json!(RSA_CERT)),
                Ok(json!(true)),
                "{alg}"
            );
            assert_eq!(verify_fn(&token, &json!(RSA_PUB)), Ok(json!(true)), "{alg}");
            assert_eq!(verify_fn(&token, &json!(OTHER_RSA_PUB)), Ok(json!(false)));
            assert_eq!(verify_fn(&token, &json!(P256_PUB)), Ok(json!(false)));
            let tampered = tamper_payload(token.as_str().unwrap(), json!({"sub": "y"}));
            assert_eq!(
                verify_fn(&json!(tampered), &json!(RSA_CERT)),
                Ok(json!(false))
            );
        }
        let token = json!(sign(&signer, json!({"alg": "RS256"}), json!({})));
        assert_eq!(verify_rs256(&token, &json!(jwks)), Ok(json!(true)));
        // A JWK key whose alg differs from the token's alg is skipped.
        let jwks384 = json!({"keys": [rsa_jwk("k1", Some("RS384"))]}).to_string();
        assert_eq!(verify_rs256(&token, &json!(jwks384)), Ok(json!(false)));
        // Wrong hash for the verifier.
        assert_eq!(verify_rs384(&token, &json!(RSA_PUB)), Ok(json!(false)));
    }

    #[test]
    fn verify_rs_refuses_keys_under_1024_bits() {
        let small = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 768).unwrap();
        let public = small.to_public_key();
        let jwk = json!({
            "kty": "RSA",
            "n": b64(&public.n().to_bytes_be()),
            "e": b64(&public.e().to_bytes_be()),
        })
        .to_string();
        let token = sign(&Signer::Rsa(small), json!({"alg": "RS256"}), json!({}));
        assert_eq!(verify_rs256(&json!(token), &json!(jwk)), Ok(json!(false)));
    }

    #[test]
    fn verify_ps256_accepts_pss_signatures() {
        let token = json!(sign(&rsa_signer(), json!({"alg": "PS256"}), json!({})));
        assert_eq!(verify_ps256(&token, &json!(RSA_CERT)), Ok(json!(true)));
        assert_eq!(verify_rs256(&token, &json!(RSA_CERT)), Ok(json!(false)));
        assert_eq!(
            verify_ps256(&token, &json!(OTHER_RSA_PUB)),
            Ok(json!(false))
        );
    }

    #[test]
    fn verify_es_checks_curve_and_signature() {
        let t256 = json!(sign(
            &p256_signer(),
            json!({"alg": "ES256"}),
            json!({"a": 1})
        ));
        assert_eq!(verify_es256(&t256, &json!(P256_CERT)), Ok(json!(true)));
        assert_eq!(verify_es256(&t256, &json!(P256_PUB)), Ok(json!(true)));
        let jwks = json!({"keys": [p256_jwk("e1")]}).to_string();
        assert_eq!(verify_es256(&t256, &json!(jwks)), Ok(json!(true)));
        assert_eq!(verify_es256(&t256, &json!(P384_PUB)), Ok(json!(false)));
        assert_eq!(verify_es256(&t256, &json!(RSA_PUB)), Ok(json!(false)));
        assert_eq!(verify_es384(&t256, &json!(P256_PUB)), Ok(json!(false)));
        let tampered = tamper_payload(t256.as_str().unwrap(), json!({"a": 2}));
        assert_eq!(
            verify_es256(&json!(tampered), &json!(P256_PUB)),
            Ok(json!(false))
        );

        let t384 = json!(sign(
            &p384_signer(),
            json!({"alg": "ES384"}),
            json!({"a": 1})
        ));
        assert_eq!(verify_es384(&t384, &json!(P384_PUB)), Ok(json!(true)));
        assert_eq!(verify_es256(&t384, &json!(P384_PUB)), Ok(json!(false)));
    }

    #[test]
    fn verify_rejects_unusable_key_input() {
        let token = json!(sign(&rsa_signer(), json!({"alg": "RS256"}), json!({})));
        let chain = format!("{RSA_CERT}\n{P256_CERT}");
        let pkcs1 = RSA_PUB.replace("PUBLIC KEY", "RSA PUBLIC KEY");
        let garbage_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        for bad in [
            "",
            "not a key",
            chain.as_str(),
            pkcs1.as_str(),
            garbage_pem,
            r#"{"keys": 1}"#,
            r#"{"kty": "RSA"}"#,
            r#"{"kty": "XYZ"}"#,
        ] {
            assert!(
                matches!(
                    verify_rs256(&token, &json!(bad)),
                    Err(JwtError::InvalidKey(_))
                ),
                "{bad}"
            );
        }
        // An Ed25519 key parses (as in OPA) but cannot verify RS256.
        assert_eq!(verify_rs256(&token, &json!(ED25519_PUB)), Ok(json!(false)));
        // Trailing whitespace after the PEM block is fine.
        assert_eq!(
            verify_rs256(&token, &json!(format!("{RSA_CERT}\n\n"))),
            Ok(json!(true))
        );
    }

    #[test]
    fn fixed_width_rs_left_pads_trimmed_halves() {
        let sig = [[0u8; 31].as_slice(), &[1], &[0; 31], &[2]].concat();
        let rs = fixed_width_rs(&sig, 32).unwrap();
        assert_eq!(rs, sig);
        let short = [1u8, 2];
        let rs = fixed_width_rs(&short, 32).unwrap();
        assert_eq!(rs.len(), 64);
        assert_eq!((rs[31], rs[63]), (1, 2));
        assert!(fixed_width_rs(&[1u8; 66], 32).is_none());
    }

    // ---- io.jwt.decode_verify: keys and algorithms ----

    #[test]
    fn decode_verify_returns_header_and_payload_when_valid() {
        let token = hs256(b"secret", json!({"sub": "alice", "exp": NOW_S + 60}));
        let result = dv(&token, json!({"secret": "secret"}));
        assert_eq!(
            result,
            json!([true, {"alg": "HS256", "typ": "JWT"}, {"sub": "alice", "exp": NOW_S + 60}])
        );
        let rs = sign(
            &rsa_signer(),
            json!({"alg": "RS256", "kid": "k1"}),
            json!({"a": 1}),
        );
        assert!(is_valid(&dv(&rs, json!({"cert": RSA_CERT}))));
        assert!(is_valid(&dv(&rs, json!({"cert": RSA_PUB, "alg": "RS256"}))));
        let es = sign(&p256_signer(), json!({"alg": "ES256"}), json!({"a": 1}));
        assert!(is_valid(&dv(&es, json!({"cert": P256_CERT}))));
        let es384 = sign(&p384_signer(), json!({"alg": "ES384"}), json!({"a": 1}));
        assert!(is_valid(&dv(&es384, json!({"cert": P384_PUB}))));
        let ps = sign(&rsa_signer(), json!({"alg": "PS256"}), json!({"a": 1}));
        assert!(is_valid(&dv(&ps, json!({"cert": RSA_PUB}))));
    }

    #[test]
    fn decode_verify_fails_with_wrong_key_or_tampered_payload() {
        let token = hs256(b"secret", json!({"sub": "alice"}));
        assert!(!is_valid(&dv(&token, json!({"secret": "other"}))));
        let tampered = tamper_payload(&token, json!({"sub": "admin"}));
        assert!(!is_valid(&dv(&tampered, json!({"secret": "secret"}))));
        let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), json!({}));
        assert!(!is_valid(&dv(&rs, json!({"cert": OTHER_RSA_PUB}))));
        assert!(!is_valid(&dv(&rs, json!({"cert": P256_PUB}))));
        // Signature stripped.
        let stripped = format!("{}.", rs.rsplit_once('.').unwrap().0);
        assert!(!is_valid(&dv(&stripped, json!({"cert": RSA_PUB}))));
    }

    #[test]
    fn decode_verify_blocks_alg_confusion() {
        // Attacker signs HS256 with the server's public key PEM as the HMAC secret.
        let header = json!({"alg": "HS256"});
        let claims = json!({"sub": "admin"});
        let secret: &'static [u8] = RSA_PUB.as_bytes();
        let forged = sign_with(&Signer::Hmac(secret), "HS256", &header, &claims);
        assert!(!is_valid(&dv(&forged, json!({"cert": RSA_PUB}))));
        assert!(!is_valid(&dv(&forged, json!({"cert": RSA_CERT}))));
        assert_eq!(
            verify_rs256(&json!(forged), &json!(RSA_PUB)),
            Ok(json!(false))
        );
        // ...and an RS256 token is not accepted against a secret.
        let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), claims);
        assert!(!is_valid(&dv(&rs, json!({"secret": RSA_PUB}))));
    }

    #[test]
    fn decode_verify_rejects_alg_none_and_unsupported_algs() {
        let claims = json!({"sub": "admin"});
        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims.to_string().as_bytes())
        );
        assert!(!is_valid(&dv(&unsigned, json!({"secret": "secret"}))));
        assert!(!is_valid(&dv(&unsigned, json!({"cert": RSA_PUB}))));
        let none_hmac = sign_with(
            &Signer::Hmac(b"secret"),
            "HS256",
            &json!({"alg": "none"}),
            &claims,
        );
        assert!(!is_valid(&dv(&none_hmac, json!({"secret": "secret"}))));
        let missing_alg = sign_with(
            &Signer::Hmac(b"secret"),
            "HS256",
            &json!({"typ": "JWT"}),
            &claims,
        );
        assert!(!is_valid(&dv(&missing_alg, json!({"secret": "secret"}))));
        let es512 = sign_with(
            &Signer::Hmac(b"secret"),
            "HS256",
            &json!({"alg": "ES512"}),
            &claims,
        );
        assert!(!is_valid(&dv(&es512, json!({"secret": "secret"}))));
    }

    #[test]
    fn decode_verify_alg_constraint_must_match_header() {
        let token = hs256(b"secret", json!({}));
        assert!(is_valid(&dv(
            &token,
            json!({"secret": "secret", "alg": "HS256"})
        )));
        assert!(!is_valid(&dv(
            &token,
            json!({"secret": "secret", "alg": "HS512"})
        )));
    }

    #[test]
    fn decode_verify_selects_jwks_keys_by_kid_then_tries_all() {
        let signer = rsa_signer();
        let jwks = json!({"keys": [
            other_rsa_jwk("other"),
            {"kty": "RSA", "kid": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
            rsa_jwk("mine", Some("RS256")),
            p256_jwk("ec"),
        ]})
        .to_string();
        let by_kid = sign(&signer, json!({"alg": "RS256", "kid": "mine"}), json!({}));
        assert!(is_valid(&dv(&by_kid, json!({"cert": jwks}))));
        let unknown_kid = sign(&signer, json!({"alg": "RS256", "kid": "nope"}), json!({}));
        assert!(is_valid(&dv(&unknown_kid, json!({"cert": jwks}))));
        let no_kid = sign(&signer, json!({"alg": "RS256"}), json!({}));
        assert!(is_valid(&dv(&no_kid, json!({"cert": jwks}))));
        // A kid that names the wrong key: only that key is tried, as in OPA.
        let wrong_kid = sign(&signer, json!({"alg": "RS256", "kid": "other"}), json!({}));
        assert!(!is_valid(&dv(&wrong_kid, json!({"cert": jwks}))));
        let es = sign(
            &p256_signer(),
            json!({"alg": "ES256", "kid": "ec"}),
            json!({}),
        );
        assert!(is_valid(&dv(&es, json!({"cert": jwks}))));
        // A single JWK (not a set) works too; an empty set verifies nothing.
        let single = rsa_jwk("mine", None).to_string();
        assert!(is_valid(&dv(&no_kid, json!({"cert": single}))));
        assert!(!is_valid(&dv(&no_kid, json!({"cert": r#"{"keys": []}"#}))));
    }

    #[test]
    fn decode_verify_accepts_an_oct_jwk_for_hmac() {
        let token = hs256(b"shared", json!({}));
        let jwks = json!({"keys": [{"kty": "oct", "k": b64(b"shared")}]}).to_string();
        assert!(is_valid(&dv(&token, json!({"cert": jwks}))));
        assert_eq!(verify_rs256(&json!(token), &json!(jwks)), Ok(json!(false)));
    }

    #[test]
    fn decode_verify_honours_crit_header() {
        let signer = Signer::Hmac(b"secret");
        let c = json!({"secret": "secret"});
        let header = json!({"alg": "HS256", "crit": ["b64"], "b64": false});
        assert!(!is_valid(&dv(&sign(&signer, header, json!({})), c.clone())));
        // A listed parameter that is absent is not "unknown".
        let header = json!({"alg": "HS256", "crit": ["x-absent"]});
        assert!(is_valid(&dv(&sign(&signer, header, json!({})), c.clone())));
        for header in [
            json!({"alg": "HS256", "crit": "b64"}),
            json!({"alg": "HS256", "crit": []}),
            json!({"alg": "HS256", "crit": [1, "x"]}),
            json!({"alg": "HS256", "kid": 7}),
            json!({"alg": 256}),
        ] {
            let token = sign_with(&signer, "HS256", &header, &json!({}));
            assert!(
                matches!(
                    decode_verify(&json!(token), &c, NOW_NS),
                    Err(JwtError::HeaderParameter { .. })
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn decode_verify_follows_nested_tokens() {
        let header = json!({"alg": "HS256", "cty": "jwt"});
        let inner = hs256(b"secret", json!({"sub": "inner"}));
        let outer = hs256_raw(b"secret", &header, inner.as_bytes());
        let result = dv(&outer, json!({"secret": "secret"}));
        assert_eq!(
            result,
            json!([true, {"alg": "HS256", "typ": "JWT"}, {"sub": "inner"}])
        );
        // The inner token must verify too.
        let bad_inner = hs256(b"other", json!({"sub": "inner"}));
        let outer = hs256_raw(b"secret", &header, bad_inner.as_bytes());
        assert!(!is_valid(&dv(&outer, json!({"secret": "secret"}))));
    }

    // ---- io.jwt.decode_verify: claims ----

    #[test]
    fn decode_verify_checks_exp_and_nbf_against_time() {
        let c = json!({"secret": "k"});
        let check = |claims: Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
        assert!(check(json!({"exp": NOW_S + 1})));
        assert!(!check(json!({"exp": NOW_S})), "exp is exclusive");
        assert!(!check(json!({"exp": NOW_S - 1})));
        assert!(check(json!({"exp": NOW_S as f64 + 0.5})));
        assert!(check(json!({"nbf": NOW_S})), "nbf is inclusive");
        assert!(!check(json!({"nbf": NOW_S + 1})));
        assert!(check(json!({"nbf": NOW_S - 1, "exp": NOW_S + 1})));
        // The `time` constraint (nanoseconds) replaces the clock.
        let token = hs256(b"k", json!({"exp": NOW_S + 10}));
        let later = json!({"secret": "k", "time": (NOW_S + 20) * 1_000_000_000});
        assert!(!is_valid(&dv(&token, later)));
        let earlier = json!({"secret": "k", "time": (NOW_S - 20) as f64 * 1e9});
        let expired = hs256(b"k", json!({"exp": NOW_S - 10}));
        assert!(is_valid(&dv(&expired, earlier)));
    }

    #[test]
    fn decode_verify_errors_on_non_numeric_exp_or_nbf() {
        let c = json!({"secret": "k"});
        for (claims, name) in [
            (json!({"exp": "tomorrow"}), "exp"),
            (json!({"exp": null}), "exp"),
            (json!({"nbf": "yesterday"}), "nbf"),
        ] {
            let token = hs256(b"k", claims);
            assert_eq!(
                decode_verify(&json!(token), &c, NOW_NS),
                Err(JwtError::ClaimNotNumber(name))
            );
        }
        // With a bad signature the claims are never looked at.
        let token = hs256(b"other", json!({"exp": "tomorrow"}));
        assert!(!is_valid(&dv(&token, c)));
    }

    #[test]
    fn decode_verify_checks_issuer() {
        let c = json!({"secret": "k", "iss": "https://issuer"});
        let check = |claims: Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
        assert!(check(json!({"iss": "https://issuer"})));
        assert!(!check(json!({"iss": "https://evil"})));
        assert!(!check(json!({})));
        assert!(!check(json!({"iss": ["https://issuer"]})));
        // Without an iss constraint any issuer is fine.
        let token = hs256(b"k", json!({"iss": "anyone"}));
        assert!(is_valid(&dv(&token, json!({"secret": "k"}))));
    }

    #[test]
    fn decode_verify_checks_audience_like_opa() {
        let with_aud = json!({"secret": "k", "aud": "api"});
        let without_aud = json!({"secret": "k"});
        let check = |claims: Value, c: &Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
        assert!(check(json!({"aud": "api"}), &with_aud));
        assert!(check(json!({"aud": ["web", "api"]}), &with_aud));
        assert!(!check(json!({"aud": "web"}), &with_aud));
        assert!(!check(json!({"aud": ["web"]}), &with_aud));
        assert!(!check(json!({"aud": 1}), &with_aud));
        assert!(!check(json!({}), &with_aud), "aud required by constraint");
        // A token with an audience is rejected when the caller names none.
        assert!(!check(json!({"aud": "api"}), &without_aud));
        assert!(check(json!({}), &without_aud));
    }

    #[test]
    fn decode_verify_uses_now_ns_when_time_is_absent() {
        let token = hs256(b"k", json!({"exp": NOW_S + 5}));
        let c = json!({"secret": "k"});
        assert!(is_valid(&decode_verify(&json!(token), &c, NOW_NS).unwrap()));
        let later = NOW_NS + 6_000_000_000;
        assert!(!is_valid(&decode_verify(&json!(token), &c, later).unwrap()));
        assert!(decode_verify(&json!(token), &c, -1).is_err());
    }

    // ---- io.jwt.decode_verify: constraint errors ----

    #[test]
    fn decode_verify_rejects_malformed_constraints() {
        let token = json!(hs256(b"k", json!({})));
        let err = |c: Value| decode_verify(&token, &c, NOW_NS).unwrap_err();
        assert_eq!(
            err(json!({"secret": "k", "leeway": 5})),
            JwtError::UnknownConstraint("leeway".into())
        );
        assert_eq!(
            err(json!({"secret": "k", "cert": RSA_PUB})),
            JwtError::DuplicateKeyConstraints
        );
        assert_eq!(err(json!({})), JwtError::NoKeyConstraint);
        assert_eq!(err(json!({"secret": ""})), JwtError::NoKeyConstraint);
        assert!(matches!(
            err(json!({"secret": 1})),
            JwtError::Constraint { name: "secret", .. }
        ));
        assert!(matches!(
            err(json!({"secret": "k", "aud": ["a"]})),
            JwtError::Constraint { name: "aud", .. }
        ));
        assert!(matches!(
            err(json!({"secret": "k", "time": "now"})),
            JwtError::Constraint {
                name: "token time",
                ..
            }
        ));
        assert!(matches!(
            err(json!({"secret": "k", "time": -1})),
            JwtError::Constraint {
                name: "token time",
                ..
            }
        ));
        assert!(matches!(
            err(json!({"cert": "junk"})),
            JwtError::InvalidKey(_)
        ));
        assert!(matches!(
            err(json!(["secret"])),
            JwtError::Operand { position: 2, .. }
        ));
        // An empty secret next to a cert is simply ignored.
        let rs = json!(sign(&rsa_signer(), json!({"alg": "RS256"}), json!({})));
        let ok = decode_verify(&rs, &json!({"cert": RSA_PUB, "secret": ""}), NOW_NS).unwrap();
        assert!(is_valid(&ok));
    }

    #[test]
    fn decode_verify_reports_malformed_tokens_as_errors() {
        let c = json!({"secret": "k"});
        assert_eq!(
            decode_verify(&json!("abc"), &c, NOW_NS),
            Err(JwtError::NoPeriods)
        );
        assert_eq!(
            decode_verify(&json!("a.b"), &c, NOW_NS),
            Err(JwtError::Sections(2))
        );
        let h = b64(br#"{"alg":"HS256"}"#);
        assert_eq!(
            decode_verify(&json!(format!("{h}.e30.!!")), &c, NOW_NS),
            Err(JwtError::PartEncoding { part: "signature" })
        );
        // A valid signature over a payload that is not an object.
        let token = hs256_raw(b"k", &json!({"alg": "HS256"}), b"[1,2]");
        assert!(matches!(
            decode_verify(&json!(token), &c, NOW_NS),
            Err(JwtError::PartJson {
                part: "payload",
                ..
            })
        ));
    }
}
