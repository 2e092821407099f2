//! Errors of the eBPF agent.

/// What went wrong loading, attaching or reading the kernel programs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded object did not load (verifier rejection, no BPF permission).
    #[error("loading the eBPF object failed (are you root with CAP_BPF and CAP_NET_ADMIN?)")]
    Load(#[source] aya::EbpfError),
    /// A program is missing from the object or failed to load into the kernel.
    #[error("eBPF program {program:?} could not be loaded")]
    Program {
        /// The program's name in `flows.c`.
        program: &'static str,
        /// The cause.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// An interface could not be found in the loader's network namespace.
    #[error("interface {interface:?} not found in this network namespace")]
    Interface {
        /// The interface name.
        interface: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Attaching to an interface failed with TCX and with the clsact fallback.
    #[error("attaching {program:?} to interface {interface:?} failed (tcx and clsact)")]
    Attach {
        /// The program's name.
        program: &'static str,
        /// The interface name.
        interface: String,
        /// The cause of the clsact attempt.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// The flow map is missing or could not be read.
    #[error("flow map {map:?}: {source}")]
    Map {
        /// The map's name.
        map: &'static str,
        /// The cause.
        #[source]
        source: aya::maps::MapError,
    },
    /// The agent's settings are invalid.
    #[error("{0}")]
    Settings(String),
    /// The kernel's batch lookup-and-delete failed.
    #[error("evicting map {map:?}: {source}")]
    Batch {
        /// The map's name.
        map: &'static str,
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
