//! `mayfly-bench` binary: a thin shell over [`mayfly_bench::cli`].

fn main() {
    std::process::exit(mayfly_bench::cli::main());
}
