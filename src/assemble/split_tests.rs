//! Tests of the splitter.
use super::*;
