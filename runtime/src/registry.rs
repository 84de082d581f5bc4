//! The one table of ops. Each [`OpEntry`] carries everything the planner and the front ends
//! need to know about an op besides its code: its name, its build function, whether it reads
//! sparse feature blocks as they are, and which backends can run it. Adding an op means adding
//! one file under `ops/` and one entry here, in name order (and a row in `docs/ops.md`).
//!
//! The table is sorted by name so that the planner's look-up (once per node, at load) is a
//! binary search; a unit test keeps it sorted.

use crate::op::BuildFn;
use crate::ops;

/// A kind of backend that can run an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// The CPU reference ([`crate::Cpu`]), which implements every op.
    Cpu,
}

/// Only the CPU reference, which every op has.
const CPU: &[BackendKind] = &[BackendKind::Cpu];

/// One op and its properties.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OpEntry {
    /// The op's name as a bundle's graph spells it (`sklearn.linear`, `spark.idf`).
    pub name: &'static str,
    /// Plans a node of this op (see [`crate::op`]).
    pub build: BuildFn,
    /// Whether the op reads sparse feature blocks (`Value::Sparse`) as they are. Every other
    /// op gets a densified copy (at most [`crate::DENSIFY_LIMIT`] wide; wider is refused at
    /// plan time, naming the column).
    pub sparse_input: bool,
    /// The backends that can run the op. The CPU reference is always among them.
    pub backends: &'static [BackendKind],
    /// Whether the op reads tensors (`Value::Tensor`) as they are: the `nn.*` ops. Every other
    /// op reads a tensor column as a feature block (axis 0 the rows, the other axes flattened),
    /// which the planner makes once per column.
    pub tensor_input: bool,
    /// For `nn.*` ops (and others that declare them, such as `image.to_tensor`): every
    /// attribute the op reads. The planner refuses a node with any other attribute, naming
    /// them all, and the ONNX importer lists a model's unsupported attributes from the same
    /// table before it writes anything. Empty (and unchecked) for the other ops.
    pub attrs: &'static [&'static str],
}

impl OpEntry {
    /// An op run by the CPU reference, reading dense inputs only.
    const fn cpu(name: &'static str, build: BuildFn) -> OpEntry {
        OpEntry {
            name,
            build,
            sparse_input: false,
            backends: CPU,
            tensor_input: false,
            attrs: &[],
        }
    }

    /// A network op (`nn.*`): run by the CPU reference, reading tensors, with the attributes
    /// it accepts.
    const fn nn(name: &'static str, build: BuildFn, attrs: &'static [&'static str]) -> OpEntry {
        OpEntry {
            name,
            build,
            sparse_input: false,
            backends: CPU,
            tensor_input: true,
            attrs,
        }
    }

    /// The same op, with the attributes it accepts checked by the planner (as for `nn.*`).
    const fn with_attrs(self, attrs: &'static [&'static str]) -> OpEntry {
        OpEntry { attrs, ..self }
    }

    /// The same op, reading sparse feature blocks as they are.
    const fn with_sparse_input(self) -> OpEntry {
        OpEntry {
            sparse_input: true,
            ..self
        }
    }

    /// Whether a backend of kind `kind` can run the op.
    pub fn runs_on(&self, kind: BackendKind) -> bool {
        self.backends.contains(&kind)
    }
}

/// Every op, sorted by name.
pub static OPS: &[OpEntry] = &[
    OpEntry::cpu("concat", ops::core::concat::build),
    OpEntry::cpu("image.to_tensor", ops::image::to_tensor::build)
        .with_attrs(ops::image::to_tensor::ATTRS),
    OpEntry::nn(
        "nn.arg_reduce",
        ops::nn::arg_reduce::build,
        &["axis", "fn", "keepdims", "select_last_index"],
    ),
    OpEntry::nn(
        "nn.attention",
        ops::nn::attention::build,
        &[
            "is_causal",
            "kv_num_heads",
            "q_num_heads",
            "qk_matmul_output_mode",
            "scale",
            "softcap",
            "softmax_precision",
        ],
    ),
    OpEntry::nn(
        "nn.average_pool",
        ops::nn::average_pool::build,
        &[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "strides",
        ],
    ),
    OpEntry::nn(
        "nn.batch_norm",
        ops::nn::batch_norm::build,
        &["epsilon", "momentum", "training_mode"],
    ),
    OpEntry::nn("nn.binary", ops::nn::binary::build, &["fmod", "fn"]),
    OpEntry::nn("nn.cast", ops::nn::cast::build, &["saturate", "to"]),
    OpEntry::nn("nn.clip", ops::nn::clip::build, &[]),
    OpEntry::nn("nn.concat", ops::nn::concat::build, &["axis"]),
    OpEntry::nn("nn.constant", ops::nn::constant::build, &["value"]),
    OpEntry::nn(
        "nn.constant_of_shape",
        ops::nn::constant_of_shape::build,
        &["value"],
    ),
    OpEntry::nn(
        "nn.conv",
        ops::nn::conv::build,
        &[
            "activation",
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ],
    ),
    OpEntry::nn(
        "nn.conv_transpose",
        ops::nn::conv_transpose::build,
        &[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "strides",
        ],
    ),
    OpEntry::nn(
        "nn.cumulative",
        ops::nn::cumulative::build,
        &["exclusive", "fn", "reverse"],
    ),
    OpEntry::nn(
        "nn.depth_to_space",
        ops::nn::depth_to_space::build,
        &["blocksize", "fn", "mode"],
    ),
    OpEntry::nn("nn.dropout", ops::nn::dropout::build, &["ratio", "seed"]),
    OpEntry::nn("nn.embedding", ops::nn::embedding::build, &["padding_idx"]),
    OpEntry::nn(
        "nn.embedding_bag",
        ops::nn::embedding_bag::build,
        &["include_last_offset", "mode", "padding_idx"],
    ),
    OpEntry::nn("nn.expand", ops::nn::expand::build, &[]),
    OpEntry::nn("nn.flatten", ops::nn::flatten::build, &["axis"]),
    OpEntry::nn("nn.gather", ops::nn::gather::build, &["axis"]),
    OpEntry::nn(
        "nn.gather_elements",
        ops::nn::gather_elements::build,
        &["axis"],
    ),
    OpEntry::nn("nn.gather_nd", ops::nn::gather_nd::build, &["batch_dims"]),
    OpEntry::nn(
        "nn.gemm",
        ops::nn::gemm::build,
        &["activation", "alpha", "beta", "transA", "transB"],
    ),
    OpEntry::nn("nn.global_pool", ops::nn::global_pool::build, &["fn", "p"]),
    OpEntry::nn(
        "nn.group_norm",
        ops::nn::group_norm::build,
        &["epsilon", "num_groups", "stash_type"],
    ),
    OpEntry::nn("nn.identity", ops::nn::identity::build, &[]),
    OpEntry::nn(
        "nn.instance_norm",
        ops::nn::instance_norm::build,
        &["epsilon"],
    ),
    OpEntry::nn(
        "nn.layer_norm",
        ops::nn::layer_norm::build,
        &["axis", "epsilon", "stash_type"],
    ),
    OpEntry::nn(
        "nn.lp_pool",
        ops::nn::lp_pool::build,
        &[
            "auto_pad",
            "ceil_mode",
            "dilations",
            "kernel_shape",
            "p",
            "pads",
            "strides",
        ],
    ),
    OpEntry::nn(
        "nn.lrn",
        ops::nn::lrn::build,
        &["alpha", "beta", "bias", "size"],
    ),
    OpEntry::nn("nn.matmul", ops::nn::matmul::build, &[]),
    OpEntry::nn(
        "nn.max_pool",
        ops::nn::max_pool::build,
        &[
            "auto_pad",
            "ceil_mode",
            "dilations",
            "kernel_shape",
            "pads",
            "storage_order",
            "strides",
        ],
    ),
    OpEntry::nn(
        "nn.mean_variance_norm",
        ops::nn::mean_variance_norm::build,
        &["axes"],
    ),
    OpEntry::nn("nn.non_zero", ops::nn::non_zero::build, &[]),
    OpEntry::nn("nn.one_hot", ops::nn::one_hot::build, &["axis"]),
    OpEntry::nn("nn.pad", ops::nn::pad::build, &["mode"]),
    OpEntry::nn("nn.range", ops::nn::range::build, &[]),
    OpEntry::nn(
        "nn.reduce",
        ops::nn::reduce::build,
        &["fn", "keepdims", "noop_with_empty_axes"],
    ),
    OpEntry::nn("nn.reshape", ops::nn::reshape::build, &["allowzero"]),
    OpEntry::nn(
        "nn.resize",
        ops::nn::resize::build,
        &[
            "antialias",
            "axes",
            "coordinate_transformation_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "extrapolation_value",
            "keep_aspect_ratio_policy",
            "mode",
            "nearest_mode",
        ],
    ),
    OpEntry::nn(
        "nn.rms_norm",
        ops::nn::rms_norm::build,
        &["axis", "epsilon", "stash_type"],
    ),
    OpEntry::nn(
        "nn.rotary_embedding",
        ops::nn::rotary_embedding::build,
        &["interleaved", "num_heads", "rotary_embedding_dim"],
    ),
    OpEntry::nn(
        "nn.scatter_elements",
        ops::nn::scatter_elements::build,
        &["axis", "reduction"],
    ),
    OpEntry::nn("nn.scatter_nd", ops::nn::scatter_nd::build, &["reduction"]),
    OpEntry::nn("nn.shape", ops::nn::shape::build, &["end", "start"]),
    OpEntry::nn("nn.size", ops::nn::size::build, &[]),
    OpEntry::nn("nn.slice", ops::nn::slice::build, &[]),
    OpEntry::nn("nn.softmax", ops::nn::softmax::build, &["axis", "fn"]),
    OpEntry::nn("nn.split", ops::nn::split::build, &["axis", "num_outputs"]),
    OpEntry::nn("nn.squeeze", ops::nn::squeeze::build, &[]),
    OpEntry::nn("nn.tile", ops::nn::tile::build, &[]),
    OpEntry::nn(
        "nn.top_k",
        ops::nn::top_k::build,
        &["axis", "largest", "sorted"],
    ),
    OpEntry::nn("nn.transpose", ops::nn::transpose::build, &["perm"]),
    OpEntry::nn("nn.trilu", ops::nn::trilu::build, &["upper"]),
    OpEntry::nn(
        "nn.unary",
        ops::nn::unary::build,
        &[
            "alpha",
            "approximate",
            "beta",
            "bias",
            "detect_negative",
            "detect_positive",
            "fn",
            "gamma",
            "lambd",
        ],
    ),
    OpEntry::nn("nn.unsqueeze", ops::nn::unsqueeze::build, &[]),
    OpEntry::nn("nn.variadic", ops::nn::variadic::build, &["fn"]),
    OpEntry::nn("nn.where", ops::nn::where_::build, &[]),
    OpEntry::cpu("select", ops::core::select::build),
    OpEntry::cpu("sklearn.binarizer", ops::sklearn::feature::binarizer::build),
    OpEntry::cpu(
        "sklearn.function_transformer",
        ops::sklearn::feature::function_transformer::build,
    ),
    OpEntry::cpu(
        "sklearn.hist_gradient_boosting",
        ops::sklearn::models::hist_gradient_boosting::build,
    ),
    OpEntry::cpu(
        "sklearn.kbins_discretizer",
        ops::sklearn::feature::kbins_discretizer::build,
    ),
    OpEntry::cpu("sklearn.kmeans", ops::sklearn::models::kmeans::build),
    OpEntry::cpu("sklearn.linear", ops::sklearn::models::linear::build),
    OpEntry::cpu(
        "sklearn.max_abs_scaler",
        ops::sklearn::feature::max_abs_scaler::build,
    ),
    OpEntry::cpu(
        "sklearn.min_max_scaler",
        ops::sklearn::feature::min_max_scaler::build,
    ),
    OpEntry::cpu("sklearn.mlp", ops::sklearn::models::mlp::build),
    OpEntry::cpu(
        "sklearn.normalizer",
        ops::sklearn::feature::normalizer::build,
    ),
    OpEntry::cpu(
        "sklearn.one_hot_encoder",
        ops::sklearn::feature::one_hot_encoder::build,
    ),
    OpEntry::cpu(
        "sklearn.ordinal_encoder",
        ops::sklearn::feature::ordinal_encoder::build,
    ),
    OpEntry::cpu("sklearn.pca", ops::sklearn::feature::pca::build),
    OpEntry::cpu(
        "sklearn.polynomial_features",
        ops::sklearn::feature::polynomial_features::build,
    ),
    OpEntry::cpu(
        "sklearn.simple_imputer",
        ops::sklearn::feature::simple_imputer::build,
    ),
    OpEntry::cpu(
        "sklearn.standard_scaler",
        ops::sklearn::feature::standard_scaler::build,
    ),
    OpEntry::cpu(
        "sklearn.tree_ensemble",
        ops::sklearn::models::tree_ensemble::build,
    ),
    OpEntry::cpu("spark.binarizer", ops::spark::feature::binarizer::build),
    OpEntry::cpu("spark.bucketizer", ops::spark::feature::bucketizer::build),
    OpEntry::cpu(
        "spark.count_vectorizer",
        ops::spark::text::count_vectorizer::build,
    ),
    OpEntry::cpu(
        "spark.elementwise_product",
        ops::spark::feature::elementwise_product::build,
    ),
    OpEntry::cpu(
        "spark.feature_hasher",
        ops::spark::feature::feature_hasher::build,
    ),
    OpEntry::cpu("spark.fm", ops::spark::models::fm::build),
    OpEntry::cpu("spark.glm", ops::spark::models::glm::build),
    OpEntry::cpu("spark.hashing_tf", ops::spark::text::hashing_tf::build),
    OpEntry::cpu("spark.idf", ops::spark::feature::idf::build).with_sparse_input(),
    OpEntry::cpu("spark.imputer", ops::spark::feature::imputer::build),
    OpEntry::cpu(
        "spark.index_to_string",
        ops::spark::feature::index_to_string::build,
    ),
    OpEntry::cpu("spark.interaction", ops::spark::feature::interaction::build),
    OpEntry::cpu("spark.isotonic", ops::spark::models::isotonic::build),
    OpEntry::cpu("spark.kmeans", ops::spark::models::kmeans::build),
    OpEntry::cpu("spark.linear", ops::spark::models::linear::build).with_sparse_input(),
    OpEntry::cpu(
        "spark.max_abs_scaler",
        ops::spark::feature::max_abs_scaler::build,
    ),
    OpEntry::cpu(
        "spark.min_max_scaler",
        ops::spark::feature::min_max_scaler::build,
    ),
    OpEntry::cpu("spark.mlp", ops::spark::models::mlp::build),
    OpEntry::cpu("spark.naive_bayes", ops::spark::models::naive_bayes::build).with_sparse_input(),
    OpEntry::cpu("spark.ngram", ops::spark::text::ngram::build),
    OpEntry::cpu("spark.normalizer", ops::spark::feature::normalizer::build),
    OpEntry::cpu(
        "spark.one_hot_encoder",
        ops::spark::feature::one_hot_encoder::build,
    ),
    OpEntry::cpu("spark.one_vs_rest", ops::spark::models::one_vs_rest::build),
    OpEntry::cpu("spark.pca", ops::spark::feature::pca::build),
    OpEntry::cpu(
        "spark.polynomial_expansion",
        ops::spark::feature::polynomial_expansion::build,
    ),
    OpEntry::cpu(
        "spark.regex_tokenizer",
        ops::spark::text::regex_tokenizer::build,
    ),
    OpEntry::cpu(
        "spark.standard_scaler",
        ops::spark::feature::standard_scaler::build,
    ),
    OpEntry::cpu(
        "spark.stop_words_remover",
        ops::spark::text::stop_words_remover::build,
    ),
    OpEntry::cpu(
        "spark.string_indexer",
        ops::spark::feature::string_indexer::build,
    ),
    OpEntry::cpu("spark.tokenizer", ops::spark::text::tokenizer::build),
    OpEntry::cpu(
        "spark.tree_ensemble",
        ops::spark::models::tree_ensemble::build,
    ),
    OpEntry::cpu(
        "spark.vector_assembler",
        ops::spark::feature::vector_assembler::build,
    )
    .with_sparse_input(),
    OpEntry::cpu(
        "spark.vector_indexer",
        ops::spark::feature::vector_indexer::build,
    ),
    OpEntry::cpu("spark.word2vec", ops::spark::text::word2vec::build),
];

/// The entry of op `name`, if known.
pub fn get(name: &str) -> Option<&'static OpEntry> {
    OPS.binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &OPS[i])
}

/// Whether `op` reads sparse feature blocks as they are (`false` for an unknown op, which the
/// planner refuses anyway).
pub fn takes_sparse(op: &str) -> bool {
    get(op).is_some_and(|e| e.sparse_input)
}

/// Refuses a node of a network op (or another op that declares its attributes) that carries
/// attributes the op does not read, naming them all (other ops check their own attributes as
/// they read them).
pub fn check_attrs(e: &OpEntry, node: &keel_bundle::Node) -> Result<(), crate::Error> {
    if !e.tensor_input && e.attrs.is_empty() {
        return Ok(());
    }
    let quoted = |ks: &mut dyn Iterator<Item = &str>| {
        ks.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    };
    let unknown: Vec<&str> = node
        .attrs
        .keys()
        .map(String::as_str)
        .filter(|k| !e.attrs.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(crate::Error::Plan {
        node: node.name.clone(),
        op: node.op.clone(),
        message: format!(
            "unsupported attribute{} {} (the op reads {})",
            if unknown.len() > 1 { "s" } else { "" },
            quoted(&mut unknown.iter().copied()),
            if e.attrs.is_empty() {
                "none".to_string()
            } else {
                quoted(&mut e.attrs.iter().copied())
            }
        ),
    })
}

/// Whether `op` reads tensors as they are (the `nn.*` ops).
pub fn takes_tensors(op: &str) -> bool {
    get(op).is_some_and(|e| e.tensor_input)
}

/// The build function of `op`, if known.
pub fn lookup(op: &str) -> Option<BuildFn> {
    get(op).map(|e| e.build)
}

/// The names of all known ops, sorted.
pub fn names() -> Vec<&'static str> {
    OPS.iter().map(|e| e.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_by_name_without_duplicates() {
        for pair in OPS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "`{}` must come before `{}` (and only once)",
                pair[1].name,
                pair[0].name
            );
        }
    }

    #[test]
    fn every_op_is_found_by_name_and_unknown_ones_are_not() {
        for e in OPS {
            assert_eq!(get(e.name).map(|f| f.name), Some(e.name));
        }
        for missing in ["", "pipeline", "sklearn", "sklearn.linear2", "zzz"] {
            assert!(get(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn every_op_has_a_row_in_the_catalogue() {
        let catalogue = include_str!("../docs/ops.md");
        for e in OPS {
            assert!(
                catalogue.contains(&format!("| `{}` |", e.name)),
                "docs/ops.md has no catalogue row for `{}`",
                e.name
            );
        }
    }

    #[test]
    fn the_cpu_reference_runs_every_op() {
        assert!(OPS.iter().all(|e| e.runs_on(BackendKind::Cpu)));
    }

    #[test]
    fn only_the_ops_that_read_sparse_blocks_get_them() {
        let sparse: Vec<_> = OPS
            .iter()
            .filter(|e| e.sparse_input)
            .map(|e| e.name)
            .collect();
        assert_eq!(
            sparse,
            [
                "spark.idf",
                "spark.linear",
                "spark.naive_bayes",
                "spark.vector_assembler"
            ]
        );
        assert!(takes_sparse("spark.idf") && !takes_sparse("spark.pca"));
        assert!(!takes_sparse("no.such_op"));
    }
}
