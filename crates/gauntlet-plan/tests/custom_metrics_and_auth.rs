//! The plan's own metrics (`metrics:`, a step's `metrics:`) and `auth:`:
//! what validation accepts, what it refuses, and where it points.

use gauntlet_metrics::{MetricKind, Unit};
use gauntlet_plan::{
    Diagnostic, Loaded, Overrides, PlanErrors, Severity, Timing, ValueSource, parse_plan,
};

fn parse(src: &str) -> Result<Loaded, PlanErrors> {
    parse_plan("plan.yaml", src.as_bytes(), "plan", &Overrides::default())
}

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse(src) {
        Ok(_) => panic!("plan should be invalid:\n{src}"),
        Err(e) => e
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    }
}

const METRICS: &str = "metrics:
  items_returned: counter
  queue_depth: gauge
  cache_hit: rate
  item_size: trend
  server_time: {type: trend, time: true}
";

fn with_step(metrics: &str, thresholds: &str) -> String {
    format!(
        "{METRICS}target: http://127.0.0.1:1
workload:
  operations:
    list:
      request: GET /api/items
      metrics:
{metrics}
{thresholds}"
    )
}

#[test]
fn declared_metrics_and_step_values_reach_the_plan() {
    let src = with_step(
        "        - {metric: items_returned, jsonPath: $.count}
        - {metric: queue_depth, header: X-Queue}
        - {metric: server_time, timing: waiting, tags: {kind: list}}
        - {metric: cache_hit, value: \"{{ 1 }}\"}",
        "thresholds:
  items_returned: [count > 0]
  queue_depth: [value < 10]
  cache_hit: [rate > 0.5]
  item_size: [p(95) < 1000]
  \"server_time{kind:list}\": [p(95) < 200ms]
",
    );
    let plan = parse(&src).unwrap().plan;
    let kinds: Vec<(&str, MetricKind, Unit)> = plan
        .custom_metrics
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.unit))
        .collect();
    assert_eq!(
        kinds,
        [
            ("items_returned", MetricKind::Counter, Unit::Count),
            ("queue_depth", MetricKind::Gauge, Unit::Count),
            ("cache_hit", MetricKind::Rate, Unit::Count),
            ("item_size", MetricKind::Trend, Unit::Count),
            ("server_time", MetricKind::Trend, Unit::Microseconds),
        ]
    );
    let adds = &plan.workload.operations[0].steps[0].metrics;
    assert_eq!(adds.len(), 4);
    assert_eq!(adds[0].source, ValueSource::JsonPath("$.count".into()));
    assert_eq!(adds[1].source, ValueSource::Header("X-Queue".into()));
    assert_eq!(adds[2].source, ValueSource::Timing(Timing::Waiting));
    assert_eq!(adds[2].tags, [("kind".to_owned(), "list".to_owned())]);
    assert_eq!(plan.thresholds.len(), 5);
}

#[test]
fn a_threshold_on_an_undeclared_metric_is_refused_with_a_did_you_mean() {
    let e = errors(&with_step(
        "        - {metric: items_returned, jsonPath: $.count}",
        "thresholds:\n  items_returnd: [count > 0]\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].message, "unknown metric `items_returnd`");
    assert_eq!(e[0].help.as_deref(), Some("did you mean `items_returned`?"));
    let span = e[0].span.unwrap();
    assert_eq!((span.line, span.column), (15, 3));
}

#[test]
fn a_stat_that_does_not_fit_the_metric_kind_is_refused() {
    for (threshold, kind_word, takes) in [
        ("items_returned: [p(95) < 10]", "counter", "count, rate"),
        ("queue_depth: [avg < 10]", "gauge", "value"),
        ("cache_hit: [p(90) < 1]", "rate", "rate, count"),
        (
            "item_size: [value < 1]",
            "trend",
            "avg, min, med, max, p(N), count",
        ),
    ] {
        let e = errors(&with_step(
            "        - {metric: items_returned, jsonPath: $.count}",
            &format!("thresholds:\n  {threshold}\n"),
        ));
        assert_eq!(e.len(), 1, "{threshold}: {e:?}");
        assert!(
            e[0].message.contains(&format!("a {kind_word} metric")),
            "{threshold}: {}",
            e[0].message
        );
        assert!(
            e[0].help.as_deref().unwrap_or("").ends_with(takes),
            "{threshold}: {:?}",
            e[0].help
        );
    }
    // A duration unit only fits a time trend.
    let e = errors(&with_step(
        "        - {metric: items_returned, jsonPath: $.count}",
        "thresholds:\n  item_size: [p(95) < 200ms]\n",
    ));
    assert!(e[0].message.contains("does not fit item_size"), "{e:?}");
}

#[test]
fn a_step_adding_to_an_undeclared_metric_points_at_the_name() {
    let e = errors(&with_step(
        "        - {metric: item_returned, jsonPath: $.count}",
        "",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].message,
        "metric `item_returned` is not declared under `metrics:`"
    );
    assert_eq!(e[0].help.as_deref(), Some("did you mean `items_returned`?"));
    assert_eq!(e[0].span.unwrap().line, 13);
    // A built-in metric is not the plan's to add to.
    let e = errors(&with_step(
        "        - {metric: http_reqs, jsonPath: $.count}",
        "",
    ));
    assert!(e[0].help.as_deref().unwrap().contains("built-in"), "{e:?}");
}

#[test]
fn bad_declarations_and_sources_are_each_reported() {
    let src = "metrics:
  http_reqs: counter
  my_gauge: {type: gauge, time: true}
  my_trend: trand
  bad-name: counter
target: http://127.0.0.1:1
workload:
  operations:
    list:
      request: GET /
      metrics:
        - {metric: my_gauge}
        - {metric: my_gauge, header: X-A, timing: waiting}
        - {metric: my_gauge, timing: wait}
";
    let e = errors(src);
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    for want in [
        "`http_reqs` is a built-in metric",
        "`time` applies to trends only",
        "unknown metric type `trand`",
        "`bad-name` is not a metric name",
        "a step metric needs one of jsonPath, header, timing, value",
        "a step metric takes one value, found header and timing",
        "unknown timing `wait`",
    ] {
        assert!(
            messages.contains(&want),
            "missing {want:?} in {messages:#?}"
        );
    }
    let typo = e
        .iter()
        .find(|d| d.message == "unknown metric type `trand`")
        .unwrap();
    assert_eq!(typo.help.as_deref(), Some("did you mean `trend`?"));
    let timing = e
        .iter()
        .find(|d| d.message == "unknown timing `wait`")
        .unwrap();
    assert_eq!(timing.help.as_deref(), Some("did you mean `waiting`?"));
}

#[test]
fn a_poll_metric_declared_with_another_kind_is_refused() {
    let src = "metrics:
  job_duration: counter
target: http://127.0.0.1:1
workload:
  operations:
    job:
      poll:
        request: GET /job
        until: [{status: 200}]
        metric: job_duration
";
    let e = errors(src);
    assert!(e[0].message.contains("declares as a counter"), "{:?}", e[0]);
    // Declared as a time trend, it is the poll's metric.
    let ok = src.replace(
        "job_duration: counter",
        "job_duration: {type: trend, time: true}",
    );
    let plan = parse(&ok).unwrap().plan;
    assert_eq!(plan.custom_metrics.len(), 1);
}

fn authorization(plan: &gauntlet_plan::Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .target
        .headers
        .iter()
        .chain(
            plan.workload
                .operations
                .iter()
                .flat_map(|o| &o.steps)
                .filter_map(|s| match &s.action {
                    gauntlet_plan::Action::Request(r) => Some(r),
                    _ => None,
                })
                .flat_map(|r| &r.headers),
        )
        .filter(|(k, _)| k == "Authorization")
        .map(|(_, v)| v.source.clone())
        .collect();
    out.sort();
    out
}

#[test]
fn auth_becomes_the_authorization_header_it_sends() {
    let src = "target:
  url: http://127.0.0.1:1
  auth: {basic: {username: admin, password: s3cret}}
workload:
  operations:
    me:
      request:
        url: /me
        auth: {bearer: \"{{ env.TOKEN }}\"}
    login:
      request:
        url: /login
        auth: {basic: {username: admin, password: \"{{ env.PASSWORD }}\"}}
";
    let plan = parse(src).unwrap().plan;
    assert_eq!(
        authorization(&plan),
        [
            // admin:s3cret, encoded once at validation.
            "Basic YWRtaW46czNjcmV0",
            "Basic {% filter b64encode %}admin:{{ env.PASSWORD }}{% endfilter %}",
            "Bearer {{ env.TOKEN }}",
        ]
    );
}

#[test]
fn auth_mistakes_are_reported() {
    let src = "target:
  url: http://127.0.0.1:1
  headers: {Authorization: Bearer x}
  auth: {bearer: y}
workload:
  operations:
    a:
      request: {url: /a, auth: {basic: {username: admin}}}
    b:
      request: {url: /b, auth: {}}
    c:
      request: {url: /c, auth: {bearer: x, basic: {username: a, password: b}}}
    d:
      request: {url: /d, auth: {bearer: \"{{ tokn }}\"}}
";
    let e = errors(src);
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    for want in [
        "`target.auth` and an `Authorization` header in `target.headers` both set the same header",
        "`auth` needs `basic` or `bearer`",
        "`auth` is either `basic` or `bearer`, not both",
    ] {
        assert!(
            messages.contains(&want),
            "missing {want:?} in {messages:#?}"
        );
    }
    assert!(
        messages.iter().any(|m| m.contains("password")),
        "{messages:#?}"
    );
    assert!(messages.iter().any(|m| m.contains("tokn")), "{messages:#?}");
}
