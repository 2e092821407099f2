//! Runnable examples of the netobserv-rs libraries live in `examples/`; this library is empty.
