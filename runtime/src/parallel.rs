//! Batch scoring across cores (feature `threads`, off by default): [`Model::score_parallel`]
//! cuts a batch into one contiguous slice per thread (zero-copy) and scores the slices on
//! rayon's pool with the one planned model, which every kernel shares read-only. The pool's
//! threads outlive the call, so their allocator caches stay warm from batch to batch.
//!
//! A feature rather than part of the core because the core builds for
//! `wasm32-unknown-unknown`, which has no threads: the command line, Python and the benchmark
//! probe turn it on; the browser build does not.

use crate::error::Error;
use crate::model::Model;
use arrow_array::RecordBatch;
use rayon::prelude::*;

/// The fewest rows worth a slice of their own: below this handing the slice to another thread
/// costs about what it saves on a tabular model.
pub const MIN_SLICE_ROWS: usize = 256;

impl Model {
    /// Scores `batch` in up to `threads` slices on the pool (`0`: one per available core; the
    /// pool has one thread per core), with the same answer as [`Model::score`], row for row.
    /// Slices are at least [`MIN_SLICE_ROWS`] rows, so a small batch stays on the calling
    /// thread. Row numbers in errors are positions in `batch`; when several slices fail, the
    /// first row's error is the one returned.
    pub fn score_parallel(
        &self,
        batch: &RecordBatch,
        threads: usize,
    ) -> Result<RecordBatch, Error> {
        let rows = batch.num_rows();
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let slices = threads.min(rows / MIN_SLICE_ROWS).max(1);
        if slices == 1 {
            return self.score(batch);
        }
        let per = rows.div_ceil(slices);
        let starts: Vec<usize> = (0..rows).step_by(per).collect();
        let results: Vec<Result<RecordBatch, Error>> = starts
            .par_iter()
            .map(|&start| {
                self.score(&batch.slice(start, per.min(rows - start)))
                    .map_err(|e| e.offset_rows(start))
            })
            .collect();
        let parts = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        crate::concat::concat_batches(&self.output_schema(), &parts).map_err(|e| Error::Plan {
            node: String::new(),
            op: String::new(),
            message: format!("cannot assemble the output: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Model, Options};
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use keel_bundle::{Attr, Binding, Bundle, DType, Field as BField, Manifest, Node};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// `y = (x - 1) / 2` through a scaler, on a frame large enough to be cut in slices.
    fn model() -> Model {
        let mut scaler = Node {
            name: "s".into(),
            op: "sklearn.standard_scaler".into(),
            inputs: vec![Binding::new("X", ["x"])],
            outputs: vec![Binding::new("Y", ["y"])],
            attrs: BTreeMap::new(),
            children: Vec::new(),
            doc: String::new(),
        };
        scaler.attrs.insert("mean".into(), Attr::F64s(vec![1.0]));
        scaler.attrs.insert("scale".into(), Attr::F64s(vec![2.0]));
        let m = Manifest::new(
            "t",
            "s",
            vec![BField::scalar("x", DType::F64, false)],
            vec![BField::vector("y", DType::F64, 1)],
        );
        let b = Bundle::new(m, scaler, Vec::<(String, Vec<u8>)>::new()).unwrap_or_else(|e| {
            panic!("{e}");
        });
        Model::from_bundle(&b, &Options::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn frame(values: Vec<Option<f64>>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
        let col: ArrayRef = Arc::new(Float64Array::from(values));
        RecordBatch::try_new(Arc::new(schema), vec![col]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn slices_give_the_answer_of_one_thread_in_row_order() {
        let model = model();
        let n = model.chunk_rows() * 3 + 17;
        let batch = frame((0..n).map(|i| Some(i as f64)).collect());
        let one = model.score(&batch).unwrap_or_else(|e| panic!("{e}"));
        for threads in [0, 2, 3, 8] {
            let many = model
                .score_parallel(&batch, threads)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(many, one, "{threads} threads");
        }
    }

    #[test]
    fn an_error_names_its_row_in_the_whole_batch() {
        let model = model();
        let n = model.chunk_rows() * 4;
        let mut values: Vec<Option<f64>> = (0..n).map(|i| Some(i as f64)).collect();
        // A null in a column declared non-nullable, in the last slice.
        let bad = n - 5;
        values[bad] = None;
        let batch = frame(values);
        let one = model
            .score(&batch)
            .err()
            .unwrap_or_else(|| panic!("accepted a null"));
        let many = model
            .score_parallel(&batch, 4)
            .err()
            .unwrap_or_else(|| panic!("accepted a null"));
        assert_eq!(many.row(), Some(bad), "{many}");
        assert_eq!(one.to_string(), many.to_string());
    }
}
