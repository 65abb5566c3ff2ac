//! The `gauntlet` binary.
fn main() {}
