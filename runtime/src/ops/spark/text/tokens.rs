//! Token columns, shared by Spark's text stages: how a stage finds its string or token input,
//! reads tokens row by row and writes them.
//!
//! Tokens travel between stages as an Arrow `List<Utf8>` column inside `Value::Array`
//! (`ColType::StrList`), one list per row, as Spark's `array<string>` columns. A null list is
//! where Spark would call its function on `null` and fail the task: the ops refuse it as
//! [`Error::Missing`], naming the column and row.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::value::{ColType, Value};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, GenericListArray, StringArray};
use keel_bundle::DType;
use std::sync::Arc;

/// The one column bound to port `X`, which must be a string column; returns its name.
pub fn string_input(ctx: &BuildCtx<'_>) -> Result<String, Error> {
    match ctx.input("X")? {
        [(c, info)] if info.ty == ColType::Scalar(DType::Utf8) => Ok(c.clone()),
        [(c, info)] => Err(ctx.err(format!(
            "column `{c}` is {:?}; this op reads one string column",
            info.ty
        ))),
        _ => Err(ctx.err("port `X` must bind exactly one column")),
    }
}

/// The columns bound to port `X`, each of which must be a token column.
pub fn token_inputs(ctx: &BuildCtx<'_>) -> Result<Vec<String>, Error> {
    let cols = ctx.input("X")?;
    if cols.is_empty() {
        return Err(ctx.err("port `X` binds no columns"));
    }
    cols.iter()
        .map(|(c, info)| match info.ty {
            ColType::StrList => Ok(c.clone()),
            ref other => Err(ctx.err(format!(
                "column `{c}` is {other:?}; this op reads token (list of string) columns"
            ))),
        })
        .collect()
}

/// The one token column bound to port `X`.
pub fn token_input(ctx: &BuildCtx<'_>) -> Result<String, Error> {
    let mut cols = token_inputs(ctx)?;
    match cols.len() {
        1 => Ok(cols.remove(0)),
        _ => Err(ctx.err("port `X` must bind exactly one column")),
    }
}

fn internal(op: &str, what: &str) -> Error {
    Error::Plan {
        node: String::new(),
        op: op.into(),
        message: format!("received {what} (planner bug)"),
    }
}

/// A string column's array.
pub fn strings<'a>(v: &'a Value, op: &str) -> Result<&'a StringArray, Error> {
    match v {
        Value::Array(a) => a
            .as_string_opt::<i32>()
            .ok_or_else(|| internal(op, "a non-string column")),
        _ => Err(internal(op, "a feature block")),
    }
}

/// A token column: the lists and their string values.
pub struct Tokens<'a> {
    lists: &'a GenericListArray<i32>,
    values: &'a StringArray,
    column: &'a str,
}

impl<'a> Tokens<'a> {
    /// Reads value `v` (column `column`) as tokens.
    pub fn new(v: &'a Value, column: &'a str, op: &str) -> Result<Self, Error> {
        let Value::Array(a) = v else {
            return Err(internal(op, "a feature block"));
        };
        let lists = a
            .as_list_opt::<i32>()
            .ok_or_else(|| internal(op, "a non-list column"))?;
        let values = lists
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| internal(op, "a list of non-strings"))?;
        Ok(Tokens {
            lists,
            values,
            column,
        })
    }

    /// The tokens of `row` (a null token as `None`); a null list is refused as Spark's task
    /// would fail on it.
    pub fn row(
        &self,
        row: usize,
    ) -> Result<impl Iterator<Item = Option<&'a str>> + use<'a>, Error> {
        if self.lists.is_null(row) {
            return Err(Error::Missing {
                column: self.column.to_string(),
                row,
                node: String::new(),
            });
        }
        let offsets = self.lists.value_offsets();
        let (a, b) = (offsets[row] as usize, offsets[row + 1] as usize);
        let values = self.values;
        Ok((a..b).map(move |k| (!values.is_null(k)).then(|| values.value(k))))
    }
}

/// Builds a token column row by row.
pub struct TokensBuilder(ListBuilder<StringBuilder>);

impl TokensBuilder {
    /// A builder for `rows` rows.
    pub fn new(rows: usize) -> Self {
        TokensBuilder(ListBuilder::with_capacity(StringBuilder::new(), rows))
    }

    /// Appends one row of tokens.
    pub fn push<S: AsRef<str>>(&mut self, tokens: impl IntoIterator<Item = Option<S>>) {
        for t in tokens {
            self.0.values().append_option(t);
        }
        self.0.append(true);
    }

    /// The column.
    pub fn finish(mut self) -> Value {
        Value::Array(Arc::new(self.0.finish()) as ArrayRef)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_are_read_back_with_null_tokens_and_a_null_list_is_missing() {
        let mut b = TokensBuilder::new(2);
        b.push([Some("a"), None, Some("")]);
        b.push(Vec::<Option<&str>>::new());
        let v = b.finish();
        let t = Tokens::new(&v, "words", "spark.test").unwrap();
        assert_eq!(
            t.row(0).unwrap().collect::<Vec<_>>(),
            [Some("a"), None, Some("")]
        );
        assert_eq!(t.row(1).unwrap().count(), 0);

        let mut lists = ListBuilder::new(StringBuilder::new());
        lists.append(false);
        let v = Value::Array(Arc::new(lists.finish()));
        let t = Tokens::new(&v, "words", "spark.test").unwrap();
        let e = t.row(0).err().unwrap();
        assert!(
            matches!(&e, Error::Missing { column, row: 0, .. } if column == "words"),
            "{e}"
        );
        // A string column where tokens are expected is a planner bug, not a panic.
        assert!(strings(&v, "spark.test").is_err());
    }
}
