//! The ops, one per file. Each file has a `build` function registered in `registry.rs`, its
//! kernel, and its unit tests at the bottom. Shared helpers for classifiers live in
//! [`classes`].

pub mod binarizer;
pub mod categories;
pub mod classes;
pub mod concat;
pub mod function_transformer;
pub mod hist_gradient_boosting;
pub mod kbins_discretizer;
pub mod kmeans;
pub mod linear;
pub mod max_abs_scaler;
pub mod min_max_scaler;
pub mod mlp;
pub mod normalizer;
pub mod one_hot_encoder;
pub mod ordinal_encoder;
pub mod pca;
pub mod polynomial_features;
pub mod select;
pub mod simple_imputer;
pub mod spark_binarizer;
pub mod spark_bucketizer;
pub mod spark_common;
pub mod spark_elementwise_product;
pub mod spark_imputer;
pub mod spark_index_to_string;
pub mod spark_interaction;
pub mod spark_kmeans;
pub mod spark_linear;
pub mod spark_max_abs_scaler;
pub mod spark_min_max_scaler;
pub mod spark_naive_bayes;
pub mod spark_normalizer;
pub mod spark_one_hot_encoder;
pub mod spark_pca;
pub mod spark_polynomial_expansion;
pub mod spark_standard_scaler;
pub mod spark_string_indexer;
pub mod spark_tree_ensemble;
pub mod spark_vector_assembler;
pub mod spark_vector_indexer;
pub mod standard_scaler;
pub mod tree_ensemble;
