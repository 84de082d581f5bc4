//! Shared pieces of Spark ML's text ops (`spark.tokenizer`, `spark.regex_tokenizer`,
//! `spark.stop_words_remover`, `spark.ngram`, `spark.hashing_tf`, `spark.count_vectorizer`,
//! `spark.feature_hasher`, `spark.word2vec`): token columns, Java's string semantics, and
//! Spark's feature hash.
//!
//! Tokens travel between stages as an Arrow `List<Utf8>` column inside `Value::Array`
//! (`ColType::StrList`), one list per row, as Spark's `array<string>` columns. A null list is
//! where Spark would call its function on `null` and fail the task: the ops refuse it as
//! [`Error::Missing`], naming the column and row.
//!
//! Java semantics kept here:
//! - `String.split(regex)` ([`java_split`]): pieces between matches; when nothing matches the
//!   whole string (even empty) is the one piece; trailing empty pieces are removed.
//! - `String.length` counts UTF-16 code units ([`utf16_len`]), which `RegexTokenizer`'s
//!   `minTokenLength` compares against.
//! - `toLowerCase()` under a non-Turkic, non-Lithuanian locale is Unicode's default lowercase
//!   mapping (with the final-sigma rule), which Rust's `str::to_lowercase` also implements.
//! - `java.util.regex` patterns are translated to the `regex` crate's syntax by
//!   [`java_regex`], for a subset whose meaning is the same in both (ASCII `\s \d \w`, classes,
//!   groups, alternation, greedy and lazy quantifiers); anything else is refused at load.
//!
//! Spark's feature hash ([`murmur3_x86_32`], [`term_index`]) is MurmurHash3 x86_32 with seed
//! 42 over the UTF-8 bytes of the term (Spark 3+'s `hashUnsafeBytes2`, the standard
//! algorithm), then `Utils.nonNegativeMod` by the number of features.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::value::{ColType, Value};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, GenericListArray, StringArray};
use keel_bundle::DType;
use std::sync::Arc;

/// Spark's hashing seed (`HashingTF.seed`, `FeatureHasher.seed`).
pub const SEED: u32 = 42;

/// MurmurHash3 x86_32 of `data` (little-endian 4-byte blocks, standard tail), as Spark's
/// `Murmur3_x86_32.hashUnsafeBytes2`; returned as Java's signed `int`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix_k1 = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h1 = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        let k1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        h1 ^= mix_k1(k1);
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k1 = 0u32;
        for (i, &b) in tail.iter().enumerate() {
            k1 ^= u32::from(b) << (8 * i);
        }
        h1 ^= mix_k1(k1);
    }
    // Spark passes the length as an int; bundles never hold terms of 2 GiB.
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// Spark's `Utils.nonNegativeMod(hash, n)` for `n > 0`.
#[inline]
pub fn non_negative_mod(x: i32, n: i32) -> u32 {
    let r = x % n;
    (if r < 0 { r + n } else { r }) as u32
}

/// The feature index of a term among `n` features: the hash of its UTF-8 bytes modulo `n`.
#[inline]
pub fn term_index(term: &str, n: i32) -> u32 {
    non_negative_mod(murmur3_x86_32(term.as_bytes(), SEED), n)
}

/// Java's `String.length()`: UTF-16 code units.
#[inline]
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Java's `String.split(regex)` (limit 0) for a pattern that cannot match the empty string
/// (see [`java_regex`]): the pieces between matches, the whole string when nothing matches,
/// trailing empty pieces removed.
pub fn java_split<'a>(re: &regex::Regex, s: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let mut index = 0;
    let mut found = false;
    for m in re.find_iter(s) {
        out.push(&s[index..m.start()]);
        index = m.end();
        found = true;
    }
    if !found {
        out.push(s);
        return;
    }
    out.push(&s[index..]);
    while out.last().is_some_and(|p| p.is_empty()) {
        out.pop();
    }
}

/// Java's `\s`, `\d`, `\w` (without `UNICODE_CHARACTER_CLASS`: ASCII only), as the members of
/// a `regex` class.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        's' => (r"\t\n\x0B\x0C\r ", false),
        'S' => (r"\t\n\x0B\x0C\r ", true),
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        _ => return None,
    })
}

/// A single character escaped for the `regex` crate (inside or outside a class).
fn lit(c: char, out: &mut String) {
    if c.is_ascii_punctuation() {
        out.push('\\');
    }
    out.push(c);
}

/// Reads the character of a Java escape `\c` that denotes one character (`\t`, `\n`, `\r`,
/// `\f`, `\xhh`, `\uhhhh`, or escaped punctuation); `None` for anything else.
fn escaped_char(c: char, it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + it.next()?.to_digit(16)?;
        }
        char::from_u32(v)
    };
    match c {
        't' => Some('\t'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        'f' => Some('\x0C'),
        'x' => hex(it, 2),
        'u' => hex(it, 4),
        c if c.is_ascii_punctuation() => Some(c),
        _ => None,
    }
}

/// Translates a `java.util.regex` pattern to the `regex` crate's syntax, for the subset where
/// both mean the same: literals, `.` (any character but Java's line terminators), the ASCII
/// classes `\s \S \d \D \w \W`, bracket classes with ranges and negation (no nesting or
/// intersection), `(...)`, `(?:...)`, `|`, `^` at the start, and the quantifiers `* + ? {n}
/// {n,} {n,m}`, greedy or lazy. Refused (as a message): anything else, e.g. `$` (Java also
/// matches before a final line terminator), `\b`, `\p{..}`, back references, lookaround,
/// inline flags, possessive quantifiers; and a pattern that can match the empty string
/// (Java and `regex` step past empty matches differently).
pub fn java_regex(java: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(java.len() * 2);
    let mut it = java.chars().peekable();
    // Whether the previous item can take a quantifier (and whether it was a quantifier).
    let mut quantifiable = false;
    let mut after_quantifier = false;
    while let Some(c) = it.next() {
        let mut quantifier = false;
        match c {
            '\\' => {
                let e = it.next().ok_or("a trailing `\\`")?;
                if let Some((members, neg)) = perl_class(e) {
                    out.push('[');
                    if neg {
                        out.push('^');
                    }
                    out.push_str(members);
                    out.push(']');
                } else if let Some(ch) = escaped_char(e, &mut it) {
                    lit(ch, &mut out);
                } else {
                    return Err(format!("the escape `\\{e}` is not supported"));
                }
                quantifiable = true;
            }
            '.' => {
                out.push_str("[^\\n\\r\\x{85}\\x{2028}\\x{2029}]");
                quantifiable = true;
            }
            '(' => {
                if it.peek() == Some(&'?') {
                    it.next();
                    if it.next() != Some(':') {
                        return Err("only `(?:` groups are supported (no flags, lookaround or \
                                    named groups)"
                            .into());
                    }
                    out.push_str("(?:");
                } else {
                    out.push('(');
                }
                quantifiable = false;
            }
            ')' => {
                out.push(')');
                quantifiable = true;
            }
            '|' => {
                out.push('|');
                quantifiable = false;
            }
            '^' if out.is_empty() => {
                out.push('^');
                quantifiable = false;
            }
            '^' => return Err("`^` is supported only at the start of the pattern".into()),
            '*' | '+' | '?' | '{' => {
                if after_quantifier && c == '?' {
                    // Lazy: the same in both.
                    out.push('?');
                    after_quantifier = false;
                    quantifiable = false;
                    continue;
                }
                if after_quantifier && c == '+' {
                    return Err("possessive quantifiers are not supported".into());
                }
                if !quantifiable {
                    return Err(format!("a dangling quantifier `{c}`"));
                }
                out.push(c);
                if c == '{' {
                    let mut body = String::new();
                    loop {
                        match it.next() {
                            Some('}') => break,
                            Some(d) if d.is_ascii_digit() || d == ',' => body.push(d),
                            _ => return Err("a malformed `{n,m}` quantifier".into()),
                        }
                    }
                    let ok = match body.split_once(',') {
                        None => !body.is_empty(),
                        Some((a, b)) => !a.is_empty() && !b.contains(','),
                    };
                    if !ok {
                        return Err(format!("a malformed quantifier `{{{body}}}`"));
                    }
                    out.push_str(&body);
                    out.push('}');
                }
                quantifier = true;
                quantifiable = false;
            }
            '[' => {
                class(&mut it, &mut out)?;
                quantifiable = true;
            }
            '$' => {
                return Err(
                    "`$` is not supported (Java's also matches before a final line \
                               terminator)"
                        .into(),
                );
            }
            c => {
                lit(c, &mut out);
                quantifiable = true;
            }
        }
        after_quantifier = quantifier;
    }
    let whole = regex::Regex::new(&format!("^(?:{out})$")).map_err(|e| e.to_string())?;
    if whole.is_match("") {
        return Err("the pattern can match the empty string".into());
    }
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

/// A Java bracket class (after its `[`), appended to `out` in `regex` syntax.
fn class(
    it: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    out.push('[');
    if it.peek() == Some(&'^') {
        it.next();
        out.push('^');
    }
    let mut first = true;
    // The last single character, which a following `-x` turns into a range.
    let mut prev: Option<char> = None;
    loop {
        let c = it.next().ok_or("an unclosed `[`")?;
        match c {
            ']' if !first => break,
            ']' => return Err("a `]` first in a class is not supported".into()),
            '[' => return Err("nested classes are not supported".into()),
            '&' if it.peek() == Some(&'&') => {
                return Err("class intersections (`&&`) are not supported".into());
            }
            '\\' => {
                let e = it.next().ok_or("a trailing `\\`")?;
                if let Some((members, neg)) = perl_class(e) {
                    if neg {
                        return Err(format!("`\\{e}` inside a class is not supported"));
                    }
                    out.push_str(members);
                    prev = None;
                } else if let Some(ch) = escaped_char(e, it) {
                    lit(ch, out);
                    prev = Some(ch);
                } else {
                    return Err(format!("the escape `\\{e}` is not supported"));
                }
            }
            '-' if prev.is_some() && it.peek().is_some_and(|n| *n != ']') => {
                let mut hi = it.next().ok_or("an unclosed `[`")?;
                if hi == '\\' {
                    let e = it.next().ok_or("a trailing `\\`")?;
                    hi =
                        escaped_char(e, it).ok_or_else(|| format!("`\\{e}` cannot end a range"))?;
                } else if hi == '[' {
                    return Err("nested classes are not supported".into());
                }
                if prev.is_some_and(|lo| lo > hi) {
                    return Err("a class range out of order".into());
                }
                out.push('-');
                lit(hi, out);
                prev = None;
            }
            c => {
                lit(c, out);
                prev = Some(c);
            }
        }
        first = false;
    }
    out.push(']');
    Ok(())
}

/// Java's `toLowerCase(locale)` for the locales the exporter accepts (all but Turkish,
/// Azerbaijani and Lithuanian, whose special casings are refused at load).
#[inline]
pub fn java_lower(s: &str) -> String {
    s.to_lowercase()
}

/// Refuses the locales whose Java lowercase mapping differs from Unicode's default one.
pub fn check_locale(ctx: &BuildCtx<'_>, locale: &str) -> Result<(), Error> {
    let lang = locale
        .split(['_', '-'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(lang.as_str(), "tr" | "az" | "lt") {
        return Err(ctx.err(format!(
            "locale `{locale}` has special lowercase rules that keel does not reproduce"
        )));
    }
    Ok(())
}

/// The one column bound to port `X`, which must be a string column; returns its name.
pub fn string_input(ctx: &BuildCtx<'_>) -> Result<String, Error> {
    match ctx.input("X")? {
        [(c, info)] if info.ty == ColType::Scalar(DType::Utf8) => Ok(c.clone()),
        [(c, info)] => Err(ctx.err(format!(
            "column `{c}` is {:?}; this op reads one string column",
            info.ty
        ))),
        _ => Err(ctx.err("port `X` must bind exactly one column")),
    }
}

/// The columns bound to port `X`, each of which must be a token column.
pub fn token_inputs(ctx: &BuildCtx<'_>) -> Result<Vec<String>, Error> {
    let cols = ctx.input("X")?;
    if cols.is_empty() {
        return Err(ctx.err("port `X` binds no columns"));
    }
    cols.iter()
        .map(|(c, info)| match info.ty {
            ColType::StrList => Ok(c.clone()),
            ref other => Err(ctx.err(format!(
                "column `{c}` is {other:?}; this op reads token (list of string) columns"
            ))),
        })
        .collect()
}

/// The one token column bound to port `X`.
pub fn token_input(ctx: &BuildCtx<'_>) -> Result<String, Error> {
    let mut cols = token_inputs(ctx)?;
    match cols.len() {
        1 => Ok(cols.remove(0)),
        _ => Err(ctx.err("port `X` must bind exactly one column")),
    }
}

fn internal(op: &str, what: &str) -> Error {
    Error::Plan {
        node: String::new(),
        op: op.into(),
        message: format!("received {what} (planner bug)"),
    }
}

/// A string column's array.
pub fn strings<'a>(v: &'a Value, op: &str) -> Result<&'a StringArray, Error> {
    match v {
        Value::Array(a) => a
            .as_string_opt::<i32>()
            .ok_or_else(|| internal(op, "a non-string column")),
        _ => Err(internal(op, "a feature block")),
    }
}

/// A token column: the lists and their string values.
pub struct Tokens<'a> {
    lists: &'a GenericListArray<i32>,
    values: &'a StringArray,
    column: &'a str,
}

impl<'a> Tokens<'a> {
    /// Reads value `v` (column `column`) as tokens.
    pub fn new(v: &'a Value, column: &'a str, op: &str) -> Result<Self, Error> {
        let Value::Array(a) = v else {
            return Err(internal(op, "a feature block"));
        };
        let lists = a
            .as_list_opt::<i32>()
            .ok_or_else(|| internal(op, "a non-list column"))?;
        let values = lists
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| internal(op, "a list of non-strings"))?;
        Ok(Tokens {
            lists,
            values,
            column,
        })
    }

    /// The tokens of `row` (a null token as `None`); a null list is refused as Spark's task
    /// would fail on it.
    pub fn row(
        &self,
        row: usize,
    ) -> Result<impl Iterator<Item = Option<&'a str>> + use<'a>, Error> {
        if self.lists.is_null(row) {
            return Err(Error::Missing {
                column: self.column.to_string(),
                row,
                node: String::new(),
            });
        }
        let offsets = self.lists.value_offsets();
        let (a, b) = (offsets[row] as usize, offsets[row + 1] as usize);
        let values = self.values;
        Ok((a..b).map(move |k| (!values.is_null(k)).then(|| values.value(k))))
    }
}

/// Builds a token column row by row.
pub struct TokensBuilder(ListBuilder<StringBuilder>);

impl TokensBuilder {
    /// A builder for `rows` rows.
    pub fn new(rows: usize) -> Self {
        TokensBuilder(ListBuilder::with_capacity(StringBuilder::new(), rows))
    }

    /// Appends one row of tokens.
    pub fn push<S: AsRef<str>>(&mut self, tokens: impl IntoIterator<Item = Option<S>>) {
        for t in tokens {
            self.0.values().append_option(t);
        }
        self.0.append(true);
    }

    /// The column.
    pub fn finish(mut self) -> Value {
        Value::Array(Arc::new(self.0.finish()) as ArrayRef)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_reference_vectors() {
        // Published MurmurHash3_x86_32 vectors (seed 0), which exercise every tail length.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1) as u32, 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0) as u32, 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0) as u32,
            0x2e4f_f723
        );
    }

    #[test]
    fn non_negative_mod_wraps_negatives() {
        assert_eq!(non_negative_mod(-1, 10), 9);
        assert_eq!(non_negative_mod(i32::MIN, 7), (i32::MIN % 7 + 7) as u32);
        assert_eq!(non_negative_mod(12, 10), 2);
    }

    #[test]
    fn split_keeps_leading_and_inner_empties_but_not_trailing() {
        let re = java_regex(r"\s").unwrap();
        let mut out = Vec::new();
        java_split(&re, " a  b ", &mut out);
        assert_eq!(out, ["", "a", "", "b"]);
        java_split(&re, "", &mut out);
        assert_eq!(out, [""]);
        java_split(&re, "   ", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn java_classes_are_ascii() {
        let re = java_regex(r"\w+").unwrap();
        let found: Vec<_> = re.find_iter("héllo wörld").map(|m| m.as_str()).collect();
        assert_eq!(found, ["h", "llo", "w", "rld"]);
        let re = java_regex(r"[^a-z\d]+").unwrap();
        assert!(re.is_match("!"));
        assert!(!re.is_match("a1"));
    }

    #[test]
    fn unsupported_java_syntax_is_refused() {
        for p in [
            r"\b", "a$", "(?i)a", "(?=a)", "a++", r"\p{L}", "[a[b]]", "[a&&b]", "a*", "x|",
        ] {
            assert!(java_regex(p).is_err(), "{p}");
        }
        for p in [r"\s+", r"\W+", "[,.!?]", "a{2,3}?", r"(?:ab)+|\.", "^x"] {
            assert!(java_regex(p).is_ok(), "{p}");
        }
    }
}
