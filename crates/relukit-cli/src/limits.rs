//! What the program refuses before it starts work: counts beyond sane limits and
//! allocations beyond the memory the machine has, each with the limit in the message.

/// Most seeds per cell of a study.
pub const MAX_SEEDS: u64 = 10_000;
/// Most epochs of a study.
pub const MAX_EPOCHS: usize = 100_000;
/// Largest minibatch.
pub const MAX_BATCH: usize = 1 << 24;
/// Widest hidden layer of the plasticity study.
pub const MAX_WIDTH: usize = 1 << 16;
/// Most hidden layers, and most layers of a born-dead network.
pub const MAX_DEPTH: usize = 10_000;
/// Most networks per born-dead cell.
pub const MAX_TRIALS: usize = 100_000_000;
/// Most seconds per bench measurement.
pub const MAX_SECONDS: f64 = 60.0;

/// The memory the machine can give a new process now (Linux: `MemAvailable`), or
/// `None` where it cannot be read (then no memory check is made).
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` in words: `"3.2 GiB"`.
pub fn size_in_words(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Refuses a plan that needs more memory than the machine has available. `needed` is
/// `None` when its computation overflowed (it is then certainly too much).
pub fn check_memory(what: &str, needed: Option<u128>) -> Result<(), String> {
    let available = available_memory();
    match (needed, available) {
        (None, _) => Err(format!(
            "{what} needs more memory than can be counted; no machine has that much"
        )),
        (Some(bytes), Some(available)) if bytes > available as u128 => Err(format!(
            "{what} needs about {}, but this machine has {} available",
            size_in_words(bytes),
            size_in_words(available as u128)
        )),
        _ => Ok(()),
    }
}

/// Checks that a count is between 1 and `max`.
pub fn check_count<T: PartialOrd + std::fmt::Display + From<u8>>(
    flag: &str,
    value: T,
    max: T,
) -> Result<(), String> {
    if value < T::from(1) || value > max {
        Err(format!("{flag} must be between 1 and {max}, got {value}"))
    } else {
        Ok(())
    }
}

/// Checks that a number given on the command line is finite (and, if `positive`, > 0).
pub fn check_finite(flag: &str, value: f64, positive: bool) -> Result<(), String> {
    if !value.is_finite() {
        Err(format!("{flag} must be a finite number, got {value}"))
    } else if positive && value <= 0.0 {
        Err(format!("{flag} must be positive, got {value}"))
    } else {
        Ok(())
    }
}

/// The thread count of a `--threads` flag (default: every core), checked against
/// relukit's limit of 8 per core.
pub fn threads(flag: Option<usize>) -> Result<usize, String> {
    let threads =
        flag.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    relukit::threads::check_threads(threads).map_err(|e| format!("--threads: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_checks_name_the_need_and_the_limit() {
        assert!(check_memory("a tiny plan", Some(1)).is_ok());
        let err = check_memory("--hidden 100000000", Some(u128::MAX / 2)).unwrap_err();
        if available_memory().is_some() {
            assert!(
                err.contains("needs about") && err.contains("available"),
                "{err}"
            );
        }
        assert!(check_memory("x", None).unwrap_err().contains("more memory"));
        assert_eq!(size_in_words(3 << 30), "3.0 GiB");
        assert_eq!(size_in_words(17), "17 bytes");
    }

    #[test]
    fn counts_and_numbers_are_checked() {
        assert!(check_count("--seeds", 0u64, MAX_SEEDS).is_err());
        assert!(
            check_count("--seeds", u64::MAX, MAX_SEEDS)
                .unwrap_err()
                .contains("between 1 and 10000")
        );
        assert!(check_count("--seeds", 5u64, MAX_SEEDS).is_ok());
        assert!(check_finite("--negative-bias", f64::NAN, false).is_err());
        assert!(check_finite("--lr", -1.0, true).is_err());
        assert!(check_finite("--negative-bias", -3.0, false).is_ok());
        assert!(threads(Some(0)).is_err());
        assert!(threads(Some(100_000)).unwrap_err().contains("per core"));
        assert!(threads(None).is_ok());
    }
}
