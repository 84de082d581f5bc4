//! The one table of ops. Adding an op means adding one file under `ops/` and one line here
//! (and a row in `docs/ops.md`).

use crate::op::BuildFn;
use crate::ops;

/// Every op the CPU reference implements, by name.
pub static OPS: &[(&str, BuildFn)] = &[
    ("concat", ops::concat::build),
    ("sklearn.standard_scaler", ops::standard_scaler::build),
    ("sklearn.linear", ops::linear::build),
    ("sklearn.mlp", ops::mlp::build),
    ("sklearn.kmeans", ops::kmeans::build),
    ("sklearn.tree_ensemble", ops::tree_ensemble::build),
    (
        "sklearn.hist_gradient_boosting",
        ops::hist_gradient_boosting::build,
    ),
    ("select", ops::select::build),
    ("sklearn.min_max_scaler", ops::min_max_scaler::build),
    ("sklearn.max_abs_scaler", ops::max_abs_scaler::build),
    ("sklearn.normalizer", ops::normalizer::build),
    ("sklearn.binarizer", ops::binarizer::build),
    ("sklearn.simple_imputer", ops::simple_imputer::build),
    ("sklearn.one_hot_encoder", ops::one_hot_encoder::build),
    ("sklearn.ordinal_encoder", ops::ordinal_encoder::build),
    ("sklearn.kbins_discretizer", ops::kbins_discretizer::build),
    (
        "sklearn.polynomial_features",
        ops::polynomial_features::build,
    ),
    (
        "sklearn.function_transformer",
        ops::function_transformer::build,
    ),
    ("sklearn.pca", ops::pca::build),
    ("spark.vector_assembler", ops::spark_vector_assembler::build),
    ("spark.string_indexer", ops::spark_string_indexer::build),
    ("spark.one_hot_encoder", ops::spark_one_hot_encoder::build),
    ("spark.standard_scaler", ops::spark_standard_scaler::build),
    ("spark.min_max_scaler", ops::spark_min_max_scaler::build),
    ("spark.max_abs_scaler", ops::spark_max_abs_scaler::build),
    ("spark.imputer", ops::spark_imputer::build),
    ("spark.bucketizer", ops::spark_bucketizer::build),
    ("spark.binarizer", ops::spark_binarizer::build),
    ("spark.linear", ops::spark_linear::build),
    ("spark.tree_ensemble", ops::spark_tree_ensemble::build),
    ("spark.normalizer", ops::spark_normalizer::build),
    (
        "spark.polynomial_expansion",
        ops::spark_polynomial_expansion::build,
    ),
    ("spark.index_to_string", ops::spark_index_to_string::build),
    ("spark.pca", ops::spark_pca::build),
    ("spark.naive_bayes", ops::spark_naive_bayes::build),
    ("spark.kmeans", ops::spark_kmeans::build),
    ("spark.tokenizer", ops::spark_tokenizer::build),
    ("spark.regex_tokenizer", ops::spark_regex_tokenizer::build),
    (
        "spark.stop_words_remover",
        ops::spark_stop_words_remover::build,
    ),
    ("spark.ngram", ops::spark_ngram::build),
    ("spark.hashing_tf", ops::spark_hashing_tf::build),
    ("spark.count_vectorizer", ops::spark_count_vectorizer::build),
    ("spark.idf", ops::spark_idf::build),
    ("spark.feature_hasher", ops::spark_feature_hasher::build),
    ("spark.word2vec", ops::spark_word2vec::build),
    ("spark.glm", ops::spark_glm::build),
    ("spark.mlp", ops::spark_mlp::build),
    ("spark.one_vs_rest", ops::spark_one_vs_rest::build),
    ("spark.fm", ops::spark_fm::build),
    ("spark.isotonic", ops::spark_isotonic::build),
    (
        "spark.elementwise_product",
        ops::spark_elementwise_product::build,
    ),
    ("spark.interaction", ops::spark_interaction::build),
    ("spark.vector_indexer", ops::spark_vector_indexer::build),
];

/// The ops that read sparse feature blocks (`Value::Sparse`) as they are. Every other op gets
/// a densified copy (at most `value::DENSIFY_LIMIT` wide; wider is refused at plan time).
pub static SPARSE_INPUT_OPS: &[&str] = &[
    "spark.idf",
    "spark.linear",
    "spark.naive_bayes",
    "spark.vector_assembler",
];

/// Whether `op` reads sparse feature blocks as they are.
pub fn takes_sparse(op: &str) -> bool {
    SPARSE_INPUT_OPS.contains(&op)
}

/// The build function of `op`, if known.
pub fn lookup(op: &str) -> Option<BuildFn> {
    OPS.iter().find(|(name, _)| *name == op).map(|(_, f)| *f)
}

/// The names of all known ops, sorted.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<_> = OPS.iter().map(|(n, _)| *n).collect();
    v.sort_unstable();
    v
}
