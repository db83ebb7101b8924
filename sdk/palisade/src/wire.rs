//! The proxy-wasm header-map wire format, decoded without trusting the bytes.
//!
//! A map is `count: u32le`, then `count` pairs of `(key_len: u32le, value_len: u32le)`, then
//! each key and value followed by a NUL byte. The host produces it; a malformed buffer must
//! never panic the VM, so decoding returns `None` instead.

/// Serialises header pairs into the proxy-wasm map format.
pub fn encode_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let payload: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + payload);
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&len_u32(k.as_ref().len()).to_le_bytes());
        out.extend_from_slice(&len_u32(v.as_ref().len()).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Decodes the proxy-wasm map format into raw byte pairs; `None` if the buffer is malformed.
/// An empty buffer is an empty map.
pub fn decode_map(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = read_u32(bytes, 0)? as usize;
    // Each pair needs 8 bytes of sizes and 2 NULs: reject counts the buffer cannot hold
    // before allocating for them.
    if count > bytes.len() / 10 {
        return None;
    }
    let mut data = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut pairs = Vec::with_capacity(count);
    for n in 0..count {
        let sizes = 4 + n * 8;
        let key_len = read_u32(bytes, sizes)? as usize;
        let value_len = read_u32(bytes, sizes + 4)? as usize;
        let (key, next) = read_terminated(bytes, data, key_len)?;
        let (value, next) = read_terminated(bytes, next, value_len)?;
        data = next;
        pairs.push((key.to_vec(), value.to_vec()));
    }
    Some(pairs)
}

/// Decodes a map whose keys and values are text, replacing invalid UTF-8 rather than failing:
/// header values may carry obs-text bytes that a policy should still see.
pub fn decode_text_map(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    Some(
        decode_map(bytes)?
            .into_iter()
            .map(|(k, v)| (lossy(k), lossy(v)))
            .collect(),
    )
}

/// Converts bytes to text, replacing invalid UTF-8 sequences.
pub fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

/// Reads `len` bytes at `at` that must be followed by a NUL; returns them and the next offset.
fn read_terminated(bytes: &[u8], at: usize, len: usize) -> Option<(&[u8], usize)> {
    let end = at.checked_add(len)?;
    let value = bytes.get(at..end)?;
    match bytes.get(end) {
        Some(0) => Some((value, end + 1)),
        _ => None,
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_pairs() {
        let pairs = vec![(":path", "/a?b=c"), ("x-tenant", ""), ("k", "v\u{e9}")];
        let decoded = decode_text_map(&encode_map(&pairs)).unwrap();
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn empty_buffer_is_empty_map() {
        assert_eq!(decode_map(&[]), Some(vec![]));
        assert_eq!(decode_map(&encode_map::<&str, &str>(&[])), Some(vec![]));
    }

    #[test]
    fn rejects_truncated_and_lying_buffers() {
        let good = encode_map(&[("key", "value")]);
        for cut in 1..good.len() {
            assert_eq!(decode_map(&good[..cut]), None, "cut at {cut}");
        }
        let mut huge_count = good.clone();
        huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_map(&huge_count), None);
        let mut missing_nul = good.clone();
        let nul_after_key = 4 + 8 + 3;
        missing_nul[nul_after_key] = b'!';
        assert_eq!(decode_map(&missing_nul), None);
    }

    #[test]
    fn invalid_utf8_values_are_replaced_not_rejected() {
        let map = encode_map(&[(b"x".as_slice(), b"a\xffb".as_slice())]);
        let decoded = decode_text_map(&map).unwrap();
        assert_eq!(decoded, vec![("x".to_string(), "a\u{fffd}b".to_string())]);
    }
}
