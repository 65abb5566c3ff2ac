//! Async jobs: accepted at once, done some time later.
//!
//! They exist so plans can exercise the submit-then-poll pattern and SLAs on
//! long operations. No worker runs anything: a job's status is a pure
//! function of its age ([`JobStatus::at`]), pending for the first 10% of its
//! duration, running until it has lasted its duration, then done. That keeps
//! jobs free (no task per job, nothing to cancel on shutdown) and their
//! timing exact.
//!
//! The table is bounded: done jobs are forgotten [`RETAIN_DONE`] after they
//! finished, and above [`MAX_JOBS`] the oldest jobs go first.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Done jobs are kept this long after they finished.
pub(crate) const RETAIN_DONE: Duration = Duration::from_secs(600);
/// At most this many jobs are remembered.
pub(crate) const MAX_JOBS: usize = 100_000;
/// Longest job a client may ask for.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(600);
/// How often creation sweeps out expired jobs when under the cap.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobStatus {
    /// Accepted, not started (first 10% of its duration).
    Pending,
    /// Started, not finished.
    Running,
    /// Finished; `completed_at` and `result` are set.
    Done,
}

impl JobStatus {
    /// Every status, for exporting a gauge per status even when zero.
    pub(crate) const ALL: [JobStatus; 3] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Done];

    /// The status of a job of `duration` that is `age` old.
    pub(crate) fn at(age: Duration, duration: Duration) -> JobStatus {
        if age >= duration {
            JobStatus::Done
        } else if age < duration / 10 {
            JobStatus::Pending
        } else {
            JobStatus::Running
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
        }
    }
}

impl EncodeLabelValue for JobStatus {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
struct Job {
    created: Instant,
    created_wall: SystemTime,
    duration: Duration,
}

impl Job {
    fn status(&self, now: Instant) -> JobStatus {
        JobStatus::at(now.saturating_duration_since(self.created), self.duration)
    }

    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= self.duration + RETAIN_DONE
    }

    fn view(&self, id: u64, status: JobStatus) -> Value {
        let done = status == JobStatus::Done;
        json!({
            "id": id,
            "status": status,
            "created_at": crate::store::rfc3339(self.created_wall),
            "completed_at": done.then(|| crate::store::rfc3339(self.created_wall + self.duration)),
            "result": if done {
                json!({"duration_ms": self.duration.as_millis() as u64, "checksum": id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40})
            } else {
                Value::Null
            },
        })
    }
}

#[derive(Debug)]
struct Inner {
    jobs: BTreeMap<u64, Job>,
    next_id: u64,
    last_sweep: Instant,
}

/// The in-memory job table.
#[derive(Debug)]
pub(crate) struct Jobs {
    inner: Mutex<Inner>,
    cap: usize,
}

impl Jobs {
    /// An empty table remembering at most `cap` jobs.
    pub(crate) fn new(cap: usize) -> Jobs {
        Jobs {
            inner: Mutex::new(Inner {
                jobs: BTreeMap::new(),
                next_id: 1,
                last_sweep: Instant::now(),
            }),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accept a job lasting `duration`; returns its id and its creation
    /// answer (always `pending`: accepted, not looked at yet).
    pub(crate) fn create(&self, duration: Duration) -> (u64, Value) {
        let now = Instant::now();
        let job = Job {
            created: now,
            created_wall: SystemTime::now(),
            duration,
        };
        let mut inner = self.lock();
        if inner.jobs.len() >= self.cap || now.duration_since(inner.last_sweep) >= SWEEP_EVERY {
            inner.jobs.retain(|_, j| !j.expired(now));
            inner.last_sweep = now;
        }
        while inner.jobs.len() >= self.cap {
            inner.jobs.pop_first();
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let view = job.view(id, JobStatus::Pending);
        inner.jobs.insert(id, job);
        (id, view)
    }

    /// The job's current view, if known.
    pub(crate) fn get(&self, id: u64) -> Option<Value> {
        let now = Instant::now();
        let inner = self.lock();
        inner.jobs.get(&id).map(|j| j.view(id, j.status(now)))
    }

    /// Jobs per status, in [`JobStatus::ALL`] order.
    pub(crate) fn counts(&self) -> [i64; 3] {
        let now = Instant::now();
        let mut n = [0; 3];
        for j in self.lock().jobs.values() {
            n[j.status(now) as usize] += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_age() {
        let d = Duration::from_secs(10);
        assert_eq!(JobStatus::at(Duration::ZERO, d), JobStatus::Pending);
        assert_eq!(
            JobStatus::at(Duration::from_millis(999), d),
            JobStatus::Pending
        );
        assert_eq!(JobStatus::at(Duration::from_secs(1), d), JobStatus::Running);
        assert_eq!(
            JobStatus::at(Duration::from_millis(9_999), d),
            JobStatus::Running
        );
        assert_eq!(JobStatus::at(d, d), JobStatus::Done);
        assert_eq!(
            JobStatus::at(Duration::ZERO, Duration::ZERO),
            JobStatus::Done
        );
    }

    #[test]
    fn creation_answers_pending_and_zero_jobs_are_done() {
        let jobs = Jobs::new(10);
        let (id, v) = jobs.create(Duration::ZERO);
        assert_eq!(v["status"], "pending");
        assert_eq!(v["completed_at"], Value::Null);
        let v = jobs.get(id).unwrap();
        assert_eq!(v["status"], "done");
        assert_eq!(v["completed_at"], v["created_at"]);
        assert_eq!(v["result"]["duration_ms"], 0);
        assert_eq!(jobs.counts(), [0, 0, 1]);
        assert!(jobs.get(id + 1).is_none());
    }

    #[test]
    fn the_table_is_capped_oldest_first() {
        let jobs = Jobs::new(3);
        let ids: Vec<u64> = (0..5).map(|_| jobs.create(MAX_DURATION).0).collect();
        assert!(jobs.get(ids[0]).is_none() && jobs.get(ids[1]).is_none());
        assert!(ids[2..].iter().all(|&id| jobs.get(id).is_some()));
        assert_eq!(jobs.counts(), [3, 0, 0]);
    }
}
