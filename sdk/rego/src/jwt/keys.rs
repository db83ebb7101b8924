//! Verification keys: OPA's `cert` argument (a PEM certificate or public key, or a JWK / JWK
//! set) read into the key types the signature checks use, and OPA's choice of keys to try.

use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use spki::der::asn1::AnyRef;
use spki::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::encoding::{base64_decode, base64url_decode, Alphabet};
use super::token::JoseHeader;
use super::{JwtError, OPA_ALGORITHMS};

pub(super) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(super) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(super) const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Go's RSA verification has no practical upper bound; the `rsa` crate's default (4096) would
/// reject 8192-bit keys that OPA accepts.
pub(super) const RSA_MAX_BITS: usize = 16384;

pub(super) enum KeyMaterial {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Secret(Vec<u8>),
    /// A key OPA can read but this module cannot use (Ed25519, P-521, ...): never verifies.
    Unsupported,
}

pub(super) struct VerificationKey {
    pub(super) material: KeyMaterial,
    /// The JWK's `alg`, empty for PEM input.
    pub(super) alg: String,
    /// The JWK's `kid`, empty for PEM input.
    pub(super) kid: String,
}

/// OPA's key selection: a key whose `kid` equals the token's is the only one tried; otherwise
/// every key whose `alg` is unset or equal to the token's `alg` is tried.
pub(super) fn verify_with_keys(
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

/// Reads OPA's `cert` argument: a PEM `CERTIFICATE` or `PUBLIC KEY`, else a JWK or JWK set.
pub(super) fn parse_keys(text: &str) -> Result<Vec<VerificationKey>, JwtError> {
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
pub(super) fn pem_first_block(text: &str) -> Option<(&str, Option<Vec<u8>>, &str)> {
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
pub(super) fn spki_of_certificate(der: &[u8]) -> Result<SubjectPublicKeyInfoRef<'_>, JwtError> {
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

pub(super) fn key_from_spki(spki: SubjectPublicKeyInfoRef<'_>) -> Result<KeyMaterial, JwtError> {
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

pub(super) fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Option<KeyMaterial> {
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .ok()
        .map(KeyMaterial::Rsa)
}

/// A JWK set (`{"keys": [...]}`) or a single JWK, as `jwk.ParseString` accepts.
pub(super) fn parse_jwks(text: &str) -> Result<Vec<VerificationKey>, JwtError> {
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

pub(super) fn jwk_string<'a>(
    jwk: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, JwtError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::InvalidKey("JWK parameter is not a string")),
    }
}

pub(super) fn jwk_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwtError> {
    let text = jwk_string(jwk, name)?
        .ok_or(JwtError::InvalidKey("JWK is missing a required parameter"))?;
    base64url_decode(text).map_err(|_| JwtError::InvalidKey("JWK parameter is not base64url"))
}

pub(super) fn jwk_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
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
