//! Signature checks, one per algorithm family, with Go's tolerances where OPA relies on them.

use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::keys::KeyMaterial;
use super::Algorithm;

pub(super) fn verify_signature(
    key: &KeyMaterial,
    alg: Algorithm,
    input: &[u8],
    signature: &[u8],
) -> bool {
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

pub(super) fn rsa_ok(key: &RsaPublicKey, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
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
pub(super) fn hmac_ok<M: Mac + hmac::digest::KeyInit>(
    key: &[u8],
    input: &[u8],
    signature: &[u8],
) -> bool {
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
pub(super) fn fixed_width_rs(signature: &[u8], width: usize) -> Option<Vec<u8>> {
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
