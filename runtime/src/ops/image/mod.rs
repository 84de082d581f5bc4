//! Image ops (`image.*`): turning per-row images into the tensors networks read.
//!
//! Images arrive as `binary` columns of encoded PNG or JPEG (or as Spark's raw `ImageSchema`
//! parts) and of any size; a network wants one `f32` batch tensor of one shape. The op
//! [`to_tensor`] does the whole preprocessing a torchvision pipeline does to Pillow images
//! (decode, convert, resize, center crop, scale, normalise), reproducing Pillow's arithmetic so
//! a bundle scores what the model was trained on. The shared pieces are
//! [`pixels`] (decoding under limits, channel conversion) and [`resample`] (Pillow's
//! resampling filters).

pub(crate) mod pixels;
pub(crate) mod resample;
pub(crate) mod to_tensor;
