//! `base64.decode`, `base64url.decode`, `base64.is_valid` and `hex.decode`, as OPA's (Go's
//! `encoding/base64` and `encoding/hex`): padding is required (`base64url.decode` adds what is
//! missing first, RFC 7515 appendix C), line breaks are skipped, bits left over after the last
//! byte need not be zero, and decoded bytes that are not UTF-8 read as Go writes them
//! ([`crate::go_bytes`]). (regorus' decoders refuse left-over bits that are not zero, and
//! replace a cut-off UTF-8 sequence as a whole.)

use anyhow::bail;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;
use crate::go_bytes::lossy_text;

/// Go's `base64.StdEncoding` / `URLEncoding` decoding: padded, left-over bits ignored.
fn go_decoder(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
    GeneralPurpose::new(alphabet, config)
}

/// `text` decoded as Go's decoder does: `\r` and `\n` are skipped wherever they are.
fn go_base64(text: &str, alphabet: &base64::alphabet::Alphabet) -> Option<Vec<u8>> {
    let decoder = go_decoder(alphabet);
    match text.contains(['\r', '\n']) {
        true => decoder.decode(text.replace(['\r', '\n'], "")).ok(),
        false => decoder.decode(text).ok(),
    }
}

pub(super) fn base64_decode(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let text = string_arg("base64.decode", args, 0)?;
    match go_base64(text, &base64::alphabet::STANDARD) {
        Some(bytes) => Ok(Value::from(lossy_text(&bytes))),
        None => bail!("base64.decode: illegal base64 data"),
    }
}

/// Whether `base64.decode` would succeed; `false` for anything but a string, as OPA.
pub(super) fn base64_is_valid(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let valid = match args.first() {
        Some(Value::String(text)) => go_base64(text, &base64::alphabet::STANDARD).is_some(),
        _ => false,
    };
    Ok(Value::from(valid))
}

pub(super) fn base64url_decode(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "base64url.decode";
    let text = string_arg(NAME, args, 0)?;
    // Some encoders leave the padding out; OPA adds it back by the text's length.
    let padding = match (text.ends_with('='), text.len() % 4) {
        (true, _) | (false, 0) => "",
        (false, 2) => "==",
        (false, 3) => "=",
        (false, _) => bail!("{NAME}: illegal base64url string"),
    };
    match go_base64(&format!("{text}{padding}"), &base64::alphabet::URL_SAFE) {
        Some(bytes) => Ok(Value::from(lossy_text(&bytes))),
        None => bail!("{NAME}: illegal base64 data"),
    }
}

/// Go's `hex.DecodeString`: pairs of hex digits of either case.
pub(super) fn hex_decode(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "hex.decode";
    let text = string_arg(NAME, args, 0)?;
    let digit = |c: u8| char::from(c).to_digit(16);
    let bytes: Option<Vec<u8>> = text
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(u8::try_from(digit(*high)? << 4 | digit(*low)?).ok()?),
            _ => None,
        })
        .collect();
    match bytes {
        Some(bytes) => Ok(Value::from(lossy_text(&bytes))),
        None => bail!("{NAME}: invalid hex data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn base64_decodes_as_go_does() {
        let decode = |text: &str| call(base64_decode, &[json!(text)]);
        assert_eq!(decode("YWJj"), Some(json!("abc")));
        assert_eq!(decode("YW\r\nJj"), Some(json!("abc")));
        assert_eq!(decode("YQ=="), Some(json!("a")));
        // Left-over bits that are not zero ("YR==" is "a" with one bit left over set).
        assert_eq!(decode("YR=="), Some(json!("a")));
        assert_eq!(decode("/+8="), Some(json!("\u{fffd}\u{fffd}")));
        for bad in [
            "YQ", "YQ=", "YQ===", "YQ==YQ==", "Y", "YW_j", "====", "YWJj=",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        assert_eq!(call(base64_is_valid, &[json!("YR==")]), Some(json!(true)));
        assert_eq!(call(base64_is_valid, &[json!("YQ")]), Some(json!(false)));
        assert_eq!(call(base64_is_valid, &[json!(1)]), Some(json!(false)));
    }

    #[test]
    fn base64url_adds_missing_padding_first() {
        let decode = |text: &str| call(base64url_decode, &[json!(text)]);
        assert_eq!(decode("YWJj"), Some(json!("abc")));
        assert_eq!(decode("YQ"), Some(json!("a")));
        assert_eq!(decode("YQ=="), Some(json!("a")));
        assert_eq!(decode("_-8"), Some(json!("\u{fffd}\u{fffd}")));
        // "616263" is three whole bytes and one left over with bits set.
        assert_eq!(decode("616263"), Some(json!("\u{fffd}^\u{fffd}\u{fffd}")));
        assert_eq!(decode("8J-YQQ"), Some(json!("\u{fffd}\u{fffd}\u{fffd}A")));
        for bad in ["Y", "YQ=", "YWJjZ", "+/8="] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_decodes_as_go_does() {
        let decode = |text: &str| call(hex_decode, &[json!(text)]);
        assert_eq!(decode("616263"), Some(json!("abc")));
        assert_eq!(decode("4A4b"), Some(json!("JK")));
        assert_eq!(decode("80"), Some(json!("\u{fffd}")));
        assert_eq!(decode(""), Some(json!("")));
        for bad in ["6", "6g", "é1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
