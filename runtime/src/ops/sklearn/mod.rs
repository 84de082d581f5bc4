//! scikit-learn's arithmetic (`sklearn.*` ops): transformers in [`feature`], estimators in
//! [`models`].

pub(crate) mod feature;
pub(crate) mod models;
