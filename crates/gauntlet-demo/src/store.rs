//! SQLite storage of items behind a fixed-size connection pool.
//!
//! # Why a pool written here
//! `deadpool-sqlite` 0.14 and `r2d2_sqlite` 0.35 (the current releases) both
//! depend on `rusqlite` 0.40, while the workspace uses 0.43; two `rusqlite`
//! versions link two `libsqlite3-sys` that both claim the native `sqlite3`
//! library, which cargo refuses. The demo also has to *measure* its pool
//! (acquire wait and in-use count are what pool-sizing exercises read), and
//! that is easiest when the pool is ours. It is small: a tokio [`Semaphore`]
//! with one permit per connection bounds concurrent use and gives a fair,
//! timed wait; a `Mutex<Vec<Connection>>` holds the idle connections.
//!
//! # Invariants
//! A permit is released only after its connection is back in the idle list,
//! so a permit holder always finds a connection. Both the permit and the
//! connection travel into the blocking task inside a [`Lease`] whose `Drop`
//! gives them back: a request dropped mid-query (client gone) or a panic in
//! the closure cannot leak a connection or leave `in_use` counted up.
//!
//! # Slow queries
//! With a `query_time`, every call holds its connection that much longer
//! (an async sleep with the lease held, before the query), so a small pool
//! saturates at a known rate: `size / query_time` calls per second.
//!
//! Every connection runs in WAL mode with `synchronous=NORMAL` (durable
//! enough for a demo, and readers never block the writer), with a busy
//! timeout so concurrent writers queue in SQLite instead of failing.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A stored item, exactly as serialised on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Item {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) data: Value,
    pub(crate) tags: Vec<String>,
    pub(crate) version: i64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// The fields a client writes (validated by the API layer).
#[derive(Debug, Clone)]
pub(crate) struct ItemInput {
    pub(crate) name: String,
    pub(crate) data: Value,
    pub(crate) tags: Vec<String>,
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// No connection became free within the pool timeout.
    #[error("no database connection became free within {0:?}")]
    PoolTimeout(Duration),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("the database task did not finish")]
    TaskFailed,
}

/// The pool.
#[derive(Debug)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    size: usize,
    in_use: AtomicUsize,
    waiting: AtomicUsize,
    query_time: Duration,
}

/// How long a call waited for its connection and then held it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    /// Waiting for a connection (the whole timeout when it ran out).
    pub(crate) waited: Duration,
    /// Holding it, query time included; `None` when none was acquired.
    pub(crate) held: Option<Duration>,
}

/// Counts a caller as waiting until it got a connection or gave up.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A checked-out connection; gives itself back on drop (see the module docs).
struct Lease {
    pool: Arc<Pool>,
    conn: Option<Connection>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(c);
        }
        self.pool.in_use.fetch_sub(1, Ordering::Relaxed);
        // `_permit` is released after this body: the connection is back first.
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2025-01-31T12:00:00.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn open_one(path: &Path, create_schema: bool) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    if create_schema {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS items (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 name TEXT NOT NULL,
                 data TEXT NOT NULL,
                 tags TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 created_at TEXT NOT NULL,
                 updated_at TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS items_name ON items(name);",
        )?;
    }
    Ok(c)
}

impl Pool {
    /// Open `size` connections to `path` (created if missing) and the schema.
    #[cfg(test)]
    pub(crate) fn open(path: &Path, size: usize, timeout: Duration) -> rusqlite::Result<Arc<Pool>> {
        Pool::open_slow(path, size, timeout, Duration::ZERO)
    }

    /// Open `size` connections to `path` (created if missing) and the
    /// schema, every call holding its connection `query_time` longer.
    pub(crate) fn open_slow(
        path: &Path,
        size: usize,
        timeout: Duration,
        query_time: Duration,
    ) -> rusqlite::Result<Arc<Pool>> {
        let conns = (0..size)
            .map(|i| open_one(path, i == 0))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Arc::new(Pool {
            idle: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(size)),
            timeout,
            size,
            in_use: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            query_time,
        }))
    }

    /// Number of connections.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Connections checked out right now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Callers waiting for a connection right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Run `f` on a pooled connection in a blocking task.
    ///
    /// Returns the result and how long the call waited for the connection
    /// and held it.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> (Result<T, DbError>, Timings) {
        let t0 = Instant::now();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let queued = Waiting(&self.waiting);
        let acquired =
            tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await;
        drop(queued);
        let permit = match acquired {
            Ok(Ok(p)) => p,
            // The semaphore is never closed; treat it like a timeout anyway.
            Ok(Err(_)) | Err(_) => {
                let t = Timings {
                    waited: t0.elapsed(),
                    held: None,
                };
                return (Err(DbError::PoolTimeout(self.timeout)), t);
            }
        };
        let waited = t0.elapsed();
        let t1 = Instant::now();
        self.in_use.fetch_add(1, Ordering::Relaxed);
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let lease = Lease {
            pool: self.clone(),
            conn,
            _permit: permit,
        };
        if !self.query_time.is_zero() {
            // Held across the sleep: a dropped request gives it back.
            tokio::time::sleep(self.query_time).await;
        }
        let joined = tokio::task::spawn_blocking(move || match &lease.conn {
            Some(c) => f(c).map_err(DbError::from),
            // Unreachable by the permit invariant; an error beats a panic.
            None => Err(DbError::TaskFailed),
        })
        .await;
        let r = joined.unwrap_or(Err(DbError::TaskFailed));
        let t = Timings {
            waited,
            held: Some(t1.elapsed()),
        };
        (r, t)
    }

    /// Insert `n` generated items in one transaction (blocking: call it at
    /// startup, before serving).
    pub(crate) fn seed(&self, n: usize) -> rusqlite::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = idle.first() else {
            return Ok(());
        };
        let tx = c.unchecked_transaction()?;
        {
            let ts = rfc3339(SystemTime::now());
            let mut st = tx.prepare_cached(INSERT)?;
            for i in 0..n {
                let tag = ["red", "green", "blue"][i % 3];
                st.query_row(
                    params![
                        format!("seed item {i}"),
                        format!(r#"{{"n":{i}}}"#),
                        format!(r#"["seed","{tag}"]"#),
                        ts
                    ],
                    |_| Ok(()),
                )?;
            }
        }
        tx.commit()
    }
}

/// The item columns in [`row_to_item`] order (a macro so `concat!` can build
/// constant SQL: no formatting per query).
macro_rules! cols {
    () => {
        "id, name, data, tags, version, created_at, updated_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO items (name, data, tags, version, created_at, updated_at) ",
    "VALUES (?1, ?2, ?3, 1, ?4, ?4) RETURNING ",
    cols!()
);

const UPDATE: &str = concat!(
    "UPDATE items SET name = ?1, data = ?2, tags = ?3, version = version + 1, updated_at = ?4 ",
    "WHERE id = ?5 RETURNING ",
    cols!()
);

const GET: &str = concat!("SELECT ", cols!(), " FROM items WHERE id = ?1");

const LIST: &str = concat!(
    "SELECT ",
    cols!(),
    " FROM items ORDER BY id LIMIT ?1 OFFSET ?2"
);

const SEARCH: &str = concat!(
    "SELECT ",
    cols!(),
    " FROM items WHERE name LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT ?2 OFFSET ?3"
);

fn row_to_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let data: String = r.get(2)?;
    let tags: String = r.get(3)?;
    Ok(Item {
        id: r.get(0)?,
        name: r.get(1)?,
        // Written by us from valid JSON; a hand-edited database degrades to null/[].
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        version: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// Store a new item at version 1.
pub(crate) fn insert(c: &Connection, input: &ItemInput) -> rusqlite::Result<Item> {
    let mut st = c.prepare_cached(INSERT)?;
    st.query_row(
        params![
            input.name,
            input.data.to_string(),
            tags_json(&input.tags),
            rfc3339(SystemTime::now())
        ],
        row_to_item,
    )
}

/// One item, if it exists.
pub(crate) fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<Item>> {
    let mut st = c.prepare_cached(GET)?;
    st.query_row(params![id], row_to_item).optional()
}

/// Replace an item's fields and bump its version; `None` if it does not exist.
pub(crate) fn update(c: &Connection, id: i64, input: &ItemInput) -> rusqlite::Result<Option<Item>> {
    let mut st = c.prepare_cached(UPDATE)?;
    st.query_row(
        params![
            input.name,
            input.data.to_string(),
            tags_json(&input.tags),
            rfc3339(SystemTime::now()),
            id
        ],
        row_to_item,
    )
    .optional()
}

/// Delete an item; `false` if it did not exist.
pub(crate) fn delete(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    let mut st = c.prepare_cached("DELETE FROM items WHERE id = ?1")?;
    Ok(st.execute(params![id])? > 0)
}

/// `LIKE` pattern matching `q` anywhere, with `\`, `%` and `_` taken literally.
fn contains_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for ch in q.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// A page of items in id order, and the number of items matching in total.
///
/// `q` matches names containing it (SQLite `LIKE`: case-insensitive for ASCII).
pub(crate) fn list(
    c: &Connection,
    page: u32,
    per_page: u32,
    q: Option<&str>,
) -> rusqlite::Result<(Vec<Item>, i64)> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    match q {
        Some(q) => {
            let pattern = contains_pattern(q);
            let mut st = c.prepare_cached(SEARCH)?;
            let items = st
                .query_map(params![pattern, per_page, offset], row_to_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut count =
                c.prepare_cached("SELECT COUNT(*) FROM items WHERE name LIKE ?1 ESCAPE '\\'")?;
            let total = count.query_row(params![pattern], |r| r.get(0))?;
            Ok((items, total))
        }
        None => {
            let mut st = c.prepare_cached(LIST)?;
            let items = st
                .query_map(params![per_page, offset], row_to_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut count = c.prepare_cached("SELECT COUNT(*) FROM items")?;
            let total = count.query_row([], |r| r.get(0))?;
            Ok((items, total))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(size: usize, timeout: Duration) -> (tempfile::TempDir, Arc<Pool>) {
        let dir = tempfile::tempdir().unwrap();
        let p = Pool::open(&dir.path().join("t.sqlite"), size, timeout).unwrap();
        (dir, p)
    }

    fn input(name: &str) -> ItemInput {
        ItemInput {
            name: name.into(),
            data: json!({"k": [1, 2]}),
            tags: vec!["t".into()],
        }
    }

    #[tokio::test]
    async fn crud_round_trip() {
        let (_d, p) = pool(2, Duration::from_secs(1));
        let (r, _) = p.run(|c| insert(c, &input("a"))).await;
        let a = r.unwrap();
        assert_eq!((a.version, a.data.clone()), (1, json!({"k": [1, 2]})));
        let (r, _) = p.run(move |c| update(c, a.id, &input("b"))).await;
        let b = r.unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.version), ("b", 2));
        let (r, _) = p.run(move |c| get(c, a.id)).await;
        assert_eq!(r.unwrap(), Some(b));
        let (r, _) = p.run(move |c| delete(c, a.id)).await;
        assert!(r.unwrap());
        let (r, _) = p.run(move |c| update(c, a.id, &input("c"))).await;
        assert_eq!(r.unwrap(), None);
    }

    #[tokio::test]
    async fn search_takes_wildcards_literally() {
        let (_d, p) = pool(1, Duration::from_secs(1));
        for n in ["100% cotton", "100 cotton", "a_b", "axb", r"back\slash"] {
            p.run(move |c| insert(c, &input(n))).await.0.unwrap();
        }
        let count = |q: &'static str| {
            let p = p.clone();
            async move { p.run(move |c| list(c, 1, 100, Some(q))).await.0.unwrap().1 }
        };
        assert_eq!(count("0%").await, 1);
        assert_eq!(count("a_b").await, 1);
        assert_eq!(count(r"k\s").await, 1);
        assert_eq!(count("COTTON").await, 2, "LIKE ignores ASCII case");
    }

    #[tokio::test]
    async fn seeding_inserts_in_one_go() {
        let (_d, p) = pool(1, Duration::from_secs(1));
        p.seed(250).unwrap();
        let (items, total) = p.run(|c| list(c, 3, 100, None)).await.0.unwrap();
        assert_eq!((items.len(), total), (50, 250));
        assert_eq!(
            items[0].tags,
            vec!["seed".to_owned(), "blue".to_owned()],
            "item 200"
        );
    }

    #[tokio::test]
    async fn a_busy_pool_times_out() {
        let (_d, p) = pool(1, Duration::from_millis(50));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let p = p.clone();
            async move { p.run(move |_| Ok(rx.recv().is_ok())).await.0 }
        });
        // Wait until the holder has the connection.
        while p.in_use() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(p.waiting(), 0);
        let (r, t) = p.run(|_| Ok(())).await;
        assert!(matches!(r, Err(DbError::PoolTimeout(_))), "{r:?}");
        assert!(t.waited >= Duration::from_millis(50));
        assert!(t.held.is_none());
        assert_eq!(p.waiting(), 0, "a timed-out caller no longer waits");
        tx.send(()).unwrap();
        assert!(holder.await.unwrap().unwrap());
        assert!(p.run(|_| Ok(())).await.0.is_ok(), "free again");
        assert_eq!(p.in_use(), 0);
    }

    #[tokio::test]
    async fn a_dropped_request_gives_its_connection_back() {
        let (_d, p) = pool(1, Duration::from_secs(5));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let caller = tokio::spawn({
            let p = p.clone();
            async move { p.run(move |_| Ok(rx.recv().is_ok())).await.0 }
        });
        while p.in_use() == 0 {
            tokio::task::yield_now().await;
        }
        // The client goes away while the query runs.
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(p.in_use(), 1, "the query itself still runs");
        tx.send(()).unwrap();
        // The next caller waits for the connection and gets it, not an error.
        let (r, _) = p.run(|c| list(c, 1, 1, None)).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(p.in_use(), 0);
    }

    #[tokio::test]
    async fn slow_queries_hold_their_connection_and_waiters_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let q = Duration::from_millis(300);
        let p =
            Pool::open_slow(&dir.path().join("t.sqlite"), 1, Duration::from_secs(60), q).unwrap();
        let first = tokio::spawn({
            let p = p.clone();
            async move { p.run(|_| Ok(())).await.1 }
        });
        while p.in_use() == 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let p = p.clone();
            async move { p.run(|_| Ok(())).await.1 }
        });
        while p.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!((p.in_use(), p.waiting()), (1, 1));
        let a = first.await.unwrap();
        let b = second.await.unwrap();
        assert!(a.held.unwrap() >= q, "{a:?}");
        assert!(b.held.unwrap() >= q, "{b:?}");
        assert!(b.waited > Duration::ZERO, "{b:?}: waited for the first");
        assert_eq!((p.in_use(), p.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn a_panicking_query_gives_its_connection_back() {
        let (_d, p) = pool(1, Duration::from_secs(5));
        let (r, _) = p.run(|_| -> rusqlite::Result<()> { panic!("boom") }).await;
        assert!(matches!(r, Err(DbError::TaskFailed)));
        assert!(p.run(|_| Ok(())).await.0.is_ok());
        assert_eq!(p.in_use(), 0);
    }
}
