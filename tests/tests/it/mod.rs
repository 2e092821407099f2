mod configs;
mod golden;
mod runtime;

use std::path::PathBuf;

/// The repository's `testdata/` folder.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}
