//! SQLite behind a connection pool of fixed size.
//!
//! A small pool written here (a semaphore and a stack of connections) rather
//! than `r2d2_sqlite`/`deadpool-sqlite`, because those pin older `rusqlite`
//! versions than the workspace's, and because the demo must *measure* the
//! pool: wait time and in-use count are what pool-sizing analysis reads.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A stored item.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Item {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) data: Value,
    pub(crate) tags: Value,
    pub(crate) version: i64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// Why a database call failed.
#[derive(Debug)]
pub(crate) enum DbError {
    /// No connection became free within the pool timeout.
    PoolTimeout,
    /// SQLite failed.
    Sql(String),
}

/// The pool.
#[derive(Debug)]
pub(crate) struct Pool {
    conns: Mutex<Vec<Connection>>,
    permits: Semaphore,
    timeout: Duration,
    size: usize,
    in_use: AtomicUsize,
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn row_to_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let data: String = r.get(2)?;
    let tags: String = r.get(3)?;
    Ok(Item {
        id: r.get(0)?,
        name: r.get(1)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        tags: serde_json::from_str(&tags).unwrap_or(Value::Array(vec![])),
        version: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const COLS: &str = "id, name, data, tags, version, created_at, updated_at";

impl Pool {
    pub(crate) fn open(path: &Path, size: usize, timeout: Duration) -> Result<Arc<Pool>, String> {
        let mut conns = Vec::with_capacity(size);
        for i in 0..size {
            let c = Connection::open(path).map_err(|e| e.to_string())?;
            c.busy_timeout(Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            c.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| e.to_string())?;
            c.pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| e.to_string())?;
            if i == 0 {
                c.execute_batch(
                    "CREATE TABLE IF NOT EXISTS items (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, data TEXT NOT NULL,
                        tags TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
                     CREATE INDEX IF NOT EXISTS items_name ON items(name);",
                )
                .map_err(|e| e.to_string())?;
            }
            conns.push(c);
        }
        Ok(Arc::new(Pool {
            conns: Mutex::new(conns),
            permits: Semaphore::new(size),
            timeout,
            size,
            in_use: AtomicUsize::new(0),
        }))
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Run `f` on a pooled connection; returns its result and the time spent waiting for the connection.
    pub(crate) async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> (Result<T, DbError>, Duration) {
        let t0 = Instant::now();
        let permit = match tokio::time::timeout(self.timeout, self.permits.acquire()).await {
            Ok(Ok(p)) => p,
            _ => return (Err(DbError::PoolTimeout), t0.elapsed()),
        };
        let waited = t0.elapsed();
        let Some(conn) = self.conns.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
            return (Err(DbError::Sql("pool empty".into())), waited);
        };
        self.in_use.fetch_add(1, Ordering::Relaxed);
        let pool = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            pool.conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            r
        })
        .await;
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        let r = match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DbError::Sql(e.to_string())),
            Err(e) => Err(DbError::Sql(e.to_string())),
        };
        (r, waited)
    }

    pub(crate) async fn seed(self: &Arc<Self>, n: usize) -> Result<(), String> {
        let (r, _) = self
            .with(move |c| {
                let ts = now();
                for i in 0..n {
                    c.execute(
                        "INSERT INTO items (name, data, tags, version, created_at, updated_at) VALUES (?1, '{}', '[]', 1, ?2, ?2)",
                        params![format!("seed item {i}"), ts],
                    )?;
                }
                Ok(())
            })
            .await;
        r.map_err(|e| format!("{e:?}"))
    }
}

pub(crate) fn insert(
    c: &Connection,
    name: &str,
    data: &Value,
    tags: &Value,
) -> rusqlite::Result<Item> {
    let ts = now();
    c.execute(
        "INSERT INTO items (name, data, tags, version, created_at, updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?4)",
        params![name, data.to_string(), tags.to_string(), ts],
    )?;
    let id = c.last_insert_rowid();
    get(c, id).map(|o| {
        o.unwrap_or(Item {
            id,
            name: name.into(),
            data: data.clone(),
            tags: tags.clone(),
            version: 1,
            created_at: ts.clone(),
            updated_at: ts,
        })
    })
}

pub(crate) fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<Item>> {
    c.query_row(
        &format!("SELECT {COLS} FROM items WHERE id = ?1"),
        params![id],
        row_to_item,
    )
    .optional()
}

pub(crate) fn update(
    c: &Connection,
    id: i64,
    name: &str,
    data: &Value,
    tags: &Value,
) -> rusqlite::Result<Option<Item>> {
    let n = c.execute(
        "UPDATE items SET name = ?1, data = ?2, tags = ?3, version = version + 1, updated_at = ?4 WHERE id = ?5",
        params![name, data.to_string(), tags.to_string(), now(), id],
    )?;
    if n == 0 { Ok(None) } else { get(c, id) }
}

pub(crate) fn delete(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM items WHERE id = ?1", params![id])? > 0)
}

pub(crate) fn list(
    c: &Connection,
    page: u32,
    per_page: u32,
    q: Option<&str>,
) -> rusqlite::Result<(Vec<Item>, i64)> {
    let offset = (page.saturating_sub(1) as i64) * per_page as i64;
    let pattern = q.map(|q| format!("%{}%", q.replace('%', "\\%").replace('_', "\\_")));
    let (items, total) = match &pattern {
        Some(p) => {
            let mut st = c.prepare_cached(&format!("SELECT {COLS} FROM items WHERE name LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT ?2 OFFSET ?3"))?;
            let items = st
                .query_map(params![p, per_page, offset], row_to_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total = c.query_row(
                "SELECT COUNT(*) FROM items WHERE name LIKE ?1 ESCAPE '\\'",
                params![p],
                |r| r.get(0),
            )?;
            (items, total)
        }
        None => {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLS} FROM items ORDER BY id LIMIT ?1 OFFSET ?2"
            ))?;
            let items = st
                .query_map(params![per_page, offset], row_to_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total = c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
            (items, total)
        }
    };
    Ok((items, total))
}
