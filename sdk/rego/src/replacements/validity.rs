//! The `*.is_valid` builtins OPA answers `false` for anything but a string (regorus fails the
//! call, which is undefined): `json.is_valid` and `net.cidr_is_valid`; `base64.is_valid` is in
//! [`super::encoding`].

use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::original;

/// `json.is_valid(text)`, as Go's `json.Valid`: the grammar of RFC 8259 only, so escapes of lone
/// surrogates and numbers too large for a float are valid, and nesting is limited to Go's
/// 10,000 levels. (regorus parses the value, and refuses both, and nesting past 128.)
pub(super) fn json_is_valid(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let valid = match args.first() {
        Some(Value::String(text)) => json_grammar::valid(text.as_bytes()),
        _ => false,
    };
    Ok(Value::from(valid))
}

/// `net.cidr_is_valid(cidr)`: regorus' answer for a string, `false` for anything else.
pub(super) fn net_cidr_is_valid(
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    match args.first() {
        Some(Value::String(_)) => original("net.cidr_is_valid")?(span, params, args, strict),
        _ => Ok(Value::from(false)),
    }
}

/// A JSON grammar checker without recursion (a stack of open containers), as Go's scanner.
mod json_grammar {
    /// Go's `maxNestingDepth`.
    const MAX_DEPTH: usize = 10_000;

    #[derive(Clone, Copy)]
    enum Open {
        Array,
        Object,
    }

    pub(super) fn valid(text: &[u8]) -> bool {
        let mut reader = Reader { text, at: 0 };
        let mut open: Vec<Open> = Vec::new();
        loop {
            // A value is expected here.
            reader.skip_space();
            let container = match reader.peek() {
                Some(b'[') => Some((Open::Array, b']')),
                Some(b'{') => Some((Open::Object, b'}')),
                _ => None,
            };
            match container {
                Some((kind, close)) => {
                    reader.at += 1;
                    open.push(kind);
                    if open.len() > MAX_DEPTH {
                        return false;
                    }
                    reader.skip_space();
                    if reader.eat(close) {
                        open.pop();
                        if !reader.after_value(&mut open) {
                            return false;
                        }
                    } else if matches!(kind, Open::Array) || reader.key() {
                        continue;
                    } else {
                        return false;
                    }
                }
                None => {
                    if !reader.scalar() || !reader.after_value(&mut open) {
                        return false;
                    }
                }
            }
            if open.is_empty() {
                reader.skip_space();
                return reader.at == text.len();
            }
        }
    }

    struct Reader<'t> {
        text: &'t [u8],
        at: usize,
    }

    impl Reader<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.get(self.at).copied()
        }

        fn eat(&mut self, byte: u8) -> bool {
            let found = self.peek() == Some(byte);
            self.at += usize::from(found);
            found
        }

        fn skip_space(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.at += 1;
            }
        }

        /// After a value inside containers: `,` and the next member, or the containers'
        /// closing brackets. `false` when the text is not JSON; on `true` a value is expected
        /// next unless every container is closed.
        fn after_value(&mut self, open: &mut Vec<Open>) -> bool {
            loop {
                let Some(&innermost) = open.last() else {
                    return true;
                };
                self.skip_space();
                match (innermost, self.peek()) {
                    (Open::Array, Some(b',')) => {
                        self.at += 1;
                        return true;
                    }
                    (Open::Object, Some(b',')) => {
                        self.at += 1;
                        self.skip_space();
                        return self.key();
                    }
                    (Open::Array, Some(b']')) | (Open::Object, Some(b'}')) => {
                        self.at += 1;
                        open.pop();
                    }
                    _ => return false,
                }
            }
        }

        /// A member's key and its `:`.
        fn key(&mut self) -> bool {
            if !self.string() {
                return false;
            }
            self.skip_space();
            self.eat(b':')
        }

        fn scalar(&mut self) -> bool {
            match self.peek() {
                Some(b'"') => self.string(),
                Some(b't') => self.word(b"true"),
                Some(b'f') => self.word(b"false"),
                Some(b'n') => self.word(b"null"),
                Some(b'-' | b'0'..=b'9') => self.number(),
                _ => false,
            }
        }

        fn word(&mut self, word: &[u8]) -> bool {
            let found = self.text.get(self.at..self.at + word.len()) == Some(word);
            self.at += if found { word.len() } else { 0 };
            found
        }

        fn digits(&mut self) -> usize {
            let start = self.at;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.at += 1;
            }
            self.at - start
        }

        fn number(&mut self) -> bool {
            self.eat(b'-');
            if !self.eat(b'0') && self.digits() == 0 {
                return false;
            }
            if self.eat(b'.') && self.digits() == 0 {
                return false;
            }
            if self.eat(b'e') || self.eat(b'E') {
                let _ = self.eat(b'+') || self.eat(b'-');
                if self.digits() == 0 {
                    return false;
                }
            }
            true
        }

        fn string(&mut self) -> bool {
            if !self.eat(b'"') {
                return false;
            }
            while let Some(byte) = self.peek() {
                self.at += 1;
                match byte {
                    b'"' => return true,
                    b'\\' => {
                        let escape = self.peek();
                        self.at += 1;
                        match escape {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                            Some(b'u') => {
                                let hex = self.text.get(self.at..self.at + 4);
                                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                    return false;
                                }
                                self.at += 4;
                            }
                            _ => return false,
                        }
                    }
                    0..=0x1f => return false,
                    _ => {}
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn json_is_valid_as_go_json_valid() {
        let valid = |text: &str| json_grammar::valid(text.as_bytes());
        for good in [
            "1",
            " 1 ",
            "-0.5e+10",
            "\"\\ud800\"",
            "1e999",
            "[]",
            "{}",
            "[1, [2, {\"a\": [ ]}]]",
            "{\"a\":1,\"a\":2}",
            "\"\\u00e9\\n\"",
            "null",
            " true",
            "\"é\"",
        ] {
            assert!(valid(good), "{good}");
        }
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "[",
            "]",
            "\"\\u00\"",
            "\"\\x\"",
            "\"a\nb\"",
            "{1:2}",
            "[1 2]",
            "tru",
            "nul",
            "1 2",
            "{,}",
            "[,1]",
            "{\"a\":1,}",
            "\"",
            "+1",
        ] {
            assert!(!valid(bad), "{bad}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(valid(&deep(10_000)));
        assert!(!valid(&deep(10_001)));
        assert_eq!(call(json_is_valid, &[json!(1)]), Some(json!(false)));
        assert_eq!(call(json_is_valid, &[json!("[1]")]), Some(json!(true)));
    }

    #[test]
    fn cidr_is_valid_is_false_for_a_non_string() {
        assert_eq!(call(net_cidr_is_valid, &[json!(1)]), Some(json!(false)));
        assert_eq!(call(net_cidr_is_valid, &[json!([])]), Some(json!(false)));
        assert_eq!(
            call(net_cidr_is_valid, &[json!("10.0.0.0/8")]),
            Some(json!(true))
        );
        assert_eq!(
            call(net_cidr_is_valid, &[json!("10.0.0.0")]),
            Some(json!(false))
        );
    }
}
