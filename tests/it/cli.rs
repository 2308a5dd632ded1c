//! The operator-facing command line, run as the real binary.
//!
//! Operators meet linegate first through `validate` and `--help`: the shipped
//! annotated example config must validate, a broken config must be answered
//! with every problem at once (each with its key path) rather than one per
//! attempt, and the help screens must work. The harness's own config is
//! validated too, so a contract drift shows up here rather than as a puzzling
//! daemon startup failure in the scenario tests.

use std::path::Path;

use anyhow::{Result, ensure};

use crate::support::{cli, config_toml, daemon::BIN};

fn describe(out: &crate::support::daemon::CliOutput) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status, out.stdout, out.stderr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_example_config_validates() -> Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/linegate.toml");
    ensure!(example.is_file(), "{} is missing", example.display());
    let out = cli(&["validate", "--config", example.to_str().unwrap()]).await?;
    ensure!(
        out.status.success(),
        "example config rejected:\n{}",
        describe(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_config_validates() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let path = dir.path().join("linegate.toml");
    let text = config_toml(
        &data,
        "mqtt://127.0.0.1:1883",
        "http://127.0.0.1:8080/epcis",
    );
    std::fs::write(&path, text)?;
    let out = cli(&["validate", "--config", path.to_str().unwrap()]).await?;
    ensure!(
        out.status.success(),
        "test harness config rejected:\n{}",
        describe(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_reports_every_problem_with_its_key_path() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let good = config_toml(
        &data,
        "mqtt://127.0.0.1:1883",
        "http://127.0.0.1:8080/epcis",
    );
    // Three independent problems in three sections.
    let broken = good
        .replacen(
            "shutdown_timeout_secs = 10\n",
            "shutdown_timeout_secs = 10\ncolour = \"blue\"\n",
            1,
        )
        .replacen(
            "url = \"mqtt://127.0.0.1:1883\"",
            "url = \"mqtt//127.0.0.1 port 1883\"",
            1,
        )
        .replacen(
            "receiver_gln = \"0614141000005\"",
            "receiver_gln = \"0614141000006\"",
            1,
        );
    for (needle, why) in [
        ("colour = ", "unknown key"),
        ("mqtt//127.0.0.1 port", "bad URL"),
        ("0614141000006", "bad GLN check digit"),
    ] {
        ensure!(
            broken.contains(needle),
            "fixture edit for {why} did not apply"
        );
    }
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, &broken)?;

    let out = cli(&["validate", "--config", path.to_str().unwrap()]).await?;
    ensure!(
        !out.status.success(),
        "broken config accepted:\n{}",
        describe(&out)
    );
    let text = out.all_text();
    let missing: Vec<&str> = ["gateway.colour", "mqtt.url", "upstream[0].receiver_gln"]
        .into_iter()
        .filter(|key| !text.contains(key))
        .collect();
    ensure!(
        missing.is_empty(),
        "key paths {missing:?} not reported:\n{}",
        describe(&out)
    );
    eprintln!("validate output for the broken config:\n{}", text.trim());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_file_is_an_error_not_a_crash() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("does-not-exist.toml");
    let out = cli(&["validate", "--config", path.to_str().unwrap()]).await?;
    ensure!(
        !out.status.success(),
        "validate of a missing file succeeded:\n{}",
        describe(&out)
    );
    // A panic exits with 101 and prints "panicked at"; an error does neither.
    ensure!(
        out.status.code() != Some(101),
        "validate panicked:\n{}",
        describe(&out)
    );
    ensure!(
        !out.stderr.contains("panicked at"),
        "validate panicked:\n{}",
        describe(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_screens_work() -> Result<()> {
    let top = cli(&["--help"]).await?;
    ensure!(top.status.success(), "{BIN} --help:\n{}", describe(&top));
    for sub in ["run", "validate", "outbox", "quarantine"] {
        ensure!(
            top.stdout.contains(sub),
            "--help does not mention `{sub}`:\n{}",
            top.stdout
        );
    }
    let run = cli(&["run", "--help"]).await?;
    ensure!(
        run.status.success(),
        "{BIN} run --help:\n{}",
        describe(&run)
    );
    ensure!(
        run.stdout.contains("--config"),
        "run --help lacks --config:\n{}",
        run.stdout
    );
    Ok(())
}
