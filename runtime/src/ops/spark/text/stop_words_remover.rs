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
use crate::ops::spark::text::java::{check_locale, java_lower};
use crate::ops::spark::text::tokens::{Tokens, TokensBuilder, token_inputs};
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

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{run, token_lists, token_rows, tokens_field};
    use keel_bundle::Attr;

    /// A token column: its name and its rows.
    type Column<'a> = (&'a str, Vec<Option<Vec<Option<&'a str>>>>);

    fn remove(
        case_sensitive: bool,
        locale: &str,
        inputs: &[Column<'_>],
    ) -> Result<Vec<Vec<Vec<Option<String>>>>, Error> {
        let cols: Vec<_> = inputs.iter().map(|(n, r)| (*n, token_lists(r))).collect();
        let outs: Vec<String> = (0..inputs.len()).map(|i| format!("out{i}")).collect();
        let out = run(
            "spark.stop_words_remover",
            vec![
                ("stop_words", Attr::Strs(vec!["the".into(), "A".into()])),
                ("case_sensitive", Attr::Bool(case_sensitive)),
                ("locale", Attr::Str(locale.into())),
            ],
            &cols,
            &[("Y", outs.iter().map(|o| tokens_field(o)).collect())],
        )?;
        Ok(outs.iter().map(|o| token_rows(&out, o)).collect())
    }

    fn toks<'a>(v: &[Option<&'a str>]) -> Option<Vec<Option<&'a str>>> {
        Some(v.to_vec())
    }

    fn owned(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|s| s.map(str::to_string)).collect()
    }

    #[test]
    fn case_insensitive_removal_keeps_the_original_tokens_and_nulls() {
        let got = remove(
            false,
            "en_US",
            &[(
                "words",
                vec![toks(&[
                    Some("The"),
                    Some("Cat"),
                    None,
                    Some("a"),
                    Some("dog"),
                ])],
            )],
        )
        .unwrap();
        assert_eq!(got[0][0], owned(&[Some("Cat"), None, Some("dog")]));
    }

    #[test]
    fn case_sensitive_removal_compares_exactly_per_column() {
        let got = remove(
            true,
            "en",
            &[
                ("w1", vec![toks(&[Some("The"), Some("the"), Some("A")])]),
                ("w2", vec![toks(&[Some("a"), Some("x")])]),
            ],
        )
        .unwrap();
        assert_eq!(got[0][0], owned(&[Some("The")]));
        assert_eq!(got[1][0], owned(&[Some("a"), Some("x")]));
    }

    #[test]
    fn turkic_locales_and_null_lists_are_refused() {
        let e = remove(false, "tr_TR", &[("words", vec![toks(&[Some("a")])])]).unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("tr_TR")),
            "{e}"
        );
        let e = remove(false, "en", &[("words", vec![None])]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
