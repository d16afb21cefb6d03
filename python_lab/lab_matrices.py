"""The lab's matrices in Python, equal to the Rust servers' for a seed.

`matrix_service::matrix::generate_pair` draws A then B from Xoshiro256++ seeded with SplitMix64
(rand_xoshiro's `seed_from_u64`), four values in 0..100 per 64-bit draw by Lemire's method on
16-bit lanes, a lane rejected when its low part is below 2^16 mod 100. This is a pure-Python
port of it, so that `seed=S` gives the Python apps the same matrices, and the same checksum, as
the Rust servers. It is slow (about a second for two 500x500 matrices): only a seeded request
pays it; without a seed the apps draw with numpy, as the handout does.
"""

import numpy as np

MASK = (1 << 64) - 1
VALUE_BOUND = 100
LANE_BITS = 16
REJECT_BELOW = (1 << LANE_BITS) % VALUE_BOUND


def _splitmix64(state):
    """SplitMix64's next state and output."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def _draws(seed):
    """Xoshiro256++'s outputs, seeded from `seed` as rand_xoshiro seeds it from a u64."""
    state, s = seed & MASK, []
    for _ in range(4):
        state, out = _splitmix64(state)
        s.append(out)
    s0, s1, s2, s3 = s
    while True:
        yield (_rotl((s0 + s3) & MASK, 23) + s0) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)


def _fill(draws, count):
    """`count` values in 0..100 from `draws`, four lanes a draw, rejected lanes skipped."""
    out = []
    while len(out) < count:
        word = next(draws)
        for lane in range(4):
            scaled = ((word >> (lane * LANE_BITS)) & 0xFFFF) * VALUE_BOUND
            if scaled & 0xFFFF >= REJECT_BELOW:
                out.append(scaled >> LANE_BITS)
                if len(out) == count:
                    break
    return out


def generate_pair(n, seed=None):
    """Two n x n int64 matrices of values in 0..100: the Rust servers' for a seed, numpy's
    generator without one."""
    if seed is None:
        return (np.random.randint(0, VALUE_BOUND, (n, n), dtype=np.int64),
                np.random.randint(0, VALUE_BOUND, (n, n), dtype=np.int64))
    draws = _draws(seed)
    a = np.array(_fill(draws, n * n), dtype=np.int64).reshape(n, n)
    b = np.array(_fill(draws, n * n), dtype=np.int64).reshape(n, n)
    return a, b
