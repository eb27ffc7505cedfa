//! Generated documentation pages (issue [F]).
