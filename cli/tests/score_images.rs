//! Images end to end through `keel score`: a hand-written bundle whose `binary` input holds
//! encoded PNGs, preprocessed by `image.to_tensor` (torchvision's ImageNet transform, scaled
//! down) and pooled by `nn.global_pool` + `nn.flatten` to per-channel means, scored from JSON
//! lines with base64 cells and compared with Pillow's pipeline (`fixtures/images/cases.json`,
//! written by `fixtures/images/generate.py`). A bad row fails naming the column and row.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use keel_bundle::{Attr, Bundle, DType, Encoding, Field, Manifest, Node};
use keel_runtime::tolerance::Tolerance;
use serde_json::{Value as J, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images")
}

/// A JSON attribute value as a bundle attribute.
fn attr(v: &J) -> Attr {
    match v {
        J::Number(n) if n.is_i64() => Attr::I64(n.as_i64().unwrap()),
        J::Array(a) if a.iter().all(J::is_i64) => {
            Attr::I64s(a.iter().map(|x| x.as_i64().unwrap()).collect())
        }
        J::Array(a) => Attr::F64s(a.iter().map(|x| x.as_f64().unwrap()).collect()),
        other => panic!("attribute {other}"),
    }
}

/// image (binary) -> image.to_tensor -> nn.global_pool (average) -> nn.flatten -> means f32[3].
fn bundle(attrs: &serde_json::Map<String, J>) -> Vec<u8> {
    let prep = attrs.iter().fold(
        Node::new("prep", "image.to_tensor")
            .with_input("bytes", ["image"])
            .with_output("Y", ["pixels"]),
        |n, (k, v)| n.with_attr(k, attr(v)),
    );
    let pool = Node::new("pool", "nn.global_pool")
        .with_input("0", ["pixels"])
        .with_output("0", ["pooled"])
        .with_attr("fn", Attr::Str("average".into()));
    let flat = Node::new("flat", "nn.flatten")
        .with_input("0", ["pooled"])
        .with_output("0", ["means"])
        .with_attr("axis", Attr::I64(1));
    let root = Node::pipeline("root", vec![prep, pool, flat]);
    let manifest = Manifest::new(
        "image_means",
        "root",
        vec![Field::scalar("image", DType::Binary, true)],
        vec![Field::tensor("means", DType::F32, vec![3])],
    );
    Bundle::new(manifest, root, Vec::<(String, Vec<u8>)>::new())
        .unwrap()
        .to_bytes(Encoding::Json)
        .unwrap()
}

fn score(bundle: &Path, input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("score")
        .arg(bundle)
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn keel_score_preprocesses_base64_images_as_pillow_does() {
    let cases: J =
        serde_json::from_slice(&std::fs::read(dir().join("cases.json")).unwrap()).unwrap();
    let e2e = &cases["end_to_end"];
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("images.keel");
    std::fs::write(&model, bundle(e2e["attrs"].as_object().unwrap())).unwrap();
    let rows = e2e["rows"].as_array().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let lines: String = rows
        .iter()
        .map(|r| {
            let bytes = std::fs::read(dir().join(r["image"].as_str().unwrap())).unwrap();
            format!("{}\n", json!({ "image": b64.encode(bytes) }))
        })
        .collect();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, &lines).unwrap();
    let out = score(&model, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<J> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap()["means"].clone())
        .collect();
    assert_eq!(got.len(), rows.len());
    // Pillow's pixels match exactly; what remains is f32 arithmetic (the normalisation, and a
    // mean of 196 values summed in f32), far inside the bar for f32 networks.
    let tol = Tolerance::ONNX_F32;
    for (row, (g, r)) in got.iter().zip(rows).enumerate() {
        let want = r["means"].as_array().unwrap();
        let g = g.as_array().unwrap();
        assert_eq!(g.len(), 3);
        for (a, b) in g.iter().zip(want) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(tol.accepts(a, b), "row {row}: keel {a} vs Pillow {b}");
        }
    }

    // A row that is not base64, and one whose bytes are not an image: each named by row.
    let bad = format!("{}{{\"image\": \"not base64!\"}}\n", lines);
    std::fs::write(&input, bad).unwrap();
    let out = score(&model, &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("row 4") && err.contains("`image`") && err.contains("base64"),
        "{err}"
    );
    let junk = format!(
        "{}{}\n",
        lines,
        json!({ "image": b64.encode(b"GIF89a...") })
    );
    std::fs::write(&input, junk).unwrap();
    let out = score(&model, &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("row 4") && err.contains("`image`") && err.contains("not a PNG"),
        "{err}"
    );
}
