//! The training set in memory: what the feature stages produce and the network reads.
//!
//! Rows are stored column-block by column-block, row-major within each block: an `f32` numeric
//! block (`rows × numeric_width`, imputed and scaled), an `i64` block of category indices
//! (`rows × categorical_width`, one embedding row per index, already bounded by the fitted
//! vocabularies) and one `f32` label per row (a class index for classification, the target for
//! regression). Keeping the blocks flat lets a [`Batch`] be a set of slices, with no copy.

use std::ops::Range;

/// A contiguous run of rows of a [`Dataset`], as slices into its blocks.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Rows in this batch.
    pub rows: usize,
    /// `rows × numeric_width` features, row-major.
    pub numeric: &'a [f32],
    /// Width of one row of `numeric`.
    pub numeric_width: usize,
    /// `rows × categorical_width` category indices, row-major.
    pub categorical: &'a [i64],
    /// Width of one row of `categorical`.
    pub categorical_width: usize,
    /// One label per row.
    pub labels: &'a [f32],
}

/// A training set held in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Numeric features per row.
    pub numeric_width: usize,
    /// Categorical columns per row.
    pub categorical_width: usize,
    /// `rows × numeric_width`, row-major.
    pub numeric: Vec<f32>,
    /// `rows × categorical_width`, row-major.
    pub categorical: Vec<i64>,
    /// One label per row.
    pub labels: Vec<f32>,
}

impl Dataset {
    /// An empty set with the given widths.
    pub fn new(numeric_width: usize, categorical_width: usize) -> Self {
        Dataset {
            numeric_width,
            categorical_width,
            ..Dataset::default()
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows `range` as a batch. The range is clamped to the rows held.
    pub fn batch(&self, range: Range<usize>) -> Batch<'_> {
        let end = range.end.min(self.rows());
        let start = range.start.min(end);
        Batch {
            rows: end - start,
            numeric: &self.numeric[start * self.numeric_width..end * self.numeric_width],
            numeric_width: self.numeric_width,
            categorical: &self.categorical
                [start * self.categorical_width..end * self.categorical_width],
            categorical_width: self.categorical_width,
            labels: &self.labels[start..end],
        }
    }

    /// Appends every row of `other`, whose widths must match (checked by the caller that built
    /// both from one feature plan).
    pub fn extend(&mut self, other: &Dataset) {
        debug_assert_eq!(self.numeric_width, other.numeric_width);
        debug_assert_eq!(self.categorical_width, other.categorical_width);
        self.numeric.extend_from_slice(&other.numeric);
        self.categorical.extend_from_slice(&other.categorical);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Appends row `row` of `other`.
    pub fn push_row(&mut self, other: &Dataset, row: usize) {
        let (n, c) = (self.numeric_width, self.categorical_width);
        self.numeric
            .extend_from_slice(&other.numeric[row * n..(row + 1) * n]);
        self.categorical
            .extend_from_slice(&other.categorical[row * c..(row + 1) * c]);
        self.labels.push(other.labels[row]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Dataset {
        Dataset {
            numeric_width: 2,
            categorical_width: 1,
            numeric: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            categorical: vec![7, 8, 9],
            labels: vec![0.0, 1.0, 0.0],
        }
    }

    #[test]
    fn batch_slices_each_block_by_rows() {
        let d = sample();
        let b = d.batch(1..3);
        assert_eq!(b.rows, 2);
        assert_eq!(b.numeric, &[2.0, 3.0, 4.0, 5.0]);
        assert_eq!(b.categorical, &[8, 9]);
        assert_eq!(b.labels, &[1.0, 0.0]);
    }

    #[test]
    fn batch_past_the_end_is_clamped() {
        let d = sample();
        assert_eq!(d.batch(2..10).rows, 1);
        assert_eq!(d.batch(5..10).rows, 0);
    }

    #[test]
    fn push_row_copies_one_row_of_each_block() {
        let d = sample();
        let mut e = Dataset::new(2, 1);
        e.push_row(&d, 2);
        e.extend(&d);
        assert_eq!(e.rows(), 4);
        assert_eq!(&e.numeric[..2], &[4.0, 5.0]);
        assert_eq!(e.categorical[0], 9);
    }
}
