//! `spark.hashing_tf`: Spark ML's `HashingTF` (Spark 3+ hashing).
//!
//! Ports: `X` (one token column) -> `Y` (a sparse block of `num_features` columns).
//! Attributes: `num_features` (i64, 1 to 2^31 - 1; Spark's default is 2^18), `binary` (bool).
//!
//! Each term's index is MurmurHash3 x86_32 (seed 42) of its UTF-8 bytes, modulo
//! `num_features` made non-negative (`hash::term_index`); a null term hashes to the seed
//! itself, as Spark's `murmur3Hash(null)`. The value at an index is the number of terms that
//! land there, or 1 under `binary`. A null list fails in Spark and is [`Error::Missing`] here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::text::hash::{SEED, non_negative_mod, term_index};
use crate::ops::spark::text::tokens::{Tokens, token_input};
use crate::value::{SparseMatrix, Value};
use std::collections::HashMap;

#[derive(Debug)]
struct HashingTf {
    column: String,
    n: i32,
    binary: bool,
}

/// Reads `num_features` as Spark's positive `int`.
pub fn num_features(ctx: &BuildCtx<'_>) -> Result<i32, Error> {
    let n = ctx.i64("num_features")?;
    i32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ctx.err(format!("`num_features` {n} is outside 1..=2^31-1")))
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let column = token_input(ctx)?;
    let n = num_features(ctx)?;
    Ok(Built {
        outputs: vec![ctx.sparse_out("Y", n as usize)?],
        kernel: Box::new(HashingTf {
            column,
            n,
            binary: ctx.bool("binary")?,
        }),
    })
}

impl Kernel for HashingTf {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let [v] = inputs else {
            return Ok(Vec::new());
        };
        let t = Tokens::new(v, &self.column, "spark.hashing_tf")?;
        let mut out = SparseMatrix::with_capacity(rows, self.n as usize, rows * 8);
        let mut counts: HashMap<u32, f64> = HashMap::new();
        let mut entries = Vec::new();
        for row in 0..rows {
            counts.clear();
            for term in t.row(row)? {
                let i = match term {
                    Some(s) => term_index(s, self.n),
                    None => non_negative_mod(SEED as i32, self.n),
                };
                let c = counts.entry(i).or_insert(0.0);
                *c = if self.binary { 1.0 } else { *c + 1.0 };
            }
            entries.clear();
            entries.extend(counts.iter().map(|(&i, &c)| (i, c)));
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

    fn hash(
        n: i64,
        binary: bool,
        lists: &[Option<Vec<Option<&str>>>],
    ) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "spark.hashing_tf",
            vec![
                ("num_features", Attr::I64(n)),
                ("binary", Attr::Bool(binary)),
            ],
            &[("words", token_lists(lists))],
            &[("Y", vec![vec_field("tf", n as u64)])],
        )?;
        Ok(rows(&out, "tf"))
    }

    #[test]
    fn counts_the_terms_landing_on_each_index() {
        // With one feature every term lands on index 0, so the value is the row's term count.
        let lists = [
            Some(vec![Some("a"), Some("b"), Some("a"), None]),
            Some(vec![]),
        ];
        assert_eq!(hash(1, false, &lists).unwrap(), [vec![4.0], vec![0.0]]);
        assert_eq!(hash(1, true, &lists).unwrap(), [vec![1.0], vec![0.0]]);
        // A term repeated lands twice on the same index, wherever the hash puts it.
        let got = hash(16, false, &[Some(vec![Some("x"), Some("x")])]).unwrap();
        assert_eq!(got[0].iter().sum::<f64>(), 2.0);
        assert_eq!(got[0].iter().filter(|v| **v != 0.0).count(), 1);
    }

    #[test]
    fn a_non_positive_width_and_null_lists_are_refused() {
        let e = hash(0, false, &[Some(vec![])]).unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("num_features")),
            "{e}"
        );
        let e = hash(4, false, &[None]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
