//! `binary` fields (bytes per row, format 1.1, SPEC.md section 2): they survive both encodings,
//! and a `binary` field of any shape but `[]` (or with element names) is refused naming the
//! field.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::{Binding, Bundle, DType, Encoding, Field};
use serde_json::json;

/// The base bundle with an `image` input (bytes per row) read by an extra stage. The bundle
/// reader checks data flow, not op semantics, so any op name does.
fn binary_bundle() -> Bundle {
    let mut manifest = base_manifest();
    manifest
        .inputs
        .push(Field::scalar("image", DType::Binary, true));
    manifest
        .outputs
        .push(Field::tensor("pixels", DType::F32, vec![3, 4, 4]));
    let mut graph = base_graph();
    graph.inputs[0].columns.push("image".into());
    graph.outputs[0].columns.push("pixels".into());
    graph.children.push(node(
        "decode",
        "image.to_tensor",
        vec![Binding::new("bytes", ["image"])],
        vec![Binding::new("Y", ["pixels"])],
    ));
    Bundle::new(manifest, graph, [(TENSORS.to_string(), base_tensors())]).unwrap()
}

#[test]
fn binary_fields_round_trip_through_both_encodings() {
    let original = binary_bundle();
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let back = Bundle::from_bytes(&original.to_bytes(enc).unwrap()).unwrap();
        assert_eq!(back.manifest.inputs, original.manifest.inputs, "{enc:?}");
        assert_eq!(back.manifest.inputs[2].dtype, DType::Binary);
    }
    let json_bytes = original.to_bytes(Encoding::Json).unwrap();
    let manifest = entries(&json_bytes)
        .into_iter()
        .find(|(n, _)| n == "manifest.json")
        .unwrap()
        .1;
    let text = String::from_utf8(manifest).unwrap();
    assert!(
        text.contains(r#"{"name":"image","dtype":"binary","shape":[],"nullable":true"#),
        "{text}"
    );
    assert_eq!(DType::parse("binary"), Some(DType::Binary));
    assert_eq!(DType::Binary.to_string(), "binary");
    assert!(!DType::Binary.is_numeric() && !DType::Binary.is_tensor_element());
}

#[test]
fn binary_fields_are_one_byte_string_per_row() {
    for change in [
        json!({"shape": [3]}),
        json!({"shape": [2, 2]}),
        json!({"names": ["a"]}),
    ] {
        let mut parts = base_parts();
        parts.manifest["inputs"][0]["dtype"] = json!("binary");
        for (k, v) in change.as_object().unwrap() {
            parts.manifest["inputs"][0][k] = v.clone();
        }
        let err = refuse(&parts.pack());
        assert_eq!(kind(&err), "Malformed", "{change}: {err:?}");
        assert!(err.to_string().contains("`x0`"), "{change}: {err}");
        assert!(err.to_string().contains("binary"), "{change}: {err}");
    }
}

#[test]
fn byte_types_this_reader_does_not_know_are_refused_by_name() {
    // What an older reader does with `binary`, this one does with a spelling it lacks.
    for bad in ["bytes", "large_binary", "Binary"] {
        let mut parts = base_parts();
        parts.manifest["inputs"][0]["dtype"] = json!(bad);
        let err = refuse(&parts.pack());
        assert_eq!(kind(&err), "Malformed", "{bad}: {err:?}");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }
}
