//! `nn.rms_norm`: ONNX RMSNormalization, `Y = X / sqrt(mean(X^2) + epsilon) * scale` over the
//! axes from `axis`. Ports: `0` X, `1` scale (broadcast to those axes) -> `0` Y. Attributes:
//! `axis` (-1), `epsilon` (1e-5), `stash_type` (1; accumulated in f64 whatever it says).
//! Floats: f32, f64; f16 and bf16 computed in f32. Shares `nn.layer_norm`'s kernel.

use crate::error::Error;
use crate::op::{BuildCtx, Built};

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    crate::ops::nn::layer_norm::plan(ctx, true)
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn divides_by_the_root_mean_square() {
        // Row [3, 4]: mean square 12.5; row [1, 1]: 1.
        let x = f32s(&[2, 2], &[3., 4., 1., 1.]);
        let y = run(
            "nn.rms_norm",
            vec![("epsilon", Attr::F64(0.0))],
            &[x, f32s(&[2], &[1., 2.])],
        )
        .unwrap();
        let r = 12.5f32.sqrt();
        assert_close(&y[0], &f32s(&[2, 2], &[3. / r, 8. / r, 1., 2.]), 1e-6);
    }
}
