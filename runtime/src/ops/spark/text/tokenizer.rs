//! `spark.tokenizer`: Spark ML's `Tokenizer`: `str.toLowerCase().split("\\s")`.
//!
//! Ports: `X` (one string column) -> `Y` (tokens: a list of strings per row). No attributes.
//!
//! Java's semantics are kept (see `spark_text.rs`): the lowercase mapping is Unicode's default
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
