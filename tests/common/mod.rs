//! What several suites share: the check that nothing a test made is left behind, and the paths a
//! plan changes.

pub mod nothing_left;
pub mod plan_diff;
