//! `osbs-registry-sync`: copy and sync container images between registries. The command line
//! lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    osbs_registry_sync::cli::main()
}
