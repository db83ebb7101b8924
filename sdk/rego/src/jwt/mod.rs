//! OPA's `io.jwt.*` built-ins over `serde_json` values, to be registered as regorus extensions.
//!
//! The semantics follow OPA's `topdown/tokens.go` so that OPA-Envoy policies behave the same here:
//! malformed tokens, keys and constraints are errors, while a bad signature or a failed claim
//! check is a plain `false` (or `[false, {}, {}]` for `decode_verify`). Where OPA panics or where
//! this module is deliberately narrower, the item's documentation says so.
//!
//! `encode_sign` and `encode_sign_raw` sign with a JWK, with the same algorithms.
//!
//! Supported algorithms: HS256/384/512, RS256/384/512, PS256/384/512 (salt length = hash length),
//! ES256/384/512 and EdDSA (Ed25519). P-521 keys need the `jwt-es512` feature and Ed25519 keys
//! `jwt-eddsa`: without it such a key parses (as in OPA) but verifies nothing, so a token signed
//! with one is `false` (`[false, {}, {}]` for `decode_verify`), and `encode_sign` with one fails.

mod constraints;
pub(crate) mod encoding;
mod go_json;
mod jwk_members;
mod keys;
#[cfg(feature = "jwt-sign")]
mod private_keys;
#[cfg(feature = "jwt-sign")]
mod seeded_rng;
mod sign;
mod signatures;
mod signing_keys;
#[cfg(test)]
mod test_keys;
#[cfg(test)]
mod tests;
mod token;

use serde_json::Value;

use constraints::Constraints;
pub use encoding::base64url_decode;
use encoding::hex_lower;
use keys::{parse_keys, verify_with_keys, KeyMaterial};
pub use sign::{encode_sign, encode_sign_raw};
use signatures::verify_signature;
use token::{
    audience_matches, decode_header, decode_part, json_object, operand_str, split_token,
    unverified, JoseHeader,
};

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
    /// `encode_sign`'s JWK (set) is malformed, or cannot sign with the header's algorithm.
    #[error("invalid signing key: {0}")]
    SigningKey(&'static str),
    /// `encode_sign`'s header is not a JSON object with a string `alg`.
    #[error("JWS header: {0}")]
    SigningHeader(&'static str),
    /// `encode_sign`'s header names an algorithm OPA does not know.
    #[error("unknown JWS algorithm: {0}")]
    UnknownAlgorithm(String),
    /// The header's `typ` is `JWT` (or absent) and the payload is not JSON.
    #[error("type is JWT but payload is not JSON")]
    PayloadNotJson,
    /// The system gave no randomness for a signature that needs it (RSA).
    #[error("no system randomness to sign with")]
    NoRandomness,
    /// The signature could not be computed (a key the crypto library refuses).
    #[error("signing failed")]
    SigningFailed,
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
    Es512,
    EdDsa,
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
            "ES512" => Self::Es512,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }
}

/// Algorithms OPA knows: a JWK whose `alg` is outside this list is dropped from a key set.
const OPA_ALGORITHMS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512", "EdDSA",
];

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
        !key.private && verify_signature(&key.material, alg, raw.signing_input, &signature)
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

#[cfg(feature = "jwt-es512")]
verify_builtins! { verify_es512 => Es512 }

#[cfg(feature = "jwt-eddsa")]
verify_builtins! { verify_eddsa => EdDsa }
