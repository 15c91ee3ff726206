//! AVX2 (with F16C): the generic drivers compiled for 256-bit vectors.

super::instantiate_drivers!("avx,avx2,f16c", super::half::avx2);
