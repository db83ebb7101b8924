//! Bytes that may not be UTF-8, as text the way OPA shows them. A Go string holds any bytes;
//! OPA writes one that is not UTF-8 out (JSON) with U+FFFD for each byte that starts no
//! character, and counts it as one character (`count`). regorus' strings are Rust strings, so
//! Palisade turns such bytes into U+FFFD when they enter a string: the text OPA writes out, and
//! the character count it finds. (Two strings that differ only in such bytes compare equal
//! here; in OPA they do not.)

/// `bytes` as text, each byte that starts no UTF-8 character replaced by U+FFFD, as Go's
/// `for range` and `encoding/json` read it (Rust's `from_utf8_lossy` replaces a cut-off
/// sequence as a whole, by one U+FFFD).
pub(crate) fn lossy_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                return text;
            }
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                // Every byte of a sequence that is cut off or malformed starts no character.
                let bad = err.error_len().unwrap_or(after.len());
                text.extend(std::iter::repeat_n(char::REPLACEMENT_CHARACTER, bad));
                rest = after.get(bad..).unwrap_or_default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_byte_that_starts_no_character_is_one_replacement() {
        assert_eq!(lossy_text(b"abc"), "abc");
        assert_eq!(lossy_text(b"a\x80b"), "a\u{fffd}b");
        // A four-byte sequence cut off after three: Go reads three bad bytes.
        assert_eq!(lossy_text(b"\xf0\x9f\x98A"), "\u{fffd}\u{fffd}\u{fffd}A");
        // A surrogate's encoding is three bad bytes too.
        assert_eq!(lossy_text(b"\xed\xa0\x80"), "\u{fffd}\u{fffd}\u{fffd}");
        assert_eq!(lossy_text(b"\xe0\x80"), "\u{fffd}\u{fffd}");
        assert_eq!(lossy_text("é😀".as_bytes()), "é😀");
        assert_eq!(lossy_text(b"\xff"), "\u{fffd}");
    }
}
