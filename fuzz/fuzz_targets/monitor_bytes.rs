//! `DeadUnitMonitor::from_bytes` on arbitrary bytes: a monitor that writes the same
//! bytes back, or an `InvalidData` error; never a panic or a huge allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relukit::{DeadUnitMonitor, ErrorKind};

fuzz_target!(|data: &[u8]| {
    match DeadUnitMonitor::from_bytes(data) {
        Ok(monitor) => {
            assert_eq!(monitor.to_bytes(), data);
            let rates = monitor.activation_rate();
            assert!(rates.iter().all(|r| (0.0..=1.0).contains(r)));
        }
        Err(error) => assert_eq!(error.kind(), ErrorKind::InvalidData),
    }
});
