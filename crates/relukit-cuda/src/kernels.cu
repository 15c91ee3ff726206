// relukit's GPU kernels: CUDA C++ compiled at run time by NVRTC (no headers, so a
// machine with a driver and NVRTC but no CUDA toolkit can build them).
//
// The contract is relukit::reference, bit for bit, as the CPU computes it on x86-64:
// - a select where the reference selects (relu(-0) = +0, a NaN x comes back unchanged);
// - a product of the 16-bit floats in f32, rounded once with the `half` crate's rules;
// - a product that is NaN carries the NaN an x86 multiply gives: the first NaN operand,
//   quieted, or the "indefinite" NaN (sign set) when neither operand is NaN (0 * inf).
// Compiled with --fmad=false: no product is ever fused into a sum.

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

struct __align__(2) f16 { u16 bits; };
struct __align__(2) bf16 { u16 bits; };

// ---------------------------------------------------------------------------------
// Element types: classification on bits, widening to the compute type and rounding
// back, as the `half` crate does.

__device__ __forceinline__ float mul_x86(float a, float b) {
    float r = a * b;
    if (r != r) {
        if (a != a) return __uint_as_float(__float_as_uint(a) | 0x00400000u);
        if (b != b) return __uint_as_float(__float_as_uint(b) | 0x00400000u);
        return __uint_as_float(0xffc00000u);
    }
    return r;
}

__device__ __forceinline__ double mul_x86(double a, double b) {
    double r = a * b;
    if (r != r) {
        if (a != a) return __longlong_as_double(__double_as_longlong(a) | 0x0008000000000000ll);
        if (b != b) return __longlong_as_double(__double_as_longlong(b) | 0x0008000000000000ll);
        return __longlong_as_double((long long)0xfff8000000000000ull);
    }
    return r;
}

template <class T> struct Elem;

template <> struct Elem<float> {
    typedef float C;
    static __device__ __forceinline__ bool is_nan(float x) { return x != x; }
    static __device__ __forceinline__ bool gt0(float x) { return x > 0.0f; }
    static __device__ __forceinline__ float zero() { return 0.0f; }
    static __device__ __forceinline__ float one() { return 1.0f; }
    static __device__ __forceinline__ float widen(float x) { return x; }
    static __device__ __forceinline__ float narrow(float c) { return c; }
    static __device__ __forceinline__ double to_f64(float x) { return (double)x; }
    static __device__ __forceinline__ float from_f64(double v) {
        if (v != v) return __uint_as_float(0x7fc00000u);
        return __double2float_rn(v);
    }
};

template <> struct Elem<double> {
    typedef double C;
    static __device__ __forceinline__ bool is_nan(double x) { return x != x; }
    static __device__ __forceinline__ bool gt0(double x) { return x > 0.0; }
    static __device__ __forceinline__ double zero() { return 0.0; }
    static __device__ __forceinline__ double one() { return 1.0; }
    static __device__ __forceinline__ double widen(double x) { return x; }
    static __device__ __forceinline__ double narrow(double c) { return c; }
    static __device__ __forceinline__ double to_f64(double x) { return x; }
    static __device__ __forceinline__ double from_f64(double v) {
        if (v != v) return __longlong_as_double(0x7ff8000000000000ll);
        return v;
    }
};

// f64 -> f32 rounded to odd: rounding that to a 16-bit float to nearest gives the
// correctly rounded result (f32 has more than two extra bits of precision).
__device__ __forceinline__ u32 f64_to_f32_odd(double v) {
    float r = __double2float_rz(v);
    u32 bits = __float_as_uint(r);
    if ((double)r != v && (bits & 0x7f800000u) != 0x7f800000u) bits |= 1u;
    return bits;
}

template <> struct Elem<f16> {
    typedef float C;
    static __device__ __forceinline__ bool is_nan(f16 x) { return (x.bits & 0x7fffu) > 0x7c00u; }
    static __device__ __forceinline__ bool gt0(f16 x) { return x.bits != 0 && x.bits <= 0x7c00u; }
    static __device__ __forceinline__ f16 zero() { f16 r; r.bits = 0; return r; }
    static __device__ __forceinline__ f16 one() { f16 r; r.bits = 0x3c00u; return r; }
    static __device__ __forceinline__ float widen(f16 x) {
        u32 h = x.bits;
        if ((h & 0x7fffu) > 0x7c00u)
            return __uint_as_float(((h & 0x8000u) << 16) | 0x7fc00000u | ((h & 0x3ffu) << 13));
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
        return f;
    }
    static __device__ __forceinline__ f16 from_f32_bits(u32 u) {
        f16 r;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            r.bits = (u16)(((u & 0x80000000u) >> 16) | 0x7c00u | 0x0200u | ((u & 0x007fffffu) >> 13));
            return r;
        }
        float f = __uint_as_float(u);
        u16 h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
        r.bits = h;
        return r;
    }
    static __device__ __forceinline__ f16 narrow(float c) { return from_f32_bits(__float_as_uint(c)); }
    static __device__ __forceinline__ double to_f64(f16 x) { return (double)widen(x); }
    static __device__ __forceinline__ f16 from_f64(double v) {
        if (v != v) { f16 r; r.bits = 0x7e00u; return r; }
        return from_f32_bits(f64_to_f32_odd(v));
    }
};

template <> struct Elem<bf16> {
    typedef float C;
    static __device__ __forceinline__ bool is_nan(bf16 x) { return (x.bits & 0x7fffu) > 0x7f80u; }
    static __device__ __forceinline__ bool gt0(bf16 x) { return x.bits != 0 && x.bits <= 0x7f80u; }
    static __device__ __forceinline__ bf16 zero() { bf16 r; r.bits = 0; return r; }
    static __device__ __forceinline__ bf16 one() { bf16 r; r.bits = 0x3f80u; return r; }
    static __device__ __forceinline__ float widen(bf16 x) { return __uint_as_float(((u32)x.bits) << 16); }
    static __device__ __forceinline__ bf16 from_f32_bits(u32 x) {
        bf16 r;
        if ((x & 0x7fffffffu) > 0x7f800000u) {
            r.bits = (u16)((x >> 16) | 0x0040u);
            return r;
        }
        u32 round_bit = 0x8000u;
        u32 h = x >> 16;
        if ((x & round_bit) != 0 && (x & (3u * round_bit - 1u)) != 0) h += 1;
        r.bits = (u16)h;
        return r;
    }
    static __device__ __forceinline__ bf16 narrow(float c) { return from_f32_bits(__float_as_uint(c)); }
    static __device__ __forceinline__ double to_f64(bf16 x) { return (double)widen(x); }
    static __device__ __forceinline__ bf16 from_f64(double v) {
        if (v != v) { bf16 r; r.bits = 0x7fc0u; return r; }
        return from_f32_bits(f64_to_f32_odd(v));
    }
};

// ---------------------------------------------------------------------------------
// The operations on one element (the reference's definitions).

template <class T> struct Relu {
    __device__ __forceinline__ T operator()(T x) const {
        return (Elem<T>::is_nan(x) || Elem<T>::gt0(x)) ? x : Elem<T>::zero();
    }
};

template <class T> struct ReluDerivative {
    __device__ __forceinline__ T operator()(T x) const {
        if (Elem<T>::is_nan(x)) return x;
        return Elem<T>::gt0(x) ? Elem<T>::one() : Elem<T>::zero();
    }
};

template <class T> struct ReluBackward {
    __device__ __forceinline__ T operator()(T g, T x) const {
        if (Elem<T>::is_nan(x)) return x;
        return Elem<T>::gt0(x) ? g : Elem<T>::zero();
    }
};

template <class T> struct Leaky {
    typename Elem<T>::C slope;
    __device__ __forceinline__ T operator()(T x) const {
        if (Elem<T>::is_nan(x) || Elem<T>::gt0(x)) return x;
        return Elem<T>::narrow(mul_x86(Elem<T>::widen(x), slope));
    }
};

template <class T> struct LeakyBackward {
    typename Elem<T>::C slope;
    __device__ __forceinline__ T operator()(T g, T x) const {
        if (Elem<T>::is_nan(x)) return x;
        if (Elem<T>::gt0(x)) return g;
        return Elem<T>::narrow(mul_x86(Elem<T>::widen(g), slope));
    }
};

// ---------------------------------------------------------------------------------
// Elementwise driver: 16-byte packs when every pointer is 16-byte aligned (`vec`),
// single elements otherwise; each thread keeps UNROLL packs in flight.

#define BLOCK 256
#define UNROLL 4

template <class T> struct Pack {
    enum { N = 16 / sizeof(T) };
    union { uint4 raw; T v[N]; };
};

template <class T, class Op>
__device__ void map1(const T* x, T* y, u64 n, int vec, Op op) {
    u64 tid = (u64)blockIdx.x * BLOCK + threadIdx.x;
    u64 stride = (u64)gridDim.x * BLOCK;
    u64 done = 0;
    if (vec) {
        const int N = Pack<T>::N;
        u64 packs = n / N;
        const uint4* xp = (const uint4*)x;
        uint4* yp = (uint4*)y;
        u64 p = tid;
        for (; p + (UNROLL - 1) * stride < packs; p += UNROLL * stride) {
            Pack<T> a[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) a[u].raw = xp[p + u * stride];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
#pragma unroll
                for (int i = 0; i < N; i++) a[u].v[i] = op(a[u].v[i]);
                yp[p + u * stride] = a[u].raw;
            }
        }
        for (; p < packs; p += stride) {
            Pack<T> a;
            a.raw = xp[p];
#pragma unroll
            for (int i = 0; i < N; i++) a.v[i] = op(a.v[i]);
            yp[p] = a.raw;
        }
        done = packs * N;
    }
    for (u64 i = done + tid; i < n; i += stride) y[i] = op(x[i]);
}

template <class T, class Op>
__device__ void map2(const T* g, const T* x, T* y, u64 n, int vec, Op op) {
    u64 tid = (u64)blockIdx.x * BLOCK + threadIdx.x;
    u64 stride = (u64)gridDim.x * BLOCK;
    u64 done = 0;
    if (vec) {
        const int N = Pack<T>::N;
        u64 packs = n / N;
        const uint4* gp = (const uint4*)g;
        const uint4* xp = (const uint4*)x;
        uint4* yp = (uint4*)y;
        u64 p = tid;
        for (; p + (UNROLL - 1) * stride < packs; p += UNROLL * stride) {
            Pack<T> a[UNROLL], b[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                a[u].raw = gp[p + u * stride];
                b[u].raw = xp[p + u * stride];
            }
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
#pragma unroll
                for (int i = 0; i < N; i++) a[u].v[i] = op(a[u].v[i], b[u].v[i]);
                yp[p + u * stride] = a[u].raw;
            }
        }
        for (; p < packs; p += stride) {
            Pack<T> a, b;
            a.raw = gp[p];
            b.raw = xp[p];
#pragma unroll
            for (int i = 0; i < N; i++) a.v[i] = op(a.v[i], b.v[i]);
            yp[p] = a.raw;
        }
        done = packs * N;
    }
    for (u64 i = done + tid; i < n; i += stride) y[i] = op(g[i], x[i]);
}

// ---------------------------------------------------------------------------------
// PReLU: the buffer seen as `rows` rows of `row_len` columns (row_len a whole number
// of periods of `channels * inner` elements), each thread owning N adjacent columns
// of one tile of BLOCK * N columns over up to `rows_per_block` rows; the slopes of a
// thread's columns are looked up once. See plan.rs for how the shape is chosen.

struct Shape {
    u64 len;            // elements in the buffer
    u64 row_len;        // columns per row (a multiple of `period`)
    u64 rows;           // rows (the last one may be cut short by `len`)
    u64 period;         // channels * inner
    u64 inner;          // consecutive elements that share a channel
    u64 channels;       // channels (1 for a shared weight)
    u64 tiles;          // tiles of BLOCK * N columns per row
    u64 rows_per_block; // rows a block walks down
    u64 row_chunks;     // ceil(rows / rows_per_block)
    int vec;            // whether packs are 16-byte aligned
    int mode;           // how grad_weight partial sums are kept (MODE_*)
};

#define MODE_COLUMNS 0
#define MODE_PERIODS 1
#define MODE_CHANNELS 2

__device__ __forceinline__ u64 channel_of_column(const Shape& s, u64 col) {
    return (col % s.period) / s.inner;
}

template <class T>
__device__ void prelu_forward(const T* x, const T* w, T* y, Shape s) {
    const int N = Pack<T>::N;
    u64 tile = blockIdx.x % s.tiles;
    u64 chunk = blockIdx.x / s.tiles;
    u64 col0 = tile * (BLOCK * N) + (u64)threadIdx.x * N;
    if (col0 >= s.row_len) return;
    typename Elem<T>::C slope[N];
#pragma unroll
    for (int i = 0; i < N; i++) {
        u64 col = col0 + i;
        slope[i] = col < s.row_len ? Elem<T>::widen(w[channel_of_column(s, col)]) : Elem<T>::widen(w[0]);
    }
    u64 r0 = chunk * s.rows_per_block;
    u64 r1 = r0 + s.rows_per_block < s.rows ? r0 + s.rows_per_block : s.rows;
    for (u64 r = r0; r < r1; r++) {
        u64 e = r * s.row_len + col0;
        if (s.vec && e + N <= s.len && col0 + N <= s.row_len) {
            Pack<T> a;
            a.raw = *(const uint4*)(x + e);
#pragma unroll
            for (int i = 0; i < N; i++) {
                Leaky<T> op = {slope[i]};
                a.v[i] = op(a.v[i]);
            }
            *(uint4*)(y + e) = a.raw;
        } else {
#pragma unroll
            for (int i = 0; i < N; i++) {
                if (col0 + i < s.row_len && e + i < s.len) {
                    Leaky<T> op = {slope[i]};
                    y[e + i] = op(x[e + i]);
                }
            }
        }
    }
}

// grad_input, and per-block partial sums of grad_output * x where x <= 0 (or NaN),
// in f64, in an order fixed by the shape alone.
template <class T>
__device__ void prelu_backward_partial(const T* g, const T* x, const T* w, T* gi, double* partial, Shape s) {
    const int N = Pack<T>::N;
    __shared__ double scratch[BLOCK * 16 / sizeof(T)];
    u64 tile = blockIdx.x % s.tiles;
    u64 chunk = blockIdx.x / s.tiles;
    u64 col0 = tile * (BLOCK * N) + (u64)threadIdx.x * N;
    typename Elem<T>::C slope[N];
    double sum[N];
#pragma unroll
    for (int i = 0; i < N; i++) {
        u64 col = col0 + i;
        slope[i] = col < s.row_len ? Elem<T>::widen(w[channel_of_column(s, col)]) : Elem<T>::widen(w[0]);
        sum[i] = 0.0;
    }
    u64 r0 = chunk * s.rows_per_block;
    u64 r1 = r0 + s.rows_per_block < s.rows ? r0 + s.rows_per_block : s.rows;
    if (col0 < s.row_len) {
        for (u64 r = r0; r < r1; r++) {
            u64 e = r * s.row_len + col0;
            if (s.vec && e + N <= s.len && col0 + N <= s.row_len) {
                Pack<T> a, b;
                a.raw = *(const uint4*)(g + e);
                b.raw = *(const uint4*)(x + e);
#pragma unroll
                for (int i = 0; i < N; i++) {
                    if (!Elem<T>::gt0(b.v[i])) sum[i] += Elem<T>::to_f64(a.v[i]) * Elem<T>::to_f64(b.v[i]);
                    LeakyBackward<T> op = {slope[i]};
                    a.v[i] = op(a.v[i], b.v[i]);
                }
                *(uint4*)(gi + e) = a.raw;
            } else {
#pragma unroll
                for (int i = 0; i < N; i++) {
                    if (col0 + i < s.row_len && e + i < s.len) {
                        T gv = g[e + i], xv = x[e + i];
                        if (!Elem<T>::gt0(xv)) sum[i] += Elem<T>::to_f64(gv) * Elem<T>::to_f64(xv);
                        LeakyBackward<T> op = {slope[i]};
                        gi[e + i] = op(gv, xv);
                    }
                }
            }
        }
    }
    if (s.mode == MODE_COLUMNS) {
        // One slot per column: partial[chunk * tiles * BLOCK * N + column].
        u64 base = chunk * s.tiles * (BLOCK * N);
#pragma unroll
        for (int i = 0; i < N; i++) partial[base + col0 + i] = sum[i];
        return;
    }
#pragma unroll
    for (int i = 0; i < N; i++) scratch[threadIdx.x * N + i] = sum[i];
    __syncthreads();
    if (s.mode == MODE_PERIODS) {
        // A tile holds whole periods: slot p sums column p of each period, in order.
        u64 periods = (BLOCK * N) / s.period;
        double* out = partial + (u64)blockIdx.x * s.period;
        for (u64 p = threadIdx.x; p < s.period; p += BLOCK) {
            double acc = 0.0;
            for (u64 k = 0; k < periods; k++) acc += scratch[k * s.period + p];
            out[p] = acc;
        }
        return;
    }
    // MODE_CHANNELS: the tile spans at most two channels (inner >= the tile's width):
    // slot 0 sums the columns of the tile's first channel, slot 1 the others, each by
    // a fixed tree.
    u64 tile_col0 = tile * (BLOCK * N);
    u64 first = channel_of_column(s, tile_col0);
    __shared__ double second[BLOCK * 16 / sizeof(T)];
    for (int i = 0; i < N; i++) {
        u64 col = col0 + i;
        bool other = col < s.row_len && channel_of_column(s, col) != first;
        second[threadIdx.x * N + i] = other ? scratch[threadIdx.x * N + i] : 0.0;
        if (other) scratch[threadIdx.x * N + i] = 0.0;
    }
    __syncthreads();
    for (u32 width = (BLOCK * N) / 2; width > 0; width /= 2) {
        for (u32 k = threadIdx.x; k < width; k += BLOCK) {
            scratch[k] += scratch[k + width];
            second[k] += second[k + width];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[(u64)blockIdx.x * 2] = scratch[0];
        partial[(u64)blockIdx.x * 2 + 1] = second[0];
    }
}

// grad_weight[c] from the partial sums: block c (of `reduce_threads` threads, 1 or
// BLOCK) walks the slots of channel c in a fixed order and sums them by a fixed tree.
template <class T>
__device__ void prelu_backward_reduce(const double* partial, T* gw, Shape s, u64 reduce_threads) {
    const u64 N = Pack<T>::N;
    const u64 W = BLOCK * N;
    __shared__ double acc[BLOCK];
    u64 c = blockIdx.x;
    u64 copies = s.row_len / s.period; // periods per row
    double total = 0.0;
    if (s.mode == MODE_COLUMNS) {
        // terms: chunk x copy x j, slot = chunk * tiles * W + copy * period + c * inner + j
        u64 terms = s.row_chunks * copies * s.inner;
        for (u64 t = threadIdx.x; t < terms; t += reduce_threads) {
            u64 j = t % s.inner;
            u64 rest = t / s.inner;
            u64 copy = rest % copies;
            u64 chunk = rest / copies;
            total += partial[chunk * s.tiles * W + copy * s.period + c * s.inner + j];
        }
    } else if (s.mode == MODE_PERIODS) {
        // terms: block x j, slot = block * period + c * inner + j
        u64 terms = s.row_chunks * s.tiles * s.inner;
        for (u64 t = threadIdx.x; t < terms; t += reduce_threads) {
            u64 j = t % s.inner;
            u64 block = t / s.inner;
            total += partial[block * s.period + c * s.inner + j];
        }
    } else {
        // terms: chunk x copy x tile of the channel's columns in that copy
        u64 span = s.inner / W + 2;
        u64 terms = s.row_chunks * copies * span;
        for (u64 t = threadIdx.x; t < terms; t += reduce_threads) {
            u64 k = t % span;
            u64 rest = t / span;
            u64 copy = rest % copies;
            u64 chunk = rest / copies;
            u64 start = copy * s.period + c * s.inner;
            u64 tile = start / W + k;
            if (tile * W >= start + s.inner || tile >= s.tiles) continue;
            u64 first = channel_of_column(s, tile * W);
            u64 block = chunk * s.tiles + tile;
            if (first == c) total += partial[block * 2];
            else total += partial[block * 2 + 1];
        }
    }
    if (reduce_threads == 1) {
        gw[c] = Elem<T>::from_f64(total);
        return;
    }
    acc[threadIdx.x] = total;
    __syncthreads();
    for (u32 width = BLOCK / 2; width > 0; width /= 2) {
        if (threadIdx.x < width) acc[threadIdx.x] += acc[threadIdx.x + width];
        __syncthreads();
    }
    if (threadIdx.x == 0) gw[c] = Elem<T>::from_f64(acc[0]);
}

// ---------------------------------------------------------------------------------
// Entry points, one per operation and element type: `<operation>_<type>`.

#define RELUKIT_KERNELS(T, NAME)                                                                   \
    extern "C" __global__ void __launch_bounds__(BLOCK) relu_##NAME(const T* x, T* y, u64 n, int vec) { \
        map1(x, y, n, vec, Relu<T>());                                                             \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) relu_derivative_##NAME(const T* x, T* y, u64 n, int vec) { \
        map1(x, y, n, vec, ReluDerivative<T>());                                                   \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) relu_backward_##NAME(const T* g, const T* x, T* y, u64 n, int vec) { \
        map2(g, x, y, n, vec, ReluBackward<T>());                                                  \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) leaky_relu_##NAME(const T* x, T* y, u64 n, int vec, Elem<T>::C slope) { \
        Leaky<T> op = {slope};                                                                     \
        map1(x, y, n, vec, op);                                                                    \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) leaky_relu_backward_##NAME(const T* g, const T* x, T* y, u64 n, int vec, Elem<T>::C slope) { \
        LeakyBackward<T> op = {slope};                                                             \
        map2(g, x, y, n, vec, op);                                                                 \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) prelu_##NAME(const T* x, const T* w, T* y, Shape s) { \
        prelu_forward(x, w, y, s);                                                                 \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) prelu_backward_##NAME(const T* g, const T* x, const T* w, T* gi, double* partial, Shape s) { \
        prelu_backward_partial(g, x, w, gi, partial, s);                                          \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(BLOCK) prelu_grad_weight_##NAME(const double* partial, T* gw, Shape s, u64 reduce_threads) { \
        prelu_backward_reduce(partial, gw, s, reduce_threads);                                     \
    }

RELUKIT_KERNELS(float, f32)
RELUKIT_KERNELS(double, f64)
RELUKIT_KERNELS(f16, f16)
RELUKIT_KERNELS(bf16, bf16)
