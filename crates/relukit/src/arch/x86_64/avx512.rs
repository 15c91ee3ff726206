//! AVX-512: the generic drivers compiled for 512-bit vectors, with the byte/word and
//! vector-length extensions so that 16-bit patterns and masks vectorise too.

super::instantiate_drivers!(
    "avx,avx2,f16c,avx512f,avx512bw,avx512vl,avx512dq",
    super::half::avx512
);
