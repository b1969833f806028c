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

/// Ticks-to-nanoseconds conversion for a fixed counter rate without a division on the hot
/// path: `ns = ticks * mult >> 32`, with `mult` = 10^9 * 2^32 / rate computed once. On cores
/// without a divide instruction (the Cortex-A9) the `u128` division of [`ticks_to_ns`] is a
/// library routine of well over a thousand instructions; this is a few multiplies.
///
/// `mult` is rounded down, so the result is never later than [`ticks_to_ns`] (a deadline
/// against it is never early) and is exact when the rate divides 10^9 (100 MHz, 62.5 MHz);
/// otherwise it falls behind by less than one nanosecond per 2^32 ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickScale(u64);

impl TickScale {
    /// The scale of a counter running at `frequency_hz` (0 is taken as 1 Hz).
    pub fn new(frequency_hz: u64) -> Self {
        let mult = (1_000_000_000u128 << 32) / u128::from(frequency_hz.max(1));
        Self(u64::try_from(mult).unwrap_or(u64::MAX))
    }

    /// The fixed-point multiplier (32 fraction bits), for storing the scale in an atomic.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// A scale from [`TickScale::raw`].
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// `ticks` in nanoseconds.
    #[inline]
    pub fn ticks_to_ns(self, ticks: u64) -> u64 {
        let ns = (u128::from(ticks) * u128::from(self.0)) >> 32;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_exact_where_the_rate_divides_a_second_and_never_ahead_elsewhere() {
        for f in [100_000_000u64, 62_500_000, 1_000_000_000, 8_000_000] {
            let s = TickScale::new(f);
            for t in [0u64, 1, 7, 1 << 20, 1 << 40, 123_456_789_012] {
                assert_eq!(s.ticks_to_ns(t), ticks_to_ns(t, f), "f={f} t={t}");
            }
        }
        for f in [24_000_000u64, 19_200_000, 32_768, 3] {
            let s = TickScale::new(f);
            for t in [0u64, 1, 7, 1 << 20, 1 << 40, 123_456_789_012, u64::MAX >> 8] {
                let (scaled, exact) = (s.ticks_to_ns(t), ticks_to_ns(t, f));
                assert!(scaled <= exact, "f={f} t={t}: {scaled} ahead of {exact}");
                assert!(
                    exact - scaled <= (t >> 32) + 1,
                    "f={f} t={t}: {scaled} vs {exact}"
                );
            }
            // Monotonic: a later count is never an earlier time.
            let mut last = 0;
            for t in (0..10_000u64).map(|i| i * 37) {
                let ns = s.ticks_to_ns(t);
                assert!(ns >= last);
                last = ns;
            }
        }
        assert_eq!(
            TickScale::from_raw(TickScale::new(24_000_000).raw()),
            TickScale::new(24_000_000)
        );
    }

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
