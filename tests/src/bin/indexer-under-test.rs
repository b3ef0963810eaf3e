//! The `indexer` program, built inside this crate so the end-to-end tests always run the current
//! code (`CARGO_BIN_EXE_indexer-under-test`). It is the same entrypoint as `indexer`.

fn main() -> std::process::ExitCode {
    indexer_core::cli::main()
}
