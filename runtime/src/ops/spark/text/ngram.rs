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

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{run, token_lists, token_rows, tokens_field};
    use keel_bundle::Attr;

    fn ngrams(
        n: i64,
        rows: &[Option<Vec<Option<&str>>>],
    ) -> Result<Vec<Vec<Option<String>>>, Error> {
        let out = run(
            "spark.ngram",
            vec![("n", Attr::I64(n))],
            &[("words", token_lists(rows))],
            &[("Y", vec![tokens_field("grams")])],
        )?;
        Ok(token_rows(&out, "grams"))
    }

    #[test]
    fn joins_each_window_of_n_tokens_with_a_space() {
        let got = ngrams(
            2,
            &[
                Some(vec![Some("a"), Some("b"), Some("c")]),
                Some(vec![Some("a")]),
                Some(vec![Some("x"), None]),
            ],
        )
        .unwrap();
        assert_eq!(got[0], [Some("a b".to_string()), Some("b c".to_string())]);
        // Fewer than n tokens: no n-gram (`sliding(n).withPartial(false)`).
        assert!(got[1].is_empty());
        // Scala's `mkString` writes a null as "null".
        assert_eq!(got[2], [Some("x null".to_string())]);
    }

    #[test]
    fn n_of_zero_and_null_lists_are_refused() {
        let e = ngrams(0, &[Some(vec![Some("a")])]).unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
        let e = ngrams(2, &[Some(vec![]), None]).unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "words"),
            "{e}"
        );
    }
}
