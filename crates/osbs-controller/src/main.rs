//! `osbs-controller`: a thin shell over [`osbs_controller::main`].

fn main() -> std::process::ExitCode {
    osbs_controller::main()
}
