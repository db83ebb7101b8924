//! The proxy-wasm header-map wire format (the SDK's `wire`): the host hands the VM these
//! buffers, so decoding arbitrary bytes must never panic, and what decodes must re-encode to
//! the bytes it was read from.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::__private::wire::{decode_map, decode_text_map, encode_map, lossy};

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary bytes, as a (buggy or hostile) host could hand them over.
    let decoded = decode_map(data);
    let text = decode_text_map(data);
    match &decoded {
        None => assert!(text.is_none(), "text decoding accepted a malformed map"),
        Some(pairs) => {
            // Decoding reads the sizes, then each key and value in order: re-encoding gives
            // exactly the bytes it consumed (trailing bytes are ignored, an empty buffer is
            // the empty map).
            let reencoded = encode_map(pairs);
            if data.is_empty() {
                assert!(pairs.is_empty());
            } else {
                assert!(
                    data.starts_with(&reencoded),
                    "re-encoding {pairs:?} does not give the decoded bytes"
                );
            }
            let expected: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (lossy(k.clone()), lossy(v.clone())))
                .collect();
            assert_eq!(text.as_ref(), Some(&expected));
        }
    }

    // 2. Arbitrary pairs (NULs, invalid UTF-8, empty names): encoding then decoding gives them
    // back.
    let mut u = Unstructured::new(data);
    if let Ok(pairs) = Vec::<(Vec<u8>, Vec<u8>)>::arbitrary(&mut u) {
        let encoded = encode_map(&pairs);
        assert_eq!(decode_map(&encoded).as_ref(), Some(&pairs));
        // Any strict prefix of a non-empty encoding is malformed.
        if encoded.len() > 4 {
            let cut = usize::from(u.arbitrary::<u16>().unwrap_or(0)) % encoded.len();
            if cut > 0 {
                assert_eq!(decode_map(&encoded[..cut]), None, "prefix of {cut} bytes");
            }
        }
    }
});
