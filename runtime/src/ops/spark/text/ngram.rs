//! `spark.ngram`: Spark ML's `NGram`.
//!
//! Ports: `X` (one token column) -> `Y` (tokens). Attribute: `n` (i64 >= 1).
//!
//! Spark slides a window of `n` tokens over each row (`sliding(n).withPartial(false)`) and
//! joins each window with single spaces: a row with fewer than `n` tokens gives an empty list.
//! A null token is joined as the text `null` (Scala's `mkString`); a null list fails in
//! Spark and is [`Error::Missing`] here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::text::tokens::{Tokens, TokensBuilder, token_input};
use crate::value::Value;

#[derive(Debug)]
struct NGram {
    column: String,
    n: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = token_input(ctx)?;
    let n = ctx.usize("n")?;
    if n == 0 {
        return Err(ctx.err("`n` must be at least 1"));
    }
    Ok(Built {
        outputs: vec![ctx.str_list_out("Y")?],
        kernel: Box::new(NGram { column, n }),
    })
}

impl Kernel for NGram {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let t = Tokens::new(v, &self.column, "spark.ngram")?;
        let mut b = TokensBuilder::new(rows);
        for row in 0..rows {
            let toks: Vec<&str> = t.row(row)?.map(|x| x.unwrap_or("null")).collect();
            b.push(toks.windows(self.n).map(|w| Some(w.join(" "))));
        }
        Ok(vec![b.finish()])
    }
}
