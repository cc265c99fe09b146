//! The seam between the `osbs` commands and where builds run: `osbs_engine::backend`, re-exported
//! here so programs using this crate keep one path (`osbs_client::backend`).

pub use osbs_engine::backend::*;
