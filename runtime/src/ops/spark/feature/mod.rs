//! Spark ML's feature transformers (`org.apache.spark.ml.feature` stages that read numbers,
//! vectors or labels): assemblers, indexers, encoders, scalers, bucketing, PCA, IDF, hashing
//! of scalar columns, interactions.

pub(crate) mod binarizer;
pub(crate) mod bucketizer;
pub(crate) mod elementwise_product;
pub(crate) mod feature_hasher;
pub(crate) mod idf;
pub(crate) mod imputer;
pub(crate) mod index_to_string;
pub(crate) mod interaction;
pub(crate) mod max_abs_scaler;
pub(crate) mod min_max_scaler;
pub(crate) mod normalizer;
pub(crate) mod one_hot_encoder;
pub(crate) mod pca;
pub(crate) mod polynomial_expansion;
pub(crate) mod standard_scaler;
pub(crate) mod string_indexer;
pub(crate) mod vector_assembler;
pub(crate) mod vector_indexer;
