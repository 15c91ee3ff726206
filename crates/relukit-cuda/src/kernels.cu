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

// Classification on bits, for every type: a float comparison beside a select lets the
// compiler turn `x > 0 ? x : 0` into a max, which does not keep a NaN's bits.
template <> struct Elem<float> {
    typedef float C;
    static __device__ __forceinline__ bool is_nan(float x) { return (__float_as_uint(x) & 0x7fffffffu) > 0x7f800000u; }
    static __device__ __forceinline__ bool gt0(float x) { return __float_as_uint(x) - 1u < 0x7f800000u; }
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
    static __device__ __forceinline__ bool is_nan(double x) {
        return ((u64)__double_as_longlong(x) & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
    }
    static __device__ __forceinline__ bool gt0(double x) {
        return (u64)__double_as_longlong(x) - 1ull < 0x7ff0000000000000ull;
    }
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
// of periods of `channels * inner` elements), so that each column has one channel.
// A block owns a tile of `tile_width` columns (at most BLOCK * N) over up to
// `rows_per_block` rows; each thread owns N adjacent columns (one 16-byte pack), looks
// their slopes up once and walks down the rows, ROWS rows per step with every load of
// the step issued before any store. See plan.rs for how the shape is chosen.

#define ROWS 4

struct Shape {
    u64 len;            // elements in the buffer
    u64 row_len;        // columns per row (a multiple of `period`)
    u64 rows;           // rows (the last one may be cut short by `len`)
    u64 period;         // channels * inner
    u64 inner;          // consecutive elements that share a channel
    u64 channels;       // channels (1 for a shared weight)
    u64 tile_width;     // columns per tile (a multiple of N; of `period` in MODE_PERIODS)
    u64 tiles;          // tiles per row
    u64 rows_per_block; // rows a block walks down
    u64 row_chunks;     // ceil(rows / rows_per_block)
    u64 slots;          // partial sums a block writes (MODE_PERIODS, MODE_RUNS)
    int vec;            // whether packs are 16-byte aligned
    int mode;           // how grad_weight partial sums are kept (MODE_*)
};

#define MODE_COLUMNS 0
#define MODE_PERIODS 1
#define MODE_RUNS 2

__device__ __forceinline__ u64 channel_of_column(const Shape& s, u64 col) {
    return (col % s.period) / s.inner;
}

// The elements of one thread: N columns from `col0`, rows [r0, r1). `f(e, i)` is
// called for every element (its index, its column within the pack) in row order;
// `pack(e, rows)` for ROWS full aligned packs at e, e + row_len, ... (rows = ROWS),
// or one (rows = 1).
template <class T, class Pack4, class One>
__device__ __forceinline__ void walk(const Shape& s, u64 col0, u64 r0, u64 r1, Pack4 pack, One one) {
    const int N = Pack<T>::N;
    bool packs = s.vec && col0 + N <= s.row_len;
    u64 r = r0;
    if (packs) {
        for (; r + ROWS <= r1 && (r + ROWS - 1) * s.row_len + col0 + N <= s.len; r += ROWS)
            pack(r * s.row_len + col0, ROWS);
    }
    for (; r < r1; r++) {
        u64 e = r * s.row_len + col0;
        if (packs && e + N <= s.len) {
            pack(e, 1);
        } else {
#pragma unroll
            for (int i = 0; i < N; i++)
                if (col0 + i < s.row_len && e + i < s.len) one(e + i, i);
        }
    }
}

template <class T>
__device__ void prelu_forward(const T* x, const T* w, T* y, Shape s) {
    const int N = Pack<T>::N;
    u64 tile = blockIdx.x % s.tiles;
    u64 chunk = blockIdx.x / s.tiles;
    if ((u64)threadIdx.x * N >= s.tile_width) return;
    u64 col0 = tile * s.tile_width + (u64)threadIdx.x * N;
    if (col0 >= s.row_len) return;
    Leaky<T> op[N];
#pragma unroll
    for (int i = 0; i < N; i++) {
        u64 col = col0 + i < s.row_len ? col0 + i : col0;
        op[i].slope = Elem<T>::widen(w[channel_of_column(s, col)]);
    }
    u64 r0 = chunk * s.rows_per_block;
    u64 r1 = r0 + s.rows_per_block < s.rows ? r0 + s.rows_per_block : s.rows;
    u64 stride = s.row_len;
    walk<T>(s, col0, r0, r1,
        [&](u64 e, int rows) {
            Pack<T> a[ROWS];
            for (int k = 0; k < rows; k++) a[k].raw = *(const uint4*)(x + e + k * stride);
            for (int k = 0; k < rows; k++) {
#pragma unroll
                for (int i = 0; i < N; i++) a[k].v[i] = op[i](a[k].v[i]);
                *(uint4*)(y + e + k * stride) = a[k].raw;
            }
        },
        [&](u64 e, int i) { y[e] = op[i](x[e]); });
}

// grad_input, and per-block partial sums of grad_output * x where x <= 0 (or NaN),
// in f64, in an order fixed by the shape alone.
template <class T>
__device__ void prelu_backward_partial(const T* g, const T* x, const T* w, T* gi, double* partial, Shape s) {
    const int N = Pack<T>::N;
    __shared__ double scratch[BLOCK * 16 / sizeof(T)];
    u64 tile = blockIdx.x % s.tiles;
    u64 chunk = blockIdx.x / s.tiles;
    u64 tile_col0 = tile * s.tile_width;
    bool owns = (u64)threadIdx.x * N < s.tile_width;
    u64 col0 = tile_col0 + (u64)threadIdx.x * N;
    LeakyBackward<T> op[N];
    double sum[N];
#pragma unroll
    for (int i = 0; i < N; i++) {
        u64 col = col0 + i < s.row_len ? col0 + i : 0;
        op[i].slope = Elem<T>::widen(w[channel_of_column(s, col)]);
        sum[i] = 0.0;
    }
    u64 r0 = chunk * s.rows_per_block;
    u64 r1 = r0 + s.rows_per_block < s.rows ? r0 + s.rows_per_block : s.rows;
    u64 stride = s.row_len;
    if (owns && col0 < s.row_len) {
        walk<T>(s, col0, r0, r1,
            [&](u64 e, int rows) {
                Pack<T> a[ROWS], b[ROWS];
                for (int k = 0; k < rows; k++) {
                    a[k].raw = *(const uint4*)(g + e + k * stride);
                    b[k].raw = *(const uint4*)(x + e + k * stride);
                }
                for (int k = 0; k < rows; k++) {
#pragma unroll
                    for (int i = 0; i < N; i++) {
                        if (!Elem<T>::gt0(b[k].v[i])) sum[i] += Elem<T>::to_f64(a[k].v[i]) * Elem<T>::to_f64(b[k].v[i]);
                        a[k].v[i] = op[i](a[k].v[i], b[k].v[i]);
                    }
                    *(uint4*)(gi + e + k * stride) = a[k].raw;
                }
            },
            [&](u64 e, int i) {
                T gv = g[e], xv = x[e];
                if (!Elem<T>::gt0(xv)) sum[i] += Elem<T>::to_f64(gv) * Elem<T>::to_f64(xv);
                gi[e] = op[i](gv, xv);
            });
    }
    if (s.mode == MODE_COLUMNS) {
        // One slot per column of the tile.
        if (!owns) return;
        double* out = partial + (u64)blockIdx.x * s.tile_width + (u64)threadIdx.x * N;
#pragma unroll
        for (int i = 0; i < N; i++) out[i] = sum[i];
        return;
    }
#pragma unroll
    for (int i = 0; i < N; i++) scratch[threadIdx.x * N + i] = owns ? sum[i] : 0.0;
    __syncthreads();
    double* out = partial + (u64)blockIdx.x * s.slots;
    if (s.mode == MODE_PERIODS) {
        // The tile holds whole periods: slot p sums position p of each period, in order.
        u64 periods = s.tile_width / s.period;
        for (u64 p = threadIdx.x; p < s.period; p += BLOCK) {
            double acc = 0.0;
            for (u64 k = 0; k < periods; k++) acc += scratch[k * s.period + p];
            out[p] = acc;
        }
        return;
    }
    // MODE_RUNS: slot k sums the k-th run of columns of one channel in the tile, one
    // warp per run: lane l adds columns l, l + 32, ... in order, then a fixed butterfly.
    u64 first_run = tile_col0 / s.inner;
    u64 tile_end = tile_col0 + s.tile_width < s.row_len ? tile_col0 + s.tile_width : s.row_len;
    u32 lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (u64 k = warp; k < s.slots; k += BLOCK / 32) {
        u64 run = first_run + k;
        u64 begin = run * s.inner > tile_col0 ? run * s.inner : tile_col0;
        u64 end = (run + 1) * s.inner < tile_end ? (run + 1) * s.inner : tile_end;
        double acc = 0.0;
        for (u64 c = begin + lane; c < end; c += 32) acc += scratch[c - tile_col0];
#pragma unroll
        for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) out[k] = acc;
    }
}

// grad_weight[c] from the partial sums: block c (of `reduce_threads` threads, 1 or
// BLOCK) walks the slots of channel c in a fixed order and sums them by a fixed tree.
template <class T>
__device__ void prelu_backward_reduce(const double* partial, T* gw, Shape s, u64 reduce_threads) {
    __shared__ double acc[BLOCK];
    u64 c = blockIdx.x;
    u64 copies = s.row_len / s.period; // periods per row
    u64 tw = s.tile_width;
    double total = 0.0;
    if (s.mode == MODE_COLUMNS) {
        // terms: chunk x copy x j; the column's tile and place in it give the slot
        u64 terms = s.row_chunks * copies * s.inner;
        for (u64 t = threadIdx.x; t < terms; t += reduce_threads) {
            u64 j = t % s.inner;
            u64 rest = t / s.inner;
            u64 copy = rest % copies;
            u64 chunk = rest / copies;
            u64 col = copy * s.period + c * s.inner + j;
            total += partial[(chunk * s.tiles + col / tw) * tw + col % tw];
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
        // terms: chunk x copy x tile of the channel's run in that copy
        u64 span = s.inner / tw + 2;
        u64 terms = s.row_chunks * copies * span;
        for (u64 t = threadIdx.x; t < terms; t += reduce_threads) {
            u64 k = t % span;
            u64 rest = t / span;
            u64 copy = rest % copies;
            u64 chunk = rest / copies;
            u64 start = copy * s.period + c * s.inner;
            u64 tile = start / tw + k;
            if (tile * tw >= start + s.inner || tile >= s.tiles) continue;
            u64 run = copy * s.channels + c; // global run index of these columns
            u64 slot = run - (tile * tw) / s.inner;
            total += partial[(chunk * s.tiles + tile) * s.slots + slot];
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
