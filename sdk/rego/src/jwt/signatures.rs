//! Signature checks, one per algorithm family, with Go's tolerances where OPA relies on them.

use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use p256::ecdsa::signature::hazmat::PrehashVerifier;

use super::keys::{Curve, KeyMaterial};
use super::Algorithm;

/// Whether `signature` is `alg`'s signature of `input` under `key`. The key decides what can
/// succeed: an HMAC secret only verifies `HS*`, an RSA key `RS*`/`PS*`, an EC key `ES*` and an
/// Ed25519 key `EdDSA` (no algorithm confusion).
pub(super) fn verify_signature(
    key: &KeyMaterial,
    alg: Algorithm,
    input: &[u8],
    signature: &[u8],
) -> bool {
    use Algorithm as A;
    match (alg, key) {
        (A::Hs256, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha256>>(k, input, signature),
        (A::Hs384, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha384>>(k, input, signature),
        (A::Hs512, KeyMaterial::Secret(k)) => hmac_ok::<Hmac<Sha512>>(k, input, signature),
        (_, KeyMaterial::Rsa(k)) => rsa_ok(k, alg, input, signature),
        (A::Es256, _) => ecdsa_ok(key, &Sha256::digest(input), signature),
        (A::Es384, _) => ecdsa_ok(key, &Sha384::digest(input), signature),
        (A::Es512, _) => ecdsa_ok(key, &Sha512::digest(input), signature),
        #[cfg(feature = "jwt-eddsa")]
        (A::EdDsa, KeyMaterial::Ed25519(k)) => {
            use ed25519_dalek::Verifier;
            ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| k.verify(input, &sig).is_ok())
        }
        _ => false,
    }
}

/// ECDSA over `digest` with whatever curve the key is on, as Go's `ecdsa.Verify` does: an
/// `ES256` signature made with a P-384 key verifies (OPA accepts it, and signs it).
fn ecdsa_ok(key: &KeyMaterial, digest: &[u8], signature: &[u8]) -> bool {
    match key {
        KeyMaterial::P256(k) => {
            prehash_ok::<p256::ecdsa::Signature>(k, Curve::P256, digest, signature)
        }
        KeyMaterial::P384(k) => {
            prehash_ok::<p384::ecdsa::Signature>(k, Curve::P384, digest, signature)
        }
        #[cfg(feature = "jwt-es512")]
        KeyMaterial::P521(k) => {
            prehash_ok::<p521::ecdsa::Signature>(k, Curve::P521, digest, signature)
        }
        _ => false,
    }
}

fn prehash_ok<S>(
    key: &impl PrehashVerifier<S>,
    curve: Curve,
    digest: &[u8],
    signature: &[u8],
) -> bool
where
    S: for<'a> TryFrom<&'a [u8]>,
{
    let Some(rs) = fixed_width_rs(signature, curve.width()) else {
        return false;
    };
    let Ok(signature) = S::try_from(&rs) else {
        return false;
    };
    key.verify_prehash(&digest_as_field(digest, curve), &signature)
        .is_ok()
}

/// The digest as the integer ECDSA signs, in the curve's width: Go reads a shorter digest
/// (SHA-256 on P-521) as a number, where RustCrypto refuses digests under half the width; a
/// longer one is truncated by both.
pub(super) fn digest_as_field(digest: &[u8], curve: Curve) -> Vec<u8> {
    let mut field = vec![0; curve.width().saturating_sub(digest.len())];
    field.extend_from_slice(digest);
    field
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
