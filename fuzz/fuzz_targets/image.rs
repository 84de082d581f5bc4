//! The image decoders (PNG and JPEG, through `image.to_tensor`, the only way bytes reach
//! them): arbitrary bytes as one row of an encoded-image column, decoded and preprocessed
//! under four attribute sets (bilinear, area, nearest to one channel, shorter side then
//! crop). The op must answer a tensor or an error naming the row; its decode limits (pixels,
//! allocation) bound memory whatever the header claims. Seeded with the fixtures' images.

#![no_main]

use arrow_array::{BinaryArray, RecordBatch};
use keel_bundle::{Attr, Bundle, DType, Field, Manifest, Node};
use keel_runtime::{Model, Options};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

/// A one-node bundle: `image` (binary) -> `image.to_tensor` with `attrs` -> f32 `x` of `out`.
fn model(attrs: Vec<(&str, Attr)>, out: Vec<u64>) -> Model {
    let mut node = Node::new("prep", "image.to_tensor").with_input("bytes", ["image"]);
    for (k, v) in attrs {
        node = node.with_attr(k, v);
    }
    let root = Node::pipeline("root", vec![node.with_output("Y", ["x"])]);
    let manifest = Manifest::new(
        "images",
        "root",
        vec![Field::scalar("image", DType::Binary, true)],
        vec![Field::tensor("x", DType::F32, out)],
    );
    let bundle = Bundle::new(manifest, root, Vec::<(String, Vec<u8>)>::new())
        .unwrap_or_else(|e| panic!("the image target's bundle: {e}"));
    Model::from_bundle(&bundle, &Options::default())
        .unwrap_or_else(|e| panic!("the image target's model: {e}"))
}

fn models() -> &'static [Model] {
    static MODELS: OnceLock<Vec<Model>> = OnceLock::new();
    MODELS.get_or_init(|| {
        vec![
            model(vec![("size", Attr::I64s(vec![8, 8]))], vec![3, 8, 8]),
            model(
                vec![
                    ("size", Attr::I64s(vec![6, 6])),
                    ("interpolation", Attr::Str("area".into())),
                ],
                vec![3, 6, 6],
            ),
            model(
                vec![
                    ("size", Attr::I64s(vec![5, 7])),
                    ("interpolation", Attr::Str("nearest".into())),
                    ("channels", Attr::I64(1)),
                ],
                vec![1, 5, 7],
            ),
            model(
                vec![
                    ("shorter_side", Attr::I64(8)),
                    ("crop", Attr::I64s(vec![8, 8])),
                ],
                vec![3, 8, 8],
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the attribute set; the rest is the image, so the seeds (the
    // fixtures' images behind one byte) start from real PNG and JPEG headers.
    let Some((&pick, image)) = data.split_first() else {
        return;
    };
    let models = models();
    let m = &models[usize::from(pick) % models.len()];
    let column = Arc::new(BinaryArray::from_opt_vec(vec![Some(image), None]));
    let Ok(batch) = RecordBatch::try_new(m.input_schema(), vec![column]) else {
        return;
    };
    let _ = m.score(&batch);
});
