//! Emitting the keel graph an importer builds: the one place that names nodes, binds their
//! columns, records which columns the pipeline reads and writes, and decides whether a numeric
//! attribute is written inline or as a tensor (and under which tensor file and key). Both
//! importers build their `spark.*` stages through an [`Emitter`], so the bundles they write
//! follow the same rules; what each stage means stays with the importer.

use keel_bundle::{Attr, Binding, BundleError, Node, TensorDType, TensorRef, TensorWriter};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Numeric lists longer than this go into a tensor rather than inline (SPEC.md section 4, the
/// rule the Python exporters follow too).
pub(crate) const INLINE_LIMIT: usize = 64;

/// A bundle's tensor entries: path and safetensors bytes, as `Bundle::new` takes them.
pub(crate) type TensorEntries = Vec<(String, Vec<u8>)>;

/// The stages emitted so far, the tensors they refer to, and the columns they read and write.
pub(crate) struct Emitter {
    /// The one safetensors entry of the bundle (`tensors/*.safetensors`).
    tensor_file: &'static str,
    tensors: TensorWriter,
    has_tensors: bool,
    /// Node names given out, so that each is unique.
    names: HashSet<String>,
    nodes: Vec<Node>,
    /// Columns read before any stage wrote them (the pipeline's inputs), in first-read order.
    reads: Vec<String>,
    /// Every column a stage wrote.
    writes: BTreeSet<String>,
}

impl Emitter {
    /// An emitter whose tensors go into `tensor_file`.
    pub(crate) fn new(tensor_file: &'static str) -> Self {
        Self {
            tensor_file,
            tensors: TensorWriter::new(),
            has_tensors: false,
            names: HashSet::new(),
            nodes: Vec::new(),
            reads: Vec::new(),
            writes: BTreeSet::new(),
        }
    }

    /// A node name not given out before: `base`, else `base_2`, `base_3`...
    pub(crate) fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.names.contains(&name) {
            i += 1;
            name = format!("{base}_{i}");
        }
        self.names.insert(name.clone());
        name
    }

    /// The attribute referring to tensor `key` of this bundle's tensor file.
    fn tensor_ref(&mut self, key: &str) -> Attr {
        self.has_tensors = true;
        Attr::Tensor(TensorRef {
            file: self.tensor_file.into(),
            key: key.into(),
        })
    }

    /// `data` as an f64 tensor of `shape` under `key`.
    pub(crate) fn f64_tensor(&mut self, key: &str, shape: &[usize], data: &[f64]) -> Attr {
        self.tensors.f64(key, shape, data);
        self.tensor_ref(key)
    }

    /// `data` as an i64 tensor of `shape` under `key`.
    pub(crate) fn i64_tensor(&mut self, key: &str, shape: &[usize], data: &[i64]) -> Attr {
        self.tensors.i64(key, shape, data);
        self.tensor_ref(key)
    }

    /// Little-endian `bytes` as a tensor of `dtype` and `shape` under `key`.
    pub(crate) fn raw_tensor(
        &mut self,
        key: &str,
        dtype: TensorDType,
        shape: &[usize],
        bytes: Vec<u8>,
    ) -> Attr {
        self.tensors.raw(key, dtype, shape, bytes);
        self.tensor_ref(key)
    }

    /// A list of doubles: inline up to [`INLINE_LIMIT`] values, else a tensor under `key`.
    pub(crate) fn f64s(&mut self, key: &str, v: Vec<f64>) -> Attr {
        if v.len() <= INLINE_LIMIT {
            Attr::F64s(v)
        } else {
            self.f64_tensor(key, &[v.len()], &v)
        }
    }

    /// A list of integers: inline up to [`INLINE_LIMIT`] values, else a tensor under `key`.
    pub(crate) fn i64s(&mut self, key: &str, v: Vec<i64>) -> Attr {
        if v.len() <= INLINE_LIMIT {
            Attr::I64s(v)
        } else {
            self.i64_tensor(key, &[v.len()], &v)
        }
    }

    /// Appends the stage `name` running `op`, and records what it reads and writes: a column
    /// read before any stage wrote it is a pipeline input.
    pub(crate) fn node(
        &mut self,
        name: String,
        op: &str,
        inputs: Vec<Binding>,
        outputs: Vec<Binding>,
        attrs: BTreeMap<String, Attr>,
        doc: String,
    ) {
        for c in inputs.iter().flat_map(|b| &b.columns) {
            if !self.writes.contains(c) && !self.reads.contains(c) {
                self.reads.push(c.clone());
            }
        }
        for b in &outputs {
            self.writes.extend(b.columns.iter().cloned());
        }
        self.nodes.push(Node {
            name,
            op: op.into(),
            inputs,
            outputs,
            attrs,
            children: Vec::new(),
            doc,
        });
    }

    /// Folds each `nn.unary` activation (`relu`, `sigmoid`, `tanh`, with no other attribute)
    /// into the `nn.gemm` or `nn.conv` that feeds it, as that op's `activation` attribute, when
    /// nothing else reads the layer's output and it is not one of `keep` (the graph's
    /// outputs): a layer becomes one pass over its output, with the same arithmetic. Returns
    /// how many were folded.
    pub(crate) fn fuse_activations(&mut self, keep: &HashSet<String>) -> usize {
        let mut readers: HashMap<String, usize> = HashMap::new();
        for n in &self.nodes {
            for c in n.inputs.iter().flat_map(|b| &b.columns) {
                *readers.entry(c.clone()).or_default() += 1;
            }
        }
        let mut producer: HashMap<String, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for c in n.outputs.iter().flat_map(|b| &b.columns) {
                producer.insert(c.clone(), i);
            }
        }
        let mut fused = 0;
        let mut gone = vec![false; self.nodes.len()];
        for u in 0..self.nodes.len() {
            let node = &self.nodes[u];
            let act = match node.attrs.get("fn") {
                Some(Attr::Str(f)) if ["relu", "sigmoid", "tanh"].contains(&f.as_str()) => {
                    f.clone()
                }
                _ => continue,
            };
            if node.op != "nn.unary" || node.attrs.len() != 1 {
                continue;
            }
            let ([input], [output]) = (node.inputs.as_slice(), node.outputs.as_slice()) else {
                continue;
            };
            let ([x], [y]) = (input.columns.as_slice(), output.columns.as_slice()) else {
                continue;
            };
            let Some(&g) = producer.get(x) else { continue };
            let gemm = &self.nodes[g];
            if !matches!(gemm.op.as_str(), "nn.gemm" | "nn.conv")
                || gemm.attrs.contains_key("activation")
                || readers.get(x).copied() != Some(1)
                || keep.contains(x)
                || gone[g]
            {
                continue;
            }
            let y = y.clone();
            let x = x.clone();
            let gemm = &mut self.nodes[g];
            gemm.attrs.insert("activation".into(), Attr::Str(act));
            for c in gemm.outputs.iter_mut().flat_map(|b| b.columns.iter_mut()) {
                if *c == x {
                    *c = y.clone();
                }
            }
            self.writes.remove(&x);
            gone[u] = true;
            fused += 1;
        }
        let mut k = 0;
        self.nodes.retain(|_| {
            k += 1;
            !gone[k - 1]
        });
        fused
    }

    /// How many stages were emitted.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The columns read before any stage wrote them, in first-read order.
    pub(crate) fn reads(&self) -> &[String] {
        &self.reads
    }

    /// The root pipeline `name` over the emitted stages, its input port `in` bound to
    /// `inputs` and its output port `out` to every column written (sorted), with the tensor
    /// entry the stages refer to (none if they refer to none).
    pub(crate) fn finish(
        self,
        name: String,
        inputs: Vec<String>,
        doc: String,
    ) -> Result<(Node, TensorEntries), BundleError> {
        let graph = Node {
            name,
            op: "pipeline".into(),
            inputs: vec![Binding::new("in", inputs)],
            outputs: vec![Binding::new("out", self.writes)],
            attrs: BTreeMap::new(),
            children: self.nodes,
            doc,
        };
        let tensors = if self.has_tensors {
            vec![(self.tensor_file.to_string(), self.tensors.finish()?)]
        } else {
            Vec::new()
        };
        Ok((graph, tensors))
    }
}

/// `(port, column)` pairs as bindings: one per port, its columns in order (a multi-column
/// stage binds several columns to one port).
pub(crate) fn bindings<'p>(pairs: impl IntoIterator<Item = (&'p str, String)>) -> Vec<Binding> {
    let mut by_port: Vec<(&str, Vec<String>)> = Vec::new();
    for (port, col) in pairs {
        match by_port.iter_mut().find(|b| b.0 == port) {
            Some(b) => b.1.push(col),
            None => by_port.push((port, vec![col])),
        }
    }
    by_port
        .into_iter()
        .map(|(port, cols)| Binding::new(port, cols))
        .collect()
}

/// A deterministic bundle uid: the SHA-256 of `seed` in UUID layout, so importing or composing
/// the same input twice gives the same bundle.
pub(crate) fn uid_of(seed: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(seed));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
