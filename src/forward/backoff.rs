//! Retry timing for deliveries: exponential backoff with jitter, as a pure function.
//!
//! "Equal jitter": the delay for attempt n is half of `initial · 2ⁿ` (capped at `max`) plus a
//! random share of the other half. Many gateways coming back after the same outage therefore do
//! not hammer the partner in lock-step, and no delay is ever shorter than half its nominal value.

use std::time::Duration;

/// Delay before the next attempt after `attempts` failed ones; `jitter` is in `[0, 1)`.
pub fn delay(attempts: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    let nominal = initial.saturating_mul(factor).min(max);
    let half = nominal / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(attempts: u32, jitter: f64, expect_ms: u64) {
        let d = delay(
            attempts,
            Duration::from_millis(100),
            Duration::from_secs(10),
            jitter,
        );
        assert_eq!(
            d,
            Duration::from_millis(expect_ms),
            "attempts {attempts}, jitter {jitter}"
        );
    }

    #[test]
    fn doubles_caps_and_jitters() {
        check(1, 0.0, 50);
        check(1, 1.0, 100);
        check(2, 0.0, 100);
        check(3, 0.5, 300);
        check(8, 0.0, 5_000);
        check(40, 1.0, 10_000);
        check(u32::MAX, 0.0, 5_000);
    }
}
