//! Weaviate's tokenizations.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Go's `unicode.IsLetter(c) || unicode.IsNumber(c)`: general category L or N. (Rust's
/// `is_alphanumeric` also accepts the Other_Alphabetic marks and symbols, which Weaviate splits
/// on.)
fn letter_or_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
    )
}

/// How a text property is split into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tokenizer {
    /// Split on every character that is not a letter or a digit; lower-cased.
    Word,
    /// Split on whitespace; lower-cased.
    Lowercase,
    /// Split on whitespace; case kept.
    Whitespace,
    /// The whole value, trimmed, as one token.
    Field,
    /// Lower-cased letters and digits, as overlapping windows of three characters.
    Trigram,
}

/// Lower-cases like Go's `strings.ToLower` (Weaviate's): rune by rune, without context rules
/// (no final sigma), `İ` to a plain `i`.
pub fn lower(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{130}' {
            out.push('i');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Splits `text` into tokens the way Weaviate's tokenization `t` does.
pub fn tokenize(t: Tokenizer, text: &str) -> Vec<String> {
    match t {
        Tokenizer::Field => {
            let t = text.trim();
            if t.is_empty() {
                Vec::new()
            } else {
                vec![t.to_string()]
            }
        }
        Tokenizer::Whitespace => text.split_whitespace().map(str::to_string).collect(),
        Tokenizer::Lowercase => text.split_whitespace().map(lower).collect(),
        Tokenizer::Trigram => {
            let chars: Vec<char> = lower(text)
                .chars()
                .filter(|c| letter_or_number(*c))
                .collect();
            chars.windows(3).map(|w| w.iter().collect()).collect()
        }
        Tokenizer::Word => text
            .split(|c: char| !letter_or_number(c))
            .filter(|t| !t.is_empty())
            .map(lower)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizations_split_and_fold_like_weaviate() {
        let cases: &[(Tokenizer, &str, &[&str])] = &[
            (
                Tokenizer::Word,
                "Hello, World! x-y",
                &["hello", "world", "x", "y"],
            ),
            (
                Tokenizer::Word,
                "Café  naïve_ÜBER",
                &["café", "naïve", "über"],
            ),
            (
                Tokenizer::Word,
                "東京 tower🗼2024",
                &["東京", "tower", "2024"],
            ),
            (Tokenizer::Word, "  ", &[]),
            (Tokenizer::Field, "  A b  ", &["A b"]),
            (Tokenizer::Field, "   ", &[]),
            (Tokenizer::Whitespace, "A b\tC", &["A", "b", "C"]),
            (Tokenizer::Lowercase, "A b-C", &["a", "b-c"]),
            (Tokenizer::Trigram, "abcd", &["abc", "bcd"]),
            (Tokenizer::Trigram, "Ab c!", &["abc"]),
            (Tokenizer::Trigram, "ab", &[]),
            // Go's lower-casing: no final sigma, dotted capital I to i.
            (Tokenizer::Word, "ΟΔΟΣ İstanbul", &["οδοσ", "istanbul"]),
            (Tokenizer::Word, "don't stop", &["don", "t", "stop"]),
            // Combining marks (Other_Alphabetic) and circled letters are not letters for Go.
            (Tokenizer::Word, "नमस्ते", &["नमस", "त"]),
            (Tokenizer::Word, "Ⓐb ½x", &["b", "½x"]),
            (Tokenizer::Trigram, "ⓐbcd", &["bcd"]),
        ];
        for (t, text, want) in cases {
            assert_eq!(tokenize(*t, text), *want, "{t:?} {text:?}");
        }
    }
}
