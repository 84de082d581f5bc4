//! The fitted stages as a keel bundle of Spark ML ops, node for node what Spark's fitted
//! pipeline holds: `spark.string_indexer` (every categorical column, `handle_invalid` keep),
//! `spark.imputer` (surrogates, `missing_value` NaN), `spark.vector_assembler` and
//! `spark.standard_scaler` (`mean` and `std`).

use super::{CategoryKind, Error, FEATURES_OUTPUT, FeaturePlan, index_output};
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Node, Producer};
use std::collections::{BTreeMap, BTreeSet};

/// The producer every bundle the trainer writes records.
pub(crate) fn producer() -> Producer {
    Producer {
        name: "keel.train".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        framework: "keel-train".into(),
        framework_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// A deterministic uid (UUID layout) from `seed`: the same plan gives the same bundle.
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

fn imputed(col: &str) -> String {
    format!("{col}.imputed")
}

const ASSEMBLED: &str = "features.assembled";

/// Every column the bundle writes, which must differ from each other and from its inputs.
fn written(plan: &FeaturePlan) -> Vec<String> {
    let mut out = Vec::new();
    if !plan.numeric.is_empty() {
        out.extend(plan.numeric.iter().map(|n| imputed(&n.name)));
        out.push(ASSEMBLED.into());
        out.push(FEATURES_OUTPUT.into());
    }
    out.extend(plan.categorical.iter().map(|c| index_output(&c.name)));
    out
}

/// Refuses a spec whose column names collide with the columns the bundle writes.
pub(crate) fn check_names(plan: &FeaturePlan) -> Result<(), Error> {
    let mut taken: BTreeSet<&str> = plan
        .spec
        .numeric_cols
        .iter()
        .chain(&plan.spec.categorical_cols)
        .map(String::as_str)
        .collect();
    let written = written(plan);
    for w in &written {
        if !taken.insert(w) {
            return Err(Error::BadSpec(format!(
                "the feature bundle writes a column `{w}`, which is also the name of an input \
                 column or of another column it writes; rename that column"
            )));
        }
    }
    Ok(())
}

pub(crate) fn bundle(plan: &FeaturePlan) -> Result<Bundle, Error> {
    check_names(plan)?;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut nodes = Vec::new();
    let doc = |s: &str| s.to_string();
    if !plan.categorical.is_empty() {
        let cols: Vec<String> = plan.categorical.iter().map(|c| c.name.clone()).collect();
        let outs: Vec<String> = cols.iter().map(|c| index_output(c)).collect();
        nodes.push(Node {
            name: "string_indexer".into(),
            op: "spark.string_indexer".into(),
            inputs: vec![Binding::new("X", cols)],
            outputs: vec![Binding::new("Y", outs.clone())],
            attrs: BTreeMap::from([
                (
                    "labels".into(),
                    Attr::List(
                        plan.categorical
                            .iter()
                            .map(|c| Attr::Strs(c.vocabulary.clone()))
                            .collect(),
                    ),
                ),
                ("handle_invalid".into(), Attr::Str("keep".into())),
            ]),
            children: Vec::new(),
            doc: doc(
                "StringIndexer (frequencyDesc, handleInvalid=keep): one index per \
                      categorical column; unseen, rare and null values take the last index",
            ),
        });
        for c in &plan.categorical {
            let dtype = match c.kind {
                CategoryKind::String => DType::Utf8,
                CategoryKind::Integer => DType::I64,
            };
            inputs.push((c.name.clone(), dtype));
        }
        for (c, o) in plan.categorical.iter().zip(outs) {
            outputs.push(Field {
                doc: format!(
                    "index of `{}` in its vocabulary of {} ({} = other)",
                    c.name,
                    c.vocabulary.len(),
                    c.vocabulary.len()
                ),
                ..Field::scalar(o, DType::F64, false)
            });
        }
    }
    if !plan.numeric.is_empty() {
        let cols: Vec<String> = plan.numeric.iter().map(|n| n.name.clone()).collect();
        let imp: Vec<String> = cols.iter().map(|c| imputed(c)).collect();
        nodes.push(Node {
            name: "imputer".into(),
            op: "spark.imputer".into(),
            inputs: vec![Binding::new("X", cols.clone())],
            outputs: vec![Binding::new("Y", imp.clone())],
            attrs: BTreeMap::from([
                (
                    "surrogates".into(),
                    Attr::F64s(plan.numeric.iter().map(|n| n.surrogate).collect()),
                ),
                ("missing_value".into(), Attr::F64(f64::NAN)),
            ]),
            children: Vec::new(),
            doc: doc("Imputer (strategy mean): nulls and NaNs take the training mean"),
        });
        nodes.push(Node {
            name: "vector_assembler".into(),
            op: "spark.vector_assembler".into(),
            inputs: vec![Binding::new("X", imp)],
            outputs: vec![Binding::new("Y", [ASSEMBLED])],
            attrs: BTreeMap::from([("handle_invalid".into(), Attr::Str("error".into()))]),
            children: Vec::new(),
            doc: doc("VectorAssembler: the imputed numeric columns in order"),
        });
        nodes.push(Node {
            name: "standard_scaler".into(),
            op: "spark.standard_scaler".into(),
            inputs: vec![Binding::new("X", [ASSEMBLED])],
            outputs: vec![Binding::new("Y", [FEATURES_OUTPUT])],
            attrs: BTreeMap::from([
                (
                    "mean".into(),
                    Attr::F64s(plan.numeric.iter().map(|n| n.mean).collect()),
                ),
                (
                    "std".into(),
                    Attr::F64s(plan.numeric.iter().map(|n| n.std).collect()),
                ),
            ]),
            children: Vec::new(),
            doc: doc("StandardScaler (withMean, withStd: sample std; std 0 scales by 0)"),
        });
        // Numeric inputs first in the manifest, as in the spec's order of roles.
        let numeric: Vec<(String, DType)> = cols.into_iter().map(|c| (c, DType::F64)).collect();
        inputs.splice(0..0, numeric);
        outputs.insert(
            0,
            Field {
                names: plan.numeric.iter().map(|n| n.name.clone()).collect(),
                doc: "the numeric columns, imputed and standardised".into(),
                ..Field::vector(FEATURES_OUTPUT, DType::F64, plan.numeric.len() as u64)
            },
        );
    }
    let input_fields: Vec<Field> = inputs
        .iter()
        .map(|(n, d)| Field::scalar(n.clone(), *d, true))
        .collect();
    let root = Node {
        name: "features".into(),
        op: "pipeline".into(),
        inputs: vec![Binding::new("in", inputs.iter().map(|(n, _)| n.clone()))],
        outputs: vec![Binding::new("out", outputs.iter().map(|f| f.name.clone()))],
        attrs: BTreeMap::new(),
        children: nodes,
        doc: "keel-train's fitted feature stages".into(),
    };
    let plan_json = serde_json::to_string(plan)
        .map_err(|e| Error::BadSpec(format!("cannot serialise the plan: {e}")))?;
    let mut manifest = Manifest::new("keel-train features", "features", input_fields, outputs);
    manifest.uid = uid_of(format!("keel-train features\0{plan_json}").as_bytes());
    manifest.producer = producer();
    manifest
        .metadata
        .insert("keel_train.feature_plan".into(), plan_json);
    // One null per string input, and the indexer sends it to the extra index (SPEC.md 3.2).
    let strings: BTreeMap<&str, &str> = plan
        .categorical
        .iter()
        .filter(|c| c.kind == CategoryKind::String)
        .map(|c| (c.name.as_str(), "missing"))
        .collect();
    if !strings.is_empty() {
        manifest.metadata.insert(
            "keel.missing_strings".into(),
            serde_json::to_string(&strings)
                .map_err(|e| Error::BadSpec(format!("cannot serialise metadata: {e}")))?,
        );
    }
    Ok(Bundle::new(manifest, root, Vec::new())?)
}
