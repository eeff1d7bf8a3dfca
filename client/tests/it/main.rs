//! The integration tests of `captchaai-client`, in one binary (one link, one test run):
//!
//! | module | what |
//! |---|---|
//! | `client_wire` | the client against `wiremock`: every wire shape, error and retry path |
//! | `receiver_http` | the pingback receiver over a real socket, and through `oneshot` |
//! | `receiver_shutdown` | `Receiver::serve` against half-sent requests and slow headers |
//! | `solver` | strategies, fan-out and the result router against an in-process fake service |
//! | `store` | the result store: ttl, capacity, streams, and the receiver's idempotency |
//! | `support` | what they share |

mod client_wire;
mod receiver_http;
mod receiver_shutdown;
mod solver;
mod store;
mod support;
