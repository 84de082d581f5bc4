//! Spark ML's models (`org.apache.spark.ml.{classification, regression, clustering}`): each
//! reads one features vector on `X` and writes Spark's `prediction` and, for classifiers,
//! `probability` and `raw_prediction` (see [`super::common`]).

pub(crate) mod fm;
pub(crate) mod glm;
pub(crate) mod isotonic;
pub(crate) mod kmeans;
pub(crate) mod linear;
pub(crate) mod mlp;
pub(crate) mod naive_bayes;
pub(crate) mod one_vs_rest;
pub(crate) mod tree_ensemble;
