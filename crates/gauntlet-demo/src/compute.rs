//! Real CPU work for `GET /api/compute`: a CPU-bound endpoint whose cost per
//! request is set in rounds, so a plan can saturate the service's CPU on
//! purpose and the bottleneck rules can be seen to name it.
//!
//! A round is a SplitMix64-style mix of the state (an add, two
//! xor-shift-multiplies). Each round depends on the previous one, so the
//! compiler can neither skip nor vectorise the loop, and the answer carries
//! the final value so the work cannot be optimised away.

/// Most rounds one request may ask for (a few seconds of one core).
pub(crate) const MAX_ROUNDS: u64 = 1_000_000_000;

/// Run `rounds` rounds from `seed`; the final state is the checksum.
pub(crate) fn work(seed: u64, rounds: u64) -> u64 {
    let mut x = seed;
    for _ in 0..rounds {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x = z ^ (z >> 31);
    }
    std::hint::black_box(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_chain_so_the_count_changes_the_answer() {
        assert_eq!(work(7, 0), 7);
        let (a, b) = (work(7, 1000), work(7, 1001));
        assert_ne!(a, b);
        assert_eq!(a, work(7, 1000), "deterministic");
        // Step by step equals all at once: nothing is skipped.
        let mut x = 7;
        for _ in 0..1000 {
            x = work(x, 1);
        }
        assert_eq!(x, a);
    }
}
