//! `list<utf8>` fields (a variable-length list of strings per row, SPEC.md section 2): they
//! survive both encodings and the conversions between them, and malformed or unknown
//! list types are refused with an error that names what was wrong.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::{Binding, Bundle, BundleError, DType, Encoding, Field};
use serde_json::json;

/// The base bundle with a `tokens` input (a list of strings) passed through by an extra
/// stage to a `tokens_out` output. The bundle reader checks data flow, not op semantics, so
/// any op name does.
fn list_bundle() -> Bundle {
    let mut manifest = base_manifest();
    let mut tokens = Field::str_list("tokens", true);
    tokens.doc = "pre-tokenized text".into();
    manifest.inputs.push(tokens);
    manifest.outputs.push(Field::str_list("tokens_out", false));
    let mut graph = base_graph();
    graph.inputs[0].columns.push("tokens".into());
    graph.outputs[0].columns.push("tokens_out".into());
    graph.children.push(node(
        "words",
        "spark.stop_words_remover",
        vec![Binding::new("X", ["tokens"])],
        vec![Binding::new("Y", ["tokens_out"])],
    ));
    Bundle::new(manifest, graph, [(TENSORS.to_string(), base_tensors())]).unwrap()
}

fn entry(bytes: &[u8], name: &str) -> Vec<u8> {
    entries(bytes)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
}

#[test]
fn list_fields_round_trip_through_both_encodings() {
    let original = list_bundle();
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let back = Bundle::from_bytes(&original.to_bytes(enc).unwrap()).unwrap();
        assert_eq!(back.manifest.inputs, original.manifest.inputs, "{enc:?}");
        assert_eq!(back.manifest.outputs, original.manifest.outputs, "{enc:?}");
        assert_eq!(back.manifest.inputs[2].dtype, DType::ListUtf8);
        assert_eq!(back.manifest.outputs[1].dtype, DType::ListUtf8);
    }
    // The JSON spelling is the one SPEC.md gives, with an empty shape left out as for scalars.
    let json = entry(&original.to_bytes(Encoding::Json).unwrap(), "manifest.json");
    let text = String::from_utf8(json).unwrap();
    assert!(
        text.contains(r#"{"name":"tokens","dtype":"list<utf8>","shape":[],"nullable":true"#),
        "{text}"
    );
    // JSON -> protobuf -> JSON gives the same bytes.
    let json_bytes = original.to_bytes(Encoding::Json).unwrap();
    let via_pb = Bundle::from_bytes(&json_bytes)
        .unwrap()
        .to_bytes(Encoding::Protobuf)
        .unwrap();
    let again = Bundle::from_bytes(&via_pb)
        .unwrap()
        .to_bytes(Encoding::Json)
        .unwrap();
    assert_eq!(again, json_bytes);
    assert_eq!(DType::parse("list<utf8>"), Some(DType::ListUtf8));
    assert_eq!(DType::ListUtf8.to_string(), "list<utf8>");
    assert!(!DType::ListUtf8.is_numeric());
}

fn refuse_manifest(f: impl FnOnce(&mut serde_json::Value)) -> BundleError {
    let mut parts = base_parts();
    f(&mut parts.manifest);
    refuse(&parts.pack())
}

#[test]
fn unknown_list_types_are_refused_by_name() {
    for bad in [
        "list<f64>",
        "list<list<utf8>>",
        "list<utf8",
        "List<Utf8>",
        "array<string>",
    ] {
        let err = refuse_manifest(|m| m["inputs"][0]["dtype"] = json!(bad));
        assert_eq!(kind(&err), "Malformed", "{bad}: {err:?}");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
        assert!(err.to_string().contains("manifest.json"), "{bad}: {err}");
    }
    // The same in protobuf, where the dtype is a free string checked by the reader.
    let pb = entries(&list_bundle().to_bytes(Encoding::Protobuf).unwrap());
    let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
        pb.iter()
            .find(|(n, _)| n == "manifest.pb")
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    m.inputs[2].dtype = "list<i64>".into();
    let mut all = vec![("manifest.pb".to_string(), prost::Message::encode_to_vec(&m))];
    all.extend(pb.into_iter().filter(|(n, _)| n != "manifest.pb"));
    let err = refuse(&zip_files(&all));
    assert_eq!(kind(&err), "Malformed", "{err:?}");
    assert!(err.to_string().contains("list<i64>"), "{err}");
    assert!(err.to_string().contains("tokens"), "{err}");
}

#[test]
fn list_fields_must_be_one_list_per_row() {
    // A fixed-width vector of lists, or element names on a list, is refused naming the field.
    for change in [json!({"shape": [3]}), json!({"names": ["a"]})] {
        let err = refuse_manifest(|m| {
            m["inputs"][0]["dtype"] = json!("list<utf8>");
            for (k, v) in change.as_object().unwrap() {
                m["inputs"][0][k] = v.clone();
            }
        });
        assert_eq!(kind(&err), "Malformed", "{err:?}");
        assert!(err.to_string().contains("`x0`"), "{err}");
        assert!(err.to_string().contains("list<utf8>"), "{err}");
    }
}
