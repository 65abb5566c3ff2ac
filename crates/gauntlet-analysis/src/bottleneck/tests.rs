use super::*;

const SECS: u32 = 60;

/// A gap-free series over the run's 60 seconds.
fn over(signal: Signal, f: impl Fn(u32) -> f64) -> Series {
    Series::new(signal, (0..SECS).map(|t| Some(f(t))).collect())
}

/// Offered and completed load rising by 5 req/s each second from 10.
fn load(t: u32) -> f64 {
    10.0 + 5.0 * f64::from(t)
}

/// A pool of 2 with 20 ms queries: full at 100 req/s, clients waiting above.
fn pool_series() -> Vec<Series> {
    vec![
        over(Signal::DbPoolActive, |t| (load(t) * 0.02).min(2.0)).labelled("demo /metrics"),
        over(Signal::DbPoolPending, |t| {
            ((load(t) - 100.0) * 0.2).max(0.0)
        }),
        over(Signal::DbPoolMax, |_| 2.0),
    ]
}

/// p95 flat at 10 ms until `knee`, then rising 20 ms per second.
fn latency_from(knee: u32) -> Series {
    over(Signal::LatencyP95, move |t| {
        if t < knee {
            10.0
        } else {
            10.0 + 20.0 * f64::from(t - knee)
        }
    })
}

fn kinds(r: &BottleneckReport) -> Vec<(FindingKind, Severity)> {
    r.findings.iter().map(|f| (f.kind, f.severity)).collect()
}

#[test]
fn pool_saturation_before_cpu_saturation_puts_the_pool_first() {
    let mut s = pool_series();
    s.push(over(Signal::Throughput, load));
    s.push(latency_from(18));
    // 0.2 + 0.018 t reaches 0.9 at second 39.
    s.push(over(Signal::HostCpu, |t| 0.2 + 0.018 * f64::from(t)));
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![
            (FindingKind::DbPool, Severity::Critical),
            (FindingKind::Cpu, Severity::Critical)
        ]
    );
    let pool = &r.findings[0];
    assert_eq!(pool.evidence.window, Window { start: 18, end: 60 });
    assert_eq!(pool.evidence.measure, Measure::PoolDemand);
    assert_eq!(pool.evidence.load_at_onset, Some(100.0));
    assert_eq!(pool.evidence.latency_before_ms, Some(10.0));
    assert_eq!(
        pool.recommendation,
        "pool of 2 (demo /metrics) saturated from 100 req/s (second 18), up to 41 clients waiting, \
         p95 rose from 10 ms to 830 ms: raise the pool size or cut query time"
    );
    let c = pool.evidence.correlation.as_ref().unwrap();
    assert_eq!(c.resource.signal, Signal::DbPoolActive);
    assert!(c.points >= 50, "{c:?}");
    assert_eq!(r.findings[1].evidence.window.start, 39);
    assert!(!r.generator_limited);
}

#[test]
fn cpu_saturation_before_pool_saturation_puts_cpu_first() {
    let mut s = vec![
        over(Signal::DbPoolActive, |t| if t < 45 { 1.0 } else { 2.0 }),
        over(Signal::DbPoolPending, |t| if t < 45 { 0.0 } else { 6.0 }),
        over(Signal::DbPoolMax, |_| 2.0),
        over(Signal::Throughput, load),
        latency_from(15),
        // The service process on 2 cores: 1.9 cores from second 15.
        over(Signal::ProcessCpu, |t| if t < 15 { 0.5 } else { 1.9 })
            .labelled("pid 4242")
            .with_capacity(2.0),
    ];
    s.reverse();
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![
            (FindingKind::Cpu, Severity::Critical),
            (FindingKind::DbPool, Severity::Critical)
        ]
    );
    let cpu = &r.findings[0];
    assert_eq!(cpu.evidence.window.start, 15);
    assert_eq!(
        cpu.recommendation,
        "CPU (pid 4242) saturated at up to 95 % of 2 cores from 85 req/s (second 15), \
         p95 rose from 10 ms to 890 ms: profile its hot path, or give it more cores or instances"
    );
    assert_eq!(r.findings[1].evidence.window.start, 45);
}

#[test]
fn an_idle_generator_is_never_blamed() {
    let mut s = pool_series();
    s.push(over(Signal::Throughput, load));
    s.push(over(Signal::GeneratorCpu, |_| 0.05).with_capacity(2.0));
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(kinds(&r), vec![(FindingKind::DbPool, Severity::Critical)]);
    assert!(r.evaluated.contains(&FindingKind::Generator));
    assert!(!r.generator_limited);
}

#[test]
fn a_generator_pinned_to_half_a_core_at_its_limit_is_blamed_first() {
    let mut s = pool_series();
    s.push(over(Signal::Throughput, load));
    s.push(over(Signal::GeneratorCpu, |t| if t < 10 { 0.2 } else { 0.49 }).with_capacity(0.5));
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![
            (FindingKind::Generator, Severity::Critical),
            (FindingKind::DbPool, Severity::Critical)
        ]
    );
    assert!(r.generator_limited);
    let g = &r.findings[0].recommendation;
    assert!(
        g.starts_with("generator CPU saturated: 98 % of 0.50 cores from 60 req/s (second 10)"),
        "{g}"
    );
    assert!(g.contains("measure the generator, not the service"), "{g}");
}

#[test]
fn a_rule_without_its_series_says_what_was_missing_and_finds_nothing() {
    let s = vec![
        over(Signal::Throughput, load),
        latency_from(18),
        // A process CPU series without the cores it may use cannot be judged.
        over(Signal::ProcessCpu, |_| 1.9).labelled("pid 7"),
        // A pool without its size cannot be judged either.
        over(Signal::DbPoolActive, |_| 2.0),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let missing = |k: FindingKind| {
        r.not_evaluated
            .iter()
            .find(|n| n.kind == k)
            .map(|n| n.missing.clone())
    };
    assert_eq!(
        missing(FindingKind::Cpu),
        Some(vec![MissingInput::Capacity {
            series: SeriesRef {
                signal: Signal::ProcessCpu,
                label: "pid 7".into()
            }
        }])
    );
    assert_eq!(
        missing(FindingKind::DbPool),
        Some(vec![MissingInput::Series {
            signal: Signal::DbPoolMax
        }])
    );
    assert_eq!(
        missing(FindingKind::Generator),
        Some(vec![
            MissingInput::Series {
                signal: Signal::GeneratorCpu
            },
            MissingInput::Series {
                signal: Signal::DroppedIterations
            }
        ])
    );
    assert_eq!(
        missing(FindingKind::ThroughputLimit),
        Some(vec![
            MissingInput::Series {
                signal: Signal::OfferedRate
            },
            MissingInput::Series {
                signal: Signal::InFlight
            }
        ])
    );
    assert_eq!(
        missing(FindingKind::ErrorRate),
        Some(vec![MissingInput::Series {
            signal: Signal::ErrorRate
        }])
    );
    assert!(!r.evaluated.contains(&FindingKind::Cpu));
    assert!(!r.evaluated.contains(&FindingKind::ThroughputLimit));
}

#[test]
fn a_spike_shorter_than_hold_is_not_a_finding_but_gaps_do_not_break_a_run() {
    let mut cpu: Vec<Option<f64>> = vec![Some(0.3); 30];
    cpu[5] = Some(0.95);
    cpu[6] = Some(0.95);
    // Seconds 20..24 saturated with a missed sample at 21.
    for v in &mut cpu[20..24] {
        *v = Some(0.95);
    }
    cpu[21] = None;
    let r = find_bottlenecks(&[Series::new(Signal::HostCpu, cpu)], &Rules::default());
    assert_eq!(kinds(&r), vec![(FindingKind::Cpu, Severity::Critical)]);
    assert_eq!(r.findings[0].evidence.window, Window { start: 20, end: 24 });
    assert_eq!(r.findings[0].evidence.load_at_onset, None);
    assert!(
        r.findings[0]
            .recommendation
            .starts_with("host CPU saturated at up to 95 % from second 20:"),
        "{}",
        r.findings[0].recommendation
    );
}

#[test]
fn crossing_only_the_alert_threshold_is_a_warning_after_the_critical_ones() {
    let s = vec![
        over(Signal::HostCpu, |t| if t >= 5 { 0.75 } else { 0.1 }),
        over(Signal::ErrorRate, |t| if t >= 30 { 0.2 } else { 0.0 }),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![
            (FindingKind::ErrorRate, Severity::Critical),
            (FindingKind::Cpu, Severity::Warning)
        ]
    );
    assert_eq!(r.findings[1].evidence.threshold, 0.7);
    assert!(
        r.findings[1].recommendation.contains("near saturation"),
        "{}",
        r.findings[1].recommendation
    );
}

#[test]
fn overrides_change_only_what_they_name_and_bad_ones_are_refused() {
    let o: RulesOverride =
        serde_json::from_str(r#"{"cpu": {"critical": 0.8}, "hold": 5}"#).unwrap();
    let r = Rules::with_overrides(&o).unwrap();
    assert_eq!((r.cpu.alert, r.cpu.critical, r.hold), (0.7, 0.8, 5));
    assert_eq!(r.db_pool, Rules::default().db_pool);

    let s = [over(Signal::HostCpu, |_| 0.85)];
    assert_eq!(
        kinds(&find_bottlenecks(&s, &r)),
        vec![(FindingKind::Cpu, Severity::Critical)]
    );
    let off =
        Rules::with_overrides(&serde_json::from_str(r#"{"cpu": {"enabled": false}}"#).unwrap())
            .unwrap();
    let report = find_bottlenecks(&s, &off);
    assert!(report.findings.is_empty());
    assert!(!report.evaluated.contains(&FindingKind::Cpu));

    let bad: RulesOverride = serde_json::from_str(r#"{"cache": {"alert": 0.3}}"#).unwrap();
    assert!(matches!(
        Rules::with_overrides(&bad),
        Err(RulesError::Order { rule: "cache", .. })
    ));
    assert!(serde_json::from_str::<RulesOverride>(r#"{"cpuu": {}}"#).is_err());
    assert_eq!(
        Rules::with_overrides(&RulesOverride {
            hold: Some(0),
            ..RulesOverride::default()
        }),
        Err(RulesError::ZeroHold)
    );
}

#[test]
fn completed_requests_falling_behind_offered_ones_is_a_throughput_limit() {
    let s = vec![
        over(Signal::OfferedRate, |t| 100.0 + 10.0 * f64::from(t)),
        over(Signal::Throughput, |t| {
            (100.0 + 10.0 * f64::from(t)).min(400.0)
        }),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![(FindingKind::ThroughputLimit, Severity::Critical)]
    );
    let f = &r.findings[0];
    // 400 / o <= 0.9 from o = 444.4, i.e. second 35 (offered 450).
    assert_eq!(f.evidence.window.start, 35);
    assert!(
        f.recommendation
            .contains("at most 400 req/s completed while up to 690 req/s were offered"),
        "{}",
        f.recommendation
    );
    assert!(f.recommendation.contains("capacity is about 400 req/s"));
}

#[test]
fn in_flight_growing_while_throughput_stays_flat_is_a_throughput_limit() {
    // Closed model: VUs double every 10 s, throughput flat at 200 from second 20.
    let s = vec![
        over(Signal::InFlight, |t| 10.0 * 2f64.powf(f64::from(t) / 10.0)),
        over(Signal::Throughput, |t| {
            (100.0 * 2f64.powf(f64::from(t) / 10.0)).min(200.0)
        }),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![(FindingKind::ThroughputLimit, Severity::Critical)]
    );
    let f = &r.findings[0];
    assert_eq!(f.evidence.measure, Measure::ThroughputPerInFlight);
    // (c1/c0)/(i1/i0) = 2^-((t-10)/10) falls to 0.6 or below at second 18.
    assert_eq!(f.evidence.window.start, 18);
    assert!(
        f.recommendation.contains("near 200 req/s"),
        "{}",
        f.recommendation
    );
}

#[test]
fn a_cold_cache_is_not_judged_but_a_low_warm_ratio_is() {
    let s = vec![
        over(Signal::CacheHitRatio, |t| {
            if t < 8 {
                0.1
            } else if t < 30 {
                0.9
            } else {
                0.4
            }
        }),
        over(Signal::CacheEvictions, |t| if t < 30 { 0.0 } else { 120.0 }),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(kinds(&r), vec![(FindingKind::Cache, Severity::Critical)]);
    let f = &r.findings[0];
    assert_eq!(f.evidence.window.start, 30);
    assert_eq!(f.evidence.worst, 0.4);
    assert!(
        f.recommendation.starts_with(
            "cache hit ratio down to 40 % (below 50 %) from second 30, up to 120/s evictions"
        ),
        "{}",
        f.recommendation
    );
}

#[test]
fn database_connections_and_lock_waits_use_their_own_series() {
    let s = vec![
        over(Signal::DbConnections, |t| if t < 20 { 20.0 } else { 98.0 }).labelled("postgres"),
        over(Signal::DbMaxConnections, |_| 100.0),
        over(Signal::DbLockWaits, |t| if t < 40 { 0.0 } else { 3.0 }),
        over(Signal::DbDeadlocks, |t| if t == 50 { 1.0 } else { 0.0 }),
    ];
    let r = find_bottlenecks(&s, &Rules::default());
    assert_eq!(
        kinds(&r),
        vec![
            (FindingKind::DbConnections, Severity::Critical),
            (FindingKind::DbLocks, Severity::Critical),
            (FindingKind::DbLocks, Severity::Warning)
        ]
    );
    assert!(
        r.findings[0]
            .recommendation
            .contains("98 % of max_connections 100"),
        "{}",
        r.findings[0].recommendation
    );
    assert_eq!(
        r.findings[1].evidence.readings[0].series.signal,
        Signal::DbDeadlocks
    );
    assert_eq!(r.findings[2].evidence.window.start, 40);
}

#[test]
fn the_result_carries_findings_and_correlations_as_json() {
    let mut s = pool_series();
    s.push(over(Signal::Throughput, load));
    s.push(latency_from(18));
    let a = analyze(&s, &Rules::default());
    let v = serde_json::to_value(&a).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["kind"], "db-pool");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["evidence"]["window"]["start"], 18);
    assert_eq!(f["evidence"]["measure"], "pool-demand");
    assert_eq!(
        f["evidence"]["readings"][0]["series"]["signal"],
        "db-pool-active"
    );
    assert!(f["evidence"]["correlation"]["spearman"].is_number());
    assert!(f["recommendation"].as_str().unwrap().contains("pool of 2"));
    // Latency and throughput against the three pool series.
    assert_eq!(v["correlations"].as_array().unwrap().len(), 6);
    assert_eq!(v["notEvaluated"][0]["kind"], "generator");
    assert_eq!(v["notEvaluated"][0]["missing"][0]["type"], "series");
    let back: ServiceAnalysis = serde_json::from_value(v).unwrap();
    assert_eq!(back.findings, a.findings);
}
