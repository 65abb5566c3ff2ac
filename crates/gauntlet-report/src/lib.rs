//! gauntlet-report (being built).
