//! The end-to-end tests, in one test binary: the reference client against the real mock with
//! faults, in-process under the paused clock ([`client_vs_mock`]), the binaries as separate
//! processes ([`binaries`]), and every attack of the adversarial pass against the binaries
//! ([`hardening`]), the pages in a real browser ([`browser`]). [`bins`] finds the binaries.

mod binaries;
mod bins;
mod browser;
mod client_vs_mock;
mod hardening;
