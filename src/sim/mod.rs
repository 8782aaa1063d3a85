//! The GitHub simulator (being built).
