//! OPA's `io.jwt.*` built-ins (`decode`, `decode_verify`, `verify_*`) over `serde_json` values, to be registered as regorus extensions.
//!
//! The semantics follow OPA's `topdown/tokens.go` so that OPA-Envoy policies behave the same here:
//! malformed tokens, keys and constraints are errors, while a bad signature or a failed claim
//! check is a plain `false` (or `[false, {}, {}]` for `decode_verify`). Where OPA panics or where
//! this module is deliberately narrower, the item's documentation says so.
//!
//! Supported algorithms: HS256/384/512, RS256/384/512, PS256/384/512 (salt length = hash length),
//! ES256 and ES384. ES512 and EdDSA tokens never verify (the keys parse, the signature is `false`).

use std::sync::OnceLock;

use data_encoding::{Encoding, Specification, BASE64, HEXLOWER};
use hmac::{Hmac, Mac};
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
    Operand { position: u8, expected: &'static str },
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
    HeaderParameter { name: &'static str, expected: &'static str },
    /// `decode_verify` was given a constraint it does not know.
    #[error("unknown token validation constraint: {0}")]
    UnknownConstraint(String),
    /// A known constraint has the wrong type or value.
    #[error("{name} constraint: must be {expected}")]
    Constraint { name: &'static str, expected: &'static str },
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
/// of 1 mod 4 is an error), then decoded as padded base64url; like Go, non-zero trailing bits
/// are ignored and `\r`/`\n` are skipped.
pub fn base64url_decode(encoded: &str) -> Result<Vec<u8>, JwtError> {
    static LENIENT: OnceLock<Option<Encoding>> = OnceLock::new();
    let engine = LENIENT
        .get_or_init(|| {
            let mut spec = Specification::new();
            spec.symbols
                .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
            spec.padding = Some('=');
            spec.check_trailing_bits = false;
            spec.ignore.push_str("\r\n");
            spec.encoding().ok()
        })
        .as_ref()
        .ok_or(JwtError::Base64Url)?;
    let mut padded = encoded.to_owned();
    if !encoded.ends_with('=') {
        match encoded.len() % 4 {
            0 => {}
            2 => padded.push_str("=="),
            3 => padded.push('='),
            _ => return Err(JwtError::Base64Url),
        }
    }
    engine
        .decode(padded.as_bytes())
        .map_err(|_| JwtError::Base64Url)
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
            Value::String(HEXLOWER.encode(&signature)),
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

/// `io.jwt.verify_hs256(token, secret)`.
pub fn verify_hs256(token: &Value, secret: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Hs256, token, secret)
}
/// `io.jwt.verify_hs384(token, secret)`.
pub fn verify_hs384(token: &Value, secret: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Hs384, token, secret)
}
/// `io.jwt.verify_hs512(token, secret)`.
pub fn verify_hs512(token: &Value, secret: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Hs512, token, secret)
}
/// `io.jwt.verify_rs256(token, certificate)`.
pub fn verify_rs256(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Rs256, token, certificate)
}
/// `io.jwt.verify_rs384(token, certificate)`.
pub fn verify_rs384(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Rs384, token, certificate)
}
/// `io.jwt.verify_rs512(token, certificate)`.
pub fn verify_rs512(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Rs512, token, certificate)
}
/// `io.jwt.verify_ps256(token, certificate)`.
pub fn verify_ps256(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Ps256, token, certificate)
}
/// `io.jwt.verify_ps384(token, certificate)`.
pub fn verify_ps384(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Ps384, token, certificate)
}
/// `io.jwt.verify_ps512(token, certificate)`.
pub fn verify_ps512(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Ps512, token, certificate)
}
/// `io.jwt.verify_es256(token, certificate)`; the key must be on P-256.
pub fn verify_es256(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Es256, token, certificate)
}
/// `io.jwt.verify_es384(token, certificate)`; the key must be on P-384.
pub fn verify_es384(token: &Value, certificate: &Value) -> Result<Value, JwtError> {
    verify(Algorithm::Es384, token, certificate)
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
        fn string(name: &'static str, value: &Value) -> Result<String, JwtError> {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or(JwtError::Constraint {
                    name,
                    expected: "a string",
                })
        }
        let object = value.as_object().ok_or(JwtError::Operand {
            position: 2,
            expected: "an object",
        })?;
        let mut parsed = Self {
            keys: None,
            secret: String::new(),
            alg: String::new(),
            iss: String::new(),
            aud: String::new(),
            time_ns: -1.0,
        };
        for (name, value) in object {
            match name.as_str() {
                "cert" => {
                    let cert = value.as_str().ok_or(JwtError::Constraint {
                        name: "cert",
                        expected: "a string",
                    })?;
                    parsed.keys = Some(parse_keys(cert)?);
                }
                "secret" => parsed.secret = string("secret", value)?,
                "alg" => parsed.alg = string("alg", value)?,
                "iss" => parsed.iss = string("iss", value)?,
                "aud" => parsed.aud = string("aud", value)?,
                "time" => {
                    parsed.time_ns = value.as_f64().ok_or(JwtError::Constraint {
                        name: "token time",
                        expected: "a number",
                    })?;
                    if parsed.time_ns < 0.0 {
                        return Err(JwtError::Constraint {
                            name: "token time",
                            expected: "non-negative",
                        });
                    }
                }
                other => return Err(JwtError::UnknownConstraint(other.to_owned())),
            }
        }
        if parsed.time_ns < 0.0 {
            if now_ns < 0 {
                return Err(JwtError::Constraint {
                    name: "token time",
                    expected: "non-negative",
                });
            }
            parsed.time_ns = now_ns as f64;
        }
        // An empty secret counts as absent, as in OPA.
        match (parsed.keys.is_some(), !parsed.secret.is_empty()) {
            (true, true) => Err(JwtError::DuplicateKeyConstraints),
            (false, false) => Err(JwtError::NoKeyConstraint),
            _ => Ok(parsed),
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
        (A::Rs256, KeyMaterial::Rsa(k)) => {
            let digest = Sha256::digest(input);
            k.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                .is_ok()
        }
        (A::Rs384, KeyMaterial::Rsa(k)) => {
            let digest = Sha384::digest(input);
            k.verify(Pkcs1v15Sign::new::<Sha384>(), &digest, signature)
                .is_ok()
        }
        (A::Rs512, KeyMaterial::Rsa(k)) => {
            let digest = Sha512::digest(input);
            k.verify(Pkcs1v15Sign::new::<Sha512>(), &digest, signature)
                .is_ok()
        }
        (A::Ps256, KeyMaterial::Rsa(k)) => {
            let digest = Sha256::digest(input);
            k.verify(Pss::new::<Sha256>(), &digest, signature).is_ok()
        }
        (A::Ps384, KeyMaterial::Rsa(k)) => {
            let digest = Sha384::digest(input);
            k.verify(Pss::new::<Sha384>(), &digest, signature).is_ok()
        }
        (A::Ps512, KeyMaterial::Rsa(k)) => {
            let digest = Sha512::digest(input);
            k.verify(Pss::new::<Sha512>(), &digest, signature).is_ok()
        }
        (A::Es256, KeyMaterial::P256(k)) => fixed_width_rs(signature, 32)
            .and_then(|rs| p256::ecdsa::Signature::from_slice(&rs).ok())
            .is_some_and(|sig| k.verify(input, &sig).is_ok()),
        (A::Es384, KeyMaterial::P384(k)) => fixed_width_rs(signature, 48)
            .and_then(|rs| p384::ecdsa::Signature::from_slice(&rs).ok())
            .is_some_and(|sig| k.verify(input, &sig).is_ok()),
        _ => false,
    }
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
    Some((label, BASE64.decode(compact.as_bytes()).ok(), rest))
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
        return rsa_key(key.modulus.as_bytes(), key.public_exponent.as_bytes())
            .ok_or(invalid);
    }
    if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters_oid().map_err(|_| invalid.clone())?;
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
    let document: Value = serde_json::from_str(text).map_err(|_| invalid.clone())?;
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
    let text = jwk_string(jwk, name)?.ok_or(JwtError::InvalidKey(
        "JWK is missing a required parameter",
    ))?;
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
                let pad = width
                    .checked_sub(coordinate.len())
                    .ok_or(invalid.clone())?;
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
