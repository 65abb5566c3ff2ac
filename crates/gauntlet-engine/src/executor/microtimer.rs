//! A one-shot timer with microsecond resolution, for the arrival pacer at
//! every rate.
//!
//! Why it exists: tokio's timers fire on millisecond ticks, so a pacer that
//! sleeps on them starts a whole millisecond of arrivals at once: at high
//! rates a burst that queues at the target and reads as its latency
//! (docs/performance.md has the figures). A Linux timerfd in the runtime's
//! own epoll set wakes the pacer at the arrival's own time, with no thread
//! and no busy loop. Between 4,000 and 8,000 arrivals a second it serves the
//! other way: a wake-up per 8 arrivals is rarer than tokio's tick, and at
//! such rates the wake-up is the dearest part of an arrival. Below that, a
//! wake-up on tokio's tick lands up to a millisecond off the arrival's
//! instant, and the late part counted as the target's latency.
//!
//! It reads real time. Executor tests run in tokio's virtual time, so the
//! pacer keeps tokio's timers whenever the clock is paused
//! (`executor::clock_paused`).

use std::io;
use std::os::fd::OwnedFd;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// A timerfd registered with the runtime's I/O driver; one per arrival-rate
/// scenario, armed again for every wake-up.
#[derive(Debug)]
pub(crate) struct MicroTimer {
    fd: AsyncFd<OwnedFd>,
}

impl MicroTimer {
    /// A disarmed timer on the monotonic clock (the one `Instant` reads).
    /// Fails outside a runtime with I/O enabled, or where the kernel refuses
    /// the descriptor; the pacer then keeps tokio's timer.
    pub(crate) fn new() -> io::Result<MicroTimer> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // tokio deprecated the safe constructor because an arbitrary
        // `AsRawFd` may close its descriptor while registered; an `OwnedFd`
        // moved into the `AsyncFd` lives exactly as long as the
        // registration, the case the unsafe `register_with_interest` asks
        // its caller to guarantee (and this workspace forbids `unsafe`).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, Interest::READABLE)?;
        Ok(MicroTimer { fd })
    }

    /// Wait until `at` (at once if it has passed). Dropping the future
    /// leaves the timer armed; the next call arms it anew, and an expiry
    /// nobody waited for does not end that wait early.
    pub(crate) async fn sleep_until(&self, at: Instant) -> io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            },
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            // The expiry count is never read: the registration is
            // edge-triggered, so each expiry reports anew whatever the
            // count. Readiness is cleared at once, and the clock tells this
            // expiry (never before `at`: it was armed after `at - left`)
            // from one left over by a wait dropped before its timer fired.
            // Reading the count took two system calls a wake-up, one of
            // them failing (38,852 `read`s in 4 s at 50,000/s, `perf
            // stat`).
            self.fd.readable().await?.clear_ready();
            if Instant::now() >= at {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_no_earlier_than_asked_and_can_be_armed_again() {
        let t = MicroTimer::new().expect("timerfd");
        for us in [300u64, 50, 2_000] {
            let at = Instant::now() + Duration::from_micros(us);
            t.sleep_until(at).await.expect("sleep");
            assert!(Instant::now() >= at, "woke before {us} µs");
        }
        // A deadline in the past returns at once, without arming.
        t.sleep_until(Instant::now() - Duration::from_millis(1))
            .await
            .expect("past");
    }

    #[tokio::test]
    async fn a_stale_expiry_does_not_end_the_next_wait_early() {
        let t = MicroTimer::new().expect("timerfd");
        {
            let armed = t.sleep_until(Instant::now() + Duration::from_micros(200));
            tokio::pin!(armed);
            // One poll arms the timer; it then fires with nobody reading.
            let _ = poll_once(armed.as_mut()).await;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let at = Instant::now() + Duration::from_millis(2);
        t.sleep_until(at).await.expect("sleep");
        assert!(Instant::now() >= at, "a stale expiry ended the wait early");
    }

    /// Poll a future once; whether it finished.
    async fn poll_once<F: std::future::Future + Unpin>(mut f: F) -> bool {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx).is_ready())
        })
        .await
    }
}
