//! PNG charts of evaluation and training results.
