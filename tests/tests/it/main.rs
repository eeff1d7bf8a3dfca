//! The end-to-end tests, in one test binary: the reference client against the real mock with
//! faults, in-process under the paused clock ([`client_vs_mock`]), and the binaries as
//! separate processes ([`binaries`]).

mod binaries;
mod client_vs_mock;
