//! Base64 and hex as OPA's JWT builtins read and write them.

use super::JwtError;

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

/// A JWK member's bytes as the JWK library OPA uses (`jwx`) reads them: line breaks are
/// skipped, either alphabet is accepted (standard when `+` or `/` appear), and padding is
/// optional but, when present, must be complete.
pub(super) fn jwk_base64_decode(encoded: &str) -> Option<Vec<u8>> {
    let compact: String = encoded
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let alphabet = if compact.contains(['+', '/']) {
        Alphabet::Standard
    } else {
        Alphabet::Url
    };
    let mut padded = compact;
    if !padded.ends_with('=') {
        match padded.len() % 4 {
            0 => {}
            2 => padded.push_str("=="),
            3 => padded.push('='),
            _ => return None,
        }
    }
    base64_decode(padded.as_bytes(), alphabet)
}

/// Unpadded base64url, as a compact JWS writes each section.
pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Alphabet {
    Standard,
    Url,
}

/// Padded base64 as Go's `base64.URLEncoding` / `StdEncoding` decode it. Hand-written because
/// the general-purpose crates cost tens of KiB of wasm for this one loop.
pub(super) fn base64_decode(input: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
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

pub(super) fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]) {
        out.extend(char::from_digit(u32::from(nibble), 16));
    }
    out
}
