//! # gauntlet-engine: turning a plan into load
//!
//! The only crate that knows about time and concurrency. [`pacer`] computes
//! when iterations are due (pure), [`executor`] runs k6's six executors over
//! any [`executor::VuFactory`] with k6's stop semantics. A protocol plugs in
//! through [`step::Driver`]; the engine names none.

pub mod collect;
pub mod data;
pub mod executor;
pub mod flow;
pub mod pacer;
pub mod run;
pub mod step;
pub mod template;
pub mod vu;
