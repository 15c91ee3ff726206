//! `relukit`: see dying ReLU happen, on real data, in a minute. See `relukit --help`.

fn main() -> std::process::ExitCode {
    // Like the usual Unix tools, end quietly when the reader of our output goes away
    // (`relukit bench | head -3`) instead of panicking on the failed write.
    #[cfg(target_os = "linux")]
    // SAFETY: called first thing in main, before any thread exists; restoring the default
    // disposition of SIGPIPE has no other effect on this program.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    relukit_cli::run(std::env::args_os())
}
