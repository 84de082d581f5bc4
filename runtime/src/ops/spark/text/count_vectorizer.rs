//! `spark.count_vectorizer`: Spark ML's `CountVectorizerModel`.
//!
//! Ports: `X` (one token column) -> `Y` (a sparse block, one column per vocabulary term).
//! Attributes: `vocabulary` (strs, distinct), `min_tf` (f64), `binary` (bool).
//!
//! Spark counts each vocabulary term of a row (terms outside the vocabulary are ignored but
//! still counted in the row's token count); a count is kept when it is at least `min_tf`
//! (a count when `min_tf >= 1`, else a fraction: `min_tf * token count`), and is then written
//! as it is or as 1 under `binary`. A null list fails in Spark and is [`Error::Missing`] here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::text::tokens::{Tokens, token_input};
use crate::value::{SparseMatrix, Value};
use std::collections::HashMap;

#[derive(Debug)]
struct CountVectorizer {
    column: String,
    index: HashMap<String, u32>,
    size: usize,
    min_tf: f64,
    binary: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = token_input(ctx)?;
    let vocab = ctx.strs("vocabulary")?;
    if vocab.is_empty() || u32::try_from(vocab.len()).is_err() {
        return Err(ctx.err("`vocabulary` must hold between 1 and 2^32 - 1 terms"));
    }
    let mut index = HashMap::with_capacity(vocab.len());
    for (i, w) in vocab.iter().enumerate() {
        if index.insert(w.clone(), i as u32).is_some() {
            return Err(ctx.err(format!("`vocabulary` repeats the term `{w}`")));
        }
    }
    let min_tf = ctx.f64("min_tf")?;
    if !(min_tf >= 0.0 && min_tf.is_finite()) {
        return Err(ctx.err(format!("`min_tf` {min_tf} must be finite and non-negative")));
    }
    Ok(Built {
        outputs: vec![ctx.sparse_out("Y", vocab.len())?],
        kernel: Box::new(CountVectorizer {
            column,
            index,
            size: vocab.len(),
            min_tf,
            binary: ctx.bool("binary")?,
        }),
    })
}

impl Kernel for CountVectorizer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let t = Tokens::new(v, &self.column, "spark.count_vectorizer")?;
        let mut out = SparseMatrix::with_capacity(rows, self.size, rows * 8);
        let mut counts: HashMap<u32, f64> = HashMap::new();
        let mut entries = Vec::new();
        for row in 0..rows {
            counts.clear();
            let mut tokens = 0u64;
            for term in t.row(row)? {
                if let Some(&i) = term.and_then(|s| self.index.get(s)) {
                    *counts.entry(i).or_insert(0.0) += 1.0;
                }
                tokens += 1;
            }
            // Spark: `if (minTf >= 1.0) minTf else tokenCount * minTf`.
            let min = if self.min_tf >= 1.0 {
                self.min_tf
            } else {
                tokens as f64 * self.min_tf
            };
            entries.clear();
            entries.extend(
                counts
                    .iter()
                    .filter(|(_, c)| **c >= min)
                    .map(|(&i, &c)| (i, if self.binary { 1.0 } else { c })),
            );
            out.push_row(&mut entries);
        }
        Ok(vec![Value::Sparse(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{rows, run, token_lists, vec_field};
    use keel_bundle::Attr;

    fn count(
        vocab: &[&str],
        min_tf: f64,
        binary: bool,
        lists: &[Option<Vec<Option<&str>>>],
    ) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "spark.count_vectorizer",
            vec![
                (
                    "vocabulary",
                    Attr::Strs(vocab.iter().map(|s| s.to_string()).collect()),
                ),
                ("min_tf", Attr::F64(min_tf)),
                ("binary", Attr::Bool(binary)),
            ],
            &[("words", token_lists(lists))],
            &[("Y", vec![vec_field("tf", vocab.len() as u64)])],
        )?;
        Ok(rows(&out, "tf"))
    }

    #[test]
    fn counts_vocabulary_terms_and_applies_min_tf() {
        let row = [Some(vec![Some("a"), Some("b"), Some("a"), Some("zzz")])];
        // Out-of-vocabulary terms are ignored.
        assert_eq!(
            count(&["a", "b", "c"], 1.0, false, &row).unwrap()[0],
            [2.0, 1.0, 0.0]
        );
        // minTF >= 1 is a count: "b" (1) is dropped.
        assert_eq!(
            count(&["a", "b", "c"], 2.0, false, &row).unwrap()[0],
            [2.0, 0.0, 0.0]
        );
        // minTF < 1 is a fraction of the row's 4 tokens (the unknown one included): 0.5 * 4 = 2.
        assert_eq!(
            count(&["a", "b", "c"], 0.5, false, &row).unwrap()[0],
            [2.0, 0.0, 0.0]
        );
        // binary writes 1 for every kept count.
        assert_eq!(
            count(&["a", "b", "c"], 1.0, true, &row).unwrap()[0],
            [1.0, 1.0, 0.0]
        );
    }

    #[test]
    fn bad_vocabularies_thresholds_and_null_lists_are_refused() {
        let row = [Some(vec![Some("a")])];
        let e = count(&["a", "a"], 1.0, false, &row).unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("repeats")),
            "{e}"
        );
        let e = count(&["a"], -1.0, false, &row).unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
        let e = count(&["a"], 1.0, false, &[None]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
