//! `spark.stop_words_remover`: Spark ML's `StopWordsRemover` (single- or multi-column).
//!
//! Ports: `X` (token columns) -> `Y` (one token column per input). Attributes: `stop_words`
//! (strs), `case_sensitive` (bool), `locale` (str, Spark's `locale` param).
//!
//! Spark keeps the tokens not in the set, in order. Case-sensitive: exact comparison.
//! Otherwise both the stop words and each token are lowercased with `toLowerCase(locale)`
//! before comparing (the kept token is the original). Java's lowercasing depends on the
//! locale only for Turkish, Azerbaijani and Lithuanian, which are refused at load; every other
//! locale is Unicode's default mapping. A null token is kept, as in Spark (`null` is never a
//! stop word); a null list fails in Spark and is [`Error::Missing`] here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::per_column_outputs;
use crate::ops::spark::text::tokens::{
    Tokens, TokensBuilder, check_locale, java_lower, token_inputs,
};
use crate::value::Value;
use std::collections::HashSet;

#[derive(Debug)]
struct StopWordsRemover {
    columns: Vec<String>,
    words: HashSet<String>,
    case_sensitive: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let columns = token_inputs(ctx)?;
    let outs = per_column_outputs(ctx, columns.len())?;
    let case_sensitive = ctx.bool("case_sensitive")?;
    check_locale(ctx, ctx.str("locale")?)?;
    let words = ctx
        .strs("stop_words")?
        .iter()
        .map(|w| {
            if case_sensitive {
                w.clone()
            } else {
                java_lower(w)
            }
        })
        .collect();
    let mut outputs = Vec::with_capacity(outs.len());
    for o in outs {
        outputs.push(crate::value::ColInfo {
            ty: crate::value::ColType::StrList,
            names: vec![o.clone()],
        });
    }
    Ok(Built {
        outputs,
        kernel: Box::new(StopWordsRemover {
            columns,
            words,
            case_sensitive,
        }),
    })
}

impl Kernel for StopWordsRemover {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(inputs.len());
        for (v, col) in inputs.iter().zip(&self.columns) {
            let t = Tokens::new(v, col, "spark.stop_words_remover")?;
            let mut b = TokensBuilder::new(rows);
            for row in 0..rows {
                let kept: Vec<Option<&str>> = t
                    .row(row)?
                    .filter(|tok| match tok {
                        None => true,
                        Some(s) if self.case_sensitive => !self.words.contains(*s),
                        Some(s) => !self.words.contains(&java_lower(s)),
                    })
                    .collect();
                b.push(kept);
            }
            out.push(b.finish());
        }
        Ok(out)
    }
}
