//! The `mayfly` server binary.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, file) = match mayfly_net::args::parse_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(if msg.starts_with("mayfly ") { 0 } else { 1 });
        }
    };
    if let Err(e) = mayfly_net::server::run(config, file) {
        eprintln!("mayfly: {e}");
        std::process::exit(1);
    }
}
