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
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark_text::{TokensBuilder, java_lower, java_split, string_input, strings};
use crate::value::Value;
use arrow_array::Array;

#[derive(Debug)]
struct Tokenizer {
    column: String,
    re: regex::Regex,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = string_input(ctx)?;
    let re = regex::Regex::new(r"[\t\n\x0B\x0C\r ]").map_err(|e| ctx.err(e.to_string()))?;
    Ok(Built {
        outputs: vec![ctx.str_list_out("Y")?],
        kernel: Box::new(Tokenizer { column, re }),
    })
}

impl Kernel for Tokenizer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let s = strings(v, "spark.tokenizer")?;
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
            let lower = java_lower(s.value(row));
            java_split(&self.re, &lower, &mut pieces);
            out.push(pieces.iter().map(Some));
        }
        Ok(vec![out.finish()])
    }
}
