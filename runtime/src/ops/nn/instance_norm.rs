//! `nn.instance_norm`: ONNX InstanceNormalization, each image's channel plane normalised on its
//! own then scaled per channel. Ports: `0` input `[N, C, ...]`, `1` scale `[C]`, `2` B `[C]`
//! -> `0` Y. Attribute: `epsilon` (1e-5). Floats: f32, f64; f16 and bf16 computed in f32.
//! (It is `nn.group_norm` with one group per channel, and shares its kernel.)

use crate::error::Error;
use crate::op::{BuildCtx, Built};
use crate::ops::nn::{Inputs, attr_f64};

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    crate::ops::nn::group_norm::plan(ctx, inputs, 0, attr_f64(ctx, "epsilon", 1e-5)?)
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn each_plane_on_its_own() {
        // Channel 0: [1, 3] -> mean 2, var 1 -> [-1, 1] * 2 + 1; channel 1: [5, 5] -> var 0.
        let x = f32s(&[1, 2, 2], &[1., 3., 5., 5.]);
        let y = run(
            "nn.instance_norm",
            vec![("epsilon", Attr::F64(0.0))],
            &[x, f32s(&[2], &[2., 1.]), f32s(&[2], &[1., 7.])],
        )
        .unwrap();
        // 0 / sqrt(0) is NaN; with epsilon 0 the constant plane gives NaN, as the definition.
        let v = y[0].as_slice::<f32>().unwrap();
        assert_eq!((v[0], v[1]), (-1.0, 3.0));
        assert!(v[2].is_nan());
        let x = f32s(&[1, 1, 2], &[1., 3.]);
        let y = run(
            "nn.instance_norm",
            vec![("epsilon", Attr::F64(0.0))],
            &[x, f32s(&[1], &[1.]), f32s(&[1], &[0.])],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2], &[-1., 1.]), 1e-6);
    }
}
