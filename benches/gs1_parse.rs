//! Micro-benchmark placeholder, replaced by the GS1 parser benchmark.
fn main() {}
