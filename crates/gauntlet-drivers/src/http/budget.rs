//! One memory budget for every response body the run keeps at once.
//!
//! A body is kept only when a check or capture reads it, and each is bounded
//! by `max_body_bytes`; but thirty VUs whose checks read 20 MB responses
//! held 638 MB. The budget bounds their sum: bytes are taken from it as they
//! arrive and given back when the last reference to the body is dropped (the
//! body's `Bytes` owns its reservation). A body that would exceed it fails
//! with `body_too_large`, as a body over the per-request limit does.

use super::error::{ErrorKind, HttpError};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes of kept bodies the whole client may hold at once.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    limit: usize,
    in_use: AtomicUsize,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            limit,
            in_use: AtomicUsize::new(0),
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.in_use.fetch_sub(n, Ordering::AcqRel);
    }

    fn exceeded(&self) -> HttpError {
        HttpError::new(
            ErrorKind::BodyTooLarge,
            format!(
                "the response bodies kept at once would exceed the run's body budget of {} MiB (checks and captures that read bodies keep them)",
                self.limit >> 20
            ),
        )
    }
}

/// Bytes taken from a budget for one body being read; given back when
/// dropped unless they became the body's ([`Reservation::into_body`]).
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<BodyBudget>,
    n: usize,
}

impl Reservation {
    pub(crate) fn new(budget: Arc<BodyBudget>) -> Reservation {
        Reservation { budget, n: 0 }
    }

    /// Take `n` more bytes, or fail with `body_too_large`.
    pub(crate) fn grow(&mut self, n: usize) -> Result<(), HttpError> {
        if self.budget.take(n) {
            self.n += n;
            Ok(())
        } else {
            Err(self.budget.exceeded())
        }
    }

    /// The body, owning the reservation: given back when the last clone
    /// of it is dropped. Its length must be what was reserved.
    pub(crate) fn into_body(mut self, body: Bytes) -> Bytes {
        debug_assert_eq!(body.len(), self.n);
        if body.is_empty() {
            return body;
        }
        let held = Held {
            body,
            budget: self.budget.clone(),
        };
        self.n = 0;
        Bytes::from_owner(held)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.n > 0 {
            self.budget.give(self.n);
        }
    }
}

/// A body that counts against its budget while it lives.
struct Held {
    body: Bytes,
    budget: Arc<BodyBudget>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give(self.body.len());
    }
}

/// Count a body made here (a decoded one) against `budget`.
pub(crate) fn hold(budget: &Arc<BodyBudget>, body: Bytes) -> Result<Bytes, HttpError> {
    let mut r = Reservation::new(budget.clone());
    r.grow(body.len())?;
    Ok(r.into_body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_body_holds_its_bytes_until_its_last_clone_is_dropped() {
        let budget = Arc::new(BodyBudget::new(10));
        let mut r = Reservation::new(budget.clone());
        r.grow(6).unwrap();
        let body = r.into_body(Bytes::from_static(b"abcdef"));
        let clone = body.slice(1..3);
        assert_eq!(budget.in_use(), 6);
        // A second body of 6 does not fit beside it.
        let mut second = Reservation::new(budget.clone());
        let e = second.grow(6).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyTooLarge);
        assert!(e.message.contains("body budget"), "{}", e.message);
        drop(body);
        assert_eq!(budget.in_use(), 6, "the slice still holds it");
        drop(clone);
        assert_eq!(budget.in_use(), 0);
        second.grow(6).unwrap();
        drop(second);
        assert_eq!(budget.in_use(), 0, "an abandoned read gives its bytes back");
    }
}
