//! Messages that point at the cause (issue 22, item 7): each problem is
//! reported where it is (a line of the file, or the flag and its value) and
//! says what is wrong, with a hint that names something that exists.

use gauntlet_plan::{Diagnostic, Loaded, Overrides, PlanErrors, Severity, parse_plan};

fn parse(file: &str, src: &str, o: &Overrides) -> Result<Loaded, PlanErrors> {
    parse_plan(file, src.as_bytes(), "plan", o)
}

fn refused(file: &str, src: &str, o: &Overrides) -> PlanErrors {
    match parse(file, src, o) {
        Ok(_) => panic!("{file} should be refused:\n{src}"),
        Err(e) => e,
    }
}

fn errors(e: &PlanErrors) -> Vec<&Diagnostic> {
    e.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

#[test]
fn a_yaml_syntax_error_shows_the_line_its_header_names() {
    let src = "version: 1\nname: broken\nworkload:\n  operations: [a\n    b: GET /\n";
    let e = refused("plan.yaml", src, &Overrides::default());
    let d = errors(&e)[0];
    let span = d.span.expect("a syntax error has a position");
    assert!(span.line >= 4, "{d:?}");
    let text = e.render(false);
    let header = format!("plan.yaml:{}:{}", span.line, span.column);
    assert!(text.contains(&header), "{text}");
    // The snippet shows the named line, never line 1.
    assert!(text.contains(&format!("{} |", span.line)), "{text}");
    assert!(!text.contains("1 | version: 1"), "{text}");
}

#[test]
fn externally_controlled_says_it_is_unsupported_and_never_suggests_the_key_itself() {
    let src = "workload:\n  operations:\n    a: GET /\nscenarios:\n  ext:\n    executor: externally-controlled\n    vus: 2\n    maxVUs: 10\n    duration: 1m\n";
    let e = refused("plan.yaml", src, &Overrides::default());
    let text = e.render(false);
    let errs = errors(&e);
    assert_eq!(errs.len(), 1, "one cause, one error:\n{text}");
    assert!(
        errs[0].message.contains("`externally-controlled`"),
        "{text}"
    );
    // What to use instead, and which keys those take.
    let help = errs[0].help.as_deref().unwrap_or_default();
    assert!(
        help.contains("constant-vus (takes vus, duration)"),
        "{text}"
    );
    assert!(!text.contains("did you mean `vus`"), "{text}");
    assert!(!text.contains("unknown key `vus`"), "{text}");
}

#[test]
fn an_unknown_or_missing_executor_is_the_only_error_of_its_scenario() {
    for executor in ["    executor: constant-vuss\n", ""] {
        let src = format!(
            "workload:\n  operations:\n    a: GET /\nscenarios:\n  s:\n{executor}    vus: 2\n    duration: 1m\n"
        );
        let e = refused("plan.yaml", &src, &Overrides::default());
        let text = e.render(false);
        assert_eq!(errors(&e).len(), 1, "{text}");
        assert!(text.contains("executor"), "{text}");
        assert!(!text.contains("`vus`"), "{text}");
    }
}

#[test]
fn an_option_of_another_executor_says_which_options_this_one_takes() {
    let src = "workload:\n  operations:\n    a: GET /\nscenarios:\n  s:\n    executor: ramping-vus\n    vus: 2\n    stages: [{duration: 1s, target: 1}]\n";
    let e = refused("plan.yaml", src, &Overrides::default());
    let errs = errors(&e);
    assert_eq!(errs.len(), 1, "{}", e.render(false));
    assert_eq!(
        errs[0].message,
        "`vus` does not apply to executor `ramping-vus`"
    );
    assert_eq!(
        errs[0].help.as_deref(),
        Some("ramping-vus takes: startVUs, stages, gracefulRampDown")
    );
}

#[test]
fn a_k6_script_is_refused_as_javascript_with_a_hint_to_the_plan_format() {
    let script = "import http from 'k6/http';\nimport { sleep } from 'k6';\n\nexport const options = { vus: 10, duration: '30s' };\n\nexport default function () {\n  http.get('http://127.0.0.1:8080/');\n  sleep(1);\n}\n";
    for file in ["script.js", "script.ts", "plan.yaml"] {
        let e = refused(file, script, &Overrides::default());
        let errs = errors(&e);
        assert_eq!(errs.len(), 1, "{}", e.render(false));
        assert!(errs[0].message.contains("JavaScript"), "{file}: {errs:?}");
        assert!(errs[0].message.contains("YAML"), "{file}: {errs:?}");
        let help = errs[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("docs/plan-format.md"), "{help}");
        assert!(help.contains("examples/quickstart.yaml"), "{help}");
        assert!(!e.render(false).contains("invalid YAML"));
    }
    // A YAML plan that mentions `import` is still a plan.
    let plan = "workload:\n  operations:\n    import: GET /api/items?q=import\n";
    assert!(parse("plan.yaml", plan, &Overrides::default()).is_ok());
}

#[test]
fn a_bad_flag_value_names_the_flag_and_its_value_not_a_file_position() {
    let plan = "version: 1\nworkload:\n  operations:\n    a: GET /\n";
    for (o, origin) in [
        (
            Overrides {
                vus: Some(0),
                duration: Some("1s".into()),
                ..Overrides::default()
            },
            "--vus 0: ",
        ),
        (
            Overrides {
                duration: Some("soon".into()),
                ..Overrides::default()
            },
            "--duration soon: ",
        ),
        (
            Overrides {
                url: Some("ftp://127.0.0.1/x".into()),
                ..Overrides::default()
            },
            "--url ftp://127.0.0.1/x: ",
        ),
        (
            Overrides {
                rate: Some(0),
                ..Overrides::default()
            },
            "--rate 0: ",
        ),
        (
            Overrides {
                stages: vec![("1s".into(), 1), ("soon".into(), 2)],
                ..Overrides::default()
            },
            "--stage soon:2: ",
        ),
    ] {
        let e = refused("plan.yaml", plan, &o);
        let text = e.render(false);
        assert!(text.contains(&format!("error: {origin}")), "{text}");
        assert!(!text.contains(":0:0"), "{text}");
        assert!(!text.contains("plan.yaml:"), "{text}");
        assert!(!text.contains(" | "), "no snippet: {text}");
    }
}

#[test]
fn a_made_up_plan_is_reported_as_its_flag() {
    let made_up = "version: 1\nname: quick\ntarget: http://127.0.0.1:1\nworkload:\n  operations:\n    get:\n      request: \"GET /{{ nope }}\"\n";
    let e = refused("--url", made_up, &Overrides::default())
        .on_command_line("--url http://127.0.0.1:1/{{ nope }}");
    let text = e.render(false);
    assert!(
        text.contains("error: --url http://127.0.0.1:1/{{ nope }}: "),
        "{text}"
    );
    assert!(!text.contains("version: 1"), "{text}");
    assert!(!text.contains("--url:"), "{text}");
}

#[test]
fn bare_cr_line_endings_read_like_line_feeds() {
    let lf = "# a plan\nversion: 1\nworkload:\n  operations:\n    a: GET /\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n";
    for newline in ["\r", "\r\n"] {
        let src = lf.replace('\n', newline);
        let loaded = parse("plan.yaml", &src, &Overrides::default())
            .unwrap_or_else(|e| panic!("{newline:?}: {}", e.render(false)));
        assert_eq!(loaded.plan.scenarios.len(), 1);
        // Positions count CR as a line break.
        let bad = src.replace("duration: 1s", "duration: 1");
        let e = refused("plan.yaml", &bad, &Overrides::default());
        let span = errors(&e)[0].span.unwrap();
        assert_eq!((span.line, span.column), (10, 15), "{}", e.render(false));
    }
}

#[test]
fn no_hint_names_gauntlet_init() {
    for src in [&b"\x00\x01"[..], b""] {
        let e = refused_bytes(src);
        assert!(!e.render(false).contains("gauntlet init"), "{e}");
    }
}

fn refused_bytes(src: &[u8]) -> PlanErrors {
    parse_plan("plan.yaml", src, "plan", &Overrides::default()).unwrap_err()
}

#[test]
fn tags_from_the_command_line_are_known_to_threshold_selectors() {
    let src = "workload:\n  operations:\n    a: GET /\nthresholds:\n  \"http_req_duration{team:checkout}\": [\"p(95) < 1s\"]\n";
    let e = refused("plan.yaml", src, &Overrides::default());
    assert!(e.render(false).contains("unknown tag `team`"), "{e}");
    let o = Overrides {
        tags: vec![("team".into(), "checkout".into())],
        ..Overrides::default()
    };
    let loaded = parse("plan.yaml", src, &o).unwrap_or_else(|e| panic!("{e}"));
    // And the tag is on every scenario's metrics.
    assert!(
        loaded
            .plan
            .scenarios
            .iter()
            .all(|s| s.tags.contains(&("team".into(), "checkout".into())))
    );
}
