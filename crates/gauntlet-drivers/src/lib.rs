//! # gauntlet-drivers: protocol drivers
//!
//! Each driver turns a rendered request into a response plus timings and a
//! typed error kind; it never panics and never decides pass/fail. HTTP is the
//! first (and default) driver.

pub mod http;
