//! Routes, handlers, the fault/metrics middleware and the JSON error shape.

use crate::DemoConfig;
use crate::metrics::{Metrics, ReqLabels, RouteLabels, StatusLabels};
use crate::store::{self, DbError, Item, Pool};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::RngExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job: its status is derived from its age.
#[derive(Debug, Clone)]
struct Job {
    created: Instant,
    created_at: String,
    duration: Duration,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    cfg: DemoConfig,
    pool: Arc<Pool>,
    cache: Mutex<HashMap<i64, (Instant, Item)>>,
    jobs: Mutex<HashMap<u64, Job>>,
    next_job: AtomicU64,
    metrics: Metrics,
    started: Instant,
}

impl AppState {
    pub(crate) fn new(cfg: DemoConfig, pool: Arc<Pool>) -> AppState {
        let metrics = Metrics::new();
        metrics.pool_size.set(pool.size() as i64);
        AppState {
            cfg,
            pool,
            cache: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            metrics,
            started: Instant::now(),
        }
    }
}

type Shared = Arc<AppState>;

/// An error answered as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::PoolTimeout => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "pool_exhausted",
                "no database connection became free in time",
            ),
            DbError::Sql(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database_error", m)
            }
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with Content-Type: application/json",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", r.body_text()),
    }
}

fn path_rejection(_: PathRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_id",
        "ids are positive integers",
    )
}

pub(crate) fn router(state: Shared) -> Router {
    let limit = state.cfg.max_body_bytes;
    Router::new()
        .route("/api/items", get(list_items).post(create_item))
        .route(
            "/api/items/{id}",
            get(get_item).put(update_item).delete(delete_item),
        )
        .route("/api/jobs", axum::routing::post(create_job))
        .route("/api/jobs/{id}", get(get_job))
        .route("/api/login", axum::routing::post(login))
        .route("/api/me", get(me))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Faults for `/api/*`, then request metrics for everything.
async fn observe(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    // The route template, never the raw path, keeps label cardinality bounded;
    // `{id}` is written `:id` because some exposition parsers trip on braces.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().replace("{id}", ":id"))
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let api = req.uri().path().starts_with("/api/");
    let resp = if api {
        if let Some(stall) = s.cfg.stall {
            let wait = stall.wait(s.started.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let delay = s.cfg.latency.sample();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if s.cfg.error_rate > 0.0 && rand::rng().random_bool(s.cfg.error_rate.clamp(0.0, 1.0)) {
            s.metrics.injected_errors.inc();
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected_error",
                "error injected by the demo's error rate",
            )
            .into_response()
        } else {
            next.run(req).await
        }
    } else {
        next.run(req).await
    };
    s.metrics
        .requests
        .get_or_create(&ReqLabels {
            route: route.clone(),
            method: method.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    s.metrics
        .duration
        .get_or_create(&RouteLabels { route, method })
        .observe(t0.elapsed().as_secs_f64());
    resp
}

async fn metrics(State(s): State<Shared>) -> Response {
    s.metrics.pool_in_use.set(s.pool.in_use() as i64);
    s.metrics
        .cache_entries
        .set(s.cache.lock().unwrap_or_else(|p| p.into_inner()).len() as i64);
    let mut counts: HashMap<&str, i64> =
        HashMap::from([("pending", 0), ("running", 0), ("done", 0)]);
    for j in s.jobs.lock().unwrap_or_else(|p| p.into_inner()).values() {
        *counts.entry(job_status(j)).or_default() += 1;
    }
    for (status, n) in counts {
        s.metrics
            .jobs
            .get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .set(n);
    }
    let mut r = s.metrics.encode().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Validated item fields.
struct ItemInput {
    name: String,
    data: Value,
    tags: Value,
}

fn item_input(body: Value) -> Result<ItemInput, ApiError> {
    let invalid = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m);
    let Value::Object(mut o) = body else {
        return Err(invalid("the body must be a JSON object"));
    };
    let name = match o.remove("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => s,
        Some(Value::String(_)) => return Err(invalid("`name` must be 1 to 200 characters")),
        Some(_) => return Err(invalid("`name` must be a string")),
        None => return Err(invalid("`name` is required")),
    };
    let tags = match o.remove("tags") {
        None | Some(Value::Null) => Value::Array(vec![]),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Value::Array(a),
        Some(_) => return Err(invalid("`tags` must be a list of strings")),
    };
    Ok(ItemInput {
        name,
        data: o.remove("data").unwrap_or(Value::Null),
        tags,
    })
}

fn item_created(item: Item) -> Response {
    let loc = format!("/api/items/{}", item.id);
    let mut r = (StatusCode::CREATED, Json(item)).into_response();
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn observe_pool(s: &AppState, waited: Duration, r: &Result<impl Sized, DbError>) {
    s.metrics.pool_wait.observe(waited.as_secs_f64());
    if matches!(r, Err(DbError::PoolTimeout)) {
        s.metrics.pool_timeouts.inc();
    }
}

async fn create_item(
    State(s): State<Shared>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    let input = item_input(body)?;
    let (r, waited) = s
        .pool
        .with(move |c| store::insert(c, &input.name, &input.data, &input.tags))
        .await;
    observe_pool(&s, waited, &r);
    Ok(item_created(r?))
}

fn cache_get(s: &AppState, id: i64) -> Option<Item> {
    let cache = s.cache.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .get(&id)
        .filter(|(at, _)| at.elapsed() < s.cfg.cache_ttl)
        .map(|(_, item)| item.clone())
}

fn cache_put(s: &AppState, item: &Item) {
    let mut cache = s.cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= s.cfg.cache_capacity {
        let ttl = s.cfg.cache_ttl;
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
        if cache.len() >= s.cfg.cache_capacity
            && let Some(k) = cache.keys().next().copied()
        {
            cache.remove(&k);
        }
    }
    if s.cfg.cache_capacity > 0 {
        cache.insert(item.id, (Instant::now(), item.clone()));
    }
}

fn cache_drop(s: &AppState, id: i64) {
    s.cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
}

async fn get_item(
    State(s): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let (item, hit) = match cache_get(&s, id) {
        Some(item) => {
            s.metrics.cache_hits.inc();
            (item, true)
        }
        None => {
            s.metrics.cache_misses.inc();
            let (r, waited) = s.pool.with(move |c| store::get(c, id)).await;
            observe_pool(&s, waited, &r);
            let item = r?.ok_or_else(|| ApiError::not_found("item"))?;
            cache_put(&s, &item);
            (item, false)
        }
    };
    let mut r = Json(item).into_response();
    r.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if hit { "HIT" } else { "MISS" }),
    );
    Ok(r)
}

async fn update_item(
    State(s): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let Json(body) = body.map_err(json_rejection)?;
    let input = item_input(body)?;
    let (r, waited) = s
        .pool
        .with(move |c| store::update(c, id, &input.name, &input.data, &input.tags))
        .await;
    observe_pool(&s, waited, &r);
    cache_drop(&s, id);
    let item = r?.ok_or_else(|| ApiError::not_found("item"))?;
    Ok(Json(item).into_response())
}

async fn delete_item(
    State(s): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let (r, waited) = s.pool.with(move |c| store::delete(c, id)).await;
    observe_pool(&s, waited, &r);
    cache_drop(&s, id);
    if r? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("item"))
    }
}

async fn list_items(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "malformed query string",
        )
    })?;
    let num = |k: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 && n <= max => Ok(n),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("`{k}` must be a whole number from 1 to {max}"),
                )),
            },
        }
    };
    let page = num("page", 1, 1_000_000)?;
    let per_page = num("per_page", 20, 100)?;
    let search = q.get("q").cloned().filter(|s| !s.is_empty());
    let (r, waited) = s
        .pool
        .with(move |c| store::list(c, page, per_page, search.as_deref()))
        .await;
    observe_pool(&s, waited, &r);
    let (items, total) = r?;
    Ok(
        Json(json!({"items": items, "page": page, "per_page": per_page, "total": total}))
            .into_response(),
    )
}

fn job_status(j: &Job) -> &'static str {
    let age = j.created.elapsed();
    if age >= j.duration {
        "done"
    } else if age.as_secs_f64() < j.duration.as_secs_f64() * 0.1 {
        "pending"
    } else {
        "running"
    }
}

fn job_json(id: u64, j: &Job) -> Value {
    let status = job_status(j);
    let completed = (status == "done").then(|| {
        let done_at = std::time::SystemTime::now() - j.created.elapsed().saturating_sub(j.duration);
        humantime::format_rfc3339_millis(done_at).to_string()
    });
    json!({
        "id": id,
        "status": status,
        "created_at": j.created_at,
        "completed_at": completed,
        "result": if status == "done" { json!({"score": (id * 7919) % 100, "duration_ms": j.duration.as_millis() as u64}) } else { Value::Null },
    })
}

async fn create_job(
    State(s): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut duration = s.cfg.job_duration;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
        match v.get("duration_ms") {
            None | Some(Value::Null) => {}
            Some(d) => match d.as_u64() {
                Some(ms) if ms <= 600_000 => duration = Duration::from_millis(ms),
                _ => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "`duration_ms` must be 0 to 600000",
                    ));
                }
            },
        }
    }
    let id = s.next_job.fetch_add(1, Ordering::Relaxed);
    let job = Job {
        created: Instant::now(),
        created_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        duration,
    };
    let body = job_json(id, &job);
    {
        let mut jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.len() >= 100_000 {
            jobs.retain(|_, j| j.created.elapsed() < j.duration + Duration::from_secs(600));
        }
        jobs.insert(id, job);
    }
    let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/jobs/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn get_job(
    State(s): State<Shared>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let job = jobs.get(&id).ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(job_json(id, job)).into_response())
}

/// `POST /api/login`: a user logs in with the password `pw-<username>` (so a
/// CSV of test users is easy to write) and gets a bearer token.
async fn login(body: Result<Json<Value>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    let user = body.get("username").and_then(Value::as_str).unwrap_or("");
    let pass = body.get("password").and_then(Value::as_str).unwrap_or("");
    if user.is_empty()
        || user.len() > 100
        || !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "`username` must be 1 to 100 letters, digits, `_`, `.` or `-`",
        ));
    }
    if pass != format!("pw-{user}") {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong username or password",
        ));
    }
    Ok(Json(json!({"token": format!("tok-{user}"), "username": user})).into_response())
}

/// `GET /api/me`: who the bearer token belongs to.
async fn me(headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.strip_prefix("tok-"))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <token from /api/login>",
            )
        })?;
    Ok(Json(json!({"username": user})).into_response())
}
