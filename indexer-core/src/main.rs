//! `indexer`: the ECS task's entrypoint and the local CLI. All logic lives in the library.

fn main() -> std::process::ExitCode {
    indexer_core::cli::main()
}
