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
