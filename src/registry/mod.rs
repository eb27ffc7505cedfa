//! The theorem registry: one file `theorems/<id>.yaml` per claim of the notes.
//!
//! The schema is strict ([`schema::Theorem`] denies unknown fields, every field except the optional
//! ones must be present); a violation is a one-line error `file:line:column: message`. The *claimed
//! quantities* (`claimed:`) are read by the check code, so editing one in the YAML changes what
//! `verify` measures the claim against.
pub mod load;
pub mod schema;

pub use load::{load_all, load_file, parse_str, theorems_dir};
pub use schema::{Claimed, Expected, Kind, Source, Theorem};
