//! The `osbs-reactor-pod` binary, by the name the controller's build Pod runs it under: without
//! its environment it says what is missing and exits 2 (the host cannot start).

use std::process::Command;

#[test]
fn without_its_environment_the_pod_binary_names_the_variable_and_exits_2() -> anyhow::Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_osbs-reactor-pod"))
        .env_remove("OSBS_NAMESPACE")
        .env_remove("OSBS_BUILD_NAME")
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr)?,
        "osbs-reactor-pod: error: $OSBS_NAMESPACE is not set\n"
    );
    Ok(())
}
