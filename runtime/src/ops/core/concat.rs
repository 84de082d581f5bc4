//! `concat`: stacks numeric columns side by side into one feature block (scikit-learn's
//! `ColumnTransformer`/`FeatureUnion` hstack).
//!
//! Ports: `X` (any numeric columns) -> `Y` (one vector). No attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, gather};

#[derive(Debug)]
struct Concat;

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    Ok(Built {
        kernel: Box::new(Concat),
        outputs: vec![ctx.vector_out("Y", names)?],
    })
}

impl Kernel for Concat {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        Ok(vec![Value::Matrix(gather(inputs).into_owned())])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, strs, vec_field};

    #[test]
    fn stacks_columns_side_by_side_in_binding_order() {
        // numpy's hstack of the columns [1, 2] and [3, 4], in the order they are bound.
        let out = run(
            "concat",
            vec![],
            &[("b", f64s(&[3.0, 4.0])), ("a", f64s(&[1.0, f64::NAN]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        let y = rows(&out, "y");
        assert_eq!(y[0], [3.0, 1.0]);
        // Stacking does not judge values: a NaN passes through to the stage that reads it.
        assert_eq!(y[1][0], 4.0);
        assert!(y[1][1].is_nan());
    }

    #[test]
    fn a_string_column_is_refused_at_load() {
        let e = plan(
            "concat",
            vec![],
            &[("a", f64s(&[1.0])), ("s", strs(&[Some("x")]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("column `s`")),
            "{e}"
        );
    }
}
