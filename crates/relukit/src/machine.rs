//! The machine relukit runs on, read once: the CPU's vendor and cache sizes (CPUID leaf 4
//! on Intel, 0x8000001D on AMD, else the operating system), and the size thresholds
//! derived from them.
//!
//! The rules, from measurements on an Intel Xeon (Emerald Rapids, 2 MiB L2 per core,
//! 300 MiB L3) and an AMD EPYC (Zen 4; its VM reports 2 MiB L2 and 32 MiB L3)
//! (BENCHMARKS.md):
//!
//! | decision | Intel | AMD and others |
//! |---|---|---|
//! | non-temporal stores, from an output of | the L2 size | the L3 size |
//! | threads, from an input of | the L2 size | 2 x the L2 size |
//! | non-temporal store | 512-bit (with AVX-512), 4 pages interleaved | 256-bit pairs, one page at a time |
//!
//! On Intel's server parts the L3 is a victim cache shared over a mesh: one core streams
//! from it at about DRAM speed, so past its L2 a call gains from non-temporal stores and
//! a second core. On AMD one core reads its CCX's L3 quickly, so non-temporal stores pay
//! off only past it; the AMD values reproduce the constants measured there in the first
//! wave (32 MiB, 1M `f32`). glibc's large `memcpy` writes four pages at a time;
//! relukit's streamed outputs do the same on Intel, where it measured faster than one
//! stream (AMD keeps the one-stream path measured there).
//!
//! Environment variables override the derived values, for experiments:
//! `RELUKIT_STREAM_MIN_BYTES`, `RELUKIT_PARALLEL_MIN_BYTES` and `RELUKIT_STREAM_PAGES`.
//!
//! ```
//! let machine = relukit::machine::Machine::get();
//! println!("{machine}");
//! assert!(machine.stream_min_bytes() > 0 && machine.parallel_min_bytes() > 0);
//! ```

use std::fmt;
use std::sync::OnceLock;

/// Who made the CPU (it decides how the caches behave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// GenuineIntel.
    Intel,
    /// AuthenticAMD (and HygonGenuine, its licensee).
    Amd,
    /// Anything else.
    Other,
}

/// The caches of the CPU relukit runs on, and the thresholds relukit derives from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    vendor: Vendor,
    l1d: usize,
    l2: usize,
    l3: usize,
    source: &'static str,
    stream_min_bytes: usize,
    parallel_min_bytes: usize,
    stream_pages: usize,
}

/// A cache level as CPUID leaf 4 (or 0x8000001D) describes it.
#[derive(Debug, Clone, Copy)]
struct Cache {
    level: u32,
    data: bool,
    bytes: usize,
}

/// What to assume where nothing can be read: a common desktop part.
const DEFAULT_L1D: usize = 32 << 10;
const DEFAULT_L2: usize = 1 << 20;
const DEFAULT_L3: usize = 32 << 20;

impl Machine {
    /// The machine, detected on first use.
    pub fn get() -> &'static Machine {
        static MACHINE: OnceLock<Machine> = OnceLock::new();
        MACHINE.get_or_init(|| Machine::from_caches(vendor(), caches()))
    }

    fn from_caches(vendor: Vendor, found: Option<(Vec<Cache>, &'static str)>) -> Machine {
        let (caches, source) = found.unwrap_or_default();
        let size = |level: u32, default: usize| {
            caches
                .iter()
                .filter(|c| c.level == level && (level > 1 || c.data))
                .map(|c| c.bytes)
                .max()
                .unwrap_or(default)
        };
        let (l1d, l2, l3) = (
            size(1, DEFAULT_L1D),
            size(2, DEFAULT_L2),
            size(3, DEFAULT_L3),
        );
        let (stream_min_bytes, parallel_min_bytes, stream_pages) = match vendor {
            Vendor::Intel => (l2, l2, 4),
            Vendor::Amd | Vendor::Other => (l3.max(l2), 2 * l2, 1),
        };
        Machine {
            vendor,
            l1d,
            l2,
            l3,
            source: if source.is_empty() {
                "defaults"
            } else {
                source
            },
            stream_min_bytes: override_from("RELUKIT_STREAM_MIN_BYTES").unwrap_or(stream_min_bytes),
            parallel_min_bytes: override_from("RELUKIT_PARALLEL_MIN_BYTES")
                .unwrap_or(parallel_min_bytes)
                .max(1),
            stream_pages: override_from("RELUKIT_STREAM_PAGES")
                .unwrap_or(stream_pages)
                .clamp(1, 16),
        }
    }

    /// The CPU's vendor.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The level-1 data cache of one core, in bytes.
    pub fn l1d_bytes(&self) -> usize {
        self.l1d
    }

    /// The level-2 cache of one core, in bytes.
    pub fn l2_bytes(&self) -> usize {
        self.l2
    }

    /// The level-3 cache (one instance, shared by several cores), in bytes.
    pub fn l3_bytes(&self) -> usize {
        self.l3
    }

    /// Out-of-place outputs of at least this many bytes are written with non-temporal
    /// stores (unless their pages were never touched: then ordinary stores are faster).
    pub fn stream_min_bytes(&self) -> usize {
        self.stream_min_bytes
    }

    /// Calls whose output has at least this many bytes run on the caller's rayon pool.
    pub fn parallel_min_bytes(&self) -> usize {
        self.parallel_min_bytes
    }

    /// How many 4 KiB pages a streamed output writes at a time.
    pub fn stream_pages(&self) -> usize {
        self.stream_pages
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: usize| {
            if b >= 1 << 20 {
                format!("{} MiB", b >> 20)
            } else {
                format!("{} KiB", b >> 10)
            }
        };
        write!(
            f,
            "{:?} CPU, L1d {}, L2 {}, L3 {} (from {}); non-temporal stores from {} of output ({} page{} at a time), threads from {}",
            self.vendor,
            mib(self.l1d),
            mib(self.l2),
            mib(self.l3),
            self.source,
            mib(self.stream_min_bytes),
            self.stream_pages,
            if self.stream_pages == 1 { "" } else { "s" },
            mib(self.parallel_min_bytes)
        )
    }
}

/// A size from an environment variable (bytes, optionally with KiB/MiB/GiB).
fn override_from(name: &str) -> Option<usize> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    number.parse::<usize>().ok()?.checked_mul(factor)
}

#[cfg(target_arch = "x86_64")]
fn vendor() -> Vendor {
    let r = std::arch::x86_64::__cpuid(0);
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&r.ebx.to_le_bytes());
    id[4..8].copy_from_slice(&r.edx.to_le_bytes());
    id[8..].copy_from_slice(&r.ecx.to_le_bytes());
    match &id {
        b"GenuineIntel" => Vendor::Intel,
        b"AuthenticAMD" | b"HygonGenuine" => Vendor::Amd,
        _ => Vendor::Other,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn vendor() -> Vendor {
    Vendor::Other
}

/// The caches from CPUID, else from the operating system.
fn caches() -> Option<(Vec<Cache>, &'static str)> {
    cpuid_caches()
        .map(|c| (c, "CPUID"))
        .or_else(|| sysfs_caches().map(|c| (c, "/sys")))
}

/// CPUID leaf 4 (Intel) or 0x8000001D (AMD): one subleaf per cache, in the same format.
#[cfg(target_arch = "x86_64")]
fn cpuid_caches() -> Option<Vec<Cache>> {
    use std::arch::x86_64::__cpuid_count;
    // Leaves 0 and 0x80000000 give the highest leaves; the cache leaf is read only
    // where it exists.
    let max = __cpuid_count(0, 0).eax;
    let max_extended = __cpuid_count(0x8000_0000, 0).eax;
    let leaf = match vendor() {
        Vendor::Amd if max_extended >= 0x8000_001d => 0x8000_001d,
        _ if max >= 4 => 4,
        _ => return None,
    };
    let mut caches = Vec::new();
    for subleaf in 0..16 {
        // Unused subleaves report type 0.
        let r = __cpuid_count(leaf, subleaf);
        let kind = r.eax & 0x1f;
        if kind == 0 {
            break;
        }
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        caches.push(Cache {
            level: (r.eax >> 5) & 7,
            data: kind != 2,
            bytes: ways * partitions * line * sets,
        });
    }
    (!caches.is_empty()).then_some(caches)
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_caches() -> Option<Vec<Cache>> {
    None
}

/// Linux's `/sys/devices/system/cpu/cpu0/cache/index*`.
fn sysfs_caches() -> Option<Vec<Cache>> {
    let mut caches = Vec::new();
    for index in 0..16 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            break;
        };
        caches.push(Cache {
            level: level.trim().parse().ok()?,
            data: kind.trim() != "Instruction",
            bytes: override_size(size.trim())?,
        });
    }
    (!caches.is_empty()).then_some(caches)
}

/// A sysfs size such as `2048K`.
fn override_size(text: &str) -> Option<usize> {
    let (number, factor) = match text.strip_suffix('K') {
        Some(n) => (n, 1 << 10),
        None => match text.strip_suffix('M') {
            Some(n) => (n, 1 << 20),
            None => (text, 1),
        },
    };
    number.parse::<usize>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_vendor_rules() {
        let caches = vec![
            Cache {
                level: 1,
                data: true,
                bytes: 48 << 10,
            },
            Cache {
                level: 1,
                data: false,
                bytes: 32 << 10,
            },
            Cache {
                level: 2,
                data: true,
                bytes: 2 << 20,
            },
            Cache {
                level: 3,
                data: true,
                bytes: 300 << 20,
            },
        ];
        let intel = Machine::from_caches(Vendor::Intel, Some((caches.clone(), "test")));
        assert_eq!(
            (intel.l1d_bytes(), intel.l2_bytes(), intel.l3_bytes()),
            (48 << 10, 2 << 20, 300 << 20)
        );
        if std::env::var_os("RELUKIT_STREAM_MIN_BYTES").is_none() {
            assert_eq!(intel.stream_min_bytes(), 2 << 20);
        }
        let amd = Machine::from_caches(Vendor::Amd, Some((caches, "test")));
        if std::env::var_os("RELUKIT_PARALLEL_MIN_BYTES").is_none() {
            assert_eq!(amd.parallel_min_bytes(), 4 << 20);
        }
        let unknown = Machine::from_caches(Vendor::Other, None);
        assert_eq!(unknown.l2_bytes(), DEFAULT_L2);
        assert!(unknown.to_string().contains("defaults"), "{unknown}");
        assert_eq!(override_size("2048K"), Some(2 << 20));
        let machine = Machine::get();
        assert!(
            machine.l2_bytes() >= 64 << 10 && machine.stream_pages() >= 1,
            "{machine}"
        );
    }
}
