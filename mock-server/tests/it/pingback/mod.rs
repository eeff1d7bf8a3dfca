//! Pingbacks end to end: a recording receiver on loopback, the paused clock, and what
//! arrived, when, and what the outbound journal says.

mod admin;
mod determinism;
mod faults;
mod malformed;
mod props;
mod retry;
mod shedding;
mod source;
mod structured;
