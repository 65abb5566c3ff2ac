//! Exit codes: the contract with CI scripts.
//!
//! They follow k6's table where k6 has one (so scripts written for k6 keep
//! working): 99 for failed thresholds, 104 for an invalid configuration, 105
//! for an external abort. Documented in `docs/exit-codes.md`.

/// Why gauntlet exited; the numeric value is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Exit {
    /// Everything ran and every threshold passed.
    Ok = 0,
    /// An unexpected error (I/O, internal); the message says what.
    Failure = 1,
    /// Bad command-line usage (clap's convention).
    Usage = 2,
    /// At least one threshold or SLA limit failed (k6: ThresholdsHaveFailed).
    ThresholdsFailed = 99,
    /// The plan or the command-line configuration is invalid (k6: InvalidConfig).
    InvalidPlan = 104,
    /// Stopped by SIGINT/SIGTERM (k6: ExternalAbort); results were still written.
    Interrupted = 105,
    /// The target could not be prepared (demo failed to start, bad TLS files).
    TargetUnavailable = 106,
    /// A `setup` step failed (request error or failed check); no scenario ran (k6 uses 107 for script errors).
    SetupFailed = 107,
    /// The run did not measure what its verdict needs: a threshold or SLA
    /// had no samples, no request completed, or a step never sent. The
    /// verdict is NO-GO; a failed threshold (99) wins over this.
    NotMeasured = 110,
    /// A result file could not be written (checked before the run, and
    /// after it): wins over every code but a usage error, because the
    /// others assume the files exist.
    OutputFailed = 111,
}

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}
