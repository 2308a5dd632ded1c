//! `linegate code`, run as the real binary the way a plant engineer commissioning a scanner
//! would: raw scanner bytes (GS separators included) piped in on standard input, one code per
//! line, answered with exactly one JSON object per line and a failing exit status when any code
//! is bad.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::daemon::BIN;

fn example_config() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml").to_string()
}

/// Runs `linegate code --json` with `lines` on stdin; returns the exit success and the objects.
fn run_stdin(lines: &[&[u8]]) -> Result<(bool, Vec<Value>)> {
    let mut child = Command::new(BIN)
        .args(["code", "--json", "--config", &example_config()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning linegate code")?;
    {
        let mut stdin = child.stdin.take().context("stdin")?;
        for l in lines {
            stdin.write_all(l)?;
            stdin.write_all(b"\r\n")?;
        }
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8(out.stdout)?;
    let objects = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()
        .with_context(|| format!("stdout is not JSON lines:\n{text}"))?;
    Ok((out.status.success(), objects))
}

#[test]
fn scanner_bytes_on_stdin_give_one_json_object_per_line() -> Result<()> {
    let datamatrix: &[u8] = b"]d2010036141456789417280630" as &[u8];
    let dm = [datamatrix, b"10LOT42\x1d21ABC/123"].concat();
    let lines: Vec<&[u8]> = vec![
        &dm,
        b"(00)003614145000000013",
        b"(01)00361414567895(21)X",
        b"(414)0361414000001(254)DOCK7",
        b"https://id.example.com/01/00361414567894/21/A%2FB?17=280630",
    ];
    let (success, objs) = run_stdin(&lines)?;
    ensure!(
        objs.len() == lines.len(),
        "one object per input line: {objs:#?}"
    );
    ensure!(!success, "a bad code must make the exit status fail");

    let ok = |i: usize| objs[i]["ok"].as_bool();
    ensure!(ok(0) == Some(true), "{}", objs[0]);
    ensure!(
        objs[0]["epc"] == "urn:epc:id:sgtin:0361414.056789.ABC%2F123",
        "{}",
        objs[0]
    );
    for (ai, value) in [
        ("01", "00361414567894"),
        ("17", "280630"),
        ("10", "LOT42"),
        ("21", "ABC/123"),
    ] {
        ensure!(objs[0]["elements"][ai] == value, "({ai}) in {}", objs[0]);
    }
    ensure!(
        objs[1]["epc"] == "urn:epc:id:sscc:0361414.0500000001",
        "{}",
        objs[1]
    );
    ensure!(
        ok(2) == Some(false) && objs[2].get("epc").is_none(),
        "{}",
        objs[2]
    );
    let err = objs[2]["error"].as_str().unwrap_or_default();
    ensure!(
        err.contains('4') && err.to_lowercase().contains("check digit"),
        "error should name the check digit: {err}"
    );
    ensure!(
        objs[3]["epc"] == "urn:epc:id:sgln:0361414.00000.DOCK7",
        "{}",
        objs[3]
    );
    ensure!(
        objs[4]["epc"] == "urn:epc:id:sgtin:0361414.056789.A%2FB",
        "{}",
        objs[4]
    );
    ensure!(objs[4]["elements"]["17"] == "280630", "{}", objs[4]);
    Ok(())
}

#[test]
fn codes_as_arguments_print_a_readable_table() -> Result<()> {
    let out = Command::new(BIN)
        .args([
            "code",
            "--config",
            &example_config(),
            "(01)00361414567894(21)ABC123(17)280600(10)L1",
        ])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    ensure!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "(01)",
        "00361414567894",
        "(17)",
        "280600",
        "urn:epc:id:sgtin:0361414.056789.ABC123",
    ] {
        ensure!(text.contains(needle), "missing {needle} in\n{text}");
    }
    Ok(())
}
