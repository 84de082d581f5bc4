//! `spark.word2vec`: Spark ML's `Word2VecModel.transform`.
//!
//! Ports: `X` (one token column) -> `Y` (a vector of `vectorSize`). Attributes: `vocabulary`
//! (strs, distinct), `vectors` (`[words, size]`, the model's float vectors as `getVectors`
//! returns them).
//!
//! Spark averages over the row's tokens: the vectors of the tokens in the vocabulary are
//! summed in double precision (each float widened), and the sum is multiplied by
//! `1 / (number of tokens)`, the tokens outside the vocabulary counted too. An empty row gives
//! the zero vector. A null list fails in Spark and is [`Error::Missing`] here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::text::tokens::{Tokens, token_input};
use crate::value::{Matrix, Value};
use std::collections::HashMap;

#[derive(Debug)]
struct Word2Vec {
    column: String,
    index: HashMap<String, usize>,
    vectors: Vec<f64>,
    size: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = token_input(ctx)?;
    let vocab = ctx.strs("vocabulary")?;
    let (rows, size, vectors) = ctx.matrix("vectors", None)?;
    if rows != vocab.len() || size == 0 {
        return Err(ctx.err(format!(
            "`vectors` has {rows} rows of {size} for {} words",
            vocab.len()
        )));
    }
    let mut index = HashMap::with_capacity(vocab.len());
    for (i, w) in vocab.iter().enumerate() {
        if index.insert(w.clone(), i).is_some() {
            return Err(ctx.err(format!("`vocabulary` repeats the word `{w}`")));
        }
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", (0..size).map(|i| i.to_string()).collect())?],
        kernel: Box::new(Word2Vec {
            column,
            index,
            vectors,
            size,
        }),
    })
}

impl Kernel for Word2Vec {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let t = Tokens::new(v, &self.column, "spark.word2vec")?;
        let mut out = Matrix::zeros(rows, self.size);
        for row in 0..rows {
            let acc = out.row_mut(row);
            let mut count = 0usize;
            for term in t.row(row)? {
                if let Some(&i) = term.and_then(|s| self.index.get(s)) {
                    let w = &self.vectors[i * self.size..(i + 1) * self.size];
                    acc.iter_mut().zip(w).for_each(|(a, x)| *a += x);
                }
                count += 1;
            }
            if count > 0 {
                let scale = 1.0 / count as f64;
                acc.iter_mut().for_each(|a| *a *= scale);
            }
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{rows, run_with_tensors, token_lists, tref, vec_field};
    use keel_bundle::{Attr, TensorWriter};

    fn average(
        vocab: &[&str],
        vectors: (&[usize], &[f64]),
        lists: &[Option<Vec<Option<&str>>>],
    ) -> Result<Vec<Vec<f64>>, Error> {
        let mut t = TensorWriter::new();
        t.f64("vectors", vectors.0, vectors.1);
        let out = run_with_tensors(
            "spark.word2vec",
            vec![
                (
                    "vocabulary",
                    Attr::Strs(vocab.iter().map(|s| s.to_string()).collect()),
                ),
                ("vectors", tref("vectors")),
            ],
            &[("words", token_lists(lists))],
            &[("Y", vec![vec_field("v", 2)])],
            Some(t.finish().expect("tensors")),
        )?;
        Ok(rows(&out, "v"))
    }

    #[test]
    fn averages_word_vectors_over_all_tokens() {
        // ("a" + "b") / 3: the unknown token counts in the denominator.
        let got = average(
            &["a", "b"],
            (&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
            &[Some(vec![Some("a"), Some("b"), Some("zzz")]), Some(vec![])],
        )
        .unwrap();
        assert_eq!(got[0], [4.0 * (1.0 / 3.0), 6.0 * (1.0 / 3.0)]);
        // An empty row is the zero vector.
        assert_eq!(got[1], [0.0, 0.0]);
    }

    #[test]
    fn vectors_that_do_not_fit_the_vocabulary_and_null_lists_are_refused() {
        let e = average(&["a"], (&[2, 2], &[1.0, 2.0, 3.0, 4.0]), &[Some(vec![])]).unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("1 words")),
            "{e}"
        );
        let e = average(&["a", "b"], (&[2, 2], &[1.0, 2.0, 3.0, 4.0]), &[None]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
