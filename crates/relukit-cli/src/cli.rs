//! The command line: arguments (clap), their checks, and dispatch to the subcommands.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::born_dead::{self, Init};
use crate::mlp::{Activation, OptimizerKind};
use crate::staging::Staging;

/// Puts a finished report in place, saying what a `--force` run discarded.
fn commit(staging: Staging) -> Result<std::path::PathBuf, String> {
    let out = staging.target().to_path_buf();
    let discarded = staging.commit()?;
    if !discarded.is_empty() {
        eprintln!(
            "relukit: --force discarded from {}: {}",
            out.display(),
            discarded.join(", ")
        );
    }
    Ok(out)
}
use crate::study::{Condition, StudyConfig};
use crate::{bench, charts, data, limits, plasticity, plasticity_report, plot, report, study};

#[derive(Parser, Debug)]
#[command(
    name = "relukit",
    version,
    about = "See dying ReLU happen: train, count dead units, compare ReLU, Leaky ReLU and PReLU",
    long_about = "relukit trains small networks on real data (the 8x8 handwritten digits, built in) with \
ReLU, Leaky ReLU and PReLU and shows, in tables and charts, units dying: a ReLU unit whose \
pre-activation is <= 0 for every input outputs 0 and gets no gradient, so it cannot recover. \
`relukit plasticity` shows the modern face of the problem: loss of plasticity in continual learning. \
Run without arguments for the full study (its time on two machines: BENCHMARKS.md, \"The programs\"); see `relukit help study`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The dying-ReLU study (the default): every activation x condition x seed.
    #[command(
        long_about = "Trains an MLP 64 -> 128 -> 128 -> 128 -> 10 on the 8x8 digits (with --data mnist: \
784 -> 128 -> 128 -> 128 -> 10 on 5,000 MNIST images; 80/20 stratified split, \
features standardised with training statistics) with each activation (by default ReLU, Leaky ReLU and PReLU; also very leaky ReLU and RReLU) under each \
condition: by default control (Adam, learning rate 1e-3), high_lr (Adam, 0.05), negative_bias (hidden \
biases start at -3) and high_lr_batch_norm (0.05 with batch normalisation before every hidden activation); \
also high_lr_warmup (a linear warm-up to 0.05) and high_lr_rai (0.05 from Lu et al.'s RAI initialisation). \
After every epoch it passes the whole training set through the network and counts, per hidden layer, \
the dead units (never active on any training sample), the units that came back, and the share of zeros \
in a minibatch (sparsity, which is not death). Writes report.md, PNG charts, results.json and CSV files."
    )]
    Study(StudyArgs),
    /// Probability that a deep, narrow ReLU network is born dead (Lu et al. 2020).
    #[command(
        long_about = "Monte Carlo reproduction of Lu, Shin, Su and Karniadakis, \"Dying ReLU and \
Initialization: Theory and Numerical Examples\" (Commun. Comput. Phys. 28, 2020; arXiv:1903.06733). \
A network with one input on [-sqrt 3, sqrt 3], `depth` hidden ReLU layers of `width` units and a linear output \
is born dead when it is a constant function right after initialisation: we draw many networks, evaluate \
each on a grid of inputs, and count those whose last hidden layer gives the same output everywhere. \
Initialisations: He-normal weights with zero biases, with He-normal biases, and the paper's randomized \
asymmetric initialisation (RAI). The paper proves that the probability goes to 1 as depth grows, faster \
for narrow networks, and that RAI lowers it."
    )]
    BornDead(BornDeadArgs),
    /// Loss of plasticity in continual learning: Permuted MNIST, task after task (Dohare et al. 2024).
    #[command(
        long_about = "Trains one MLP 784 -> width -> width -> width -> 10 (He-uniform weights, zero biases) on task \
after task of Permuted MNIST, scaled down to the 5,000 built-in MNIST images (4,000 training, 1,000 test; each task a \
fixed random permutation of the pixels, task 1 the identity), without any reset between tasks, as Dohare et al., \
\"Loss of plasticity in deep continual learning\" (Nature 632, 2024) do with 60,000 images and 800 tasks. After each \
task it measures, on that task's test images, the new-task accuracy (plasticity) and per hidden layer the inactive, \
tau-dormant (Sokar et al. 2023) and low-firing fractions, the effective rank of the features and the mean absolute \
weight. Conditions: sgd, adam, adam-l2 (weight decay), adam-leaky, adam-prelu, adam-layer-norm, adam-redo (ReDo: \
dormant units re-drawn every --redo-every steps) and adam-cbp (continual backprop: a small share of mature \
low-utility units replaced every step). Writes report.md (first tasks against last, with 95% intervals), figures \
(SVG and PNG), results.json and tasks.csv."
    )]
    Plasticity(PlasticityArgs),
    /// Plots ReLU, Leaky ReLU and PReLU and their derivatives (PNG and SVG).
    Plot(OutArgs),
    /// Measures the kernels against a copy of the same bytes, on one thread and on all.
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
struct StudyArgs {
    /// Activations to compare.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_values = ["relu", "leaky-relu", "prelu"])]
    activations: Vec<Activation>,
    /// Conditions to train under.
    /// (Two of the fixes, `high-lr-warmup` and `high-lr-rai`, are not in the default set,
    /// so that the default run stays under a minute on two cores.)
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1..,
        default_values = ["control", "high-lr", "negative-bias", "high-lr-batch-norm"]
    )]
    conditions: Vec<Condition>,
    /// Seeds per (activation, condition): different initial weights and batch orders.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The first seed: seeds run from here (`--seed-offset 5 --seeds 5` adds seeds 5..9
    /// to a default run's 0..4, for comparison or to extend it).
    #[arg(long, default_value_t = 0)]
    seed_offset: u64,
    /// Training epochs.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Hidden layer widths.
    #[arg(long, value_delimiter = ',', default_values_t = [128, 128, 128])]
    hidden: Vec<usize>,
    /// Learning rate of the control and negative_bias conditions.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Learning rate of the high_lr condition.
    #[arg(long, default_value_t = 0.05)]
    high_lr: f64,
    /// Initial hidden bias of the negative_bias condition.
    #[arg(long, default_value_t = -3.0, allow_negative_numbers = true)]
    negative_bias: f32,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// Minibatch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// The data: `digits` (the 8x8 digits, built in), `mnist` (5,000 28x28 MNIST images,
    /// built in), or a CSV file of rows `feature,...,feature,label` (labels 0..k),
    /// optionally .gz (a file named `digits` or `mnist`: give its path, `./mnist`).
    #[arg(long, default_value = "digits")]
    data: data::Source,
    /// Seed of the train/test split.
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Threads for the runs (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Report folder (replaced whole when the run finishes; an interrupted run leaves the previous one).
    #[arg(long, default_value = "relukit-report")]
    out: PathBuf,
    /// Replace --out even if it holds files relukit did not write (discarded, and listed)
    /// or another command's report; without it, an earlier report of this command is
    /// replaced only when the folder holds nothing but its files.
    #[arg(long)]
    force: bool,
    /// No progress bar or progress lines on stderr (results and errors still print).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    charts: ChartArgs,
}

impl Default for StudyArgs {
    fn default() -> Self {
        match Cli::parse_from(["relukit", "study"]).command {
            Some(Command::Study(args)) => args,
            _ => unreachable!("`relukit study` parses to the study command"),
        }
    }
}

#[derive(Args, Debug)]
struct PlasticityArgs {
    /// Conditions to compare (comma or space separated).
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1..,
        default_values = ["sgd", "adam", "adam-l2", "adam-leaky", "adam-prelu", "adam-layer-norm", "adam-redo", "adam-cbp"]
    )]
    conditions: Vec<plasticity::Condition>,
    /// Seeds per condition: different initial weights, permutations and batch orders.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed_offset: u64,
    /// Tasks, one after the other.
    #[arg(long, default_value_t = 60)]
    tasks: usize,
    /// Units in each of the three hidden layers.
    #[arg(long, default_value_t = 100)]
    width: usize,
    /// Epochs (passes over the 4,000 training images) per task.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Adam's learning rate (every adam-* condition).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// SGD's learning rate (momentum 0.9).
    #[arg(long, default_value_t = 0.01)]
    sgd_lr: f64,
    /// adam-l2's weight decay (L2, as PyTorch's Adam `weight_decay`).
    #[arg(long, default_value_t = 1e-3)]
    weight_decay: f64,
    /// ReDo's period in steps; it fires half a period in (mid-task when the period is a task's
    /// steps), then every period.
    #[arg(long, default_value_t = 250)]
    redo_every: usize,
    /// ReDo's tau: units with a score <= tau are re-drawn, in (0, 1].
    #[arg(long, default_value_t = 0.1)]
    redo_tau: f64,
    /// Continual backprop's replacement rate: the share of mature units replaced per step, in (0, 1].
    #[arg(long, default_value_t = 1e-3)]
    cbp_rate: f64,
    /// Continual backprop's maturity: steps before a unit may be replaced.
    #[arg(long, default_value_t = 100)]
    cbp_maturity: u64,
    /// Also measure the accuracy on the first task after every task (forgetting).
    #[arg(long)]
    forgetting: bool,
    /// The data: `mnist` (built in), or a CSV of 784 pixel columns and a label column.
    #[arg(long, default_value = "mnist")]
    data: data::Source,
    /// Seed of the train/test split.
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Threads for the runs (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Report folder (replaced whole when the run finishes).
    #[arg(long, default_value = "relukit-plasticity")]
    out: PathBuf,
    /// Replace --out even if it holds files relukit did not write (discarded, and listed)
    /// or another command's report.
    #[arg(long)]
    force: bool,
    /// No progress bar on stderr (results and errors still print).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    charts: ChartArgs,
}

#[derive(Args, Debug)]
struct BornDeadArgs {
    /// Widths (units per hidden layer).
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 4, 5, 10])]
    widths: Vec<usize>,
    /// Depths (number of hidden layers).
    #[arg(long, value_delimiter = ',', default_values_t = [5, 10, 20, 50])]
    depths: Vec<usize>,
    /// Networks drawn per cell.
    #[arg(long, default_value_t = 2000)]
    trials: usize,
    /// Initialisations.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_values = ["he-zero-bias", "he-normal-bias", "rai"])]
    inits: Vec<Init>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (replaced whole when the run finishes).
    #[arg(long, default_value = "relukit-born-dead")]
    out: PathBuf,
    /// Replace --out even if it holds files relukit did not write (discarded, and listed)
    /// or another command's report; without it, an earlier report of this command is
    /// replaced only when the folder holds nothing but its files.
    #[arg(long)]
    force: bool,
    /// No progress bar or progress lines on stderr (results and errors still print).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    charts: ChartArgs,
}

/// How charts are written.
#[derive(Args, Debug, Clone, Copy)]
struct ChartArgs {
    /// Resolution of the PNG charts in dots per inch (96: one pixel per layout pixel;
    /// 300 for print). SVG charts, written beside them, are resolution-free.
    #[arg(long, default_value_t = charts::DEFAULT_DPI, value_parser = clap::value_parser!(u32).range(24..=1200))]
    dpi: u32,
}

#[derive(Args, Debug)]
struct OutArgs {
    /// Output folder (replaced whole when the run finishes).
    #[arg(long, default_value = "relukit-plot")]
    out: PathBuf,
    /// Replace --out even if it holds files relukit did not write (discarded, and listed)
    /// or another command's report; without it, an earlier report of this command is
    /// replaced only when the folder holds nothing but its files.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    charts: ChartArgs,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Largest input size, e.g. 256MiB, 16MiB, 64KiB.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    max_size: usize,
    /// Threads of the multi-threaded run (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds spent on each measurement.
    #[arg(long, default_value_t = 0.2)]
    seconds: f64,
    /// Output folder (replaced whole when the run finishes).
    #[arg(long, default_value = "relukit-bench")]
    out: PathBuf,
    /// Replace --out even if it holds files relukit did not write (discarded, and listed)
    /// or another command's report; without it, an earlier report of this command is
    /// replaced only when the folder holds nothing but its files.
    #[arg(long)]
    force: bool,
    /// No progress bar or progress lines on stderr (results and errors still print).
    #[arg(long)]
    quiet: bool,
    /// Where the kernels run: `cpu`, or `cuda` (GPU 0, relukit-cuda's kernels against a
    /// device-to-device copy, at 2^10, 2^20 and 2^28 elements up to --max-size of f32).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    #[command(flatten)]
    charts: ChartArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Cpu,
    Cuda,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 64KiB or 16MiB"))?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("unknown unit {unit:?} (use KiB, MiB or GiB)")),
    };
    let size = number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text} is larger than this machine can address"))?;
    if size < 4096 {
        Err(format!("{text} is below the smallest size, 4KiB"))
    } else {
        Ok(size)
    }
}

/// Runs the program with `args` (the first is the program's name) and returns its exit
/// code: 0 on success, 1 on an error (printed to stderr), 2 for bad arguments.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    ExitCode::from(exit_status(args))
}

/// [`run`], with the exit code as a number.
fn exit_status<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return error.exit_code().clamp(0, 255) as u8;
        }
    };
    let result = match cli.command {
        None => study(StudyArgs::default()),
        Some(Command::Study(args)) => study(args),
        Some(Command::BornDead(args)) => born_dead(args),
        Some(Command::Plasticity(args)) => plasticity(args),
        Some(Command::Plot(args)) => plot(args),
        Some(Command::Bench(args)) => bench(args),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

/// `--seeds` and `--seed-offset`: at least one seed, and the last one representable.
fn check_seeds(seeds: u64, offset: u64) -> Result<(), String> {
    limits::check_count("--seeds", seeds, limits::MAX_SEEDS)?;
    if offset.checked_add(seeds).is_none() {
        return Err(format!(
            "--seed-offset {offset} + --seeds {seeds} is beyond the last seed ({})",
            u64::MAX
        ));
    }
    Ok(())
}

/// The data of `--data` and the fixed 80/20 stratified split of `--split-seed`.
fn load_and_split(
    source: &data::Source,
    split_seed: u64,
) -> Result<(data::Loaded, data::Split), String> {
    let loaded = source.load()?;
    let split = data::stratified_split(&loaded.data, data::TEST_FRACTION, split_seed)
        .map_err(|e| format!("{}: {e}", loaded.description))?;
    Ok((loaded, split))
}

/// The runs' threads.
fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| format!("cannot start {threads} threads: {e}"))
}

/// A progress bar of `len` `unit` on stderr (hidden with `--quiet`).
fn progress_bar(quiet: bool, len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}, {{elapsed}} elapsed, ~{{eta}} left"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn study(args: StudyArgs) -> Result<(), String> {
    check_seeds(args.seeds, args.seed_offset)?;
    limits::check_count("--epochs", args.epochs, limits::MAX_EPOCHS)?;
    limits::check_count("--batch-size", args.batch_size, limits::MAX_BATCH)?;
    if args.hidden.is_empty() || args.hidden.contains(&0) || args.hidden.len() > limits::MAX_DEPTH {
        return Err(format!(
            "--hidden needs 1 to {} layers, each at least 1 unit wide",
            limits::MAX_DEPTH
        ));
    }
    limits::check_finite("--lr", args.lr, true)?;
    limits::check_finite("--high-lr", args.high_lr, true)?;
    limits::check_finite("--negative-bias", args.negative_bias as f64, false)?;
    let threads = limits::threads(args.threads)?;
    let (data, split) = load_and_split(&args.data, args.split_seed)?;
    let config = StudyConfig {
        activations: args.activations,
        conditions: args.conditions,
        seeds: args.seeds,
        seed_offset: args.seed_offset,
        epochs: args.epochs,
        hidden: args.hidden,
        lr: args.lr,
        high_lr: args.high_lr,
        negative_bias: args.negative_bias,
        batch_size: args.batch_size,
        optimizer: args.optimizer,
    };
    let runs = config.activations.len() * config.conditions.len() * config.seeds as usize;
    limits::check_memory(
        &format!("training {} runs at once", threads.min(runs)),
        study::memory_needed(&config, &split, threads.min(runs)),
    )?;
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "study", args.force)?;
    let pool = thread_pool(threads)?;
    if !args.quiet {
        eprintln!(
            "relukit study: {runs} runs ({} activations x {} conditions x {} seeds), {} epochs, {} train / {} test samples, {threads} threads",
            config.activations.len(),
            config.conditions.len(),
            config.seeds,
            config.epochs,
            split.train.labels.len(),
            split.test.labels.len()
        );
    }
    let epochs = (runs as u64).saturating_mul(config.epochs as u64);
    let bar = progress_bar(args.quiet, epochs, "epochs");
    let start = Instant::now();
    let results = pool.install(|| study::run_study(&config, &split, &|| bar.inc(1)));
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let provenance = report::Provenance::of_run(data, args.split_seed, &split, threads);
    let table = report::write_report(&config, staging.path(), &provenance, &results, seconds)?;
    let out = commit(staging)?;
    println!("{table}");
    println!(
        "Trained {runs} runs in {seconds:.1} s. Report: {}",
        out.join("report.md").display()
    );
    Ok(())
}

fn plasticity(args: PlasticityArgs) -> Result<(), String> {
    check_seeds(args.seeds, args.seed_offset)?;
    limits::check_count("--tasks", args.tasks, limits::MAX_EPOCHS)?;
    limits::check_count("--epochs", args.epochs, limits::MAX_EPOCHS)?;
    limits::check_count("--batch-size", args.batch_size, limits::MAX_BATCH)?;
    limits::check_count("--width", args.width, limits::MAX_WIDTH)?;
    limits::check_count("--redo-every", args.redo_every, usize::MAX)?;
    limits::check_finite("--lr", args.lr, true)?;
    limits::check_finite("--sgd-lr", args.sgd_lr, true)?;
    limits::check_finite("--weight-decay", args.weight_decay, false)?;
    if args.weight_decay < 0.0 {
        return Err(format!(
            "--weight-decay must be >= 0, got {}",
            args.weight_decay
        ));
    }
    for (flag, value) in [("--redo-tau", args.redo_tau), ("--cbp-rate", args.cbp_rate)] {
        if !(value > 0.0 && value <= 1.0) {
            return Err(format!("{flag} must be in (0, 1], got {value}"));
        }
    }
    let threads = limits::threads(args.threads)?;
    let (data, split) = load_and_split(&args.data, args.split_seed)?;
    if data.data.features.ncols() != 784 {
        return Err(format!(
            "{}: Permuted MNIST needs 784 pixel columns (28x28 images), found {}",
            data.description,
            data.data.features.ncols()
        ));
    }
    let config = plasticity::PlasticityConfig {
        conditions: args.conditions,
        seeds: args.seeds,
        seed_offset: args.seed_offset,
        tasks: args.tasks,
        width: args.width,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        sgd_lr: args.sgd_lr,
        weight_decay: args.weight_decay,
        redo_every: args.redo_every,
        redo_tau: args.redo_tau,
        cbp_rate: args.cbp_rate,
        cbp_maturity: args.cbp_maturity,
        forgetting: args.forgetting,
    };
    let runs = config.conditions.len() * config.seeds as usize;
    limits::check_memory(
        &format!("training {} runs at once", threads.min(runs)),
        plasticity::memory_needed(&config, &split, threads.min(runs)),
    )?;
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "plasticity", args.force)?;
    let pool = thread_pool(threads)?;
    if !args.quiet {
        eprintln!(
            "relukit plasticity: {runs} runs ({} conditions x {} seeds), {} tasks of {} epoch(s), {} train / {} test images, {threads} threads",
            config.conditions.len(),
            config.seeds,
            config.tasks,
            config.epochs,
            split.train.labels.len(),
            split.test.labels.len()
        );
    }
    let tasks = (runs as u64).saturating_mul(config.tasks as u64);
    let bar = progress_bar(args.quiet, tasks, "tasks");
    let start = Instant::now();
    let results = pool.install(|| plasticity::run_all(&config, &split, &|| bar.inc(1)));
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let provenance = report::Provenance::of_run(data, args.split_seed, &split, threads);
    let table =
        plasticity_report::write_report(&config, staging.path(), &provenance, &results, seconds)?;
    let out = commit(staging)?;
    println!("{table}");
    println!(
        "Trained {runs} runs in {seconds:.1} s. Report: {}",
        out.join("report.md").display()
    );
    Ok(())
}

fn born_dead(args: BornDeadArgs) -> Result<(), String> {
    limits::check_count("--trials", args.trials, limits::MAX_TRIALS)?;
    if args.widths.is_empty() || args.widths.contains(&0) {
        return Err("--widths needs at least one width, each at least 1".into());
    }
    if args.depths.is_empty() || args.depths.iter().any(|&d| d == 0 || d > limits::MAX_DEPTH) {
        return Err(format!(
            "--depths needs at least one depth, each between 1 and {}",
            limits::MAX_DEPTH
        ));
    }
    let threads = limits::threads(None)?;
    let widest = args.widths.iter().copied().max().unwrap_or(1);
    limits::check_memory(
        &format!("--widths up to {widest}"),
        born_dead::memory_needed(widest, threads),
    )?;
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "born-dead", args.force)?;
    let start = Instant::now();
    let cells = born_dead::estimate(
        &args.inits,
        &args.widths,
        &args.depths,
        args.trials,
        args.seed,
    );
    let table = born_dead::table(&cells, &args.depths);
    report::write_born_dead(staging.path(), &cells, &args.depths, &table)?;
    let out = commit(staging)?;
    println!("{table}");
    println!(
        "{} networks in {:.1} s. Files: born_dead.md, born_dead.csv, born_dead.png in {}",
        cells.len() * args.trials,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn plot(args: OutArgs) -> Result<(), String> {
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "plot", args.force)?;
    let files = plot::plot(staging.path())?;
    let out = commit(staging)?;
    for file in files {
        println!("wrote {}", out.join(file).display());
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), String> {
    limits::check_finite("--seconds", args.seconds, true)?;
    if args.seconds > limits::MAX_SECONDS {
        return Err(format!(
            "--seconds must be at most {}, got {}",
            limits::MAX_SECONDS,
            args.seconds
        ));
    }
    if args.device == Device::Cuda {
        return bench_cuda(&args);
    }
    let threads = limits::threads(args.threads)?;
    limits::check_memory(
        &format!("--max-size {}", args.max_size),
        bench::memory_needed(args.max_size),
    )?;
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "bench", args.force)?;
    if let Some(bytes) = bench::memory_needed(args.max_size).filter(|&b| b > 1 << 30) {
        eprintln!(
            "note: --max-size {} uses about {:.1} GiB of memory",
            args.max_size,
            bytes as f64 / f64::from(1u32 << 30)
        );
    }
    println!(
        "relukit {} kernels, instruction set {}",
        env!("CARGO_PKG_VERSION"),
        relukit::active_isa()
    );
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    let rows = bench::run(
        args.max_size,
        threads,
        Duration::from_secs_f64(args.seconds),
        |row| {
            bar.set_message(format!(
                "measured {} on {} thread(s) at {} bytes",
                row.operation, row.threads, row.bytes
            ));
            bar.tick();
        },
    )?;
    bar.finish_and_clear();
    print!("{}", bench::table(&rows));
    bench::write(&rows, staging.path())?;
    let out = commit(staging)?;
    println!("Files: bench.csv, bench.png in {}", out.display());
    Ok(())
}

/// `relukit bench --device cuda`: the GPU table, printed and written as bench-cuda.md.
fn bench_cuda(args: &BenchArgs) -> Result<(), String> {
    let sizes: Vec<usize> = [10, 20, 28]
        .into_iter()
        .map(|log2| 1usize << log2)
        .filter(|&elements| elements * 4 <= args.max_size.max(4096))
        .collect();
    charts::set_dpi(args.charts.dpi);
    let staging = Staging::new(&args.out, "bench", args.force)?;
    let (gpu, rows) = crate::bench_cuda::run(0, &sizes).map_err(|e| e.to_string())?;
    let text = format!(
        "relukit {} on {gpu}\n\n{}",
        env!("CARGO_PKG_VERSION"),
        crate::bench_cuda::table(&rows)
    );
    print!("{text}");
    std::fs::write(staging.path().join("bench-cuda.md"), &text)
        .map_err(|e| format!("cannot write bench-cuda.md: {e}"))?;
    let out = commit(staging)?;
    println!("File: bench-cuda.md in {}", out.display());
    Ok(())
}
