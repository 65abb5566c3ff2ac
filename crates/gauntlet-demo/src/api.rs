//! Routes, handlers, and the middleware that injects faults and records
//! request metrics. The wire contract is specified in the crate docs.

use crate::cache::ItemCache;
use crate::compute;
use crate::error::{ApiError, ErrorCode};
use crate::faults::{Faults, Verdict};
use crate::jobs::{self, JobStatus, Jobs};
use crate::metrics::{JobLabels, Method, Metrics, ReqLabels, Route, RouteLabels};
use crate::store::{self, DbError, ItemInput, Pool};
use crate::workers::Workers;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest item name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Largest `per_page`.
const MAX_PER_PAGE: u32 = 100;
/// Default `per_page`.
const DEFAULT_PER_PAGE: u32 = 20;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) pool: Arc<Pool>,
    pub(crate) cache: ItemCache,
    pub(crate) jobs: Jobs,
    pub(crate) metrics: Metrics,
    pub(crate) faults: Faults,
    pub(crate) job_duration: Duration,
    pub(crate) workers: Workers,
    pub(crate) compute_rounds: u64,
}

type Shared = Arc<AppState>;

impl AppState {
    /// Run a query on a pooled connection, feeding the pool metrics.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (r, t) = self.pool.run(f).await;
        self.metrics.pool_acquire.observe(t.waited.as_secs_f64());
        if let Some(held) = t.held {
            self.metrics.pool_usage.observe(held.as_secs_f64());
        }
        r.map_err(|e| match e {
            DbError::PoolTimeout(_) => {
                self.metrics.pool_timeouts.inc();
                ApiError::new(ErrorCode::PoolExhausted, e.to_string())
            }
            DbError::Sql(_) | DbError::TaskFailed => {
                ApiError::new(ErrorCode::DatabaseError, e.to_string())
            }
        })
    }
}

/// The service's router, with the body limit and the observing middleware.
pub(crate) fn router(state: Shared, max_body_bytes: usize) -> Router {
    Router::new()
        .route(Route::Items.template(), get(list_items).post(create_item))
        .route(
            Route::Item.template(),
            get(get_item).put(update_item).delete(delete_item),
        )
        .route(Route::Jobs.template(), post(create_job))
        .route(Route::Job.template(), get(get_job))
        .route(Route::Login.template(), post(login))
        .route(Route::Me.template(), get(me))
        .route(Route::Compute.template(), get(compute))
        .route(Route::Work.template(), get(work))
        .route(Route::Index.template(), get(index))
        .route(Route::Health.template(), get(health))
        .route(Route::Metrics.template(), get(metrics))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Faults for `/api/*`, then request metrics for everything.
async fn observe(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = Route::from_template(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = Method::of(req.method());
    let resp = if is_api(req.uri().path()) && s.faults.any() {
        let resp = match s.faults.before().await {
            Verdict::Proceed => next.run(req).await,
            Verdict::InjectError => {
                s.metrics.injected_errors.inc();
                ApiError::new(
                    ErrorCode::InjectedError,
                    "error injected by the demo's configured error rate",
                )
                .into_response()
            }
        };
        s.faults.after().await;
        resp
    } else {
        next.run(req).await
    };
    s.metrics
        .requests
        .get_or_create(&ReqLabels {
            route,
            method,
            status: resp.status().as_u16(),
        })
        .inc();
    s.metrics
        .duration
        .get_or_create(&RouteLabels { route, method })
        .observe(t0.elapsed().as_secs_f64());
    resp
}

/// The endpoints, for a person or a quick test that starts at `/`.
async fn index() -> Json<Value> {
    Json(json!({
        "service": "gauntlet demo",
        "endpoints": ["/api/items", "/api/items/{id}", "/api/jobs", "/api/jobs/{id}", "/api/login", "/api/me", "/api/compute", "/api/work", "/health", "/metrics"],
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(s): State<Shared>) -> Response {
    let m = &s.metrics;
    let gauge = |g: &prometheus_client::metrics::gauge::Gauge, n: usize| {
        g.set(i64::try_from(n).unwrap_or(i64::MAX));
    };
    let active = s.pool.in_use();
    gauge(&m.pool_max, s.pool.size());
    gauge(&m.pool_active, active);
    gauge(&m.pool_idle, s.pool.size().saturating_sub(active));
    gauge(&m.pool_pending, s.pool.waiting());
    gauge(&m.workers, s.workers.size());
    gauge(&m.workers_busy, s.workers.busy());
    gauge(&m.workers_queued, s.workers.queued());
    gauge(&m.overloaded, usize::from(s.faults.overloaded()));
    m.cache_entries
        .set(i64::try_from(s.cache.len()).unwrap_or(i64::MAX));
    for (status, n) in JobStatus::ALL.into_iter().zip(s.jobs.counts()) {
        m.jobs.get_or_create(&JobLabels { status }).set(n);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

/// Validate a create/replace body.
fn item_input(body: Value) -> Result<ItemInput, ApiError> {
    let Value::Object(mut o) = body else {
        return Err(ApiError::invalid("the body must be a JSON object"));
    };
    let name = match o.remove("name") {
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n == 0 || n > MAX_NAME_CHARS || s.trim().is_empty() {
                return Err(ApiError::invalid(format!(
                    "`name` must be 1 to {MAX_NAME_CHARS} characters and not blank"
                )));
            }
            s
        }
        Some(_) => return Err(ApiError::invalid("`name` must be a string")),
        None => return Err(ApiError::invalid("`name` is required")),
    };
    let tags = match o.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|t| match t {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::invalid("`tags` must be a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("`tags` must be a list of strings")),
    };
    Ok(ItemInput {
        name,
        data: o.remove("data").unwrap_or(Value::Null),
        tags,
    })
}

/// A JSON answer from already-serialised bytes (cache hits skip serialising).
fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn serialize(item: &store::Item) -> Result<Bytes, ApiError> {
    serde_json::to_vec(item)
        .map(Bytes::from)
        .map_err(|e| ApiError::new(ErrorCode::DatabaseError, e.to_string()))
}

fn with_location(mut r: Response, path: String) -> Response {
    if let Ok(v) = HeaderValue::try_from(path) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn create_item(
    State(s): State<Shared>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let input = item_input(body)?;
    let item = s.db(move |c| store::insert(c, &input)).await?;
    let loc = format!("{}/{}", Route::Items.template(), item.id);
    Ok(with_location(
        json_bytes(StatusCode::CREATED, serialize(&item)?),
        loc,
    ))
}

/// Every answer after a cache lookup says which it was, errors included
/// (a miss for an unknown id went to the database too), so a client's
/// count of `X-Cache` headers equals the service's counters.
async fn get_item(State(s): State<Shared>, id: Result<Path<i64>, PathRejection>) -> Response {
    let Path(id) = match id {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (mut r, cache) = match s.cache.get(id) {
        Some(body) => {
            s.metrics.cache_hits.inc();
            (json_bytes(StatusCode::OK, body), "HIT")
        }
        None => {
            s.metrics.cache_misses.inc();
            let r = read_through(&s, id)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            (r, "MISS")
        }
    };
    r.headers_mut()
        .insert("x-cache", HeaderValue::from_static(cache));
    r
}

/// A cache miss: read the item and fill the cache.
async fn read_through(s: &AppState, id: i64) -> Result<Response, ApiError> {
    let item = s
        .db(move |c| store::get(c, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("item {id}")))?;
    let body = serialize(&item)?;
    s.cache.fill(id, item.version, body.clone());
    Ok(json_bytes(StatusCode::OK, body))
}

async fn update_item(
    State(s): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    let Json(body) = body?;
    let input = item_input(body)?;
    let item = s
        .db(move |c| store::update(c, id, &input))
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("item {id}")))?;
    s.cache.invalidate(id, item.version);
    Ok(json_bytes(StatusCode::OK, serialize(&item)?))
}

async fn delete_item(
    State(s): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    if s.db(move |c| store::delete(c, id)).await? {
        s.cache.invalidate(id, i64::MAX);
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format_args!("item {id}")))
    }
}

/// A positive whole-number query parameter, `default` when absent.
fn query_num(
    q: &HashMap<String, String>,
    key: &str,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("`{key}` must be a whole number from 1 to {max}, not `{v}`"),
            )),
        },
    }
}

async fn list_items(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let page = query_num(&q, "page", 1, u32::MAX)?;
    let per_page = query_num(&q, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let search = q.get("q").filter(|s| !s.is_empty()).cloned();
    let (items, total) = s
        .db(move |c| store::list(c, page, per_page, search.as_deref()))
        .await?;
    Ok(
        Json(json!({"items": items, "page": page, "per_page": per_page, "total": total}))
            .into_response(),
    )
}

/// Read the optional `{"duration_ms": N}` body of `POST /api/jobs`.
fn job_duration(body: &[u8], default: Duration) -> Result<Duration, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(default);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.to_string()))?;
    let max_ms = jobs::MAX_DURATION.as_millis();
    let mut o = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(default),
        _ => return Err(ApiError::invalid("the body must be a JSON object")),
    };
    match o.remove("duration_ms") {
        None | Some(Value::Null) => Ok(default),
        Some(d) => match d.as_u64() {
            Some(ms) if u128::from(ms) <= max_ms => Ok(Duration::from_millis(ms)),
            _ => Err(ApiError::invalid(format!(
                "`duration_ms` must be a whole number from 0 to {max_ms}"
            ))),
        },
    }
}

async fn create_job(
    State(s): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let duration = job_duration(&body?, s.job_duration)?;
    let (id, view) = s.jobs.create(duration);
    let loc = format!("{}/{id}", Route::Jobs.template());
    Ok(with_location(
        (StatusCode::ACCEPTED, Json(view)).into_response(),
        loc,
    ))
}

async fn get_job(
    State(s): State<Shared>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    let view = s
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::not_found(format_args!("job {id}")))?;
    Ok(Json(view).into_response())
}

/// `GET /api/compute?rounds=N`: burn `rounds` rounds of CPU (default
/// `compute_rounds`) on a blocking thread, so CPU saturates while the
/// runtime still answers `/metrics` and `/health`.
async fn compute(
    State(s): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let rounds = match q.get("rounds") {
        None => s.compute_rounds,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= compute::MAX_ROUNDS => n,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!(
                        "`rounds` must be a whole number from 0 to {}, not `{v}`",
                        compute::MAX_ROUNDS
                    ),
                ));
            }
        },
    };
    let checksum = tokio::task::spawn_blocking(move || compute::work(rounds, rounds))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    s.metrics.compute_rounds.inc_by(rounds);
    Ok(Json(json!({"rounds": rounds, "checksum": checksum.to_string()})).into_response())
}

/// `GET /api/work`: served by one of a fixed number of workers in a fixed
/// service time, so the capacity is known (see `workers.rs`).
async fn work(State(s): State<Shared>) -> Result<Response, ApiError> {
    match s.workers.serve().await {
        Ok(w) => Ok(Json(json!({
            "worker": w.worker,
            "queued_ms": w.queued.as_secs_f64() * 1000.0,
            "service_ms": w.service.as_secs_f64() * 1000.0,
        }))
        .into_response()),
        Err(crate::workers::QueueFull) => {
            s.metrics.workers_rejected.inc();
            Err(ApiError::new(
                ErrorCode::QueueFull,
                "every worker is busy and the queue is full: the service is past its capacity",
            ))
        }
    }
}

/// Longest user name, in bytes (user names are ASCII).
const MAX_USERNAME: usize = 100;

/// Whether `u` is a user name this service issues tokens for.
fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= MAX_USERNAME
        && u.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `POST /api/login`: every user's password is `pw-<username>` (so a CSV of
/// test users is trivial to write); the answer carries a bearer token.
/// There is no user table: session-style workloads need the round trip and
/// the token, not real accounts.
async fn login(body: Result<Json<Value>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let user = body.get("username").and_then(Value::as_str).unwrap_or("");
    let pass = body.get("password").and_then(Value::as_str).unwrap_or("");
    if !valid_username(user) {
        return Err(ApiError::invalid(format!(
            "`username` must be 1 to {MAX_USERNAME} letters, digits, `_`, `.` or `-`"
        )));
    }
    if pass.strip_prefix("pw-") != Some(user) {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    }
    Ok(Json(json!({"token": format!("tok-{user}"), "username": user})).into_response())
}

/// `GET /api/me`: whom the bearer token from `/api/login` belongs to.
async fn me(headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.trim().strip_prefix("tok-"))
        .filter(|u| valid_username(u))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "send `Authorization: Bearer <token from POST /api/login>`",
            )
        })?;
    Ok(Json(json!({"username": user})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn state(dir: &std::path::Path, pool_size: usize, pool_timeout: Duration) -> AppState {
        AppState {
            pool: Pool::open(&dir.join("t.sqlite"), pool_size, pool_timeout).unwrap(),
            cache: ItemCache::new(Duration::from_secs(60), 100),
            jobs: Jobs::new(100),
            metrics: Metrics::new(),
            faults: Faults::new(
                crate::LatencyModel::None,
                0.0,
                None,
                CancellationToken::new(),
            ),
            job_duration: Duration::from_secs(1),
            workers: Workers::new(1, Duration::ZERO, 0),
            compute_rounds: 0,
        }
    }

    #[tokio::test]
    async fn an_exhausted_pool_is_a_503_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(state(dir.path(), 1, Duration::from_millis(20)));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let s = s.clone();
            async move { s.db(move |_| Ok(rx.recv().is_ok())).await.is_ok() }
        });
        while s.pool.in_use() == 0 {
            tokio::task::yield_now().await;
        }
        let e = s.db(|_| Ok(())).await.unwrap_err();
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(s.metrics.pool_timeouts.get(), 1);
        tx.send(()).unwrap();
        assert!(holder.await.unwrap());
        let text = s.metrics.encode();
        assert!(
            text.contains("gauntlet_demo_db_pool_connections_acquire_seconds_count 2"),
            "{text}"
        );
    }

    #[test]
    fn item_bodies_are_validated() {
        let ok = item_input(json!({"name": "a", "tags": ["x"], "data": [1]})).unwrap();
        assert_eq!((ok.name.as_str(), ok.tags.len()), ("a", 1));
        let ok = item_input(json!({"name": "é".repeat(200)})).unwrap();
        assert_eq!((ok.data, ok.tags.len()), (Value::Null, 0));
        for bad in [
            json!([]),
            json!({}),
            json!({"name": ""}),
            json!({"name": "  "}),
            json!({"name": "x".repeat(201)}),
            json!({"name": 5}),
            json!({"name": "a", "tags": "x"}),
            json!({"name": "a", "tags": [1]}),
        ] {
            assert!(item_input(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names_are_restricted() {
        assert!(valid_username("ann.b-c_9"));
        for bad in ["", "a b", "ann\"", &"x".repeat(101), "é"] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn job_bodies_are_validated() {
        let d = Duration::from_secs(2);
        assert_eq!(job_duration(b"", d).unwrap(), d);
        assert_eq!(job_duration(b" null ", d).unwrap(), d);
        assert_eq!(job_duration(b"{}", d).unwrap(), d);
        assert_eq!(
            job_duration(br#"{"duration_ms": 200}"#, d).unwrap(),
            Duration::from_millis(200)
        );
        assert!(job_duration(br#"{"duration_ms": 600001}"#, d).is_err());
        assert!(job_duration(br#"{"duration_ms": -1}"#, d).is_err());
        assert!(job_duration(br#"{"duration_ms": 1.5}"#, d).is_err());
        assert!(job_duration(b"[1]", d).is_err());
        assert!(job_duration(b"{", d).is_err());
    }
}
