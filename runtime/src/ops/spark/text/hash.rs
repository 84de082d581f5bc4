//! Spark's feature hash, shared by `spark.hashing_tf` and `spark.feature_hasher`:
//! MurmurHash3 x86_32 ([`murmur3_x86_32`]) with seed 42 over the UTF-8 bytes of the term
//! (Spark 3+'s `hashUnsafeBytes2`, the standard algorithm), then `Utils.nonNegativeMod` by the
//! number of features ([`term_index`]).

/// Spark's hashing seed (`HashingTF.seed`, `FeatureHasher.seed`).
pub const SEED: u32 = 42;

/// MurmurHash3 x86_32 of `data` (little-endian 4-byte blocks, standard tail), as Spark's
/// `Murmur3_x86_32.hashUnsafeBytes2`; returned as Java's signed `int`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix_k1 = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h1 = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        let k1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        h1 ^= mix_k1(k1);
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k1 = 0u32;
        for (i, &b) in tail.iter().enumerate() {
            k1 ^= u32::from(b) << (8 * i);
        }
        h1 ^= mix_k1(k1);
    }
    // Spark passes the length as an int; bundles never hold terms of 2 GiB.
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// Spark's `Utils.nonNegativeMod(hash, n)` for `n > 0`.
#[inline]
pub fn non_negative_mod(x: i32, n: i32) -> u32 {
    let r = x % n;
    (if r < 0 { r + n } else { r }) as u32
}

/// The feature index of a term among `n` features: the hash of its UTF-8 bytes modulo `n`.
#[inline]
pub fn term_index(term: &str, n: i32) -> u32 {
    non_negative_mod(murmur3_x86_32(term.as_bytes(), SEED), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_reference_vectors() {
        // Published MurmurHash3_x86_32 vectors (seed 0), which exercise every tail length.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1) as u32, 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0) as u32, 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0) as u32,
            0x2e4f_f723
        );
    }

    #[test]
    fn non_negative_mod_wraps_negatives() {
        assert_eq!(non_negative_mod(-1, 10), 9);
        assert_eq!(non_negative_mod(i32::MIN, 7), (i32::MIN % 7 + 7) as u32);
        assert_eq!(non_negative_mod(12, 10), 2);
    }
}
