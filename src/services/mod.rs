//! Services: several processes in one container (issue 14). So far the pure part: the
//! dependency graph between them (`graph`), which the configuration validates and
//! `tend check-config` prints. Running them belongs to the supervisor.

pub mod graph;
#[cfg(test)]
mod props;
