//! `spark.regex_tokenizer`: Spark ML's `RegexTokenizer`.
//!
//! Ports: `X` (one string column) -> `Y` (tokens). Attributes: `pattern` (str, a
//! `java.util.regex` pattern from the subset `java::java_regex` translates; others are
//! refused at load), `gaps` (bool: the pattern matches separators, split as Java's
//! `String.split`; else it matches the tokens, every non-overlapping match in order),
//! `min_token_length` (i64: tokens shorter, in UTF-16 code units as Java's `length`, are
//! dropped), `to_lowercase` (bool: Java's `toLowerCase()` first).
//!
//! A null string fails in Spark; here it is [`Error::Missing`] naming the column and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::text::java::{java_lower, java_regex, java_split, utf16_len};
use crate::ops::spark::text::tokens::{TokensBuilder, string_input, strings};
use crate::value::Value;
use arrow_array::Array;
use std::borrow::Cow;

/// The kernel of both tokenizers: `spark.tokenizer` is this one with Java's `\s` as the gaps,
/// no minimum length and lowercasing.
#[derive(Debug)]
pub(crate) struct RegexTokenizer {
    /// The op, for errors about the input's type.
    pub(crate) op: &'static str,
    pub(crate) column: String,
    pub(crate) re: regex::Regex,
    pub(crate) gaps: bool,
    pub(crate) min_len: usize,
    pub(crate) lower: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = string_input(ctx)?;
    let pattern = ctx.str("pattern")?;
    let re = java_regex(pattern).map_err(|e| ctx.err(format!("pattern `{pattern}`: {e}")))?;
    let min = ctx.i64("min_token_length")?;
    let min_len = usize::try_from(min)
        .map_err(|_| ctx.err(format!("`min_token_length` is negative ({min})")))?;
    Ok(Built {
        outputs: vec![ctx.str_list_out("Y")?],
        kernel: Box::new(RegexTokenizer {
            op: "spark.regex_tokenizer",
            column,
            re,
            gaps: ctx.bool("gaps")?,
            min_len,
            lower: ctx.bool("to_lowercase")?,
        }),
    })
}

impl Kernel for RegexTokenizer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let s = strings(v, self.op)?;
        let mut out = TokensBuilder::new(rows);
        for row in 0..s.len() {
            // Borrows the row's (lowercased) text, so it lives per row.
            let mut pieces = Vec::new();
            if s.is_null(row) {
                return Err(Error::Missing {
                    column: self.column.clone(),
                    row,
                    node: String::new(),
                });
            }
            let text: Cow<'_, str> = if self.lower {
                Cow::Owned(java_lower(s.value(row)))
            } else {
                Cow::Borrowed(s.value(row))
            };
            if self.gaps {
                java_split(&self.re, &text, &mut pieces);
            } else {
                pieces.clear();
                pieces.extend(self.re.find_iter(&text).map(|m| m.as_str()));
            }
            out.push(
                pieces
                    .iter()
                    .filter(|t| self.min_len == 0 || utf16_len(t) >= self.min_len)
                    .map(Some),
            );
        }
        Ok(vec![out.finish()])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{plan, run, strs, token_rows, tokens_field};
    use keel_bundle::Attr;

    fn attrs(pattern: &str, gaps: bool, min: i64, lower: bool) -> Vec<(&'static str, Attr)> {
        vec![
            ("pattern", Attr::Str(pattern.into())),
            ("gaps", Attr::Bool(gaps)),
            ("min_token_length", Attr::I64(min)),
            ("to_lowercase", Attr::Bool(lower)),
        ]
    }

    fn tokenize(
        attrs: Vec<(&str, Attr)>,
        texts: &[Option<&str>],
    ) -> Result<Vec<Vec<Option<String>>>, Error> {
        let out = run(
            "spark.regex_tokenizer",
            attrs,
            &[("text", strs(texts))],
            &[("Y", vec![tokens_field("words")])],
        )?;
        Ok(token_rows(&out, "words"))
    }

    fn words(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn gaps_split_on_the_pattern_then_drop_short_tokens() {
        // "hi, i am bob!".split("\\W+") = [hi, i, am, bob] (the trailing "" is removed), and
        // minTokenLength 2 drops "i".
        let got = tokenize(attrs(r"\W+", true, 2, true), &[Some("Hi, I am Bob!")]).unwrap();
        assert_eq!(got[0], words(&["hi", "am", "bob"]));
        // Without lowercasing the case is kept.
        let got = tokenize(attrs(r"\W+", true, 1, false), &[Some("Hi, I")]).unwrap();
        assert_eq!(got[0], words(&["Hi", "I"]));
    }

    #[test]
    fn without_gaps_every_match_is_a_token() {
        let got = tokenize(
            attrs(r"\d+", false, 0, true),
            &[Some("a1b22c333"), Some("x")],
        )
        .unwrap();
        assert_eq!(got[0], words(&["1", "22", "333"]));
        assert!(got[1].is_empty());
    }

    #[test]
    fn min_token_length_counts_utf16_units() {
        // Java's `length` of "𝄞" (one code point outside the BMP) is 2.
        let got = tokenize(attrs(" ", true, 2, false), &[Some("𝄞 é")]).unwrap();
        assert_eq!(got[0], words(&["𝄞"]));
    }

    #[test]
    fn untranslatable_patterns_and_null_texts_are_refused() {
        let e = plan(
            "spark.regex_tokenizer",
            attrs(r"\p{L}+", true, 1, true),
            &[("text", strs(&[Some("a")]))],
            &[("Y", vec![tokens_field("words")])],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("pattern")),
            "{e}"
        );
        let e = tokenize(attrs(r"\s+", true, -1, true), &[Some("a")]).unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
        let e = tokenize(attrs(r"\s+", true, 1, true), &[None]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
