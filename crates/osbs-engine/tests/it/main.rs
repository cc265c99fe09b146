//! Integration tests of osbs-engine: one binary, modules per concern.

mod notify;
