//! `spark.tokenizer`: Spark ML's `Tokenizer`: `str.toLowerCase().split("\\s")`.
//!
//! Ports: `X` (one string column) -> `Y` (tokens: a list of strings per row). No attributes.
//!
//! Java's semantics are kept (see `java.rs`): the lowercase mapping is Unicode's default
//! one (the JVM's default locale is assumed not to be Turkish, Azerbaijani or Lithuanian); the
//! split is on each single ASCII whitespace character (`[ \t\n\x0B\f\r]`), so two spaces make
//! an empty token, a leading space makes a leading empty token, trailing empty tokens are
//! dropped, and the empty string gives one empty token. A null string fails in Spark (the
//! function is called on `null`); here it is [`Error::Missing`] naming the column and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built};
use crate::ops::spark::text::regex_tokenizer::RegexTokenizer;
use crate::ops::spark::text::tokens::string_input;

/// Plans the op: the `spark.regex_tokenizer` kernel splitting on Java's `\s` after lowercasing.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = string_input(ctx)?;
    let re = regex::Regex::new(r"[\t\n\x0B\x0C\r ]").map_err(|e| ctx.err(e.to_string()))?;
    Ok(Built {
        outputs: vec![ctx.str_list_out("Y")?],
        kernel: Box::new(RegexTokenizer {
            op: "spark.tokenizer",
            column,
            re,
            gaps: true,
            min_len: 0,
            lower: true,
        }),
    })
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{run, strs, token_rows, tokens_field};

    fn tokenize(texts: &[Option<&str>]) -> Result<Vec<Vec<Option<String>>>, Error> {
        let out = run(
            "spark.tokenizer",
            vec![],
            &[("text", strs(texts))],
            &[("Y", vec![tokens_field("words")])],
        )?;
        Ok(token_rows(&out, "words"))
    }

    fn words(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn lowercases_then_splits_on_each_whitespace_as_java_split() {
        // `"Hello  World".toLowerCase().split("\\s")`: two spaces make an empty token, a
        // leading one a leading empty token; trailing empty strings are removed by `split`.
        let got = tokenize(&[Some("Hello  World"), Some(" a\tB "), Some(""), Some("ÀB")]).unwrap();
        assert_eq!(got[0], words(&["hello", "", "world"]));
        assert_eq!(got[1], words(&["", "a", "b"]));
        // `"".split(...)` is the one empty string.
        assert_eq!(got[2], words(&[""]));
        assert_eq!(got[3], words(&["àb"]));
    }

    #[test]
    fn a_null_text_is_missing_naming_column_and_row() {
        let e = tokenize(&[Some("a"), None]).unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "text"),
            "{e}"
        );
    }
}
