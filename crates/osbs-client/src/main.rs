//! The `osbs` binary: a thin shell over [`osbs_client::app::main`].

/// mimalloc: the read commands decode thousands of builds, and glibc's malloc spent a third
/// of `list-builds` over 10,000 builds in allocating and freeing them (`cargo xtask bench cli`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    osbs_client::app::main()
}
