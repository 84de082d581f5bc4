//! Round trips and golden files (SPEC.md section 6): a bundle with every attribute kind and
//! every field option converts JSON -> protobuf -> JSON and protobuf -> JSON -> protobuf to the
//! same bytes, writing is deterministic, and the JSON and protobuf documents the writer
//! produces are pinned byte for byte by the files in `tests/golden/`. The bundles the Python
//! exporter wrote for `fixtures/sklearn/` read back and survive both conversions with the same
//! logical content.
//!
//! The golden files catch an accidental change of the encoding (a serde attribute, a field
//! order, a float format, the zip writer's options). When a change is deliberate, regenerate
//! them with
//!
//! ```text
//! KEEL_UPDATE_GOLDEN=1 cargo test -p keel-bundle --test roundtrip
//! ```
//!
//! and review the diff of `bundle-spec/tests/golden/` like any other change of the format: a
//! change there means bundles written before and after differ.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::{Attr, Bundle, Encoding};
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn reread(bytes: &[u8]) -> Bundle {
    Bundle::from_bytes(bytes).unwrap_or_else(|e| panic!("{e}"))
}

/// The logical content of a bundle in a canonical, NaN-proof form (`f64` NaN != NaN, so the
/// derived `PartialEq` cannot compare bundles holding one): the manifest without its entry list
/// (which names the documents of one encoding), the graph, and every tensor file's bytes.
fn logical(b: &Bundle) -> (String, String, Vec<(String, Vec<u8>)>) {
    let mut m = b.manifest.clone();
    m.entries.clear();
    (
        serde_json::to_string(&m).unwrap(),
        serde_json::to_string(&b.graph).unwrap(),
        b.tensors
            .iter()
            .map(|(p, f)| (p.clone(), f.bytes().to_vec()))
            .collect(),
    )
}

#[test]
fn json_to_protobuf_to_json_gives_identical_bytes() {
    let json = full_bundle().to_bytes(Encoding::Json).unwrap();
    let pb = reread(&json).to_bytes(Encoding::Protobuf).unwrap();
    assert_eq!(reread(&pb).encoding, Encoding::Protobuf);
    let back = reread(&pb).to_bytes(Encoding::Json).unwrap();
    assert!(json == back, "JSON -> protobuf -> JSON changed the bytes");
}

#[test]
fn protobuf_to_json_to_protobuf_gives_identical_bytes() {
    let pb = full_bundle().to_bytes(Encoding::Protobuf).unwrap();
    let json = reread(&pb).to_bytes(Encoding::Json).unwrap();
    let back = reread(&json).to_bytes(Encoding::Protobuf).unwrap();
    assert!(pb == back, "protobuf -> JSON -> protobuf changed the bytes");
}

#[test]
fn writing_is_deterministic() {
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let a = full_bundle().to_bytes(enc).unwrap();
        let b = full_bundle().to_bytes(enc).unwrap();
        assert!(a == b, "{enc:?}: two writes differ");
        // Reading and writing again changes nothing either.
        assert!(
            reread(&a).to_bytes(enc).unwrap() == a,
            "{enc:?}: rewrite differs"
        );
    }
}

#[test]
fn every_value_survives_both_encodings() {
    let original = full_bundle();
    let json = reread(&original.to_bytes(Encoding::Json).unwrap());
    let pb = reread(&original.to_bytes(Encoding::Protobuf).unwrap());
    assert_eq!(logical(&json), logical(&original));
    assert_eq!(logical(&pb), logical(&original));

    // The awkward floats, compared bit for bit (NaN by class: JSON cannot carry a payload).
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
    let stage = |b: &Bundle| b.graph.children[0].children[0].attrs.clone();
    for b in [&json, &pb] {
        let (want, got) = (stage(&original), stage(b));
        assert_eq!(want.len(), got.len());
        for (k, v) in &want {
            match (v, &got[k]) {
                (Attr::F64(x), Attr::F64(y)) => assert!(same(*x, *y), "{k}: {x} vs {y}"),
                (Attr::F64s(x), Attr::F64s(y)) => {
                    assert_eq!(x.len(), y.len());
                    for (a, b) in x.iter().zip(y) {
                        assert!(same(*a, *b), "{k}: {a} vs {b}");
                    }
                }
                (Attr::F64(_) | Attr::F64s(_) | Attr::List(_), _) => {}
                (x, y) => assert_eq!(x, y, "{k}"),
            }
        }
        assert_eq!(b.manifest.metadata, original.manifest.metadata);
        assert_eq!(b.manifest.inputs, original.manifest.inputs);
        assert_eq!(b.manifest.outputs, original.manifest.outputs);
    }

    // Non-finite values are written as the strings of SPEC.md section 5, -0.0 keeps its sign.
    let graph = entries(&original.to_bytes(Encoding::Json).unwrap())
        .into_iter()
        .find(|(n, _)| n == "graph.json")
        .unwrap()
        .1;
    let text = String::from_utf8(graph).unwrap();
    for needle in [
        r#""f64_nan":{"f64":"NaN"}"#,
        r#""f64_inf":{"f64":"Infinity"}"#,
        r#""f64_neg_inf":{"f64":"-Infinity"}"#,
        r#""f64_neg_zero":{"f64":-0.0}"#,
        r#""f64_subnormal":{"f64":5e-324}"#,
        r#""i64_min":{"i64":-9223372036854775808}"#,
    ] {
        assert!(text.contains(needle), "graph.json lacks {needle}");
    }

    // The tensors read back with their values.
    let t = |b: &Bundle, file: &str, key: &str| {
        b.tensor(&keel_bundle::TensorRef {
            file: file.into(),
            key: key.into(),
        })
        .unwrap()
        .data
        .to_vec()
    };
    for b in [&json, &pb] {
        for (file, key) in [
            ("tensors/a.safetensors", "f64"),
            ("tensors/a.safetensors", "f32"),
            ("tensors/a.safetensors", "empty"),
            ("tensors/b.safetensors", "weights/i64"),
            ("tensors/b.safetensors", "i32"),
            ("tensors/b.safetensors", "u8"),
            ("tensors/b.safetensors", "bool"),
        ] {
            assert_eq!(t(b, file, key), t(&original, file, key), "{file}#{key}");
        }
        let w = b
            .tensor(&keel_bundle::TensorRef {
                file: "tensors/b.safetensors".into(),
                key: "weights/i64".into(),
            })
            .unwrap();
        assert_eq!(w.to_i64().unwrap(), vec![i64::MIN, i64::MAX]);
    }
}

/// Compares `actual` with the golden file `name`, or rewrites it when regenerating.
fn check_golden(name: &str, actual: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("KEEL_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let golden = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (see the module doc)", path.display()));
    if golden != actual {
        let (g, a) = (
            String::from_utf8_lossy(&golden),
            String::from_utf8_lossy(actual),
        );
        let at = g
            .bytes()
            .zip(a.bytes())
            .position(|(x, y)| x != y)
            .unwrap_or(g.len().min(a.len()));
        panic!(
            "{name} differs from the golden file at byte {at}:\n  golden: {}\n  writer: {}\n\
             If the change of encoding is deliberate, regenerate (see the module doc).",
            &g[at.saturating_sub(40)..(at + 40).min(g.len())],
            &a[at.saturating_sub(40)..(at + 40).min(a.len())],
        );
    }
}

#[test]
fn documents_match_the_golden_files() {
    let b = full_bundle();
    for enc in [Encoding::Json, Encoding::Protobuf] {
        for (name, data) in entries(&b.to_bytes(enc).unwrap()) {
            if !name.starts_with("tensors/") {
                check_golden(&name, &data);
            }
        }
    }
}

fn fixture_bundles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sklearn");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/sklearn exists")
        .map(|e| e.unwrap().path().join("model.keel"))
        .filter(|p| p.exists())
        .collect();
    out.sort();
    out
}

#[test]
fn exporter_fixtures_read_back_and_survive_both_conversions() {
    let fixtures = fixture_bundles();
    assert!(!fixtures.is_empty(), "no fixtures/sklearn/*/model.keel");
    for path in fixtures {
        let name = path.display().to_string();
        let original = Bundle::from_bytes(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(original.encoding, Encoding::Json, "{name}");
        let pb_bytes = original.to_bytes(Encoding::Protobuf).unwrap();
        let pb = reread(&pb_bytes);
        let json_bytes = pb.to_bytes(Encoding::Json).unwrap();
        let json = reread(&json_bytes);
        assert_eq!(logical(&pb), logical(&original), "{name}: json -> pb");
        assert_eq!(
            logical(&json),
            logical(&original),
            "{name}: json -> pb -> json"
        );
        // From here on the reference writer's bytes are a fixed point of both conversions.
        assert!(
            reread(&json_bytes).to_bytes(Encoding::Protobuf).unwrap() == pb_bytes,
            "{name}: pb bytes unstable"
        );
        assert!(
            original.to_bytes(Encoding::Json).unwrap() == json_bytes,
            "{name}: json bytes unstable"
        );
    }
}
#[test]
fn json_floats_read_back_to_the_exact_same_f64() {
    // Coefficients are written by Python's repr (shortest round-trip form) and must read back
    // as the very same f64, or parity with the training framework is lost in the last bit.
    // serde_json without its `float_roundtrip` feature gets some of these one ulp wrong, e.g.
    // `3.7580000000000005` (a StandardScaler mean in fixtures/sklearn/iris_logreg).
    let mut texts: Vec<String> = vec![
        "3.7580000000000005".into(),
        "-4.7975700837874414e-17".into(),
        "2.2250738585072011e-308".into(),
        "4.9406564584124654e-324".into(),
        "1.7976931348623157e308".into(),
        "0.30000000000000004".into(),
        "9007199254740993".into(),
    ];
    // 20,000 pseudo-random doubles of every magnitude, in three spellings each.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    while texts.len() < 60_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f64::from_bits(state);
        if x.is_finite() {
            texts.push(format!("{x:e}"));
            texts.push(format!("{x:.16e}"));
            texts.push(format!("{x:?}"));
        }
    }
    let list = texts.join(",");
    let mut parts = base_parts();
    parts.graph["children"][0]["attrs"]["mean"] =
        serde_json::from_str(&format!("{{\"f64s\":[{}]}}", "0")).unwrap();
    let graph = String::from_utf8(to_json(&parts.graph)).unwrap().replacen(
        "\"mean\":{\"f64s\":[0]}",
        &format!("\"mean\":{{\"f64s\":[{list}]}}"),
        1,
    );
    let mut manifest = parts.manifest.clone();
    let files = vec![
        ("graph.json".to_string(), graph.into_bytes()),
        parts.tensors[0].clone(),
    ];
    set_entries(&mut manifest, &files);
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    let b = Bundle::from_bytes(&zip_files(&all)).unwrap();
    let Attr::F64s(read) = &b.graph.children[0].attrs["mean"] else {
        panic!("mean is not f64s");
    };
    assert_eq!(read.len(), texts.len());
    let mut wrong = 0;
    for (t, v) in texts.iter().zip(read) {
        // The standard library's parser is correctly rounded: the reference.
        let want: f64 = t.parse().unwrap();
        if want.to_bits() != v.to_bits() {
            wrong += 1;
            if wrong < 5 {
                eprintln!("{t} read as {v:e}, expected {want:e}");
            }
        }
    }
    assert_eq!(
        wrong,
        0,
        "{wrong} of {} floats read back wrong",
        texts.len()
    );
}

/// The hand-building constructors (`Node::new`/`pipeline`/`with_*`, `Manifest::new`) give a
/// graph and manifest of the current format that survive both encodings unchanged.
#[test]
fn hand_built_graphs_round_trip() {
    use keel_bundle::{
        Attr, Bundle, DType, Encoding, FORMAT_NAME, FORMAT_VERSION, Field, Manifest, Node,
    };
    let stage = Node::new("scale", "spark.normalizer")
        .with_input("X", ["v"])
        .with_output("Y", ["n"])
        .with_attr("p", Attr::F64(2.0));
    let root = Node::pipeline("root", vec![stage]);
    assert_eq!(root.children[0].input("X"), Some(&["v".to_string()][..]));
    assert_eq!(root.children[0].output("Y"), Some(&["n".to_string()][..]));
    let manifest = Manifest::new(
        "hand",
        "root",
        vec![Field::vector("v", DType::F64, 2)],
        vec![Field::vector("n", DType::F64, 2)],
    );
    assert_eq!(
        (manifest.format.as_str(), manifest.format_version.as_str()),
        (FORMAT_NAME, FORMAT_VERSION)
    );
    let bundle = Bundle::new(manifest, root, Vec::new()).unwrap();
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let again = Bundle::from_bytes(&bundle.to_bytes(encoding).unwrap()).unwrap();
        assert_eq!(again.graph, bundle.graph, "{encoding:?}");
        assert_eq!(again.manifest.inputs, bundle.manifest.inputs);
        assert_eq!(again.graph.children[0].attrs["p"], Attr::F64(2.0));
    }
}
