//! Every regorus builtin the filter runs goes through [`run`]: the byte budget is charged
//! ([`super::limits`]), the arguments are checked and a few builtins are replaced
//! ([`super::replacements`], for builtins that panic on some arguments or answer otherwise than
//! OPA), and the result is checked. Installed in both engines: the bytecode program's resolved
//! builtins are swapped for [`WRAPPERS`], and the interpreter gets them as extensions (which it
//! looks up before its builtins).
//!
//! A builtin is a plain `fn` pointer that does not know its own name, so each one is wrapped by
//! `wrapper::<I>`, where `I` is its index in [`entries`] (regorus' builtins sorted by name).

use std::sync::OnceLock;

use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::limits;
use super::replacements::{self, Builtin};

/// One builtin as the filter runs it.
struct Entry {
    name: &'static str,
    arity: u8,
    /// What runs: regorus' builtin, or Palisade's replacement of it.
    function: Builtin,
}

/// regorus' builtins (those compiled into the filter), sorted by name.
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut entries: Vec<Entry> = regorus::unstable::BUILTINS
            .iter()
            .map(|(name, (original, arity))| Entry {
                name,
                arity: *arity,
                function: replacements::replacement(name).unwrap_or(*original),
            })
            .collect();
        entries.sort_by_key(|entry| entry.name);
        entries
    })
}

/// Runs builtin number `index` of [`entries`].
fn run(
    index: usize,
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    let Some(entry) = entries().get(index) else {
        anyhow::bail!("no builtin number {index}");
    };
    limits::charge_for(entry.name, args)?;
    replacements::check_arguments(entry.name, args)?;
    let result = (entry.function)(span, params, args, strict)?;
    replacements::check_result(entry.name, &result)?;
    Ok(result)
}

fn wrapper<const I: usize>(
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    run(I, span, params, args, strict)
}

macro_rules! wrappers {
    ($($i:literal)*) => {
        /// `wrapper::<I>` for every index a builtin may have.
        const WRAPPERS: &[Builtin] = &[$(wrapper::<$i>),*];
    };
}

wrappers!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
    16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
    48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
    64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79
    80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95
    96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111
    112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127
    128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143
    144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159
    160 161 162 163 164 165 166 167 168 169 170 171 172 173 174 175
    176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191
    192 193 194 195 196 197 198 199 200 201 202 203 204 205 206 207
    208 209 210 211 212 213 214 215 216 217 218 219 220 221 222 223
    224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239
    240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255
);

/// The wrapper of the builtin `name`; `None` for a name regorus does not have, or when there are
/// more builtins than wrappers (a test keeps that from happening).
fn wrapper_for(name: &str) -> Option<Builtin> {
    let index = entries().binary_search_by_key(&name, |e| e.name).ok()?;
    WRAPPERS.get(index).copied()
}

/// Swaps every builtin of a compiled bytecode program for its wrapper.
pub fn install_in_program(program: &mut regorus::rvm::program::Program) {
    for (index, info) in program.builtin_info_table.iter().enumerate() {
        if let (Some(slot), Some(f)) = (
            program.resolved_builtins.get_mut(index),
            wrapper_for(&info.name),
        ) {
            slot.0 = f;
        }
    }
}

/// Registers every builtin's wrapper as an extension of an interpreter (extensions are looked up
/// before builtins). As the interpreter does for builtins (non-strict), an error other than a
/// limit makes the call undefined rather than failing the evaluation. Builtins whose value must
/// stay the same through one evaluation (`time.now_ns`, `rand.intn`: the interpreter caches
/// them, extensions it does not) are left to the interpreter.
pub fn install_in_interpreter(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    let span = Span {
        source: regorus::unstable::Source::from_contents("<builtin>".into(), String::new())?,
        line: 1,
        col: 1,
        start: 0,
        end: 0,
    };
    for (index, entry) in entries().iter().enumerate() {
        if regorus::unstable::must_cache(entry.name).is_some() || index >= WRAPPERS.len() {
            continue;
        }
        let params: Vec<Ref<Expr>> = (0..entry.arity)
            .map(|_| {
                Ref::new(Expr::Null {
                    span: span.clone(),
                    value: Value::Null,
                    eidx: 0,
                })
            })
            .collect();
        let span = span.clone();
        engine.add_extension(
            entry.name.to_string(),
            entry.arity,
            Box::new(
                move |args: Vec<Value>| match run(index, &span, &params, &args, false) {
                    Err(err) if err.downcast_ref::<regorus::LimitError>().is_none() => {
                        Ok(Value::Undefined)
                    }
                    result => result,
                },
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_wrapper_of_its_own() {
        let entries = entries();
        assert!(
            entries.len() <= WRAPPERS.len(),
            "{} builtins, {} wrappers: add indices to wrappers!",
            entries.len(),
            WRAPPERS.len()
        );
        for (index, entry) in entries.iter().enumerate() {
            assert_eq!(
                wrapper_for(entry.name).map(|f| f as usize),
                Some(WRAPPERS[index] as usize),
                "{}",
                entry.name
            );
        }
    }
}
