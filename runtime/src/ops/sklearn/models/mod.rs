//! scikit-learn's estimators: linear models, multi-layer perceptrons, k-means, decision-tree
//! ensembles and histogram gradient boosting. Classifiers share their output ports and label
//! handling through [`classes`].

pub(crate) mod classes;
pub(crate) mod hist_gradient_boosting;
pub(crate) mod kmeans;
pub(crate) mod linear;
pub(crate) mod mlp;
pub(crate) mod tree_ensemble;
