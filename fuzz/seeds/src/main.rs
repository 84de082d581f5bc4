//! Writes a seed corpus per fuzz target from the fixtures (FUZZING.md, "Seeds"): every
//! fixture bundle in both encodings, the MLeap zips, ONNX models, the Spark saved model's
//! files, the images, and small CSV, JSON lines, Arrow IPC, JSON and LeapFrame documents
//! over the shared input fields. Corpora are generated, never checked in: the fixtures are
//! their source, and a fuzzer's corpus grows far past what belongs in the repository.
//!
//! Usage: keel-fuzz-seeds OUT_DIR (writes OUT_DIR/<target>/<seed>)

#[path = "../../src/shared.rs"]
#[allow(dead_code)]
mod shared;

use arrow_array::builder::{FixedSizeListBuilder, Float64Builder, ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use keel_bundle::{Bundle, Encoding};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reader settings bytes (see `keel_fuzz::settings`): batch of 4 with extra columns dropped,
/// and batch of 1 with extra columns refused.
const SETTINGS: [u8; 2] = [0x03, 0x10];

/// One 1x1 PNG, base64: a binary cell that decodes.
const PNG_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";

fn write(out: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, exts, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| exts.contains(&x))
        {
            out.push(p);
        }
    }
}

/// A file name for a seed from its fixture path (`sklearn_iris_mlp_model.keel`).
fn seed_name(fixtures: &Path, p: &Path) -> String {
    p.strip_prefix(fixtures)
        .unwrap_or(p)
        .to_string_lossy()
        .replace(['/', '\\'], "_")
}

/// Two rows over `shared::io_fields`, as CSV (vector columns `v[a]`..`v[c]`, the token list
/// as JSON text, the image as base64, an empty field a null).
fn csv() -> String {
    format!(
        "x,n,k,f,s,b,v[a],v[b],v[c],t,img\n\
         1.5,3,7,0.25,red,true,1,2,3,\"[\"\"a\"\",\"\"b\"\"]\",{PNG_B64}\n\
         NaN,,-2,inf,\"x,y\",0,-1e300,0,1,,\n"
    )
}

fn rows_json() -> [String; 2] {
    [
        format!(
            r#"{{"x":1.5,"n":3,"k":7,"f":0.25,"s":"red","b":true,"v":[1,2,3],"t":["a",null],"img":"{PNG_B64}"}}"#
        ),
        r#"{"x":"NaN","n":null,"k":-2,"f":"Infinity","s":null,"b":false,"v":[-1e300,0,1],"t":null,"img":""}"#.to_string(),
    ]
}

fn ipc(stream: bool) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let item = |t| Arc::new(ArrowField::new("item", t, false));
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("x", DataType::Float64, true),
        ArrowField::new("n", DataType::Int64, true),
        ArrowField::new("k", DataType::Int32, false),
        ArrowField::new("f", DataType::Float32, true),
        ArrowField::new("s", DataType::Utf8, true),
        ArrowField::new("b", DataType::Boolean, true),
        ArrowField::new(
            "v",
            DataType::FixedSizeList(item(DataType::Float64), 3),
            false,
        ),
        ArrowField::new(
            "t",
            DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true))),
            true,
        ),
        ArrowField::new("img", DataType::Binary, true),
    ]));
    let mut v =
        FixedSizeListBuilder::new(Float64Builder::new(), 3).with_field(item(DataType::Float64));
    for row in [[1.0, 2.0, 3.0], [-1.0, 0.0, f64::NAN]] {
        v.values().append_slice(&row);
        v.append(true);
    }
    let mut t = ListBuilder::new(StringBuilder::new());
    t.values().append_value("a");
    t.values().append_null();
    t.append(true);
    t.append(false);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(1.5), None])),
        Arc::new(Int64Array::from(vec![Some(3), None])),
        Arc::new(Int32Array::from(vec![7, -2])),
        Arc::new(Float32Array::from(vec![Some(0.25), Some(f32::INFINITY)])),
        Arc::new(StringArray::from(vec![Some("red"), None])),
        Arc::new(BooleanArray::from(vec![Some(true), None])),
        Arc::new(v.finish()),
        Arc::new(t.finish()),
        Arc::new(BinaryArray::from_opt_vec(vec![
            Some(b"\x89PNG".as_slice()),
            None,
        ])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let mut out = Vec::new();
    if stream {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema)?;
        w.write(&batch)?;
        w.write(&batch)?;
        w.finish()?;
    } else {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &schema)?;
        w.write(&batch)?;
        w.finish()?;
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: keel-fuzz-seeds OUT_DIR");
        std::process::exit(2);
    };
    let fixtures = shared::fixtures();

    // Bundles: as recorded (JSON manifests) and re-encoded as protobuf, for the bundle
    // reader and the loader; the loader also gets the MLeap zips and ONNX models it sniffs.
    let mut keel = Vec::new();
    files(&fixtures, &["keel"], &mut keel);
    keel.sort();
    for p in &keel {
        let bytes = std::fs::read(p)?;
        let name = seed_name(&fixtures, p);
        write(&out, "bundle", &name, &bytes)?;
        write(&out, "load", &name, &bytes)?;
        if let Ok(b) = Bundle::from_bytes(&bytes)
            && let Ok(pb) = b.to_bytes(Encoding::Protobuf)
        {
            write(&out, "bundle", &format!("{name}.pb"), &pb)?;
            write(&out, "load", &format!("{name}.pb"), &pb)?;
        }
    }
    let mut mleap = Vec::new();
    files(&fixtures.join("mleap"), &["zip"], &mut mleap);
    for p in &mleap {
        let bytes = std::fs::read(p)?;
        write(&out, "mleap", &seed_name(&fixtures, p), &bytes)?;
        write(&out, "load", &seed_name(&fixtures, p), &bytes)?;
    }
    let mut onnx = Vec::new();
    files(&fixtures, &["onnx"], &mut onnx);
    for p in &onnx {
        let bytes = std::fs::read(p)?;
        write(&out, "onnx", &seed_name(&fixtures, p), &bytes)?;
        write(&out, "load", &seed_name(&fixtures, p), &bytes)?;
    }

    // The Spark saved model: one seed per file, behind the byte that picks it.
    let model = shared::spark_fixture();
    for (i, rel) in shared::spark_files(&model).iter().enumerate() {
        let mut seed = vec![u8::try_from(i)?];
        seed.extend(std::fs::read(model.join(rel))?);
        write(&out, "spark_saved", &format!("{i:02}"), &seed)?;
    }

    // Images: each fixture image under each of the target's four attribute sets.
    let mut images = Vec::new();
    files(&fixtures.join("images"), &["png", "jpg"], &mut images);
    for p in &images {
        let bytes = std::fs::read(p)?;
        for pick in 0..4u8 {
            let mut seed = vec![pick];
            seed.extend(&bytes);
            write(
                &out,
                "image",
                &format!("{}_{pick}", seed_name(&fixtures, p)),
                &seed,
            )?;
        }
    }

    // The text readers: the same two rows in every format, behind each settings byte.
    let [r1, r2] = rows_json();
    let docs: [(&str, String); 4] = [
        ("csv", csv()),
        ("jsonl", format!("{r1}\n{r2}\n")),
        ("json_doc", format!(r#"{{"rows":[{r1},{r2}]}}"#)),
        (
            "json_doc",
            format!(
                r#"{{"columns":{{"x":[1.5,null],"n":[3,null],"k":[7,-2],"f":[0.25,"NaN"],"s":["red",null],"b":[true,false],"v":[[1,2,3],[0,0,0]],"t":[["a"],null],"img":["{PNG_B64}",null]}}}}"#
            ),
        ),
    ];
    for (i, (target, doc)) in docs.iter().enumerate() {
        for s in SETTINGS {
            let mut seed = vec![s];
            seed.extend(doc.as_bytes());
            write(&out, target, &format!("{i}_{s:02x}"), &seed)?;
        }
    }
    for (name, stream) in [("file", false), ("stream", true)] {
        let bytes = ipc(stream)?;
        for s in SETTINGS {
            let mut seed = vec![s];
            seed.extend(&bytes);
            write(&out, "arrow_ipc", &format!("{name}_{s:02x}"), &seed)?;
        }
    }
    let frame = format!(
        r#"{{"schema":{{"fields":[{{"name":"x","type":"double"}},{{"name":"n","type":{{"type":"basic","base":"long","isNullable":true}}}},{{"name":"k","type":"integer"}},{{"name":"f","type":"float"}},{{"name":"s","type":"string"}},{{"name":"b","type":"boolean"}},{{"name":"v","type":{{"type":"tensor","base":"double","dimensions":[3]}}}},{{"name":"t","type":{{"type":"list","base":"string"}}}},{{"name":"img","type":"binary"}}]}},"rows":[[1.5,3,7,0.25,"red",true,{{"values":[1,2,3],"dimensions":[3]}},["a","b"],"{PNG_B64}"],[null,null,-2,1.0,null,false,{{"values":[1],"indices":[[0]],"dimensions":[3]}},null,null]]}}"#
    );
    write(&out, "leapframe", "frame", frame.as_bytes())?;

    // The structure-aware target: the first two bytes pick a fixture model (in the order
    // its loader reads them; a fixture that fails to load shifts the later ones, which only
    // changes which model a seed starts from), the rest drives the mutations.
    let mut models = Vec::new();
    files(&fixtures, &["keel", "zip", "onnx"], &mut models);
    for i in 0..u16::try_from(models.len())? {
        let mut seed = i.to_le_bytes().to_vec();
        // Varied tails: no mutation and a few rows, or one of each mutation kind.
        seed.extend((0..48u8).map(|j| j.wrapping_mul(37).wrapping_add(i as u8)));
        write(&out, "graph", &format!("{i:03}"), &seed)?;
    }
    println!("seeds written under {}", out.display());
    Ok(())
}
