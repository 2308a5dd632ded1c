//! Aggregation, reject and sample stations on real ptys through the real daemon.
//!
//! A case packer's scanner reads a case label and then its units (`parent_first`, closed by the
//! count or by a close code), a camera sees a whole open case in one frame, and a palletiser
//! reads cases first and the pallet's SSCC last (`children_first`). Each closed group becomes
//! one `aggregate` message: its reply comes when the group is committed, and `linegate serial
//! show` must then list the children under the parent. A unit read at the reject bin is
//! destroyed — unless it is still packed, which is refused and answered NAK — and one read at
//! the QA station is sampled.
//!
//! The line's HMI sees its stations on the retained state topic: a station that goes down and
//! comes back is shown down (with why) and up again, from the daemon's one health registry.

use anyhow::{Result, ensure};

use crate::mqtt_world::wait_state;
use crate::serial::{World, world};
use crate::support::ledger::{CASE_GTIN, case_code, sscc_code};
use crate::support::pty::{ACK, NAK, Pty, Scanner};
use crate::support::{Gateway, LINE, MqttClient, TOPIC_PREFIX, code, commission};

/// Sends `frame` and requires that no reply comes before the next frame's (a group is open).
async fn quiet(s: &Scanner, frame: &str) -> Result<()> {
    s.pty.send(format!("{frame}\r").as_bytes()).await
}

async fn expect_reply(s: &Scanner, frame: &str, want: u8) -> Result<()> {
    let got = s.read(format!("{frame}\r").as_bytes()).await?;
    ensure!(got == want, "{}: reply {got:#04x} to {frame}", s.id);
    Ok(())
}

async fn children_of(w: &World, parent: &str) -> Result<Vec<String>> {
    let mut c = w.gw.serial(parent).await?.children;
    c.sort();
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_reject_and_sample_stations_pack_destroy_and_sample() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let dir = gw.dir.path().to_path_buf();
    let packer = Scanner::plugged(&dir, "packer")?;
    let palletiser = Scanner::plugged(&dir, "palletiser")?;
    let bin = Scanner::plugged(&dir, "bin")?;
    let qa = Scanner::plugged(&dir, "qa")?;
    let w = world(
        gw,
        &[
            (
                &packer,
                "station = \"aggregate\"\norder = \"parent_first\"\nchildren_per_parent = 2\nclose_code = \"CLOSE\"\nmulti_code_separator = \",\"",
            ),
            (
                &palletiser,
                "station = \"aggregate\"\norder = \"children_first\"\nparents = \"sscc\"",
            ),
            (&bin, "station = \"reject\"\nreject_action = \"destroy\""),
            (&qa, "station = \"sample\""),
        ],
        &[CASE_GTIN],
    )
    .await?;
    let t = &w.tag;
    let units: Vec<String> = (0..7).map(|n| code(&format!("U{t}{n}"))).collect();
    let cases: Vec<String> = (0..3).map(|n| case_code(&format!("C{t}{n}"))).collect();
    let pallet = sscc_code(4242);
    let all = [&units[..], &cases[..], std::slice::from_ref(&pallet)].concat();
    w.line
        .send(commission("commission", &w.batch, &all))
        .await?;
    w.line.sync().await?;

    // parent_first, closed by the count: case 0 gets units 0 and 1; one reply for the group.
    quiet(&packer, &cases[0]).await?;
    quiet(&packer, &units[0]).await?;
    expect_reply(&packer, &units[1], ACK).await?;
    ensure!(children_of(&w, &cases[0]).await? == units[..2], "case 0");
    // Closed by the close code after one unit.
    quiet(&packer, &cases[1]).await?;
    quiet(&packer, &units[2]).await?;
    expect_reply(&packer, "CLOSE", ACK).await?;
    ensure!(children_of(&w, &cases[1]).await? == units[2..3], "case 1");
    // A camera frame over an open case: the whole group in one read.
    let frame = format!("{},{},{}", units[3], cases[2], units[4]);
    expect_reply(&packer, &frame, ACK).await?;
    ensure!(children_of(&w, &cases[2]).await? == units[3..5], "case 2");
    // A unit with no case label before it is refused.
    expect_reply(&packer, &units[5], NAK).await?;

    // children_first: the cases, then the pallet's SSCC closes the group.
    quiet(&palletiser, &cases[0]).await?;
    quiet(&palletiser, &cases[1]).await?;
    expect_reply(&palletiser, &pallet, ACK).await?;
    let mut on_pallet = cases[..2].to_vec();
    on_pallet.sort();
    ensure!(children_of(&w, &pallet).await? == on_pallet, "pallet");

    // The reject bin destroys a loose unit and refuses a packed one; QA samples.
    expect_reply(&bin, &units[5], ACK).await?;
    w.expect_state(&units[5], "destroyed").await?;
    expect_reply(&bin, &units[0], NAK).await?;
    w.expect_state(&units[0], "commissioned").await?;
    expect_reply(&qa, &units[6], ACK).await?;
    w.expect_state(&units[6], "sampled").await?;

    let codes: Vec<(String, String)> =
        w.gw.quarantine()
            .await?
            .into_iter()
            .filter(|q| q.topic.starts_with("scanner/"))
            .map(|q| (q.topic, q.code))
            .collect();
    let expected = [
        ("scanner/packer", "missing_field"),
        ("scanner/bin", "packed"),
    ];
    ensure!(
        codes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .eq(expected),
        "quarantine {codes:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_state_shows_a_station_going_down_and_coming_back() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let mut scanner = Scanner::plugged(gw.dir.path(), "hmi-seen")?;
    let w = world(gw, &[(&scanner, "station = \"commission\"")], &[]).await?;
    let hmi = MqttClient::connect(w.gw.broker.port(), "hmi", true).await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    let station = |s: &serde_json::Value| s["stations"][0].clone();
    let first = code(&format!("HMI{}", w.tag));
    ensure!(scanner.read(format!("{first}\r").as_bytes()).await? == ACK);
    let up = wait_state(&hmi, "the station up with its read committed", |s| {
        station(s)["up"] == true
            && station(s)["reads"] == 1
            && s["batches"][0]["commissioned"] == 1
            && s["healthy"] == true
    })
    .await?;
    let st = station(&up);
    ensure!(
        st["id"] == "hmi-seen"
            && st["kind"] == "commission"
            && st["device"] == scanner.link.path.display().to_string()
            && st["error"].is_null()
            && st["idle"] == false
            && st["last_read"].is_string(),
        "station: {st}"
    );

    // Unplugged, and its by-id link gone with it (as udev does): shown down, with why.
    std::fs::remove_file(&scanner.link.path)?;
    drop(std::mem::replace(&mut scanner.pty, Pty::open()?));
    let down = wait_state(&hmi, "the station down", |s| {
        station(s)["up"] == false && s["healthy"] == false
    })
    .await?;
    let st = station(&down);
    ensure!(
        st["error"].as_str().is_some_and(|e| !e.is_empty()) && st["since"] != station(&up)["since"],
        "station: {st}"
    );
    ensure!(
        down["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["part"] == "scanner:hmi-seen")),
        "problems: {}",
        down["problems"]
    );

    // Plugged back in: up again, healthy, and the outage was logged once.
    scanner.link.plug(&scanner.pty)?;
    wait_state(&hmi, "the station up again", |s| {
        station(s)["up"] == true && station(s)["error"].is_null() && s["healthy"] == true
    })
    .await?;
    let log = w.daemon.log();
    ensure!(
        log.matches("scanner port lost").count() == 1,
        "the outage is not logged exactly once"
    );
    Ok(())
}
