//! AVX2: the generic drivers compiled for 256-bit vectors.

super::instantiate_drivers!("avx,avx2");
