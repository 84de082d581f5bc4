//! `image.to_tensor` against Pillow: the fixtures in `fixtures/images/` (written by its
//! `generate.py`, which records Pillow's and numpy's preprocessing, never keel's) are scored
//! through a one-node bundle and compared under named tolerances; then hostile and broken
//! images, each of which must be an error naming the column and the row.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, BinaryArray, Int32Array, LargeBinaryArray, RecordBatch};
use keel_bundle::{Attr, Bundle, DType, Field, Manifest, Node};
use keel_runtime::tolerance::{Named, Tolerance};
use keel_runtime::{Error, Model, Options};
use serde_json::Value as Json;
use std::path::PathBuf;
use std::sync::Arc;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A JSON attribute value as a bundle attribute (ints, floats, int lists, float lists, strings).
fn attr(v: &Json) -> Attr {
    match v {
        Json::String(s) => Attr::Str(s.clone()),
        Json::Number(n) if n.is_i64() => Attr::I64(n.as_i64().unwrap()),
        Json::Number(n) => Attr::F64(n.as_f64().unwrap()),
        Json::Array(a) if a.iter().all(Json::is_i64) => {
            Attr::I64s(a.iter().map(|x| x.as_i64().unwrap()).collect())
        }
        Json::Array(a) => Attr::F64s(a.iter().map(|x| x.as_f64().unwrap()).collect()),
        other => panic!("attribute {other}"),
    }
}

/// A bundle: `inputs` (field, port) -> `image.to_tensor` with `attrs` -> `x`, f32 `out` per row.
fn model(inputs: &[(Field, &str)], attrs: &[(String, Attr)], out: &[u64]) -> Result<Model, Error> {
    let mut node = Node::new("prep", "image.to_tensor");
    for (f, p) in inputs {
        node = node.with_input(p, [f.name.clone()]);
    }
    for (k, v) in attrs {
        node = node.with_attr(k, v.clone());
    }
    let root = Node::pipeline("root", vec![node.with_output("Y", ["x"])]);
    let fields = inputs.iter().map(|(f, _)| f.clone()).collect();
    let manifest = Manifest::new(
        "images",
        "root",
        fields,
        vec![Field::tensor("x", DType::F32, out.to_vec())],
    );
    let bundle = Bundle::new(manifest, root, Vec::<(String, Vec<u8>)>::new())?;
    Model::from_bundle(&bundle, &Options::default())
}

fn score(m: &Model, cols: Vec<ArrayRef>) -> Result<Vec<f32>, Error> {
    let batch = RecordBatch::try_new(m.input_schema(), cols).unwrap();
    let out = m.score(&batch)?;
    let list = out.column(0).as_fixed_size_list();
    Ok(list
        .values()
        .as_primitive::<Float32Type>()
        .values()
        .to_vec())
}

fn encoded_field() -> (Field, &'static str) {
    (Field::scalar("image", DType::Binary, true), "bytes")
}

/// Scores encoded images (each `None` a null row).
fn score_encoded(rows: &[Option<&[u8]>], attrs: &[(String, Attr)]) -> Result<Vec<f32>, Error> {
    let m = model(&[encoded_field()], attrs, &[3, 4, 4])?;
    score(&m, vec![Arc::new(BinaryArray::from_opt_vec(rows.to_vec()))])
}

/// Spark's raw parts of an RGB image (converted to BGR, as `ImageSchema` stores it).
fn raw_columns(rgb: &[u8], height: i32, width: i32) -> Vec<ArrayRef> {
    let bgr: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
    vec![
        Arc::new(BinaryArray::from_vec(vec![bgr.as_slice()])),
        Arc::new(Int32Array::from(vec![height])),
        Arc::new(Int32Array::from(vec![width])),
        Arc::new(Int32Array::from(vec![3])),
    ]
}

fn raw_fields() -> Vec<(Field, &'static str)> {
    vec![
        (Field::scalar("data", DType::Binary, false), "data"),
        (Field::scalar("height", DType::I32, false), "height"),
        (Field::scalar("width", DType::I32, false), "width"),
        (Field::scalar("channels", DType::I32, false), "channels"),
    ]
}

/// The largest difference, and whether every value is within `tol`.
fn compare(got: &[f32], want: &[f32], tol: Named) -> (f64, bool) {
    assert_eq!(got.len(), want.len());
    let mut worst = 0f64;
    let mut ok = true;
    for (&g, &w) in got.iter().zip(want) {
        worst = worst.max((f64::from(g) - f64::from(w)).abs());
        ok &= tol.accepts(f64::from(g), f64::from(w));
    }
    (worst, ok)
}

fn cases() -> Json {
    serde_json::from_slice(&read("cases.json")).unwrap()
}

#[test]
fn every_case_matches_pillow() {
    let doc = cases();
    let tol = Tolerance::IMAGE_F32;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let attrs: Vec<(String, Attr)> = case["attrs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), attr(v)))
            .collect();
        let shape: Vec<u64> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let want: Vec<f32> = read(&format!("{name}.f32"))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let got = if let Some(raw) = case.get("raw") {
            // JPEG: Pillow's own decode through the raw port, so the later stages are
            // compared alone (decoders differ; see `jpeg_decodes_close_to_pillow`).
            let m = model(&raw_fields(), &attrs, &shape).unwrap();
            let h = raw["height"].as_i64().unwrap() as i32;
            let w = raw["width"].as_i64().unwrap() as i32;
            score(&m, raw_columns(&read(raw["data"].as_str().unwrap()), h, w))
        } else {
            let m = model(&[encoded_field()], &attrs, &shape).unwrap();
            let bytes = read(case["image"].as_str().unwrap());
            score(&m, vec![Arc::new(BinaryArray::from_vec(vec![&bytes]))])
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (worst, ok) = compare(&got, &want, tol);
        println!("{name}: largest difference {worst:e}");
        assert!(
            ok,
            "{name}: largest difference {worst:e} exceeds {}",
            tol.name()
        );
    }
}

#[test]
fn large_binary_columns_score_like_binary_ones() {
    let bytes = read("rgb.png");
    let attrs = vec![("size".to_string(), Attr::I64s(vec![4, 4]))];
    let m = model(&[encoded_field()], &attrs, &[3, 4, 4]).unwrap();
    let large: ArrayRef = Arc::new(LargeBinaryArray::from_vec(vec![&bytes]));
    let batch = RecordBatch::try_from_iter([("image", large)]).unwrap();
    let out = m.score(&batch).unwrap();
    let list = out.column(0).as_fixed_size_list();
    let large = list
        .values()
        .as_primitive::<Float32Type>()
        .values()
        .to_vec();
    let plain = score(&m, vec![Arc::new(BinaryArray::from_vec(vec![&bytes]))]).unwrap();
    assert_eq!(large, plain);
}

#[test]
fn jpeg_decodes_close_to_pillow() {
    // keel's decoder (zune-jpeg) and Pillow's (libjpeg-turbo) differ in IDCT and chroma
    // upsampling; the difference is bounded by the named tolerance, in grey levels.
    let pillow = read("photo_pillow.rgb");
    let attrs = vec![
        ("crop".to_string(), Attr::I64s(vec![30, 40])),
        ("scale".to_string(), Attr::F64(1.0)),
    ];
    let m = model(&[encoded_field()], &attrs, &[3, 30, 40]).unwrap();
    let got = score(
        &m,
        vec![Arc::new(BinaryArray::from_vec(vec![&read("photo.jpg")]))],
    )
    .unwrap();
    // `got` is CHW; Pillow's is HWC.
    let want: Vec<f32> = (0..3)
        .flat_map(|c| (0..30 * 40).map(move |i| (c, i)))
        .map(|(c, i)| f32::from(pillow[i * 3 + c]))
        .collect();
    let tol = Tolerance::IMAGE_JPEG_DECODE;
    let (worst, ok) = compare(&got, &want, tol);
    let mean = got
        .iter()
        .zip(&want)
        .map(|(a, b)| f64::from((a - b).abs()))
        .sum::<f64>()
        / got.len() as f64;
    println!("jpeg decode: largest difference {worst} grey levels, mean {mean:.3}");
    assert!(ok, "largest difference {worst} exceeds {}", tol.name());
    // The bound is set by a few pixels at chroma edges; most agree exactly.
    assert!(mean < 1.0, "mean difference {mean}");
}

fn size4() -> Vec<(String, Attr)> {
    vec![("size".to_string(), Attr::I64s(vec![4, 4]))]
}

/// The error of scoring `bad` as row 1 after a good row, checked to name `image` and row 1.
fn bad_row(bad: Option<&[u8]>, attrs: &[(String, Attr)]) -> Error {
    let good = read("rgb.png");
    let e = score_encoded(&[Some(&good), bad], attrs).unwrap_err();
    assert_eq!(e.column(), Some("image"), "{e}");
    assert_eq!(e.row(), Some(1), "{e}");
    e
}

/// A PNG chunk: length, type, data, CRC-32 of type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out
}

/// A tiny PNG declaring `width` x `height` RGB pixels, with a token IDAT.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(chunk(b"IHDR", &ihdr));
    // A stored zlib stream of one zero byte (a filter byte, far short of a row).
    png.extend(chunk(
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x01, 0x00, 0xfe, 0xff, 0x00, 0x00, 0x01, 0x00, 0x01,
        ],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn a_decompression_bomb_is_refused_before_it_allocates() {
    let bomb = png_header(100_000, 100_000);
    assert!(bomb.len() < 100);
    let e = bad_row(Some(&bomb), &size4());
    assert!(matches!(e, Error::BadValue { .. }), "{e:?}");
    assert!(e.to_string().contains("limit"), "{e}");
    // Under the side limits, the allocation bound still holds: 8000 x 8000 RGB is 192 MB.
    let wide = png_header(8000, 8000);
    let mut attrs = size4();
    attrs.push(("max_alloc".into(), Attr::I64(64 << 20)));
    let e = bad_row(Some(&wide), &attrs);
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn broken_images_are_errors_naming_column_and_row() {
    let png = read("rgb.png");
    let e = bad_row(Some(&png[..png.len() / 2]), &size4());
    assert!(e.to_string().contains("does not decode"), "truncated: {e}");
    let e = bad_row(Some(b"GIF89a and then some"), &size4());
    assert!(e.to_string().contains("not a PNG or JPEG"), "GIF: {e}");
    let e = bad_row(Some(&[0u8; 64]), &size4());
    assert!(e.to_string().contains("not a PNG or JPEG"), "zeros: {e}");
    let e = bad_row(Some(&[]), &size4());
    assert!(e.to_string().contains("not a PNG or JPEG"), "empty: {e}");
    let jpeg = read("photo.jpg");
    let e = bad_row(Some(&jpeg[..jpeg.len() / 3]), &size4());
    assert!(matches!(e, Error::BadValue { .. }), "truncated JPEG: {e:?}");
    // The header of a PNG whose pixel data is missing.
    let e = bad_row(Some(&png_header(4, 4)), &size4());
    assert!(e.to_string().contains("does not decode"), "no pixels: {e}");
}

#[test]
fn oversize_and_null_rows_are_errors_naming_column_and_row() {
    // grey.png (593 bytes, 20 pixels wide) passes both caps; rgb.png (2,257 bytes, 37 wide)
    // fails each.
    let (grey, rgb) = (read("grey.png"), read("rgb.png"));
    for (key, cap, says) in [("max_bytes", 1000, "max_bytes"), ("max_width", 30, "limit")] {
        let mut attrs = size4();
        attrs.push((key.into(), Attr::I64(cap)));
        let e = score_encoded(&[Some(&grey), Some(&rgb)], &attrs).unwrap_err();
        assert_eq!((e.column(), e.row()), (Some("image"), Some(1)), "{e}");
        assert!(e.to_string().contains(says), "{key}: {e}");
    }
    let e = bad_row(None, &size4());
    assert!(matches!(e, Error::Missing { .. }), "{e:?}");
}

#[test]
fn a_raw_row_of_the_wrong_length_names_the_data_column() {
    let m = model(&raw_fields(), &size4(), &[3, 4, 4]).unwrap();
    let mut cols = raw_columns(&[0u8; 2 * 3 * 3], 2, 3);
    cols[1] = Arc::new(Int32Array::from(vec![3]));
    let e = score(&m, cols).unwrap_err();
    assert_eq!((e.column(), e.row()), (Some("data"), Some(0)), "{e}");
    assert!(e.to_string().contains("18 bytes"), "{e}");
}
