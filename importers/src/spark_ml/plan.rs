//! Planning and assembling the bundle: which columns each stage reads and writes (on names,
//! from the stage table's column pattern), which stages the outputs need, the checks on what a
//! stage may read, then each kept stage converted by its table entry and the manifest built.

use super::Error;
use super::columns::{Ctx, DENSIFY_LIMIT};
use super::schema::SchemaField;
use super::stage::{Loaded, Stage};
use super::stages::{self, Accepts, Columns};
use crate::emit::Emitter;
use keel_bundle::{Bundle, DType, FORMAT_NAME, FORMAT_VERSION, Field, Manifest, Producer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

/// The bundle's one tensor entry.
const TENSOR_FILE: &str = "tensors/model.safetensors";

/// A stage's (reads, writes), on column names.
type Io = (Vec<String>, Vec<String>);

/// What a stage reads and writes, on names (`None`: Spark would skip it). `available` and
/// `later_reads` matter only to a string indexer, whose columns Spark skips when their input
/// is absent.
fn io(
    st: &Stage,
    available: &HashSet<String>,
    inferring: bool,
    later_reads: &HashSet<String>,
) -> Result<Option<Io>, Error> {
    let def = stages::lookup(&st.class).ok_or_else(|| st.unsupported("not a supported stage"))?;
    Ok(Some(match def.columns {
        Columns::Assembled => (
            st.strs_param("inputCols")?.unwrap_or_default(),
            vec![st.need_str("outputCol")?],
        ),
        Columns::Indexed => {
            let (ins, outs) = st.in_out()?;
            // Spark skips an indexer column whose input is absent (the label indexer at
            // prediction time). Without a schema, an indexer column no later stage reads is
            // taken to be such a label indexer.
            let pairs: Vec<(String, String)> = ins
                .into_iter()
                .zip(outs)
                .filter(|(i, o)| {
                    if inferring {
                        available.contains(i) || later_reads.contains(o)
                    } else {
                        available.contains(i)
                    }
                })
                .collect();
            if pairs.is_empty() {
                return Ok(None);
            }
            pairs.into_iter().unzip()
        }
        Columns::InOut => st.in_out()?,
        Columns::Single => (
            vec![st.need_str("inputCol")?],
            vec![st.need_str("outputCol")?],
        ),
        Columns::Selected => (
            vec![st.need_str("featuresCol")?],
            vec![st.need_str("outputCol")?],
        ),
        Columns::Glm => {
            let mut reads = vec![st.need_str("featuresCol")?];
            reads.extend(st.col_param("offsetCol")?);
            let mut writes: Vec<String> = st.col_param("linkPredictionCol")?.into_iter().collect();
            writes.extend(st.col_param("predictionCol")?);
            (reads, writes)
        }
        Columns::Predicted => (vec![st.need_str("featuresCol")?], st.predictor_outs()?),
    }))
}

/// Builds the bundle: plans on names, converts the stages the outputs need.
pub(super) fn build(
    loaded: &Loaded,
    schema: Option<&[SchemaField]>,
    name: Option<&str>,
) -> Result<Bundle, Error> {
    let inferring = schema.is_none();
    let mut available: HashSet<String> = schema
        .map(|s| s.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let stage_reads: Vec<(Vec<String>, Vec<String>)> = loaded
        .stages
        .iter()
        .map(|s| io(s, &HashSet::new(), true, &HashSet::new()).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    let mut plan: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
    let mut produced: HashSet<String> = HashSet::new();
    let mut pipeline_inputs: HashSet<String> = HashSet::new();
    for (k, st) in loaded.stages.iter().enumerate() {
        let later: HashSet<String> = stage_reads[k + 1..]
            .iter()
            .flat_map(|(r, _)| r.iter().cloned())
            .collect();
        let Some((reads, writes)) = io(st, &available, inferring, &later)? else {
            continue;
        };
        for c in &reads {
            if !available.contains(c) {
                if inferring && !produced.contains(c) {
                    available.insert(c.clone());
                } else {
                    return Err(st.unsupported(format!(
                        "reads column `{c}`, which neither the sample schema nor an earlier stage provides"
                    )));
                }
            }
            if !produced.contains(c) {
                pipeline_inputs.insert(c.clone());
            }
        }
        for c in &writes {
            if !available.insert(c.clone()) {
                return Err(st.unsupported(format!("writes column `{c}`, which already exists")));
            }
            produced.insert(c.clone());
        }
        plan.push((k, reads, writes));
    }
    // Default outputs (as keel.spark.export): columns no later stage reads, plus every
    // predictor's prediction columns.
    let mut wanted: Vec<String> = Vec::new();
    for (p, (k, _, writes)) in plan.iter().enumerate() {
        let later: HashSet<&String> = plan[p + 1..].iter().flat_map(|(_, r, _)| r).collect();
        let st = &loaded.stages[*k];
        let predictor = stages::lookup(&st.class)
            .is_some_and(|d| matches!(d.columns, Columns::Predicted | Columns::Glm));
        let always: HashSet<String> = if predictor {
            st.predictor_outs()?.into_iter().collect()
        } else {
            HashSet::new()
        };
        wanted.extend(
            writes
                .iter()
                .filter(|c| !later.contains(c) || always.contains(*c))
                .cloned(),
        );
    }
    if wanted.is_empty() {
        return Err(Error::Unsupported {
            path: loaded
                .stages
                .first()
                .map(|s| s.dir.clone())
                .unwrap_or_default(),
            message: "the pipeline produces no output column".into(),
        });
    }
    let mut needed: HashSet<String> = wanted.iter().cloned().collect();
    let mut keep = vec![false; plan.len()];
    for p in (0..plan.len()).rev() {
        let (_, reads, writes) = &plan[p];
        if writes.iter().any(|w| needed.contains(w)) {
            keep[p] = true;
            needed.extend(reads.iter().cloned());
        }
    }

    let mut ctx = Ctx {
        schema,
        pipeline_inputs,
        cols: HashMap::new(),
        nullable: HashSet::new(),
        inputs: Vec::new(),
        emit: Emitter::new(TENSOR_FILE),
        scalar_assembled: HashSet::new(),
    };
    let root_name = ctx.unique("pipeline");
    for (p, (k, reads, writes)) in plan.iter().enumerate() {
        if keep[p] {
            let st = &loaded.stages[*k];
            check_reads(&ctx, st, reads)?;
            let def =
                stages::lookup(&st.class).ok_or_else(|| st.unsupported("not a supported stage"))?;
            let node = ctx.unique(&st.short().to_ascii_lowercase());
            (def.convert)(&mut ctx, st, node, reads, writes)?;
            for c in writes {
                if !ctx.cols.contains_key(c) {
                    return Err(st.malformed(format!("the stage did not produce `{c}`")));
                }
            }
        }
    }
    // Inputs in schema order when a schema was given (else in order of first use).
    if let Some(s) = schema {
        ctx.inputs.sort_by_key(|f| {
            s.iter()
                .position(|x| x.name == f.name)
                .unwrap_or(usize::MAX)
        });
    }
    let mut outputs = Vec::new();
    for c in &wanted {
        let col = ctx.cols.get(c).ok_or_else(|| Error::Malformed {
            path: PathBuf::new(),
            message: format!("output `{c}` was not produced"),
        })?;
        let at = |m: String| Error::Unsupported {
            path: loaded
                .stages
                .first()
                .map(|s| s.dir.clone())
                .unwrap_or_default(),
            message: m,
        };
        if col.sparse && col.width.is_some_and(|w| w > DENSIFY_LIMIT) {
            return Err(at(format!(
                "output `{c}` is a sparse vector of {} features; bundle outputs are dense, at most {DENSIFY_LIMIT} wide",
                col.width.unwrap_or(0)
            )));
        }
        // A token list is declared `list<utf8>` (its `Col::dtype` is the element's, utf8).
        let dtype = if col.tokens {
            DType::ListUtf8
        } else {
            col.dtype
        };
        let mut f = Field::scalar(c, dtype, ctx.nullable.contains(c));
        if let Some(w) = col.width {
            f.shape = vec![w];
            f.names = col.names.clone();
        }
        outputs.push(f);
    }
    let root_doc = loaded
        .stages
        .first()
        .map(|s| s.path.split('.').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let reads = ctx.emit.reads().to_vec();
    let (graph, tensors) = ctx.emit.finish(root_name.clone(), reads, root_doc)?;
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION.into(),
        name: name.unwrap_or(&loaded.uid).to_string(),
        uid: uid_from(&loaded.uid, loaded.timestamp),
        created: rfc3339(loaded.timestamp),
        producer: Producer {
            name: "keel-import.spark_ml".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            framework: "spark".into(),
            framework_version: loaded.spark_version.clone(),
        },
        root: root_name,
        inputs: ctx.inputs,
        outputs,
        metadata: BTreeMap::from([("spark_uid".to_string(), loaded.uid.clone())]),
        entries: Vec::new(),
    };
    Ok(Bundle::new(manifest, graph, tensors)?)
}

/// A UUID-shaped id derived from the model's uid and save time, so converting the same saved
/// model twice gives the same bundle.
fn uid_from(uid: &str, ts: i64) -> String {
    crate::emit::uid_of(format!("{uid}@{ts}").as_bytes())
}

/// The save time (milliseconds since the epoch) as RFC 3339 UTC.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Refuses what a stage cannot read, as the exporter does before converting: a token column
/// read by a stage that takes no tokens, and a sparse block too wide to densify read by a
/// stage whose op needs dense features.
fn check_reads(ctx: &Ctx<'_>, st: &Stage, reads: &[String]) -> Result<(), Error> {
    for c in reads {
        let Some(col) = ctx.cols.get(c) else { continue };
        let accepts = stages::lookup(&st.class).map(|d| d.accepts);
        if col.tokens && accepts != Some(Accepts::Tokens) {
            return Err(st.unsupported(format!(
                "reads `{c}`, an array<string> column; this stage does not take tokens"
            )));
        }
        if col.sparse
            && col.width.is_some_and(|w| w > DENSIFY_LIMIT)
            && accepts != Some(Accepts::Sparse)
        {
            return Err(st.unsupported(format!(
                "reads `{c}`, a sparse vector of {} features; this stage reads dense features and keel densifies at most {DENSIFY_LIMIT} (lower numFeatures/vocabSize, or feed the vector to IDF, LogisticRegression, LinearRegression, LinearSVC or NaiveBayes)",
                col.width.unwrap_or(0)
            )));
        }
    }
    Ok(())
}
