//! The audit trail with the real daemon: units commissioned over MQTT and a supervisor's
//! `linegate batch close --reason …` land in one hash chain that `linegate audit verify` finds
//! intact; `audit export` of the window has the supervisor's row with the OS user and the
//! reason; and when one row is edited in the SQLite file behind the daemon's back (its trigger
//! dropped first, as an attacker would), `audit verify` exits non-zero naming that row.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::ledger::{LineSession, expect_success};
use crate::support::{Gateway, batch_open, code, commission, run_tag, serials};

/// The OS user the command line names (as `linegate` reads it).
fn os_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_row_edited_behind_the_daemon_s_back() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "audit").await?;
    let tag = run_tag();
    let batch = format!("AU{tag}");
    let codes: Vec<String> = serials(&tag, 3).iter().map(|s| code(s)).collect();
    let from = chrono::Utc::now() - chrono::Duration::minutes(1);

    line.send(batch_open("au-open", &batch)).await?;
    line.send(commission("au-c1", &batch, &codes)).await?;
    // Committed, and nothing refused.
    line.sync().await?;

    let reason = "end of shift, 2 cases short";
    let out = gw
        .supervisor(&["batch", "close", &batch, "--reason", reason])
        .await?;
    expect_success(&out, "batch close with a reason")?;
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);

    // Untouched: intact, and the head is printed so it can be recorded.
    let out = gw.supervisor(&["audit", "verify"]).await?;
    expect_success(&out, "verify of an untouched trail")?;
    ensure!(
        out.stdout.contains("chain intact") && out.stdout.contains("head"),
        "{}",
        out.all_text()
    );

    // The window's export has the supervisor's close: who, what, old → new, why.
    let window = [
        "audit",
        "export",
        "--from",
        &from.to_rfc3339(),
        "--to",
        &to.to_rfc3339(),
    ];
    let mut json_args = window.to_vec();
    json_args.extend(["--format", "json"]);
    let out = gw.supervisor(&json_args).await?;
    expect_success(&out, "export as JSON")?;
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).context("the export is JSON")?;
    let actor = format!("cli-{}", os_user());
    let subject = format!("batch:{batch}");
    let close = rows
        .iter()
        .find(|r| r["action"] == "batch_close")
        .with_context(|| format!("no batch_close row in {rows:#?}"))?;
    ensure!(
        close["actor"] == actor.as_str()
            && close["subject"] == subject.as_str()
            && close["reason"] == reason
            && close["old_value"] == "running"
            && close["new_value"] == "closed",
        "{close:#}"
    );
    let serial_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"] == "serial_state")
        .collect();
    // The one commission message is one row naming each of its units, from MQTT.
    ensure!(
        serial_rows.len() == 1
            && serial_rows.iter().all(|r| r["new_value"] == "commissioned"
                && r["old_value"].is_null()
                && r["subject"]
                    .as_str()
                    .is_some_and(|s| s.split(' ').count() == codes.len())
                && r["actor"].as_str().is_some_and(|a| a.starts_with("mqtt:"))),
        "one row for the commissioned units, from MQTT: {serial_rows:#?}"
    );
    let out = gw.supervisor(&window).await?;
    expect_success(&out, "export as CSV")?;
    ensure!(
        out.stdout.starts_with("seq,at,actor,action,subject,")
            && out.stdout.contains(&format!(
                "{actor},batch_close,{subject},running,closed,\"{reason}\","
            )),
        "the CSV has the close with its quoted reason:\n{}",
        out.stdout
    );

    // Behind the daemon's back: drop the trigger, change one unit's recorded new state.
    let target = (serial_rows.first())
        .and_then(|r| r["seq"].as_i64())
        .context("the serial_state row's seq")?;
    let db = gw.dir.path().join("data").join("linegate.db");
    {
        let conn = rusqlite::Connection::open(&db)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch("DROP TRIGGER audit_no_update")?;
        let n = conn.execute(
            "UPDATE audit SET new_value = 'destroyed' WHERE seq = ?1",
            [target],
        )?;
        ensure!(n == 1, "row {target} edited");
    }
    let out = gw.supervisor(&["audit", "verify"]).await?;
    ensure!(
        out.status.code() == Some(2),
        "a tampered trail exits 2: {}\n{}",
        out.status,
        out.all_text()
    );
    ensure!(
        out.stderr
            .contains(&format!("row {target} was changed after it was written")),
        "the edited row is named: {}",
        out.all_text()
    );
    ensure!(
        out.stderr.contains("triggers"),
        "the dropped trigger is noticed: {}",
        out.all_text()
    );
    let out = gw.supervisor(&["audit", "verify", "--json"]).await?;
    let report: Value = serde_json::from_str(&out.stdout).context("verify --json")?;
    ensure!(
        report["intact"] == false
            && report["broken"]["seq"] == target
            && report["broken"]["kind"] == "changed",
        "{report:#}"
    );
    Ok(())
}
