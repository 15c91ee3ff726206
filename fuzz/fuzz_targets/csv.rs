//! The program's CSV reader on arbitrary text: it returns a data set that keeps its
//! promises (every row as wide, finite features, classes 0..k all present) or an error
//! naming the source; never a panic, never an allocation beyond the input's size.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relukit_cli::data::{MAX_CLASSES, parse_csv, stratified_split};

fuzz_target!(|text: &str| {
    match parse_csv(text, "fuzz.csv") {
        Err(message) => assert!(message.starts_with("fuzz.csv"), "{message}"),
        Ok(data) => {
            let rows = data.labels.len();
            assert_eq!(data.features.nrows(), rows);
            assert!(data.features.iter().all(|v| v.is_finite()));
            assert!((2..=MAX_CLASSES).contains(&data.classes));
            let mut present = vec![false; data.classes];
            for &label in &data.labels {
                present[label] = true;
            }
            assert!(present.iter().all(|&p| p), "a class has no rows");
            if let Ok(split) = stratified_split(&data, 0.2, 0) {
                assert_eq!(split.train.labels.len() + split.test.labels.len(), rows);
                for class in 0..data.classes {
                    assert!(split.test.labels.contains(&class), "class {class}: no test row");
                    assert!(split.train.labels.contains(&class), "class {class}: no training row");
                }
            }
        }
    }
});
