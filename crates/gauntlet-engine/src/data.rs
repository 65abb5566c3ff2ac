//! Data feeders: CSV or JSON files read once and shared by every VU.
//!
//! Rows are converted once into template values (cheap to clone: shared
//! maps), so drawing a row per iteration costs an atomic increment and a
//! reference count. Modes:
//!
//! | mode | row for an iteration |
//! |---|---|
//! | `sequential` | the next row of one cursor shared by all VUs, in file order; `onExhausted` at the end (default `recycle`: start over) |
//! | `unique` | the same shared cursor, but each row is used at most once (default `onExhausted: stop-vu`) |
//! | `circular` | the shared cursor, wrapping around forever |
//! | `random` | a uniformly random row |
//! | `per-vu` | VU *n* always gets row *n* (wrapping): a fixed identity per VU, e.g. its own account |

use gauntlet_plan::{DataFormat, FeedMode, Feeder, OnExhausted};
use minijinja::value::Value;
use rand::RngExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a data file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    #[error("data `{name}`: cannot read {path}: {message}")]
    Read {
        /// Feeder.
        name: String,
        /// File.
        path: String,
        /// Why.
        message: String,
    },
    /// The content is not what the format requires.
    #[error("data `{name}` ({path}): {message}")]
    Format {
        /// Feeder.
        name: String,
        /// File.
        path: String,
        /// Why.
        message: String,
    },
}

/// What drawing a row gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Draw {
    /// A row.
    Row(Value),
    /// No row left and the feeder says this VU stops.
    StopVu,
    /// No row left and the feeder says the test stops.
    StopTest,
}

/// One loaded feeder.
#[derive(Debug)]
pub struct DataSet {
    /// Name in templates.
    pub name: String,
    rows: Arc<[Value]>,
    mode: FeedMode,
    on_exhausted: OnExhausted,
    cursor: AtomicUsize,
}

impl DataSet {
    /// Load a feeder's file (relative paths are relative to `base`).
    pub fn load(f: &Feeder, base: &Path) -> Result<DataSet, DataError> {
        let path = base.join(&f.file);
        let shown = path.display().to_string();
        let read_err = |m: String| DataError::Read {
            name: f.name.clone(),
            path: shown.clone(),
            message: m,
        };
        let fmt_err = |m: String| DataError::Format {
            name: f.name.clone(),
            path: shown.clone(),
            message: m,
        };
        let bytes = std::fs::read(&path).map_err(|e| read_err(e.to_string()))?;
        let rows: Vec<Value> = match f.format {
            DataFormat::Json => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| fmt_err(e.to_string()))?;
                let arr = v.as_array().ok_or_else(|| {
                    fmt_err("a JSON data file must be an array of objects".into())
                })?;
                arr.iter()
                    .enumerate()
                    .map(|(i, r)| {
                        if r.is_object() {
                            Ok(Value::from(minijinja::value::Serde(r.clone())))
                        } else {
                            Err(fmt_err(format!("item {i} is not an object")))
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {
                let mut rdr = csv::ReaderBuilder::new()
                    .trim(csv::Trim::All)
                    .from_reader(&bytes[..]);
                let headers: Vec<String> = rdr
                    .headers()
                    .map_err(|e| fmt_err(e.to_string()))?
                    .iter()
                    .map(str::to_owned)
                    .collect();
                if headers.is_empty() {
                    return Err(fmt_err(
                        "the CSV needs a header row naming its columns".into(),
                    ));
                }
                let mut rows = Vec::new();
                for (i, rec) in rdr.records().enumerate() {
                    let rec = rec.map_err(|e| fmt_err(format!("row {}: {e}", i + 2)))?;
                    let map: std::collections::BTreeMap<String, Value> = headers
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(Value::from))
                        .collect();
                    rows.push(Value::from(map));
                }
                rows
            }
        };
        if rows.is_empty() {
            return Err(fmt_err("the file has no rows".into()));
        }
        Ok(DataSet {
            name: f.name.clone(),
            rows: rows.into(),
            mode: f.mode,
            on_exhausted: f.on_exhausted,
            cursor: AtomicUsize::new(0),
        })
    }

    /// Rows in the file.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file had no rows (never: loading refuses it).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Draw the row for one iteration of VU `vu` (1-based).
    pub fn draw(&self, vu: u64, rng: &mut impl rand::Rng) -> Draw {
        let n = self.rows.len();
        match self.mode {
            FeedMode::Random => Draw::Row(self.rows[rng.random_range(0..n)].clone()),
            FeedMode::PerVu => Draw::Row(self.rows[(vu.saturating_sub(1) as usize) % n].clone()),
            FeedMode::Circular => {
                Draw::Row(self.rows[self.cursor.fetch_add(1, Ordering::Relaxed) % n].clone())
            }
            _ => {
                let i = self.cursor.fetch_add(1, Ordering::Relaxed);
                if i < n {
                    return Draw::Row(self.rows[i].clone());
                }
                match self.on_exhausted {
                    OnExhausted::StopVu => Draw::StopVu,
                    OnExhausted::StopTest => Draw::StopTest,
                    _ => Draw::Row(self.rows[i % n].clone()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeder(file: &str, format: DataFormat, mode: FeedMode, on: OnExhausted) -> Feeder {
        Feeder {
            name: "users".into(),
            file: file.into(),
            format,
            mode,
            on_exhausted: on,
        }
    }

    fn names(d: &DataSet, vu: u64, k: usize) -> Vec<String> {
        let mut rng = rand::rng();
        (0..k)
            .map(|_| match d.draw(vu, &mut rng) {
                Draw::Row(v) => v.get_attr("name").unwrap().to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("u.csv"),
            "name, password\nann,pw-ann\nbob,pw-bob\ncid,pw-cid\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("u.json"),
            r#"[{"name": "ann"}, {"name": "bob"}]"#,
        )
        .unwrap();
        dir
    }

    #[test]
    fn sequential_recycles_and_unique_runs_out() {
        let dir = setup();
        let seq = DataSet::load(
            &feeder(
                "u.csv",
                DataFormat::Csv,
                FeedMode::Sequential,
                OnExhausted::Recycle,
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(names(&seq, 1, 4), ["ann", "bob", "cid", "ann"]);
        let uniq = DataSet::load(
            &feeder(
                "u.csv",
                DataFormat::Csv,
                FeedMode::Unique,
                OnExhausted::StopVu,
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(names(&uniq, 1, 4), ["ann", "bob", "cid", "StopVu"]);
        let stop = DataSet::load(
            &feeder(
                "u.csv",
                DataFormat::Csv,
                FeedMode::Unique,
                OnExhausted::StopTest,
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(names(&stop, 1, 4)[3], "StopTest");
    }

    #[test]
    fn circular_per_vu_random_and_json() {
        let dir = setup();
        let c = DataSet::load(
            &feeder(
                "u.json",
                DataFormat::Json,
                FeedMode::Circular,
                OnExhausted::StopVu,
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            names(&c, 1, 5),
            ["ann", "bob", "ann", "bob", "ann"],
            "circular never runs out"
        );
        let p = DataSet::load(
            &feeder(
                "u.csv",
                DataFormat::Csv,
                FeedMode::PerVu,
                OnExhausted::Recycle,
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(names(&p, 2, 3), ["bob", "bob", "bob"]);
        assert_eq!(names(&p, 4, 1), ["ann"]);
        let r = DataSet::load(
            &feeder(
                "u.csv",
                DataFormat::Csv,
                FeedMode::Random,
                OnExhausted::Recycle,
            ),
            dir.path(),
        )
        .unwrap();
        let drawn = names(&r, 1, 300);
        for n in ["ann", "bob", "cid"] {
            assert!(drawn.iter().any(|d| d == n));
        }
    }

    #[test]
    fn bad_files_say_why() {
        let dir = setup();
        std::fs::write(dir.path().join("bad.json"), r#"{"name": 1}"#).unwrap();
        let e = DataSet::load(
            &feeder(
                "bad.json",
                DataFormat::Json,
                FeedMode::Sequential,
                OnExhausted::Recycle,
            ),
            dir.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("array of objects"), "{e}");
        let e = DataSet::load(
            &feeder(
                "missing.csv",
                DataFormat::Csv,
                FeedMode::Sequential,
                OnExhausted::Recycle,
            ),
            dir.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
