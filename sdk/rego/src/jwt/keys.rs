//! Verification keys: OPA's `cert` argument (a PEM certificate or public key, or a JWK / JWK
//! set) read into the key types the signature checks use, and OPA's choice of keys to try.

use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use spki::der::asn1::AnyRef;
use spki::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::encoding::{base64_decode, jwk_base64_decode, Alphabet};
use super::token::JoseHeader;
use super::{JwtError, OPA_ALGORITHMS};

pub(super) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(super) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Go's RSA verification has no practical upper bound; the `rsa` crate's default (4096) would
/// reject 8192-bit keys that OPA accepts.
pub(super) const RSA_MAX_BITS: usize = 16384;

/// The NIST curves JWS uses (ES256, ES384, ES512), named as JWK `crv` and X.509 name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(super) fn from_jwk_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
        const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
        match oid {
            P256 => Some(Self::P256),
            P384 => Some(Self::P384),
            P521 => Some(Self::P521),
            _ => None,
        }
    }

    /// Bytes of a coordinate, a private scalar, and each half of a JWS signature.
    pub(super) fn width(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// A public key read from a certificate, a PEM public key or a JWK.
pub(super) enum KeyMaterial {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    #[cfg(feature = "jwt-es512")]
    P521(p521::ecdsa::VerifyingKey),
    #[cfg(feature = "jwt-eddsa")]
    Ed25519(ed25519_dalek::VerifyingKey),
    Secret(Vec<u8>),
    /// A key OPA can read but this build cannot use (P-521 without the `jwt-es512` feature,
    /// Ed25519 without `jwt-eddsa`, X25519, an Ed25519 key that is not a curve point, ...):
    /// it never verifies anything.
    Unsupported,
}

impl KeyMaterial {
    /// An uncompressed SEC1 point (`04 || x || y`) on `curve`.
    pub(super) fn ec(curve: Curve, sec1: &[u8]) -> Result<Self, JwtError> {
        let invalid = |_| JwtError::InvalidKey("invalid EC public key");
        match curve {
            Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
                .map(Self::P256)
                .map_err(invalid),
            Curve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
                .map(Self::P384)
                .map_err(invalid),
            #[cfg(feature = "jwt-es512")]
            Curve::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
                .map(Self::P521)
                .map_err(invalid),
            #[cfg(not(feature = "jwt-es512"))]
            Curve::P521 => Ok(Self::Unsupported),
        }
    }

    /// An Ed25519 public key: Go requires 32 bytes, and only finds out at verification that
    /// they are not a point on the curve (so neither is an error here).
    fn ed25519(bytes: &[u8]) -> Result<Self, JwtError> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| JwtError::InvalidKey("invalid Ed25519 public key length"))?;
        #[cfg(feature = "jwt-eddsa")]
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(bytes) {
            return Ok(Self::Ed25519(key));
        }
        let _ = bytes;
        Ok(Self::Unsupported)
    }
}

pub(super) struct VerificationKey {
    pub(super) material: KeyMaterial,
    /// The JWK's `alg`, empty for PEM input.
    pub(super) alg: String,
    /// The JWK's `kid`, empty for PEM input.
    pub(super) kid: String,
    /// A JWK that holds a private key (`d`): OPA's `io.jwt.verify_*` builtins never verify with
    /// one (Go's type check wants a public key), `decode_verify` does.
    pub(super) private: bool,
}

/// OPA's key selection: a key whose `kid` equals the token's is the only one tried; otherwise
/// every key whose `alg` is unset or equal to the token's `alg` is tried.
pub(super) fn verify_with_keys(
    keys: &[VerificationKey],
    jose: &JoseHeader,
    check: impl Fn(&VerificationKey) -> bool,
) -> bool {
    if !jose.kid.is_empty() {
        if let Some(key) = keys.iter().find(|k| k.kid == jose.kid) {
            return check(key);
        }
    }
    keys.iter()
        .filter(|k| k.alg.is_empty() || k.alg == jose.alg)
        .any(check)
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
        private: false,
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
        return match Curve::from_oid(curve) {
            Some(curve) => KeyMaterial::ec(curve, bits).map_err(|_| invalid),
            None => Ok(KeyMaterial::Unsupported),
        };
    }
    if spki.algorithm.oid == OID_ED25519 {
        return KeyMaterial::ed25519(bits);
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
            private: jwk.contains_key("d") && jwk.get("kty") != Some(&Value::from("oct")),
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
    jwk_base64_decode(text).ok_or(JwtError::InvalidKey("JWK parameter is not base64"))
}

pub(super) fn jwk_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
    match jwk_string(jwk, "kty")? {
        Some("RSA") => rsa_key(&jwk_bytes(jwk, "n")?, &jwk_bytes(jwk, "e")?)
            .ok_or(JwtError::InvalidKey("invalid RSA JWK")),
        Some("EC") => {
            let Some(curve) = jwk_string(jwk, "crv")?.and_then(Curve::from_jwk_name) else {
                return Ok(KeyMaterial::Unsupported);
            };
            let invalid = JwtError::InvalidKey("invalid EC JWK");
            let mut point = vec![0x04];
            for coordinate in [jwk_bytes(jwk, "x")?, jwk_bytes(jwk, "y")?] {
                let pad = curve
                    .width()
                    .checked_sub(coordinate.len())
                    .ok_or(invalid.clone())?;
                point.resize(point.len() + pad, 0);
                point.extend_from_slice(&coordinate);
            }
            KeyMaterial::ec(curve, &point).map_err(|_| invalid)
        }
        Some("oct") => Ok(KeyMaterial::Secret(jwk_bytes(jwk, "k")?)),
        Some("OKP") => match jwk_string(jwk, "crv")? {
            Some("Ed25519") => KeyMaterial::ed25519(&jwk_bytes(jwk, "x")?),
            _ => Ok(KeyMaterial::Unsupported),
        },
        _ => Err(JwtError::InvalidKey("JWK has a missing or unknown kty")),
    }
}
