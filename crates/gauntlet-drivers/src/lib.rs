//! # gauntlet-drivers: protocol drivers
//!
//! Each driver implements the engine's step contract
//! ([`gauntlet_engine::step::Driver`]): it compiles a plan step once, turns
//! it into a request per execution, and gives back a reply plus timings and
//! a typed error kind; it never panics and never decides pass/fail. HTTP is
//! the first (and default) driver.

pub mod http;
