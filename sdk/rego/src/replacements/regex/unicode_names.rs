//! The names Go's `regexp/syntax` (Go 1.25 and later, what OPA v1.20.2 is built with) accepts in
//! `\p{Name}`, resolved to a name Rust's `regex` reads the same way.
//!
//! Go canonicalises the name (drops `_`, `-` and spaces, then one capital and lower case:
//! `uppercase letter` is `Uppercaseletter`), then looks it up: `Any`, `Assigned`, `Ascii`, `Lc`;
//! a general category (`Lu`); a script, by its key as Go's `unicode.Scripts` spells it, so only
//! one-word scripts are found (`Greek`, not `Old_Italic`); a category alias (`Letter`,
//! `Uppercase_Letter`). Rust matches names more loosely (script codes such as `Latn`,
//! `sc=Greek`, any case, an `Is` prefix, scripts newer than Go's Unicode 15.0): each such name is
//! refused here, as Go refuses it.

/// General categories (Go's `unicode.Categories` keys, less `LC`, which is not canonical).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Cn", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

/// Unicode's long names of the general categories (PropertyValueAliases.txt), canonicalised as
/// Go canonicalises them, and the category each stands for.
const CATEGORY_ALIASES: &[(&str, &str)] = &[
    ("Casedletter", "LC"),
    ("Closepunctuation", "Pe"),
    ("Cntrl", "Cc"),
    ("Combiningmark", "M"),
    ("Connectorpunctuation", "Pc"),
    ("Control", "Cc"),
    ("Currencysymbol", "Sc"),
    ("Dashpunctuation", "Pd"),
    ("Decimalnumber", "Nd"),
    ("Digit", "Nd"),
    ("Enclosingmark", "Me"),
    ("Finalpunctuation", "Pf"),
    ("Format", "Cf"),
    ("Initialpunctuation", "Pi"),
    ("Letter", "L"),
    ("Letternumber", "Nl"),
    ("Lineseparator", "Zl"),
    ("Lowercaseletter", "Ll"),
    ("Mark", "M"),
    ("Mathsymbol", "Sm"),
    ("Modifierletter", "Lm"),
    ("Modifiersymbol", "Sk"),
    ("Nonspacingmark", "Mn"),
    ("Number", "N"),
    ("Openpunctuation", "Ps"),
    ("Other", "C"),
    ("Otherletter", "Lo"),
    ("Othernumber", "No"),
    ("Otherpunctuation", "Po"),
    ("Othersymbol", "So"),
    ("Paragraphseparator", "Zp"),
    ("Privateuse", "Co"),
    ("Punct", "P"),
    ("Punctuation", "P"),
    ("Separator", "Z"),
    ("Spaceseparator", "Zs"),
    ("Spacingmark", "Mc"),
    ("Surrogate", "Cs"),
    ("Symbol", "S"),
    ("Titlecaseletter", "Lt"),
    ("Unassigned", "Cn"),
    ("Uppercaseletter", "Lu"),
];

/// The scripts of Unicode 15.0 (Go's `unicode.Scripts`) whose name is one word: the only ones
/// Go's lookup finds.
const ONE_WORD_SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Carian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dogra",
    "Duployan",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Inherited",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kharoshthi",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Medefaidrin",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nandinagari",
    "Newa",
    "Nko",
    "Nushu",
    "Ogham",
    "Osage",
    "Osmanya",
    "Palmyrene",
    "Phoenician",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "Sinhala",
    "Sogdian",
    "Soyombo",
    "Sundanese",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Yezidi",
    "Yi",
];

/// Go's `canonicalName`.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().filter(|c| !matches!(c, '_' | '-' | ' ')) {
        match out.is_empty() {
            true => out.push(c.to_ascii_uppercase()),
            false => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// The class Go's `\p{name}` is, as a name Rust reads the same way, and whether it is negated
/// (`Assigned` is everything but `Cn`); `None` when Go knows no such class.
pub(super) fn resolve(name: &str) -> Option<(String, bool)> {
    let name = canonical(name);
    let found = match name.as_str() {
        "Any" => "Any",
        "Assigned" => return Some(("Cn".into(), true)),
        "Ascii" => "ASCII",
        "Lc" => "LC",
        name => CATEGORIES
            .iter()
            .chain(ONE_WORD_SCRIPTS)
            .find(|known| **known == name)
            .copied()
            .or_else(|| {
                let (_, category) = CATEGORY_ALIASES.iter().find(|(alias, _)| *alias == name)?;
                Some(*category)
            })?,
    };
    Some((found.to_string(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_as_go_looks_them_up() {
        let found = resolve;
        assert_eq!(found("Greek"), Some(("Greek".into(), false)));
        assert_eq!(found("greek"), Some(("Greek".into(), false)));
        assert_eq!(found("lu"), Some(("Lu".into(), false)));
        assert_eq!(found("uppercase letter"), Some(("Lu".into(), false)));
        assert_eq!(found("Cased_Letter"), Some(("LC".into(), false)));
        assert_eq!(found("LC"), Some(("LC".into(), false)));
        assert_eq!(found("ascii"), Some(("ASCII".into(), false)));
        assert_eq!(found("Assigned"), Some(("Cn".into(), true)));
        for refused in [
            "Old_Italic",
            "Latn",
            "sc=Greek",
            "IsGreek",
            "Garay",
            "Alphabetic",
            "",
        ] {
            assert_eq!(found(refused), None, "{refused}");
        }
    }

    #[test]
    fn the_lists_are_canonical() {
        for name in ONE_WORD_SCRIPTS.iter().chain(CATEGORIES) {
            assert_eq!(canonical(name), *name);
        }
        for (alias, _) in CATEGORY_ALIASES {
            assert_eq!(canonical(alias), *alias);
        }
    }
}
