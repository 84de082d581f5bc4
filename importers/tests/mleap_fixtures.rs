#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MLeap fixtures (`fixtures/mleap/<case>/{bundle.zip,io.json}`) in Bundle.ML's protobuf
//! format: each JSON-format zip is re-encoded into the protobuf format (`support::to_protobuf`)
//! and must score bit-for-bit what the JSON zip scores. That the JSON zips score what Spark
//! recorded is checked by the conformance suite (`fixtures/conformance`, every target), so this
//! test only ties the protobuf reader to the JSON one.

mod support;

use keel_conformance::case::family_cases;
use keel_conformance::{Family, Outputs, arrow};
use keel_import::mleap;
use keel_runtime::{Model, Options};

fn score(bytes: &[u8], case: &keel_conformance::Case) -> Outputs {
    let bundle = mleap::read(bytes).unwrap_or_else(|e| panic!("{}: {e}", case.id()));
    let model = Model::from_bundle(&bundle, &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", case.id()));
    let batch = arrow::input_batch(case, &model.manifest().inputs).unwrap();
    let scored = model
        .score(&batch)
        .unwrap_or_else(|e| panic!("{}: {e}", case.id()));
    arrow::outputs(&scored).unwrap()
}

#[test]
fn every_mleap_fixture_scores_the_same_from_its_protobuf_encoding() {
    let cases = family_cases(Family::Mleap).unwrap();
    assert!(cases.len() >= 10, "{} MLeap cases", cases.len());
    for case in &cases {
        let json = score(&case.bundle, case);
        let protobuf = score(&support::to_protobuf(&case.bundle), case);
        // Compared as JSON text, so NaN equals NaN (the fixtures' "NaN") and -0.0 is not 0.0.
        for (output, values) in &json.columns {
            assert_eq!(
                serde_json::Value::Array(values.clone()).to_string(),
                serde_json::Value::Array(protobuf.columns[output].clone()).to_string(),
                "{}.{output}: protobuf and JSON bundles differ",
                case.id()
            );
        }
        assert_eq!(json.columns.len(), protobuf.columns.len(), "{}", case.id());
    }
}
