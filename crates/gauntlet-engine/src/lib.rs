//! gauntlet-engine (being built).
