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

// ---- names in selectors, columns in templates, files: what `run` would refuse ----

/// The errors of `src` validated with its files in `dir`.
fn errors_in(dir: &std::path::Path, src: &str) -> Vec<Diagnostic> {
    match parse_plan_in(
        "plan.yaml",
        src.as_bytes(),
        "plan",
        &Overrides::default(),
        dir,
    ) {
        Ok(_) => panic!("plan should be invalid"),
        Err(e) => e
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    }
}

fn at(d: &Diagnostic) -> (u32, u32) {
    let s = d.span.expect("located");
    (s.line, s.column)
}

const TWO_STEPS: &str = "workload:\n  operations:\n    crud:\n      steps:\n        - name: create_item\n          request: POST /api/items\n        - name: read_item\n          request: GET /api/items/1\n";

#[test]
fn a_threshold_on_an_unknown_step_name_is_an_error_with_did_you_mean() {
    let src = format!(
        "{TWO_STEPS}thresholds:\n  \"http_req_duration{{name:creat_item}}\": [p(95) < 200ms]\n"
    );
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "no step is named `creat_item`");
    assert_eq!(e[0].help.as_deref(), Some("did you mean `create_item`?"));
    assert_eq!(at(&e[0]), (10, 27));
}

#[test]
fn an_sla_on_an_unknown_step_name_is_an_error_at_the_value() {
    let src = format!(
        "{TWO_STEPS}sla:\n  - name: reads\n    metric: http_req_duration{{name:read_itme}}\n    objective: p(95) < 200ms\n"
    );
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "no step is named `read_itme`");
    assert_eq!(at(&e[0]), (11, 36));
    assert!(e[0].help.as_deref().unwrap().contains("read_item"), "{e:?}");
}

#[test]
fn an_unknown_tag_key_is_an_error_with_did_you_mean() {
    let src =
        format!("{TWO_STEPS}thresholds:\n  \"http_req_failed{{scenaro:default}}\": [rate < 1%]\n");
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "unknown tag `scenaro`");
    assert_eq!(e[0].help.as_deref(), Some("did you mean `scenario`?"));
    assert_eq!(at(&e[0]), (10, 20));
    // A plan's own tag keys are offered too.
    let src = format!(
        "{TWO_STEPS}scenarios:\n  s: {{executor: constant-vus, vus: 1, duration: 1s, tags: {{region: eu}}}}\nthresholds:\n  \"http_reqs{{regoin:eu}}\": [count > 0]\n"
    );
    let e = errors(&src);
    assert_eq!(
        e[0].help.as_deref(),
        Some("did you mean `region`?"),
        "{e:?}"
    );
}

#[test]
fn tags_the_plan_defines_are_accepted_in_selectors() {
    let src = "workload:\n  operations:\n    a:\n      tags: {flow: crud}\n      request: {url: /, tags: {kind: read, name: home_page}}\nscenarios:\n  s: {executor: constant-vus, vus: 1, duration: 1s, tags: {region: eu}}\nthresholds:\n  \"http_reqs{flow:crud,kind:read,region:eu,status:200,method:GET}\": [count > 0]\n  \"http_req_duration{name:home_page}\": [p(95) < 1s]\n  \"http_req_duration{name:a,group:a,scenario:s}\": [p(95) < 1s]\n";
    let l = parse(src).unwrap();
    assert!(l.warnings.diagnostics.is_empty(), "{}", l.warnings);
}

#[test]
fn unknown_group_scenario_and_error_code_values_are_errors() {
    let src = format!(
        "{TWO_STEPS}scenarios:\n  steady: {{executor: constant-vus, vus: 1, duration: 1s}}\nthresholds:\n  \"group_duration{{group:crd}}\": [p(95) < 1s]\n  \"group_duration{{group:::crud}}\": [p(95) < 1s]\n  \"http_req_failed{{scenario:stedy}}\": [rate < 1%]\n  \"http_reqs{{error_code:request_timout}}\": [count < 1]\n  \"http_reqs{{error_code:1050}}\": [count < 1]\n"
    );
    let e = errors(&src);
    let msgs: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "no operation is named `crd`",
            "no operation is named `::crud`",
            "no scenario is named `stedy`",
            "unknown error code `request_timout`",
            "unknown error code `1050`",
        ]
    );
    let helps: Vec<&str> = e.iter().map(|d| d.help.as_deref().unwrap()).collect();
    assert_eq!(helps[0], "did you mean `crud`?");
    assert!(helps[1].contains("write `group:crud`"), "{helps:?}");
    assert_eq!(helps[2], "did you mean `steady`?");
    assert_eq!(helps[3], "did you mean `request_timeout`?");
    assert!(helps[4].contains("names, not k6's numbers"), "{helps:?}");
    assert_eq!(at(&e[2]), (14, 29));
}

#[test]
fn setup_teardown_poll_and_unnamed_steps_are_known_names() {
    let src = "setup:\n  - name: login\n    request: POST /login\nteardown:\n  - request: POST /logout\nworkload:\n  operations:\n    job:\n      steps:\n        - request: POST /jobs\n        - name: wait\n          poll: {request: GET /jobs/1, until: [{status: 200}]}\n    home: GET /\nthresholds:\n  \"http_req_duration{name:login,group:setup,scenario:setup}\": [p(95) < 1s]\n  \"http_req_duration{name:teardown#1,group:teardown}\": [p(95) < 1s]\n  \"http_req_duration{name:job#1}\": [p(95) < 1s]\n  \"http_req_duration{name:wait}\": [p(95) < 1s]\n  \"http_req_duration{name:home,group:home,scenario:default}\": [p(95) < 1s]\n  \"http_reqs{error_code:request_interrupted}\": [count < 1]\n  \"step_errors{error_code:template_error}\": [count < 1]\n";
    let l = parse(src).unwrap();
    assert!(l.warnings.diagnostics.is_empty(), "{}", l.warnings);
    // Without `setup:`, `setup` is no group.
    let e = errors(
        "workload: {operations: {a: GET /}}\nthresholds:\n  \"group_duration{group:setup}\": [p(95) < 1s]\n",
    );
    assert_eq!(e[0].message, "no operation is named `setup`", "{e:?}");
}

#[test]
fn a_scenario_replaced_by_flags_gets_a_warning_not_an_error() {
    let src = "workload: {operations: {a: GET /}}\nscenarios:\n  steady: {executor: constant-vus, vus: 1, duration: 1s, tags: {tier: gold}}\nthresholds:\n  \"http_req_failed{scenario:steady}\": [rate < 1%]\n  \"http_reqs{tier:gold}\": [count > 0]\n";
    let o = Overrides {
        vus: Some(2),
        duration: Some("5s".into()),
        ..Default::default()
    };
    let l = parse_plan("p", src.as_bytes(), "p", &o).unwrap();
    let w: Vec<&str> = l
        .warnings
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        w,
        [
            "scenario `steady` is replaced by the command-line flags",
            "tag `tier` is set only by scenarios the command-line flags replace"
        ]
    );
    // Without flags the same plan is clean.
    assert!(parse(src).unwrap().warnings.diagnostics.is_empty());
}

const USERS: &str = "data:\n  users: {file: users.csv}\nworkload:\n  operations:\n    login:\n      request:\n        method: POST\n        url: /login\n";

#[test]
fn a_misspelled_feeder_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "username, password\nann,pw\n").unwrap();
    let src = format!(
        "{USERS}        json: {{user: \"{{{{ users.usrname }}}}\", pw: \"{{{{ users['passwrd'] }}}}\", ok: \"{{{{ users.password }}}}\"}}\n"
    );
    let e = errors_in(dir.path(), &src);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].message, "data `users` has no column `usrname`");
    assert_eq!(e[0].help.as_deref(), Some("did you mean `username`?"));
    assert_eq!(at(&e[0]), (9, 32));
    assert_eq!(e[1].message, "data `users` has no column `passwrd`");
    assert_eq!(at(&e[1]), (9, 60));
    // The same plan with the right spelling is valid.
    let fixed = src
        .replace("usrname", "username")
        .replace("passwrd", "password");
    parse_plan_in(
        "p",
        fixed.as_bytes(),
        "p",
        &Overrides::default(),
        dir.path(),
    )
    .unwrap();
}

#[test]
fn json_feeder_columns_are_the_keys_of_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.json"),
        r#"[{"id": 1}, {"id": 2, "email": "b@x"}]"#,
    )
    .unwrap();
    let src = "data:\n  users: {file: users.json}\nworkload:\n  operations:\n    a: GET /u/{{ users.id }}/{{ users.email }}/{{ users.emial }}\n";
    let e = errors_in(dir.path(), src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "data `users` has no column `emial`");
    assert_eq!(at(&e[0]), (5, 57));
}

#[test]
fn a_missing_data_file_is_reported_by_validate_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("{USERS}        json: {{user: \"{{{{ users.username }}}}\"}}\n");
    let e = errors_in(dir.path(), &src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.starts_with("data file `"), "{e:?}");
    assert!(e[0].message.ends_with("users.csv` does not exist"), "{e:?}");
    assert_eq!(at(&e[0]), (2, 17));
    assert!(
        e[0].help
            .as_deref()
            .unwrap()
            .contains("relative to the directory of the plan")
    );
    // `parse_plan` has no directory and opens no file.
    parse(&src).unwrap();
}

#[test]
fn an_empty_data_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = USERS;
    std::fs::write(dir.path().join("users.csv"), "").unwrap();
    let e = errors_in(dir.path(), src);
    assert!(e[0].message.contains("the file is empty"), "{e:?}");
    std::fs::write(dir.path().join("users.csv"), "username,password\n").unwrap();
    let e = errors_in(dir.path(), src);
    assert!(e[0].message.ends_with("has no rows"), "{e:?}");
    assert_eq!(at(&e[0]), (2, 17));
    std::fs::create_dir(dir.path().join("d.csv")).unwrap();
    let e = errors_in(dir.path(), &src.replace("users.csv", "d.csv"));
    assert!(e[0].message.ends_with("is a directory"), "{e:?}");
}

#[test]
fn a_header_name_with_a_space_is_an_error() {
    let e = errors(
        "target:\n  url: demo\n  headers: {X Api-Key: k}\nworkload:\n  operations:\n    a: {request: {url: /, headers: {\"Accept:\": json}}}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].message, "header name `X Api-Key` contains a space");
    assert_eq!(at(&e[0]), (3, 14));
    assert!(e[0].help.as_deref().unwrap().contains("RFC 9110"));
    assert_eq!(e[1].message, "header name `Accept:` contains `:`");
    assert_eq!(at(&e[1]), (6, 44));
    // Checks and captures name headers too.
    let e = errors(
        "workload:\n  operations:\n    a:\n      request: GET /\n      checks: [{header: Content Type, exists: true}]\n      capture: {loc: {header: 'Loc ation'}}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn a_header_value_with_a_line_break_is_an_error() {
    let e = errors(
        "workload:\n  operations:\n    a:\n      request:\n        url: /\n        headers:\n          X-Note: |\n            two\n            lines\n          X-Tab: \"a\\tb\"\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].message,
        "the value of header `X-Note` contains a line break"
    );
    assert_eq!(at(&e[0]).0, 8, "at the block's text");
}

/// A self-signed certificate and its key, as PEM.
fn cert_and_key() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

const TLS: &str = "target:\n  url: https://127.0.0.1:8443\n  tls:\n    caCerts: [ca.pem]\n    clientCert: {cert: client.pem, key: client-key.pem}\nworkload: {operations: {a: GET /}}\n";

#[test]
fn a_missing_ca_file_is_reported_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_and_key();
    std::fs::write(dir.path().join("client.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("client-key.pem"), &key).unwrap();
    let e = errors_in(dir.path(), TLS);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.starts_with("CA certificate file `"), "{e:?}");
    assert!(e[0].message.ends_with("ca.pem` does not exist"), "{e:?}");
    assert_eq!(at(&e[0]), (4, 15));
    // Present and PEM: valid.
    std::fs::write(dir.path().join("ca.pem"), &cert).unwrap();
    parse_plan_in("p", TLS.as_bytes(), "p", &Overrides::default(), dir.path()).unwrap();
}

#[test]
fn certificate_and_key_files_must_hold_pem() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = cert_and_key();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
    std::fs::write(dir.path().join("client.pem"), "").unwrap();
    // A certificate where the key should be.
    std::fs::write(dir.path().join("client-key.pem"), &cert).unwrap();
    let e = errors_in(dir.path(), TLS);
    let msgs: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs[0].ends_with("ca.pem` holds no PEM certificate"),
        "{msgs:?}"
    );
    assert!(msgs[1].ends_with("client.pem` is empty"), "{msgs:?}");
    assert!(
        msgs[2].contains("client-key.pem` holds no usable PEM private key"),
        "{msgs:?}"
    );
    assert_eq!(at(&e[1]), (5, 24));
    assert_eq!(at(&e[2]), (5, 41));
}

#[test]
fn a_missing_multipart_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = "workload:\n  operations:\n    up:\n      request:\n        method: POST\n        url: /upload\n        multipart:\n          - {name: f, file: report.csv}\n";
    let e = errors_in(dir.path(), src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.starts_with("upload file `"), "{e:?}");
    assert_eq!(at(&e[0]), (8, 29));
    std::fs::write(dir.path().join("report.csv"), "").unwrap();
    parse_plan_in("p", src.as_bytes(), "p", &Overrides::default(), dir.path()).unwrap();
}
