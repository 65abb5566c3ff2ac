//! gauntlet-analysis (being built).
