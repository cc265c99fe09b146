//! The `osbs` binary: a thin shell over [`osbs_client::app::main`].

fn main() -> std::process::ExitCode {
    osbs_client::app::main()
}
