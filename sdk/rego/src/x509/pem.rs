//! PEM and base64 as Go's `encoding/pem` and `encoding/base64` read them (what OPA's
//! `crypto.x509.*` builtins hand their input to): a block is found anywhere in the text, its
//! headers are skipped, its base64 may hold spaces, tabs and line breaks, and base64 decoding
//! ignores line breaks and allows non-zero trailing bits.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Go's `base64.StdEncoding`: padding required, trailing bits not checked.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// `base64.StdEncoding.DecodeString`: `\r` and `\n` anywhere are ignored.
pub(crate) fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let cleaned: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    GO_STD.decode(cleaned).ok()
}

/// Standard base64 with padding, as Go's JSON writes a `[]byte`.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    GO_STD.encode(bytes)
}

/// One PEM block: its type and its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) kind: String,
    pub(crate) bytes: Vec<u8>,
    /// Whether the block had `Key: value` headers (an encrypted key has).
    pub(crate) has_headers: bool,
}

const START: &[u8] = b"\n-----BEGIN ";
const END: &[u8] = b"\n-----END ";
/// `START` and `END` without their line break, as they may open the text.
const START_AT_TOP: &[u8] = b"-----BEGIN ";
const END_AT_TOP: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// Every block of `data`, in order: Go's `pem.Decode` called until it finds no more.
pub(crate) fn blocks(mut data: &[u8]) -> Vec<Block> {
    let mut found = Vec::new();
    while let (Some(block), rest) = decode(data) {
        found.push(block);
        data = rest;
    }
    found
}

/// Go's `pem.Decode`: the first block in `data` and what follows it, or `None` (and the whole
/// input is the rest) when there is none.
pub(crate) fn decode(data: &[u8]) -> (Option<Block>, &[u8]) {
    let mut rest = data;
    loop {
        if let Some(after) = rest.strip_prefix(START_AT_TOP) {
            rest = after;
        } else if let Some(at) = find(rest, START) {
            rest = rest.get(at + START.len()..).unwrap_or_default();
        } else {
            return (None, data);
        }
        let (type_line, after_type) = line(rest);
        rest = after_type;
        let Some(kind) = type_line.strip_suffix(DASHES) else {
            continue;
        };
        let mut has_headers = false;
        loop {
            if rest.is_empty() {
                return (None, data);
            }
            let (header, next) = line(rest);
            if !header.contains(&b':') {
                break;
            }
            has_headers = true;
            rest = next;
        }
        let (end_index, end_trailer_index) = if !has_headers && rest.starts_with(END_AT_TOP) {
            (0, END.len() - 1)
        } else {
            match find(rest, END) {
                Some(at) => (at, at + END.len()),
                None => continue,
            }
        };
        let end_trailer = rest.get(end_trailer_index..).unwrap_or_default();
        let trailer_len = kind.len() + DASHES.len();
        let (Some(trailer), Some(rest_of_end_line)) = (
            end_trailer.get(..trailer_len),
            end_trailer.get(trailer_len..),
        ) else {
            continue;
        };
        if !trailer.starts_with(kind) || !trailer.ends_with(DASHES) {
            continue;
        }
        if !line(rest_of_end_line).0.is_empty() {
            continue;
        }
        let body: Vec<u8> = rest
            .get(..end_index)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|b| *b != b' ' && *b != b'\t')
            .collect();
        let Some(bytes) = decode_base64(&body) else {
            continue;
        };
        let after_end = rest.get(end_index + END.len() - 1..).unwrap_or_default();
        let block = Block {
            kind: String::from_utf8_lossy(kind).into_owned(),
            bytes,
            has_headers,
        };
        return (Some(block), line(after_end).1);
    }
}

/// Go's `getLine`: the first line without its line break and trailing spaces/tabs, and what
/// follows the line break.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut end, next) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (at, at + 1),
        None => (data.len(), data.len()),
    };
    if end > 0 && next > end && data.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    let mut text = data.get(..end).unwrap_or_default();
    while let [head @ .., b' ' | b'\t'] = text {
        text = head;
    }
    (text, data.get(next..).unwrap_or_default())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_anywhere_with_headers_and_spaces() {
        let text = b"junk\n-----BEGIN THING-----\nA: b\n\nYW Jj\r\n-----END THING-----  \nrest";
        let (block, rest) = decode(text);
        let block = block.unwrap();
        assert_eq!(block.kind, "THING");
        assert_eq!(block.bytes, b"abc");
        assert!(block.has_headers);
        assert_eq!(rest, b"rest");
    }

    #[test]
    fn mismatched_or_unterminated_blocks_are_skipped() {
        let text = b"-----BEGIN A-----\nYWJj\n-----END B-----\n";
        assert_eq!(decode(text), (None, &text[..]));
        let text = b"-----BEGIN A-----\nYWJj\n";
        assert_eq!(decode(text).0, None);
    }

    #[test]
    fn base64_as_go_reads_it() {
        assert_eq!(decode_base64(b"YW\nJj"), Some(b"abc".to_vec()));
        assert_eq!(decode_base64(b"YQ"), None);
        assert_eq!(decode_base64(b"YR=="), Some(b"a".to_vec()));
        assert_eq!(decode_base64(b"YW Jj"), None);
    }
}
