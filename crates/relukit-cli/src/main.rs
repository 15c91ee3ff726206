//! `relukit`: see dying ReLU happen, on real data, in a minute.
//!
//! `relukit` (or `relukit study`) trains small networks on the 8x8 digits with ReLU,
//! Leaky ReLU and PReLU under three conditions and reports how many units die;
//! `relukit born-dead` reproduces Lu et al.'s born-dead probabilities; `relukit plot`
//! draws the functions; `relukit bench` measures the kernels.

mod bench;
mod born_dead;
mod charts;
mod data;
mod mlp;
mod plot;
mod report;
mod rng;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::born_dead::Init;
use crate::mlp::{Activation, OptimizerKind};
use crate::study::{Condition, StudyConfig};

#[derive(Parser, Debug)]
#[command(
    name = "relukit",
    version,
    about = "See dying ReLU happen: train, count dead units, compare ReLU, Leaky ReLU and PReLU",
    long_about = "relukit trains small networks on real data (the 8x8 handwritten digits, built in) with \
ReLU, Leaky ReLU and PReLU and shows, in tables and charts, units dying: a ReLU unit whose \
pre-activation is <= 0 for every input outputs 0 and gets no gradient, so it cannot recover. \
Run without arguments for the full study (about a minute on two cores); see `relukit help study`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The dying-ReLU study (the default): every activation x condition x seed.
    #[command(
        long_about = "Trains an MLP 64 -> 128 -> 128 -> 128 -> 10 on the digits (80/20 stratified split, \
features standardised with training statistics) with each activation under three conditions: \
control (Adam, learning rate 1e-3), high_lr (Adam, 0.05) and negative_bias (hidden biases start at -3). \
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
    /// Plots ReLU, Leaky ReLU and PReLU and their derivatives (PNG and SVG).
    Plot(OutArgs),
    /// Measures the kernels against a copy of the same bytes, on one thread and on all.
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
struct StudyArgs {
    /// Activations to compare.
    #[arg(long, value_delimiter = ',', default_values = ["relu", "leaky-relu", "prelu"])]
    activations: Vec<Activation>,
    /// Conditions to train under.
    #[arg(long, value_delimiter = ',', default_values = ["control", "high-lr", "negative-bias"])]
    conditions: Vec<Condition>,
    /// Seeds per (activation, condition): different initial weights and batch orders.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
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
    /// Another data set: a CSV of rows `feature,...,feature,label` (labels 0..k), optionally .gz.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed of the train/test split.
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Threads for the runs (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Report folder.
    #[arg(long, default_value = "relukit-report")]
    out: PathBuf,
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
    #[arg(long, value_delimiter = ',', default_values = ["he-zero-bias", "he-normal-bias", "rai"])]
    inits: Vec<Init>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "relukit-report")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct OutArgs {
    /// Output folder.
    #[arg(long, default_value = "relukit-report")]
    out: PathBuf,
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
    /// Output folder.
    #[arg(long, default_value = "relukit-report")]
    out: PathBuf,
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
    let size = number * factor;
    if size < 4096 {
        Err(format!("{text} is below the smallest size, 4KiB"))
    } else {
        Ok(size)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => study(StudyArgs::default()),
        Some(Command::Study(args)) => study(args),
        Some(Command::BornDead(args)) => born_dead(args),
        Some(Command::Plot(args)) => report::check_writable(&args.out)
            .and_then(|_| plot::plot(&args.out))
            .map(|paths| {
                for p in paths {
                    println!("wrote {}", p.display());
                }
            }),
        Some(Command::Bench(args)) => bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn study(args: StudyArgs) -> Result<(), String> {
    if args.epochs == 0 || args.seeds == 0 || args.batch_size == 0 {
        return Err("--epochs, --seeds and --batch-size must be at least 1".into());
    }
    if args.hidden.is_empty() || args.hidden.contains(&0) {
        return Err("--hidden needs at least one layer, each at least 1 unit wide".into());
    }
    if !(args.lr > 0.0 && args.lr.is_finite() && args.high_lr > 0.0 && args.high_lr.is_finite()) {
        return Err("--lr and --high-lr must be positive and finite".into());
    }
    let (data, source) = match &args.data {
        Some(path) => (data::load_csv(path)?, path.display().to_string()),
        None => (
            data::digits()?,
            "the 8x8 handwritten digits (UCI, via scikit-learn; 1,797 samples)".to_string(),
        ),
    };
    report::check_writable(&args.out)?;
    let split = data::stratified_split(&data, 0.2, args.split_seed);
    let config = StudyConfig {
        activations: args.activations,
        conditions: args.conditions,
        seeds: args.seeds,
        epochs: args.epochs,
        hidden: args.hidden,
        lr: args.lr,
        high_lr: args.high_lr,
        negative_bias: args.negative_bias,
        batch_size: args.batch_size,
        optimizer: args.optimizer,
        out: args.out,
    };
    let runs = config.activations.len() * config.conditions.len() * config.seeds as usize;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "relukit study: {runs} runs ({} activations x {} conditions x {} seeds), {} epochs, {} train / {} test samples, {threads} threads",
        config.activations.len(),
        config.conditions.len(),
        config.seeds,
        config.epochs,
        split.train.labels.len(),
        split.test.labels.len()
    );
    let bar = indicatif::ProgressBar::new((runs * config.epochs) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} epochs, {elapsed} elapsed, ~{eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let results = pool.install(|| study::run_study(&config, &split, &|| bar.inc(1)));
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let table = report::write_report(&config, &source, &results, seconds)?;
    println!("{table}");
    println!(
        "Trained {runs} runs in {seconds:.1} s. Report: {}",
        config.out.join("report.md").display()
    );
    Ok(())
}

fn born_dead(args: BornDeadArgs) -> Result<(), String> {
    if args.trials == 0
        || args.widths.contains(&0)
        || args.depths.contains(&0)
        || args.widths.is_empty()
        || args.depths.is_empty()
    {
        return Err("--trials, every width and every depth must be at least 1".into());
    }
    report::check_writable(&args.out)?;
    let start = Instant::now();
    let cells = born_dead::estimate(
        &args.inits,
        &args.widths,
        &args.depths,
        args.trials,
        args.seed,
    );
    let table = born_dead::table(&cells, &args.depths);
    let mut csv = String::from("init,width,depth,trials,dead,probability,standard_error\n");
    for c in &cells {
        csv += &format!(
            "{},{},{},{},{},{},{}\n",
            c.init.name(),
            c.width,
            c.depth,
            c.trials,
            c.dead,
            c.probability,
            c.standard_error
        );
    }
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("born_dead.csv", &csv)?;
    write(
        "born_dead.md",
        &format!(
            "# Born-dead probability (trials per cell: {})\n\n{table}",
            args.trials
        ),
    )?;
    let panels: Vec<charts::Panel> = args
        .inits
        .iter()
        .map(|&init| charts::Panel {
            title: init.name().to_string(),
            series: args
                .widths
                .iter()
                .enumerate()
                .map(|(i, &w)| charts::Series {
                    label: format!("width {w}"),
                    color: charts::PALETTE[i % charts::PALETTE.len()],
                    points: cells
                        .iter()
                        .filter(|c| c.init == init && c.width == w)
                        .map(|c| (c.depth as f64, c.probability))
                        .collect(),
                    band: cells
                        .iter()
                        .filter(|c| c.init == init && c.width == w)
                        .map(|c| {
                            (
                                c.depth as f64,
                                (c.probability - 2.0 * c.standard_error).max(0.0),
                                (c.probability + 2.0 * c.standard_error).min(1.0),
                            )
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let max_depth = args.depths.iter().copied().max().unwrap_or(1) as f64;
    let axes = charts::Axes {
        x_label: "depth (hidden layers)".into(),
        y_label: "P(born dead)".into(),
        x_range: (0.0, max_depth),
        y_range: (0.0, 1.05),
    };
    charts::line_figure(
        &args.out.join("born_dead.png"),
        "Probability that a ReLU network is born dead (band: ±2 standard errors)",
        (1, panels.len()),
        &axes,
        &panels,
    )?;
    println!("{table}");
    println!(
        "{} networks in {:.1} s. Files: born_dead.md, born_dead.csv, born_dead.png in {}",
        cells.len() * args.trials,
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        return Err("--seconds must be positive".into());
    }
    report::check_writable(&args.out)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "relukit {} kernels, instruction set {}",
        env!("CARGO_PKG_VERSION"),
        relukit::active_isa()
    );
    let rows = bench::run(
        args.max_size,
        threads,
        Duration::from_secs_f64(args.seconds),
        |row| {
            eprintln!(
                "  measured {} on {} thread(s) at {} bytes",
                row.operation, row.threads, row.bytes
            )
        },
    )?;
    print!("{}", bench::table(&rows));
    bench::write(&rows, &args.out)?;
    println!("Files: bench.csv, bench.png in {}", args.out.display());
    Ok(())
}
