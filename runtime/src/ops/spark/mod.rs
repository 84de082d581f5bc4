//! Spark ML's arithmetic (`spark.*` ops): feature transformers in [`feature`], models in
//! [`models`], text stages in [`text`]. Spark's column conventions (SQL `NULL` beside `NaN`,
//! multi-column bindings, the predictor's three outputs) are shared through [`common`].

pub(crate) mod common;
pub(crate) mod feature;
pub(crate) mod models;
pub(crate) mod text;
