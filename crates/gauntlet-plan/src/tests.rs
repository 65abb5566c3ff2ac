//! Plan-level tests: examples, the schema contract, error collection, hostile inputs.

use super::*;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 3,
        "examples/ must hold at least the three seed examples"
    );
    v
}

fn parse(src: &str) -> Result<Loaded, PlanErrors> {
    parse_plan("plan.yaml", src.as_bytes(), "plan", &Overrides::default())
}

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse(src) {
        Ok(_) => panic!("plan should be invalid"),
        Err(e) => e
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    }
}

#[test]
fn every_example_validates() {
    for p in examples() {
        match load_file(&p, &Overrides::default()) {
            Ok(l) => assert!(
                l.warnings.diagnostics.is_empty(),
                "{} has warnings:\n{}",
                p.display(),
                l.warnings.render(false)
            ),
            Err(e) => panic!("{} is invalid:\n{}", p.display(), e.render(false)),
        }
    }
}

#[test]
fn five_mistakes_give_five_located_errors() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/five-mistakes.yaml");
    let err = load_file(&path, &Overrides::default()).unwrap_err();
    let located: Vec<(u32, u32, String)> = err
        .diagnostics
        .iter()
        .map(|d| {
            let s = d.span.expect("every error has a location");
            (s.line, s.column, d.message.clone())
        })
        .collect();
    let expected = [
        (11, 38, "`item_id` is used before it is captured"),
        (25, 13, "maxVUs (10) is less than preAllocatedVUs (20)"),
        (29, 33, "stage target is -5; it cannot be negative"),
        (30, 5, "unknown key `gracefulRampDwn` in scenario"),
        (32, 3, "unknown metric `http_req_duraton`"),
    ];
    assert_eq!(located.len(), 5, "{}", err.render(false));
    for (got, want) in located.iter().zip(expected) {
        assert_eq!((got.0, got.1), (want.0, want.1), "{}", got.2);
        assert_eq!(got.2, want.2);
    }
    let text = err.render(false);
    assert!(text.contains("did you mean `gracefulRampDown`?"), "{text}");
    assert!(text.contains("did you mean `http_req_duration`?"), "{text}");
    assert!(
        text.contains("raise maxVUs or lower preAllocatedVUs"),
        "{text}"
    );
    assert!(text.contains("five-mistakes.yaml:11:38"), "{text}");
}

#[test]
fn schema_is_valid_and_accepts_every_example() {
    let schema: serde_json::Value = serde_json::from_str(PLAN_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for p in examples() {
        let json = plan_as_json(&std::fs::read(&p).unwrap()).unwrap();
        let errs: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errs.is_empty(),
            "{} violates the schema: {errs:#?}",
            p.display()
        );
    }
    // And it rejects what the code rejects.
    let bad = plan_as_json(b"workload: {operations: {a: GET /}}\nscenarioz: {}\n").unwrap();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn schema_matches_the_code() {
    let schema: serde_json::Value = serde_json::from_str(PLAN_SCHEMA).unwrap();
    let defs = schema["$defs"].as_object().unwrap();
    for (name, keys) in object_keys() {
        let def = &defs[*name];
        // Objects may be one branch of a oneOf (string shorthand + object).
        let props = def["properties"].as_object().cloned().or_else(|| {
            def["oneOf"].as_array().and_then(|alts| {
                alts.iter()
                    .find_map(|a| a["properties"].as_object().cloned())
            })
        });
        let props = props.unwrap_or_else(|| panic!("schema $defs.{name} has no properties"));
        let mut in_schema: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut in_code: Vec<&str> = keys.to_vec();
        in_schema.sort();
        in_code.sort();
        assert_eq!(
            in_schema, in_code,
            "schema $defs.{name} and the code accept different keys"
        );
    }
}

#[test]
fn hostile_inputs_get_clear_errors() {
    // Malformed YAML.
    let e = errors("workload:\n  operations: [a, b\nscenarios: 1\n");
    assert!(e[0].message.starts_with("invalid YAML"), "{e:?}");
    assert!(e[0].span.is_some());
    // Empty.
    assert!(errors("")[0].message.contains("empty"));
    // Binary.
    let b = parse_plan(
        "x",
        &[0x7f, b'E', b'L', b'F', 0, 1, 2],
        "x",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(b.diagnostics[0].message.contains("binary"));
    // Deeply nested.
    let deep = format!("workload: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(errors(&deep)[0].message.starts_with("invalid YAML"));
    // Not a mapping at the top.
    assert!(
        errors("- a\n- b\n")[0]
            .message
            .contains("must be a mapping")
    );
}

#[test]
fn fifty_megabyte_file_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        let line = "# padding padding padding padding padding padding padding padding\n";
        for _ in 0..(50 * 1024 * 1024 / line.len() + 1) {
            f.write_all(line.as_bytes()).unwrap();
        }
    }
    let e = load_file(&path, &Overrides::default()).unwrap_err();
    assert!(
        e.diagnostics[0].message.contains("a plan may be at most"),
        "{e}"
    );
    assert!(
        e.source.is_empty(),
        "the big file must not be kept in memory"
    );
}

#[test]
fn duplicate_keys_are_errors_with_both_lines() {
    let e = errors("workload:\n  operations:\n    a: GET /\n    a: GET /x\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].span.unwrap().line, 4);
    assert!(e[0].help.as_deref().unwrap().contains("line 3"));
}

#[test]
fn undefined_template_variable_is_an_error_with_position() {
    let src = "workload:\n  operations:\n    a:\n      request: GET /items/{{ itme_id }}\n";
    let e = errors(src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "`itme_id` is not defined");
    let s = e[0].span.unwrap();
    assert_eq!((s.line, s.column), (4, 30));
}

#[test]
fn template_syntax_error_is_reported() {
    let e = errors("workload:\n  operations:\n    a:\n      request: GET /items/{{ id \n");
    assert!(e[0].message.starts_with("template error"), "{e:?}");
}

#[test]
fn captures_and_feeders_and_setup_are_in_scope() {
    let src = r#"
data:
  users: {file: users.csv, mode: unique}
setup:
  - name: login
    request: {method: POST, url: /login, json: {user: admin}}
    capture: {token: $.token}
workload:
  operations:
    flow:
      steps:
        - name: create
          request:
            method: POST
            url: /api/items
            headers: {Authorization: "Bearer {{ setup.token }}"}
            json: {name: "{{ users.name }} {{ uuid() }} {{ random_int(1, 9) }}"}
          capture: {id: $.id}
        - name: read
          request: GET /api/items/{{ id }}
"#;
    let plan = parse(src).unwrap().plan;
    assert_eq!(plan.data[0].mode, FeedMode::Unique);
    assert_eq!(plan.data[0].on_exhausted, OnExhausted::StopVu);
    assert_eq!(plan.workload.operations[0].steps.len(), 2);
}

#[test]
fn k6_scenarios_translate_verbatim() {
    let src = r#"
workload: {operations: {browse: GET /, admin: GET /admin}}
scenarios:
  browse:
    executor: ramping-arrival-rate
    startRate: 10
    timeUnit: 1s
    preAllocatedVUs: 50
    maxVUs: 500
    stages: [{duration: 2m, target: 200}, {duration: 10m, target: 200}, {duration: 1m, target: 0}]
  admins: {executor: constant-vus, vus: 5, duration: 13m, exec: admin, tags: {role: admin}}
  once: {executor: shared-iterations, vus: 2, iterations: 10}
  each: {executor: per-vu-iterations, vus: 3, iterations: 4, maxDuration: 1m}
thresholds:
  http_req_duration: ['p(95)<500', 'p(99)<1500']
  'http_req_failed{scenario:browse}': [{threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: 1m}]
  checks: ['rate>0.99']
"#;
    let plan = parse(src).unwrap().plan;
    assert_eq!(plan.scenarios.len(), 4);
    assert_eq!(plan.scenarios[0].executor.max_vus(), 500);
    assert_eq!(plan.scenarios[1].mix, vec![(1, 1)]);
    assert_eq!(plan.thresholds.len(), 4);
    assert!(plan.thresholds[2].abort_on_fail);
    assert_eq!(
        plan.thresholds[2].delay_abort_eval,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(
        plan.thresholds[2].metric.tags,
        vec![("scenario".to_owned(), "browse".to_owned())]
    );
    assert_eq!(
        plan.planned_duration(),
        std::time::Duration::from_secs(13 * 60)
    );
}

#[test]
fn executor_option_mismatches_are_explained() {
    let e = errors(
        "workload: {operations: {a: GET /}}\nscenarios:\n  s: {executor: constant-vus, vus: 2, duration: 10s, rate: 5}\n",
    );
    assert!(
        e[0].message
            .contains("`rate` does not apply to executor `constant-vus`"),
        "{e:?}"
    );
    let e = errors(
        "workload: {operations: {a: GET /}}\nscenarios:\n  s: {executor: constant-vu, vus: 2}\n",
    );
    assert!(e[0].help.as_deref().unwrap().contains("constant-vus"));
    let e = errors(
        "workload: {operations: {a: GET /}}\nscenarios:\n  s: {executor: constant-arrival-rate, rate: 5, duration: 10s}\n",
    );
    assert!(e[0].message.contains("preAllocatedVUs"), "{e:?}");
    let e = errors(
        "workload: {operations: {a: GET /}}\nscenarios:\n  s: {executor: constant-vus, vus: 2, duration: 10}\n",
    );
    assert!(e[0].help.as_deref().unwrap().contains("10s"), "{e:?}");
}

#[test]
fn threshold_aggregation_must_fit_the_metric() {
    let e = errors(
        "workload: {operations: {a: GET /}}\nthresholds:\n  http_reqs: ['p(95) < 10']\n  http_req_failed: ['rate < 5ms']\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].message.contains("does not apply to http_reqs"),
        "{e:?}"
    );
    assert!(
        e[1].message.contains("does not fit http_req_failed"),
        "{e:?}"
    );
}

#[test]
fn sla_becomes_a_threshold_on_its_limit() {
    let src = "workload: {operations: {a: GET /}}\nsla:\n  - {name: fast, metric: http_req_duration, objective: p(95) < 200ms, limit: p(95) < 500ms}\n  - {name: ok, metric: http_req_failed, objective: rate < 1%}\n";
    let plan = parse(src).unwrap().plan;
    assert_eq!(plan.slas.len(), 2);
    assert_eq!(plan.thresholds.len(), 2);
    assert_eq!(plan.thresholds[0].condition.value, 500.0);
    assert_eq!(plan.thresholds[0].origin, ThresholdOrigin::Sla(0));
    assert!((plan.thresholds[1].condition.value - 0.01).abs() < 1e-12);
}

#[test]
fn poll_metrics_can_be_thresholded() {
    let src = "workload:\n  operations:\n    job:\n      steps:\n        - name: submit\n          request: POST /api/jobs\n          capture: {id: $.id}\n        - name: wait\n          poll: {request: 'GET /api/jobs/{{ id }}', until: [{jsonPath: $.status, equals: done}], metric: job_duration}\nthresholds:\n  job_duration: [p(95) < 5m]\n";
    let plan = parse(src).unwrap().plan;
    assert_eq!(plan.custom_metrics[0].name, "job_duration");
    assert_eq!(plan.thresholds[0].condition.value, 300_000.0);
}

#[test]
fn overrides_replace_scenarios_and_target() {
    let src = "target: http://127.0.0.1:1\nworkload: {operations: {a: GET /}}\nscenarios:\n  s: {executor: constant-vus, vus: 2, duration: 10s}\n";
    let o = Overrides {
        url: Some("demo".into()),
        vus: Some(50),
        duration: Some("30s".into()),
        ..Default::default()
    };
    let plan = parse_plan("p", src.as_bytes(), "p", &o).unwrap().plan;
    assert!(matches!(plan.target.base, TargetBase::Demo(_)));
    assert_eq!(plan.scenarios.len(), 1);
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::ConstantVus {
            vus: 50,
            duration: std::time::Duration::from_secs(30)
        }
    );
    let o = Overrides {
        rate: Some(1000),
        duration: Some("10s".into()),
        ..Default::default()
    };
    let plan = parse_plan("p", src.as_bytes(), "p", &o).unwrap().plan;
    assert!(plan.scenarios[0].executor.is_open_model());
    let o = Overrides {
        stages: vec![("30s".into(), 100), ("10s".into(), 0)],
        ..Default::default()
    };
    let plan = parse_plan("p", src.as_bytes(), "p", &o).unwrap().plan;
    assert_eq!(plan.scenarios[0].executor.max_vus(), 100);
    let o = Overrides {
        iterations: Some(7),
        vus: Some(2),
        ..Default::default()
    };
    let plan = parse_plan("p", src.as_bytes(), "p", &o).unwrap().plan;
    assert_eq!(plan.scenarios[0].executor.expected_iterations(), Some(7.0));
}

#[test]
fn no_scenarios_means_one_iteration_like_k6() {
    let plan = parse("workload: {operations: {a: GET /}}\n").unwrap().plan;
    assert_eq!(plan.scenarios[0].executor.expected_iterations(), Some(1.0));
}

#[test]
fn review_findings_are_errors_at_validation() {
    // Step-level keys on an operation with steps.
    let e = errors(
        "workload:\n  operations:\n    a:\n      steps: [{request: GET /}]\n      checks: [{status: 200}]\n",
    );
    assert!(e[0].message.contains("`checks` belongs to a step"), "{e:?}");
    // A default poll metric that collides with a built-in.
    let e = errors(
        "workload:\n  operations:\n    a:\n      steps:\n        - name: iteration\n          poll: {request: GET /, until: [{status: 200}]}\n",
    );
    assert!(e[0].message.contains("iteration_duration"), "{e:?}");
    // Undefined variable in a target header.
    let e = errors(
        "target: {url: demo, headers: {Authorization: 'Bearer {{ tokn }}'}}\nworkload: {operations: {a: GET /}}\n",
    );
    assert!(e[0].message.contains("`tokn` is not defined"), "{e:?}");
    // Demo latency checked now, not at run time.
    let e =
        errors("target: {url: demo, demo: {latency: fast}}\nworkload: {operations: {a: GET /}}\n");
    assert!(e[0].message.contains("latency"), "{e:?}");
    // Zero maxDuration.
    let e = errors(
        "workload: {operations: {a: GET /}}\nscenarios: {s: {executor: shared-iterations, maxDuration: 0s}}\n",
    );
    assert!(e[0].message.contains("must be longer than 0"), "{e:?}");
    // Functions that do not exist are not accepted.
    let e = errors("workload: {operations: {a: 'GET /{{ sha256(1) }}'}}\n");
    assert!(e[0].message.contains("`sha256` is not defined"), "{e:?}");
}
