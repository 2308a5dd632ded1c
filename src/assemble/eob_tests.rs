//! Tests of the End of Batch builder.
use super::*;
