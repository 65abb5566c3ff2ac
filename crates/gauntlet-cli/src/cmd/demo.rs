//! `gauntlet demo`: serve the demo items API until Ctrl-C.

use crate::args::DemoArgs;
use crate::exit::Exit;
use anyhow::Context as _;
use gauntlet_demo::{DemoConfig, DemoServer, LatencyModel, Overload, Stall};
use gauntlet_plan::duration::parse_duration;

fn config(a: &DemoArgs) -> anyhow::Result<DemoConfig> {
    let mut c = DemoConfig::default();
    if let Some(l) = &a.latency {
        c.latency = l
            .parse::<LatencyModel>()
            .map_err(|e| anyhow::anyhow!("--latency: {e}"))?;
    }
    if let Some(e) = a.error_rate {
        anyhow::ensure!(
            (0.0..=1.0).contains(&e),
            "--error-rate must be between 0 and 1"
        );
        c.error_rate = e;
    }
    if let Some(p) = a.pool_size {
        anyhow::ensure!(p > 0, "--pool-size must be at least 1");
        c.pool_size = p;
    }
    if let Some(t) = &a.cache_ttl {
        c.cache_ttl = parse_duration(t).map_err(|e| anyhow::anyhow!("--cache-ttl: {e}"))?;
    }
    if let Some(t) = &a.job_duration {
        c.job_duration = parse_duration(t).map_err(|e| anyhow::anyhow!("--job-duration: {e}"))?;
    }
    if let Some(s) = &a.stall {
        let (every, dur) = s
            .split_once(':')
            .context("--stall: write EVERY:FOR, e.g. 5s:1s")?;
        let every = parse_duration(every).map_err(|e| anyhow::anyhow!("--stall: {e}"))?;
        let duration = parse_duration(dur).map_err(|e| anyhow::anyhow!("--stall: {e}"))?;
        anyhow::ensure!(
            duration < every,
            "--stall: the stall must be shorter than its period"
        );
        c.stall = Some(Stall { every, duration });
    }
    if let Some(n) = a.seed_items {
        c.seed_items = n;
    }
    if let Some(t) = &a.query_time {
        c.query_time = parse_duration(t).map_err(|e| anyhow::anyhow!("--query-time: {e}"))?;
    }
    if let Some(n) = a.compute_rounds {
        c.compute_rounds = n;
    }
    if let Some(n) = a.workers {
        c.workers = n;
    }
    if let Some(t) = &a.service_time {
        c.service_time = parse_duration(t).map_err(|e| anyhow::anyhow!("--service-time: {e}"))?;
    }
    if let Some(n) = a.work_queue {
        c.work_queue = n;
    }
    if let Some(o) = &a.overload {
        c.overload = Some(
            o.parse::<Overload>()
                .map_err(|e| anyhow::anyhow!("--overload: {e}"))?,
        );
    }
    c.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(c)
}

pub(crate) fn serve(args: DemoArgs) -> anyhow::Result<Exit> {
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(Exit::Usage);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = match DemoServer::start(cfg, ([127, 0, 0, 1], args.port).into()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Exit::TargetUnavailable);
            }
        };
        crate::stdout::print(&format!(
            "demo items API on {} (Ctrl-C to stop)\n  \
             POST /api/items  GET|PUT|DELETE /api/items/{{id}}  GET /api/items?page=&per_page=&q=\n  \
             POST /api/jobs   GET /api/jobs/{{id}}   GET /api/compute?rounds=N   GET /api/work\n  \
             GET /health   GET /metrics\n",
            server.base_url()
        ))
        .context("cannot write to stdout")?;
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
        Ok(Exit::Ok)
    })
}
