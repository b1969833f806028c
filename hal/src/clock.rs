//! Counter arithmetic for clocks. The time of the system is `platform::now` (one per
//! binary); a counter-based clock (the Arm generic timer, an SoC timer block) converts with
//! these, rounding so that a delay is never short.

/// Converts counter ticks to nanoseconds without overflowing for any realistic uptime.
pub fn ticks_to_ns(ticks: u64, frequency_hz: u64) -> u64 {
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(frequency_hz.max(1));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Converts nanoseconds to counter ticks, rounding up so a delay is never shorter than asked.
pub fn ns_to_ticks(ns: u64, frequency_hz: u64) -> u64 {
    let t = (u128::from(ns) * u128::from(frequency_hz)).div_ceil(1_000_000_000);
    u64::try_from(t).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_at_qemu_and_imx_frequencies() {
        for f in [62_500_000u64, 8_000_000, 24_000_000, 1_000_000_000] {
            for ns in [0u64, 1, 15, 16, 1_000, 999_999_999, 3_600_000_000_000] {
                let t = ns_to_ticks(ns, f);
                assert!(ticks_to_ns(t, f) >= ns, "f={f} ns={ns}");
            }
        }
        assert_eq!(ns_to_ticks(1, 62_500_000), 1); // rounds up, never a zero-length delay
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), 1_000_000_000);
    }
}
