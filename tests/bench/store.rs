//! Store benchmarks (filled in by the store work).

fn main() {}
