//! The tabular network: numeric features and one embedding per categorical column,
//! concatenated, through hidden dense layers into an output head.
//!
//! (Forward and backward passes to be written; the spec below is the contract the trainer,
//! the exporter and the bindings share.)

use serde::{Deserialize, Serialize};

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// `outputs` classes: logits, a softmax probability, the arg-max as the prediction.
    Classification,
    /// One output: the prediction itself (`exp` of it under the Poisson loss).
    Regression,
}

/// The hidden layers' activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// PyTorch's exact (erf) GELU.
    Gelu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `x * sigmoid(x)`.
    Silu,
}

/// The network's shape. Parameter names and layouts are PyTorch's, for a module holding
/// `embeddings` (a `ModuleList` of `nn.Embedding`), `layers` (`nn.Linear`), `norms`
/// (`nn.LayerNorm`, when `layer_norm`) and `head` (`nn.Linear`):
/// `embeddings.{i}.weight` `[cardinalities[i], embedding_dim]`, `layers.{j}.weight`
/// `[out, in]`, `layers.{j}.bias` `[out]`, `norms.{j}.weight`/`.bias` `[out]`,
/// `head.weight` `[outputs, last]`, `head.bias` `[outputs]`. The first layer's input is the
/// numeric block followed by the embeddings in column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Width of the numeric feature block.
    pub numeric_width: usize,
    /// Rows of each categorical column's embedding table (its vocabulary plus unseen slots).
    pub cardinalities: Vec<usize>,
    /// Width of every embedding.
    pub embedding_dim: usize,
    /// Widths of the hidden layers, in order.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer (after its LayerNorm when there is one).
    pub activation: Activation,
    /// A LayerNorm after each hidden dense layer, before the activation.
    pub layer_norm: bool,
    /// Dropout probability after each hidden activation (0: none); training only.
    pub dropout: f32,
    /// Outputs of the head: classes for classification, 1 for regression.
    pub outputs: usize,
    /// What the outputs mean.
    pub task: Task,
}
