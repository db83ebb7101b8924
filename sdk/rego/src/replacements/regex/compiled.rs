//! Go patterns compiled for Rust's `regex` ([`super::go_syntax`]), kept per thread in a small
//! cache: a policy matches the same few patterns on every request.

use std::cell::RefCell;
use std::rc::Rc;

use super::go_syntax::translate;

/// The largest compiled pattern, as regorus allows (100 KiB): bigger ones are refused with a
/// limit error, which fails the evaluation rather than making the call undefined.
pub(crate) const SIZE_LIMIT: usize = 100 << 10;
/// How many compiled patterns each thread keeps (a pattern from request data adds one each
/// time; wasm memory never shrinks).
const CACHED: usize = 32;

/// A Go pattern, compiled.
#[derive(Debug)]
pub(crate) struct GoRegex {
    pub(crate) regex: regex::Regex,
    /// Each group's name (index 0 is the whole match).
    pub(crate) names: Vec<Option<String>>,
}

/// Why a pattern did not compile.
#[derive(Debug, PartialEq)]
pub(crate) enum CompileError {
    /// Go refuses it, or Rust cannot run it.
    Invalid,
    /// Past [`SIZE_LIMIT`].
    TooBig,
}

impl CompileError {
    /// The error of a builtin whose pattern did not compile.
    pub(crate) fn into_error(self, name: &str) -> anyhow::Error {
        match self {
            Self::Invalid => anyhow::anyhow!("{name}: invalid regular expression"),
            Self::TooBig => anyhow::Error::new(regorus::LimitError::RegexSizeLimitExceeded {
                limit: SIZE_LIMIT,
            }),
        }
    }
}

thread_local! {
    /// Recently used patterns, the most recent last.
    static CACHE: RefCell<Vec<(String, Rc<GoRegex>)>> = const { RefCell::new(Vec::new()) };
}

/// `pattern` (Go's syntax) compiled, from the cache when it is there.
pub(crate) fn compile(pattern: &str) -> Result<Rc<GoRegex>, CompileError> {
    let cached = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let at = cache.iter().position(|(p, _)| p == pattern)?;
        let entry = cache.remove(at);
        let regex = entry.1.clone();
        cache.push(entry);
        Some(regex)
    });
    if let Some(regex) = cached {
        return Ok(regex);
    }
    let translated = translate(pattern).map_err(|_| CompileError::Invalid)?;
    let regex = regex::RegexBuilder::new(&translated.pattern)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|err| match err {
            regex::Error::CompiledTooBig(_) => CompileError::TooBig,
            _ => CompileError::Invalid,
        })?;
    let compiled = Rc::new(GoRegex {
        regex,
        names: translated.names,
    });
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push((pattern.to_string(), compiled.clone()));
    });
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile_once_and_are_kept() {
        let a = compile("a{2}").unwrap();
        let again = compile("a{2}").unwrap();
        assert!(Rc::ptr_eq(&a, &again));
        assert!(a.regex.is_match("xaa"));
        for n in 0..CACHED {
            compile(&format!("b{n}")).unwrap();
        }
        let evicted = compile("a{2}").unwrap();
        assert!(!Rc::ptr_eq(&a, &evicted));
        assert_eq!(compile("a**").unwrap_err(), CompileError::Invalid);
        if !crate::replacements::regex::unicode_built() {
            assert_eq!(compile("\\pL").unwrap_err(), CompileError::Invalid);
        }
        assert_eq!(
            compile("(?:(?:a{1000}){1}){1}[0-9]{1000}").unwrap_err(),
            CompileError::TooBig
        );
    }
}
