//! `relukit`: see dying ReLU happen, on real data, in a minute. See `relukit --help`.

fn main() -> std::process::ExitCode {
    relukit_cli::run(std::env::args_os())
}
