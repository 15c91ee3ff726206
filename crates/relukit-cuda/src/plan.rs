//! Launch shapes, computed on the host (and tested without a GPU).
//!
//! Elementwise operations run a grid-stride loop over 16-byte packs, each thread
//! keeping [`UNROLL`] packs in flight. PReLU sees the buffer as rows of `row_len`
//! columns, `row_len` a whole number of periods (`channels * inner` elements), so that
//! each column has one channel: a thread owns `N` adjacent columns (one 16-byte pack)
//! of a tile of `BLOCK * N` columns, looks their slopes up once, and walks down up to
//! [`ROWS_PER_BLOCK`] rows. Its weight-gradient sums are kept in f64 and combined in an
//! order fixed by the shape alone, never by the GPU or the timing, so they have the same
//! bits on every run (see [`Mode`]).

use cudarc::driver::DeviceRepr;
use relukit::ChannelLayout;

/// Threads per block (as `BLOCK` in `kernels.cu`).
pub const BLOCK: u64 = 256;
/// Packs each thread of an elementwise kernel loads before it stores (as `UNROLL`).
pub const UNROLL: u64 = 4;
/// Rows a PReLU block walks down.
pub const ROWS_PER_BLOCK: u64 = 32;
/// A PReLU row holds at least this many tiles (fewer idle columns in the last one).
const MIN_TILES_PER_ROW: u64 = 8;

/// Elements of `elem_bytes` bytes in a 16-byte pack.
pub fn pack(elem_bytes: usize) -> u64 {
    16 / elem_bytes as u64
}

/// Blocks of an elementwise launch over `len` elements on a GPU with `sms`
/// multiprocessors: enough for every pack, at most 32 blocks per multiprocessor (the
/// threads loop over the rest).
pub fn elementwise_blocks(len: u64, elem_bytes: usize, sms: u32) -> u32 {
    let packs = len.div_ceil(pack(elem_bytes));
    let wanted = packs.div_ceil(BLOCK * UNROLL).max(1);
    wanted.min(u64::from(sms.max(1)) * 32) as u32
}

/// How PReLU's backward blocks keep their weight-gradient sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Mode {
    /// One slot per column: channels narrower than a warp in periods wider than a tile
    /// (`[batch, features]` with many features).
    Columns = 0,
    /// A tile holds whole periods: one slot per position in the period, summed over
    /// the tile's periods in order (NHWC, small `[batch, features]`, a shared slope).
    Periods = 1,
    /// Runs of at least 32 columns of one channel (NCHW images): one slot per run in
    /// the tile, summed by a warp (lanes in order, then a fixed butterfly).
    Runs = 2,
}

/// The PReLU launch shape (the `Shape` struct of `kernels.cu`, field for field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Elements in the buffer.
    pub len: u64,
    /// Columns per row: a whole number of periods.
    pub row_len: u64,
    /// Rows (the last may be cut short by `len`).
    pub rows: u64,
    /// `channels * inner`.
    pub period: u64,
    /// Consecutive elements that share a channel.
    pub inner: u64,
    /// Channels (1 for a shared slope).
    pub channels: u64,
    /// Columns per tile: at most `BLOCK * N`, a multiple of `N` (of `period` in
    /// [`Mode::Periods`]).
    pub tile_width: u64,
    /// Tiles per row.
    pub tiles: u64,
    /// Rows a block walks down.
    pub rows_per_block: u64,
    /// `ceil(rows / rows_per_block)`.
    pub row_chunks: u64,
    /// Partial sums each backward block writes.
    pub slots: u64,
    /// Whether 16-byte packs are aligned (every pointer aligned, `row_len % N == 0`).
    pub vec: i32,
    /// [`Mode`] as an integer.
    pub mode: i32,
}

// SAFETY: `Shape` is `repr(C)`, plain integers with no padding (11 x u64 + 2 x i32),
// laid out as the `Shape` struct the kernels take by value.
unsafe impl DeviceRepr for Shape {}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Blocks a PReLU launch aims for (more rows per block only beyond this), whatever the
/// GPU, so that the order of the weight-gradient sums depends on the layout alone.
const TARGET_BLOCKS: u64 = 2048;

/// Whether a PReLU shape is for the forward or the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// `prelu`: no sums.
    Forward,
    /// `prelu_backward`: partial sums per block.
    Backward,
}

impl Shape {
    /// The shape of a PReLU call over `layout` (already checked) with a weight of
    /// `weight_len` elements of `elem_bytes` bytes; `aligned` if every buffer starts on
    /// a 16-byte boundary.
    pub fn new(
        layout: ChannelLayout,
        weight_len: usize,
        elem_bytes: usize,
        aligned: bool,
        pass: Pass,
    ) -> Shape {
        let len = layout.len().expect("layout checked") as u64;
        let (channels, inner) = if weight_len == 1 {
            (1, 1)
        } else {
            (layout.channels() as u64, layout.inner() as u64)
        };
        let n = pack(elem_bytes);
        let width = BLOCK * n;
        let period = (channels * inner).max(1);
        let lcm = period / gcd(period, n) * n;
        let (mode, tile_width, copies) = if lcm <= width {
            // Whole periods per tile (and whole packs per period group).
            let tile_width = width / lcm * lcm;
            (
                Mode::Periods,
                tile_width,
                tile_width / period * MIN_TILES_PER_ROW,
            )
        } else {
            // Rows of at least MIN_TILES_PER_ROW tiles, each starting on a pack.
            let step = n / gcd(period, n);
            let copies = (MIN_TILES_PER_ROW * width).div_ceil(period).div_ceil(step) * step;
            let mode = if inner >= 32 {
                Mode::Runs
            } else {
                Mode::Columns
            };
            (mode, width, copies)
        };
        let row_len = copies * period;
        let rows = len.div_ceil(row_len);
        let tiles = row_len.div_ceil(tile_width);
        let rows_per_block = if pass == Pass::Backward && mode == Mode::Columns {
            // A slot per column: the more rows per block, the fewer partial sums.
            ROWS_PER_BLOCK
        } else {
            (rows * tiles / TARGET_BLOCKS).clamp(1, ROWS_PER_BLOCK)
        }
        .min(rows)
        .max(1);
        let slots = match mode {
            Mode::Columns => tile_width,
            Mode::Periods => period,
            Mode::Runs => (tile_width.div_ceil(inner) + 1).min(tile_width),
        };
        Shape {
            len,
            row_len,
            rows,
            period,
            inner,
            channels,
            tile_width,
            tiles,
            rows_per_block,
            row_chunks: rows.div_ceil(rows_per_block),
            slots,
            vec: i32::from(aligned && row_len % n == 0),
            mode: mode as i32,
        }
    }

    /// Blocks of the forward and backward launches.
    pub fn blocks(&self) -> u64 {
        self.row_chunks * self.tiles
    }

    /// f64 slots the backward pass writes partial sums into.
    pub fn partial_len(&self) -> u64 {
        self.blocks() * self.slots
    }

    /// Slots each channel's sum reads (some may be empty).
    pub fn terms_per_channel(&self) -> u64 {
        let copies = self.row_len / self.period;
        match self.mode {
            0 => self.row_chunks * copies * self.inner,
            1 => self.row_chunks * self.tiles * self.inner,
            _ => self.row_chunks * copies * (self.inner / self.tile_width + 2),
        }
    }

    /// Threads of each block of the reduction (one block per channel): one when the
    /// channel has few slots, else [`BLOCK`].
    pub fn reduce_threads(&self) -> u64 {
        if self.terms_per_channel() < 64 {
            1
        } else {
            BLOCK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(layout: ChannelLayout, weight_len: usize, elem_bytes: usize) -> Shape {
        Shape::new(layout, weight_len, elem_bytes, true, Pass::Backward)
    }

    /// Every element is covered once, by the right channel, for any layout.
    fn covers(layout: ChannelLayout, weight_len: usize, elem_bytes: usize) {
        for pass in [Pass::Forward, Pass::Backward] {
            let s = Shape::new(layout, weight_len, elem_bytes, true, pass);
            let len = layout.len().unwrap() as u64;
            let n = pack(elem_bytes);
            assert!(
                s.row_len.is_multiple_of(s.period) && s.row_len.is_multiple_of(n),
                "{s:?}"
            );
            assert!(
                s.tile_width.is_multiple_of(n) && s.tile_width <= BLOCK * n,
                "{s:?}"
            );
            assert!(
                s.rows * s.row_len >= len && (s.rows == 0 || (s.rows - 1) * s.row_len < len),
                "{s:?}"
            );
            assert!(s.rows_per_block * s.row_chunks >= s.rows);
            assert!(s.tiles * s.tile_width >= s.row_len);
            for e in (0..len).step_by((len / 997).max(1) as usize) {
                let col = e % s.row_len;
                let from_shape = (col % s.period) / s.inner;
                let expected = if weight_len == 1 {
                    0
                } else {
                    (e / layout.inner() as u64) % layout.channels() as u64
                };
                assert_eq!(from_shape, expected, "element {e} of {layout:?}");
            }
            if s.mode == Mode::Periods as i32 {
                assert_eq!(s.tile_width % s.period, 0);
            }
        }
    }

    const LAYOUTS: [(usize, usize, usize); 14] = [
        (1, 1, 1),
        (1, 1, 1000),
        (3, 5, 7),
        (3, 7, 11),
        (2, 3, 300),
        (8, 64, 56 * 56),
        (32 * 56 * 56, 64, 1),
        (1, 3, 1 << 20),
        (7, 4096, 1),
        (2, 1 << 16, 3),
        (5, 2, 4096),
        (1, 300, 1),
        (16, 64, 28 * 28),
        (17, 1000, 1),
    ];

    #[test]
    fn shapes_cover_every_layout() {
        for elem_bytes in [2, 4, 8] {
            for (outer, channels, inner) in LAYOUTS {
                let layout = ChannelLayout::new(outer, channels, inner);
                covers(layout, channels, elem_bytes);
                covers(layout, 1, elem_bytes);
            }
        }
    }

    #[test]
    fn the_modes_the_common_layouts_get() {
        // NCHW images: runs of a channel, enough blocks for any GPU.
        let nchw = shape(ChannelLayout::nchw(16, 64, 32, 32), 64, 4);
        assert_eq!(nchw.mode, Mode::Runs as i32);
        assert!(nchw.blocks() >= 1024, "{nchw:?}");
        // NHWC: 64 channels divide a tile of 2048 bf16 columns.
        let nhwc = shape(ChannelLayout::nhwc(16, 32, 32, 64), 64, 2);
        assert_eq!(nhwc.mode, Mode::Periods as i32);
        assert_eq!(nhwc.vec, 1);
        assert!(nhwc.blocks() >= 512, "{nhwc:?}");
        // A shared slope is one period of one element.
        let shared = shape(ChannelLayout::nchw(32, 64, 128, 128), 1, 4);
        assert_eq!((shared.mode, shared.period), (Mode::Periods as i32, 1));
        // 3 channels: tiles of whole periods and packs (1020 f32 columns).
        let odd = shape(ChannelLayout::new(100, 3, 1), 3, 4);
        assert_eq!((odd.mode, odd.tile_width), (Mode::Periods as i32, 1020));
        assert_eq!(odd.vec, 1);
        assert_eq!(
            Shape::new(ChannelLayout::new(100, 3, 1), 3, 4, false, Pass::Backward).vec,
            0
        );
        // Many narrow channels: a slot per column.
        assert_eq!(
            shape(ChannelLayout::new(64, 4096, 1), 4096, 4).mode,
            Mode::Columns as i32
        );
    }

    #[test]
    fn partial_sums_stay_small_for_large_calls() {
        // At most a quarter of a byte of partial sums per element (f32, 2^28 elements).
        for layout in [
            ChannelLayout::nchw(64, 64, 256, 256),
            ChannelLayout::nchw(256, 64, 128, 128),
            ChannelLayout::nhwc(64, 256, 256, 64),
            ChannelLayout::new(1 << 16, 4096, 1),
        ] {
            let s = shape(layout, layout.channels(), 4);
            let bytes = s.partial_len() * 8;
            assert!(
                bytes * 4 <= s.len,
                "{layout:?}: {bytes} bytes of partial sums"
            );
        }
    }

    /// The backward kernels' partial sums and reduction, simulated on the host step by
    /// step as `kernels.cu` does them, give every channel the sum of its elements.
    fn reduction_is_complete(layout: ChannelLayout, weight_len: usize, elem_bytes: usize) {
        let s = shape(layout, weight_len, elem_bytes);
        let (n, tw) = (pack(elem_bytes), s.tile_width);
        let value = |e: u64| (e % 7 + 1) as f64;
        let mut partial = vec![0.0; s.partial_len() as usize];
        for block in 0..s.blocks() {
            let (tile, chunk) = (block % s.tiles, block / s.tiles);
            let tile_col0 = tile * tw;
            let mut scratch = vec![0.0; (BLOCK * n) as usize];
            for t in 0..BLOCK {
                if t * n >= tw {
                    continue;
                }
                for i in 0..n {
                    let col = tile_col0 + t * n + i;
                    let r0 = chunk * s.rows_per_block;
                    let sum: f64 = (r0..(r0 + s.rows_per_block).min(s.rows))
                        .map(|r| r * s.row_len + col)
                        .filter(|&e| col < s.row_len && e < s.len)
                        .map(value)
                        .sum();
                    scratch[(t * n + i) as usize] = sum;
                }
            }
            let out = &mut partial[(block * s.slots) as usize..((block + 1) * s.slots) as usize];
            match s.mode {
                0 => out.copy_from_slice(&scratch[..tw as usize]),
                1 => {
                    for p in 0..s.period {
                        out[p as usize] = (0..tw / s.period)
                            .map(|k| scratch[(k * s.period + p) as usize])
                            .sum();
                    }
                }
                _ => {
                    let tile_end = (tile_col0 + tw).min(s.row_len);
                    for k in 0..s.slots {
                        let run = tile_col0 / s.inner + k;
                        let (begin, end) = (
                            (run * s.inner).max(tile_col0),
                            ((run + 1) * s.inner).min(tile_end),
                        );
                        out[k as usize] = (begin..end.max(begin))
                            .map(|c| scratch[(c - tile_col0) as usize])
                            .sum();
                    }
                }
            }
        }
        let copies = s.row_len / s.period;
        let mut expected = vec![0.0; s.channels as usize];
        for e in 0..s.len {
            let c = if weight_len == 1 {
                0
            } else {
                (e / layout.inner() as u64) % layout.channels() as u64
            };
            expected[c as usize] += value(e);
        }
        for c in 0..s.channels {
            let mut total = 0.0;
            for t in 0..s.terms_per_channel() {
                total += match s.mode {
                    0 => {
                        let (j, rest) = (t % s.inner, t / s.inner);
                        let (copy, chunk) = (rest % copies, rest / copies);
                        let col = copy * s.period + c * s.inner + j;
                        partial[((chunk * s.tiles + col / tw) * tw + col % tw) as usize]
                    }
                    1 => partial[((t / s.inner) * s.period + c * s.inner + t % s.inner) as usize],
                    _ => {
                        let span = s.inner / tw + 2;
                        let (k, rest) = (t % span, t / span);
                        let (copy, chunk) = (rest % copies, rest / copies);
                        let start = copy * s.period + c * s.inner;
                        let tile = start / tw + k;
                        if tile * tw >= start + s.inner || tile >= s.tiles {
                            0.0
                        } else {
                            let slot = copy * s.channels + c - (tile * tw) / s.inner;
                            assert!(slot < s.slots, "{s:?}");
                            partial[((chunk * s.tiles + tile) * s.slots + slot) as usize]
                        }
                    }
                };
            }
            let expected = expected[c as usize];
            assert_eq!(
                total, expected,
                "channel {c} of {layout:?}, weight {weight_len}, {elem_bytes}-byte elements: {s:?}"
            );
        }
    }

    #[test]
    fn the_reduction_sums_every_element_once() {
        for elem_bytes in [2, 4, 8] {
            for (outer, channels, inner) in LAYOUTS {
                let layout = ChannelLayout::new(outer, channels, inner);
                if layout.len().unwrap() > 1 << 19 {
                    continue;
                }
                reduction_is_complete(layout, channels, elem_bytes);
                reduction_is_complete(layout, 1, elem_bytes);
            }
        }
    }

    #[test]
    fn elementwise_grids_are_bounded() {
        assert_eq!(elementwise_blocks(0, 4, 132), 1);
        assert_eq!(elementwise_blocks(1000, 4, 132), 1);
        assert_eq!(elementwise_blocks(1 << 28, 4, 132), 132 * 32);
        assert_eq!(elementwise_blocks(1 << 14, 2, 132), 2);
    }
}
