//! JSON has no literal for NaN or infinities, yet attributes legitimately hold them (a
//! scikit-learn imputer's `missing_values=NaN`, an encoder's `unknown_value=NaN`). SPEC.md
//! section 5 writes them as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`; these serde
//! helpers implement that mapping for single floats and float lists.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use std::fmt;

#[derive(Clone, Copy)]
struct F(f64);

impl serde::Serialize for F {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

struct FVisitor;

impl Visitor<'_> for FVisitor {
    type Value = F;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or one of \"NaN\", \"Infinity\", \"-Infinity\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<F, E> {
        Ok(F(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<F, E> {
        Ok(F(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<F, E> {
        Ok(F(v as f64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<F, E> {
        match v {
            "NaN" => Ok(F(f64::NAN)),
            "Infinity" => Ok(F(f64::INFINITY)),
            "-Infinity" => Ok(F(f64::NEG_INFINITY)),
            other => Err(E::custom(format!("`{other}` is not a number"))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for F {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<F, D::Error> {
        d.deserialize_any(FVisitor)
    }
}

/// One float.
pub(crate) mod one {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&F(*v), s)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        <F as serde::Deserialize>::deserialize(d).map(|f| f.0)
    }
}

/// A list of floats.
pub(crate) mod many {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&F(*x))?;
        }
        seq.end()
    }

    struct ManyVisitor;
    impl<'de> Visitor<'de> for ManyVisitor {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of numbers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
            // The size hint comes from the document; cap it so a hostile hint cannot reserve
            // unbounded memory before any element is read.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(F(v)) = seq.next_element()? {
                out.push(v);
            }
            Ok(out)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        d.deserialize_seq(ManyVisitor)
    }
}
