//! (being written)

/// Registers this feature's stage types.
pub fn register(_registry: &mut netobserv_flow::pipeline::StageRegistry) {}
