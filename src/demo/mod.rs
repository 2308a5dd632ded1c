//! `linegate demo`: the main job end to end on one machine, with nothing to install or configure.
//!
//! Demo-level glue (like `app`, it wires and spawns; `anyhow` is allowed here). In a fresh
//! `./linegate-demo/` it starts a loopback upstream receiver (`upstream`), writes a configuration
//! built from the embedded defaults (`demo.toml`: embedded MQTT broker on a free loopback port,
//! that receiver as the partner), runs the real gateway in-process with `app::run_until` — which
//! starts the embedded broker — and waits until it is subscribed. Then line L1 plays one batch
//! with the simulator (`simulate`: 10,000 units, 100 per case, 20 cases per pallet, rejects,
//! samples and three faulty messages) over MQTT, the demo waits for the End-of-Batch document to
//! arrive upstream and be recorded as delivered, stops the gateway cleanly, and `report` shows
//! what happened. Serial scanner stations are not part of the demo yet (see `simulate`).

mod report;
mod upstream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{Months, Utc};
use clap::Args;
use tokio::sync::oneshot;

use crate::config::{self, Config};
use crate::simulate::{self, LineSpec, Summary, mqtt};
use crate::store::ReadOnlyStore;

/// The configuration template; `@…@` placeholders are filled in by `config_text`.
const CONFIG_TEMPLATE: &str = include_str!("demo.toml");
/// Marks a directory the demo made, so it only ever wipes its own.
const MARKER: &str = ".linegate-demo";
/// How long the batch may take from batch_close to the document being delivered.
const DOCUMENT_DEADLINE: Duration = Duration::from_secs(180);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory, wiped and recreated (only if an earlier demo made it)
    #[arg(long, value_name = "DIR", default_value = "linegate-demo")]
    pub dir: PathBuf,
    /// Saleable units in the batch
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub units: u32,
    /// Random seed of the simulated line
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

pub const EXAMPLES: &str = "Builds its own configuration (written to linegate-demo/linegate.toml, so the other commands\n\
can look at the result afterwards); needs no broker, no root and no network.\n\n\
Examples:\n  \
linegate demo\n  \
linegate demo --units 1000 --dir /tmp/linegate-demo\n  \
linegate batch show DEMO-0001 --config linegate-demo/linegate.toml";

pub fn command(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let all_good = runtime.block_on(run(args))?;
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run(args: DemoArgs) -> anyhow::Result<bool> {
    let dir = prepare(&args.dir)?;
    let mut receiver = upstream::Receiver::start(&dir.join("upstream"))
        .await
        .context("starting the demo's upstream receiver")?;
    let mqtt_port = free_port()?;
    let text = config_text(&dir, mqtt_port, &receiver.url());
    let config_path = dir.join("linegate.toml");
    std::fs::write(&config_path, &text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let config = config::parse(&text).map_err(|e| anyhow!("the demo configuration: {e:?}"))?;
    println!("linegate demo: the main job end to end, on embedded defaults");
    println!("  working dir  {}", shown(&args.dir));
    println!("  config       {}", shown(&args.dir.join("linegate.toml")));
    println!("  MQTT broker  embedded (rumqttd) on 127.0.0.1:{mqtt_port}");
    println!(
        "  upstream     {} -> {}",
        receiver.url(),
        shown(&args.dir.join("upstream"))
    );

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (serving_tx, serving_rx) = oneshot::channel();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let mut gateway = tokio::spawn(crate::app::run_until(config.clone(), stop, serving_tx));
    tokio::select! {
        r = serving_rx => r.context("the gateway stopped before it was serving")?,
        r = &mut gateway => bail!("the gateway stopped before it was serving: {:?}", r?.err()),
    }
    println!(
        "  gateway      serving (store in {})\n",
        shown(&args.dir.join("data"))
    );

    let spec = line_spec(&args, &config)?;
    let plan = simulate::generate(&spec)?;
    println!(
        "Line {} plays batch {}: {} units, {} per case, {} cases per pallet, ~{:.1} % rejects, {} QA samples, {} faulty messages",
        spec.line,
        spec.batch,
        spec.units,
        spec.case_size,
        spec.pallet_size,
        spec.reject_rate * 100.0,
        spec.samples,
        spec.faults
    );
    let target = mqtt::Target::from_config(&config, &spec.line);
    let progress = simulate::progress_bar(plan.messages.len() as u64, false);
    let delivered = mqtt::play(&target, &plan.messages, None, &progress).await?;
    progress.finish_and_clear();
    let summary = Summary::new(&spec, &plan, &delivered);
    println!("  sent: {}", summary.text());

    let started = Instant::now();
    let document = tokio::time::timeout(DOCUMENT_DEADLINE, receiver.next_document())
        .await
        .map_err(|_| anyhow!("no document reached the upstream within {DOCUMENT_DEADLINE:?}"))?
        .context("the upstream receiver stopped")?;
    wait_delivered(&config).await?;
    println!(
        "  the End-of-Batch document reached the upstream {:.1} s after the last PUBACK",
        started.elapsed().as_secs_f64()
    );

    let _ = stop_tx.send(());
    gateway
        .await
        .context("the gateway task failed")?
        .context("the gateway stopped with an error")?;
    receiver.stop().await;
    println!("  gateway stopped cleanly (sources, workers, then the store)\n");

    report::print(&report::Inputs {
        shown_dir: &args.dir,
        config: &config,
        spec: &spec,
        plan: &plan,
        document: &document,
    })
}

/// The demo's batch: fixed master data, the seed from the options.
fn line_spec(args: &DemoArgs, config: &Config) -> anyhow::Result<LineSpec> {
    let today = Utc::now().date_naive();
    let expiry = today
        .checked_add_months(Months::new(24))
        .context("expiry date")?;
    let line = config.lines.first().context("no line")?.id.clone();
    Ok(LineSpec {
        line,
        batch: "DEMO-0001".into(),
        gtin: "00361414567894".into(),
        case_gtin: "50361414567899".into(),
        company_prefix: "0361414".into(),
        lot: "LOT-DEMO-0001".into(),
        expiry,
        units: args.units,
        case_size: 100,
        pallet_size: 20,
        reject_rate: 0.003,
        samples: 3,
        faults: 3,
        codes_per_message: 100,
        seed: args.seed,
    })
}

/// Wipes (if the demo made it) and recreates the working directory; returns it absolute.
fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `linegate demo`; move it away or pass --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
    }
    for sub in ["data", "upstream"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    std::fs::write(
        dir.join(MARKER),
        "made by `linegate demo`; wiped by the next run\n",
    )?;
    Ok(dir)
}

/// The configuration text: the template with the paths and ports of this run.
fn config_text(dir: &Path, mqtt_port: u16, upstream_url: &str) -> String {
    let quoted = toml::Value::String(dir.join("data").display().to_string()).to_string();
    CONFIG_TEMPLATE
        .replace("\"@DATA_DIR@\"", &quoted)
        .replace("@MQTT_PORT@", &mqtt_port.to_string())
        .replace("@UPSTREAM_URL@", upstream_url)
}

/// A loopback port free right now (the embedded broker binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until the gateway has recorded every delivery as delivered (it does so after the 2xx).
async fn wait_delivered(config: &Config) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let rows = ReadOnlyStore::open(&config.gateway.data_dir)?.outbox()?;
        if !rows.is_empty() && rows.iter().all(|r| r.state == "delivered") {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the outbox did not record the delivery: {rows:?}");
        }
    }
}

/// A path as the user gave it (relative stays relative), for printing.
fn shown(p: &Path) -> String {
    p.display().to_string()
}
