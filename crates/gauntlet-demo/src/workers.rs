//! A fixed pool of workers with a fixed service time: a service whose
//! capacity is known exactly, `workers / service_time` requests per second,
//! the truth a breaking-point search is checked against.
//!
//! Requests wait for a worker in arrival order (a fair semaphore), up to
//! `queue` of them; more are refused at once. Service is paced on each
//! worker's own clock: a request starts at the later of its arrival and the
//! end of its worker's previous request, and ends `service_time` after
//! that. A timer that wakes late therefore does not slow a busy worker
//! down: the next request's end is computed from the previous *planned*
//! end, so over any busy stretch a worker completes exactly one request per
//! `service_time`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What serving one request took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Served {
    /// Which worker (0-based).
    pub(crate) worker: usize,
    /// From arrival until its service started.
    pub(crate) queued: Duration,
    /// Its service time.
    pub(crate) service: Duration,
}

/// The queue was full: the request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// The pool.
#[derive(Debug)]
pub(crate) struct Workers {
    permits: Semaphore,
    /// Idle workers: (index, end of its last request).
    idle: Mutex<Vec<(usize, Instant)>>,
    size: usize,
    service_time: Duration,
    queue: usize,
    queued: AtomicUsize,
}

/// Gives a worker back, busy until its planned end, even if the request
/// was dropped mid-service (the work goes on, as in a real server).
struct Slot<'a> {
    workers: &'a Workers,
    worker: usize,
    end: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.workers
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.worker, self.end));
    }
}

/// Counts a request as queued until it has a worker or gave up.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// `size` workers (>= 1) of `service_time` each, at most `queue` waiting.
    pub(crate) fn new(size: usize, service_time: Duration, queue: usize) -> Workers {
        let now = Instant::now();
        Workers {
            permits: Semaphore::new(size),
            idle: Mutex::new((0..size).rev().map(|i| (i, now)).collect()),
            size,
            service_time,
            queue,
            queued: AtomicUsize::new(0),
        }
    }

    /// Number of workers.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Workers serving a request right now.
    pub(crate) fn busy(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    /// Requests waiting for a worker right now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Serve one request: wait for a worker, then for the service time.
    pub(crate) async fn serve(&self) -> Result<Served, QueueFull> {
        let arrival = Instant::now();
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::Relaxed) >= self.queue {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    return Err(QueueFull);
                }
                let waiting = Queued(&self.queued);
                // The semaphore is never closed.
                let p = self.permits.acquire().await.map_err(|_| QueueFull)?;
                drop(waiting);
                p
            }
        };
        let (worker, free_at) = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            // Unreachable by the permit invariant.
            .unwrap_or((0, arrival));
        let start = arrival.max(free_at);
        let slot = Slot {
            workers: self,
            worker,
            end: start + self.service_time,
        };
        tokio::time::sleep_until(slot.end).await;
        let served = Served {
            worker,
            queued: start - arrival,
            service: self.service_time,
        };
        // The worker goes back before the permit (dropped after this body).
        drop(slot);
        drop(permit);
        Ok(served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_backlog_drains_at_exactly_workers_per_service_time() {
        let w = Arc::new(Workers::new(2, Duration::from_millis(10), 1000));
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let w = w.clone();
                tokio::spawn(async move { (w.serve().await.unwrap(), Instant::now()) })
            })
            .collect();
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.unwrap());
        }
        // 100 requests on 2 workers of 10 ms: the last ends at 500 ms.
        let last = ends.iter().map(|(_, at)| *at - t0).max().unwrap();
        assert_eq!(last, Duration::from_millis(500));
        let longest_wait = ends.iter().map(|(s, _)| s.queued).max().unwrap();
        assert_eq!(longest_wait, Duration::from_millis(490));
        assert_eq!((w.busy(), w.queued()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_timer_does_not_slow_a_busy_worker() {
        let w = Arc::new(Workers::new(1, Duration::from_millis(10), 10));
        let t0 = Instant::now();
        // A request is in service, planned to end at 10 ms.
        let permit = w.permits.try_acquire().unwrap();
        let (worker, _) = w.idle.lock().unwrap().pop().unwrap();
        let next = tokio::spawn({
            let w = w.clone();
            async move { w.serve().await.unwrap() }
        });
        while w.queued() == 0 {
            tokio::task::yield_now().await;
        }
        // Its timer wakes 5 ms late.
        tokio::time::advance(Duration::from_millis(15)).await;
        w.idle
            .lock()
            .unwrap()
            .push((worker, t0 + Duration::from_millis(10)));
        drop(permit);
        let served = next.await.unwrap();
        // The waiting request starts at the planned end, not at the late wake-up.
        assert_eq!(served.queued, Duration::from_millis(10));
        assert_eq!(Instant::now() - t0, Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once() {
        let w = Arc::new(Workers::new(1, Duration::from_secs(1), 1));
        let busy = tokio::spawn({
            let w = w.clone();
            async move { w.serve().await }
        });
        let queued = tokio::spawn({
            let w = w.clone();
            async move { w.serve().await }
        });
        while w.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!((w.busy(), w.queued()), (1, 1));
        assert_eq!(w.serve().await, Err(QueueFull));
        assert_eq!(busy.await.unwrap().unwrap().queued, Duration::ZERO);
        assert_eq!(
            queued.await.unwrap().unwrap().queued,
            Duration::from_secs(1)
        );
    }
}
