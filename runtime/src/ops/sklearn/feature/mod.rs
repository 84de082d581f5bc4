//! scikit-learn's transformers: scalers, encoders, the imputer, discretisers, polynomial
//! features, function transformers and PCA. Each reads a numeric (or, for the encoders and the
//! imputer, string) feature block on `X` and writes a feature block on `Y`, as `transform` does.

pub(crate) mod binarizer;
pub(crate) mod function_transformer;
pub(crate) mod kbins_discretizer;
pub(crate) mod max_abs_scaler;
pub(crate) mod min_max_scaler;
pub(crate) mod normalizer;
pub(crate) mod one_hot_encoder;
pub(crate) mod ordinal_encoder;
pub(crate) mod pca;
pub(crate) mod polynomial_features;
pub(crate) mod simple_imputer;
pub(crate) mod standard_scaler;
