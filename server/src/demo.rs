//! The demo bundles built into the binary, served by `keel serve` when it is given no bundle or
//! directory, so a fresh install answers requests with nothing else on disk. Adding one is one
//! line here.

/// (name shown as the source, bundle bytes).
pub const BUNDLES: &[(&str, &[u8])] = &[
    (
        "airbnb_linear",
        include_bytes!("../../fixtures/demo/airbnb_linear.keel"),
    ),
    (
        "iris_logreg",
        include_bytes!("../../fixtures/sklearn/iris_logreg/model.keel"),
    ),
    (
        "diabetes_ct_linreg",
        include_bytes!("../../fixtures/sklearn/diabetes_ct_linreg/model.keel"),
    ),
];
